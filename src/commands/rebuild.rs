//! `tt-vault rebuild-index`: recreate vault.db from the packs, then the export
//! catalogue from the export files stored in the snapshots.

use std::fs;

use serde::Serialize;

use serde_json::Value;

use crate::catalogue::ingest::{self, NewVersion};
use crate::catalogue::profile::{record, DOCUMENT};
use crate::store::manifest::Entry;
use crate::store::reader::BlobReader;
use crate::store::rebuild::{self, RebuildReport};
use crate::store::restorer::{self, RestoreOptions};
use crate::store::{snapshots, Vault};
use crate::tiktok::export::Export;

use super::Result;

#[derive(Debug, Serialize)]
pub struct RebuildOutcome {
    #[serde(flatten)]
    pub store: RebuildReport,
    /// Snapshots whose export was catalogued again.
    pub exports: u64,
    /// Exports that could not be read back or parsed, with why.
    pub export_problems: Vec<String>,
    /// Profile pages recorded again from the snapshots' profile documents.
    pub profile_pages: u64,
    /// Profile documents that could not be read back or recorded, with why.
    pub profile_problems: Vec<String>,
}

impl RebuildOutcome {
    /// True when something could not be carried over (exit code 1).
    pub fn problems_found(&self) -> bool {
        !self.store.unreadable.is_empty()
            || !self.export_problems.is_empty()
            || !self.profile_problems.is_empty()
    }
}

pub fn rebuild_index(vault: &Vault, wait: bool) -> Result<RebuildOutcome> {
    let lock = vault.lock_for_rebuild(wait)?;
    let store = rebuild::rebuild_index(vault, &lock)?;
    let (exports, export_problems) = recatalogue(vault)?;
    let (profile_pages, profile_problems) = reprofile(vault)?;
    drop(lock);
    Ok(RebuildOutcome {
        store,
        exports,
        export_problems,
        profile_pages,
        profile_problems,
    })
}

/// A profile document is a few KiB; a bigger one is not read back.
const MAX_PROFILE_DOCUMENT: u64 = 1 << 20;

/// Records again every profile page the snapshots read, from the profile document
/// each stored (`profile/NAME/profile.json`), BLAKE3-checked as it is read.
fn reprofile(vault: &Vault) -> Result<(u64, Vec<String>)> {
    let conn = vault.connect()?;
    let mut reader = BlobReader::new(vault)?;
    let (mut done, mut problems) = (0, Vec::new());
    for snap in snapshots::list(&conn, None)? {
        let documents = snapshots::entries(&conn, &snap.id)?
            .into_iter()
            .filter(|e| e.kind == "profile" && e.path.ends_with(&format!("/{DOCUMENT}")));
        for e in documents {
            let recorded = read_document(&mut reader, &e).and_then(|doc| {
                record(&conn, &snap.id, &snap.account, snap.taken_ms, &doc)
                    .map_err(|err| err.to_string())
            });
            match recorded {
                Ok(()) => done += 1,
                Err(why) => {
                    problems.push(format!("snapshot {}: {}: {why}", snap.short_id(), e.path))
                }
            }
        }
    }
    Ok((done, problems))
}

fn read_document(reader: &mut BlobReader, e: &Entry) -> std::result::Result<Value, String> {
    if e.size > MAX_PROFILE_DOCUMENT {
        return Err(format!(
            "{} bytes, more than a profile document holds",
            e.size
        ));
    }
    let file = reader.file(&e.hash).map_err(|err| err.to_string())?;
    let mut bytes = Vec::new();
    reader
        .copy_file(&file, &mut bytes, &e.path, &|_| ())
        .map_err(|err| err.to_string())?;
    serde_json::from_slice(&bytes).map_err(|err| format!("not a profile document: {err}"))
}

/// Re-parses every snapshot's stored export, oldest first, so versions come out in
/// the order they were taken. Each export is read out of the vault into a scratch
/// folder inside it (BLAKE3-checked like any restore) and removed afterwards.
fn recatalogue(vault: &Vault) -> Result<(u64, Vec<String>)> {
    let mut conn = vault.connect()?;
    let scratch = vault
        .root()
        .join(format!("tmp-catalogue-{}", std::process::id()));
    let mut done = 0;
    let mut problems = Vec::new();
    for snap in snapshots::list(&conn, None)? {
        let root = snap
            .sources
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["kind"] == "export")
            .find_map(|s| s["root"].as_str().map(str::to_string));
        let Some(root) = root else { continue };
        let under = format!("{root}/");
        let entries: Vec<_> = snapshots::entries(&conn, &snap.id)?
            .into_iter()
            .filter(|e| e.path == root || e.path.starts_with(&under))
            .collect();
        let _ = fs::remove_dir_all(&scratch);
        let opts = RestoreOptions {
            target: scratch.clone(),
            force: true,
            verify: false,
            raw_paths: crate::store::names::from_meta(&snap.meta),
        };
        let restored = restorer::restore(vault, &entries, &opts, &|_| ())?;
        let result = match restored.failed.first() {
            Some(f) => Err(format!("{}: {}", f.path, f.error)),
            None => Export::open(&scratch.join(&root))
                .map_err(|e| e.to_string())
                .and_then(|export| {
                    let v = NewVersion {
                        snapshot_id: &snap.id,
                        account: &snap.account,
                        taken_ms: snap.taken_ms,
                        export_root: &root,
                        export_hash: export.fingerprint().ok(),
                    };
                    ingest::ingest(&mut conn, &v, &export).map_err(|e| e.to_string())
                }),
        };
        match result {
            Ok(_) => done += 1,
            Err(e) => problems.push(format!("snapshot {}: {e}", snap.short_id())),
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    Ok((done, problems))
}

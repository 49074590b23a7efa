//! `tt-vault restore`: write a snapshot's files back out, byte for byte.

use std::path::{Path, PathBuf};

use std::os::unix::fs::OpenOptionsExt;

use globset::{Glob, GlobSetBuilder};
use serde::Serialize;

use crate::catalogue::{query, view};
use crate::store::lock::ReadLock;
use crate::store::names;
use crate::store::restorer::{self, RestoreFailure, RestoreOptions};
use crate::store::restorer::{existing_hash, hash_file, safe_target};
use crate::store::snapshots::{self, Snapshot};
use crate::store::{StoreError, Vault};

use super::{CommandError, Progress, Result};
use crate::selection::{self, Selector};

#[derive(Debug, Clone, Default)]
pub struct RestoreArgs {
    pub select: Selector,
    pub to: PathBuf,
    pub include: Vec<String>,
    pub force: bool,
    pub verify: bool,
}

#[derive(Debug, Serialize)]
pub struct RestoreOutcome {
    pub snapshot: String,
    pub account: String,
    pub taken_at: String,
    pub target: String,
    pub restored: u64,
    pub skipped: u64,
    pub bytes: u64,
    pub failed: Vec<RestoreFailure>,
    /// Readable views of the TikTok export written under `views/` (empty when the
    /// account has no export at that date).
    pub views: Vec<String>,
}

pub fn restore(
    vault: &Vault,
    args: &RestoreArgs,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    // Held until the restore is done, so prune cannot delete a pack under it.
    let _readers = ReadLock::acquire(vault.root()).map_err(StoreError::from)?;
    let conn = vault.connect()?;
    let snap = selection::resolve(&conn, &args.select)?;
    let mut entries = snapshots::entries(&conn, &snap.id)?;
    refuse_target_inside_sources(&args.to, &snap.sources)?;

    let include = if args.include.is_empty() {
        None
    } else {
        let mut b = GlobSetBuilder::new();
        for g in &args.include {
            b.add(Glob::new(g).map_err(|e| CommandError::Usage(format!("--include {g:?}: {e}")))?);
        }
        Some(b.build().map_err(|e| CommandError::Usage(e.to_string()))?)
    };
    let wanted = |p: &str| include.as_ref().is_none_or(|set| set.is_match(p));
    entries.retain(|e| wanted(&e.path));
    let total = entries.iter().map(|e| e.size).sum();
    progress.begin("restore", Some(total));
    let mut report = restorer::restore(
        vault,
        &entries,
        &RestoreOptions {
            target: args.to.clone(),
            force: args.force,
            verify: args.verify,
            raw_paths: names::from_meta(&snap.meta),
        },
        &|n| progress.add(n),
    )?;
    progress.end();
    let views = write_views(
        &conn,
        &snap,
        &args.to,
        args.force,
        &wanted,
        &mut report.failed,
    )?;
    Ok(RestoreOutcome {
        snapshot: snap.id,
        account: snap.account,
        taken_at: snap.taken_at,
        target: args.to.display().to_string(),
        restored: report.restored,
        skipped: report.skipped,
        bytes: report.bytes,
        failed: report.failed,
        views,
    })
}

/// Writes `views/<section>.json` for every section of the export the snapshot shows.
/// Like restored files, an existing view with other content is kept unless `force`.
fn write_views(
    conn: &rusqlite::Connection,
    snap: &Snapshot,
    to: &Path,
    force: bool,
    wanted: &dyn Fn(&str) -> bool,
    failed: &mut Vec<RestoreFailure>,
) -> Result<Vec<String>> {
    let Some(version) = query::version_at(conn, snap)? else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for section in query::sections(conn, &version)? {
        let rel = format!("views/{section}.json");
        if !wanted(&rel) {
            continue;
        }
        // Streamed to a temporary file (a view can be millions of rows), then
        // compared with what is there and renamed into place.
        let result = safe_target(to, Path::new(&rel)).and_then(|dest| {
            // Before any work: a FIFO or device there is named, never opened.
            // Two files on disk compared with each other: no vault id is involved.
            let existing = existing_hash(&dest, None)?;
            let dir = to.join("views");
            let tmp = dir.join(format!(".{section}.json.tt-vault-tmp"));
            let fail = |e: &dyn std::fmt::Display| format!("writing {}: {e}", dest.display());
            std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
            let _ = std::fs::remove_file(&tmp);
            // Views hold messages, emails and login IPs: private whatever the umask.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| fail(&e))?;
            let mut out = std::io::BufWriter::new(file);
            view::write_view(conn, &version, snap, section, &mut out)
                .map_err(|e| fail(&e))
                .and_then(|()| std::io::Write::flush(&mut out).map_err(|e| fail(&e)))?;
            drop(out);
            let same = match (existing, hash_file(&tmp, None)) {
                (Some(old), Ok(new)) => Some(old == new),
                _ => None,
            };
            let outcome = match same {
                Some(true) => Ok(()),
                Some(false) if !force => Err(format!(
                    "{} already exists with other content; pass --force to overwrite",
                    dest.display()
                )),
                _ => std::fs::rename(&tmp, &dest).map_err(|e| fail(&e)),
            };
            let _ = std::fs::remove_file(&tmp);
            outcome
        });
        match result {
            Ok(()) => written.push(rel),
            Err(error) => failed.push(RestoreFailure { path: rel, error }),
        }
    }
    Ok(written)
}

/// Restoring into a folder that was backed up would mix old copies into the live
/// data (and into the next snapshot); refuse it.
fn refuse_target_inside_sources(to: &Path, sources: &serde_json::Value) -> Result<()> {
    let target = absolute(to);
    for s in sources.as_array().into_iter().flatten() {
        let Some(src) = s.get("path").and_then(|p| p.as_str()) else {
            continue;
        };
        let src = absolute(Path::new(src));
        if target.starts_with(&src) {
            return Err(CommandError::Usage(format!(
                "restore target {} is inside the snapshot's source {}; restore somewhere else",
                to.display(),
                src.display()
            )));
        }
    }
    Ok(())
}

/// The canonical form of a path that may not exist yet: its nearest existing
/// ancestor canonicalised, the rest appended.
fn absolute(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            return rest.into_iter().rev().fold(c, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            _ => return p.to_path_buf(),
        }
    }
}

//! Recreating the index from the packs alone.
//!
//! Packs are the truth: their trailers give every blob's place, file-map blobs give
//! the chunk lists of multi-chunk files, and manifest blobs give the snapshots with
//! their entries, except those a tombstone names (forgotten snapshots whose manifests
//! prune has not yet removed; see tombstone.rs). The new index is built beside the old one and swapped in only
//! when complete; the old one is kept as `vault.db.before-rebuild`.
//!
//! A snapshot whose commit never finished (killed, or its catalogue ingest failed;
//! see `schema/009_unfinished_snapshots.sql`) left a whole manifest whose blobs are all
//! in committed packs: the rebuild, which trusts the packs alone, brings it back as
//! a snapshot (without the export catalogue's rows, which were never committed) and
//! carries no `unfinished_snapshots` record over. Nothing is lost that way; the user
//! who does not want it forgets it. Prune keeps such a manifest and what it references
//! (it reads them with [`read_meta`]), so a rebuild after a prune finds it whole.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::lock::WriteLock;
use super::manifest::{self, Manifest};
use super::pack::{self, BlobEntry, BlobKind, FinishedPack};
use super::reader::PackFiles;
use super::repository::{index, FileRow, Repository};
use super::tombstone::Tombstone;
use super::vault::PackFile;
use super::{io_at, snapshots, Result, Vault};

impl Vault {
    /// Takes the writer lock for `rebuild-index` without crash recovery: recovery
    /// reads the old index, which may be missing or damaged, and the rebuild reads
    /// every pack anyway.
    pub fn lock_for_rebuild(&self, wait: bool) -> Result<WriteLock> {
        self.require_writable()?;
        Ok(WriteLock::acquire(self.root(), wait)?)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct RebuildReport {
    pub packs: u64,
    pub blobs: u64,
    pub snapshots: u64,
    pub files: u64,
    /// Manifests left out because a tombstone names them (forgotten snapshots).
    pub forgotten: u64,
    /// Packs read by scanning because their trailer was damaged.
    pub salvaged: Vec<String>,
    /// Packs or blobs that could not be read at all.
    pub unreadable: Vec<String>,
    /// Where the old index was kept (`vault.db.before-rebuild`), when there was one.
    pub old_index: Option<String>,
    /// Audits carried over from the old index.
    pub audits_carried: u64,
    /// Why the old index's audit history could not be carried over.
    pub history_lost: Option<String>,
}

pub fn rebuild_index(vault: &Vault, _lock: &WriteLock) -> Result<RebuildReport> {
    let db = vault.db_path();
    let fresh = vault.root().join("vault.db.rebuilding");
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    let mut report = RebuildReport::default();
    {
        // Keyed like the vault: an encrypted vault's new index is encrypted too.
        let mut conn = index::open(&fresh, vault.keys())?;
        let tx = conn.transaction()?;
        let mut manifests = Vec::new();
        let mut known_files = HashSet::new();
        let mut forgotten = HashSet::new();
        let mut seen = HashSet::new();
        // With a remote, the packs are its packs: all of them come into the cache.
        vault.sync_all_packs()?;
        let mut reader = PackFiles::new(vault);
        for file in vault.pack_files()? {
            let PackFile::Pack { id, path } = file else {
                continue;
            };
            let (size, entries) = match pack::contents(&path, vault.keys()) {
                Ok(c) if !c.salvaged => (c.size, c.entries),
                Ok(c) if !c.entries.is_empty() => {
                    report.salvaged.push(id.clone());
                    (c.size, c.entries)
                }
                _ => {
                    report.unreadable.push(id);
                    continue;
                }
            };
            if let Err(pack::PackError::Io { path, source }) = reader.file(&id) {
                return Err(io_at(path)(source));
            }
            for e in &entries {
                if e.header.kind == BlobKind::Data {
                    continue;
                }
                match read_meta(&mut reader, &id, e) {
                    Ok(Meta::FileMap(f)) => {
                        known_files.insert(f.hash);
                        index::insert_file(&tx, &f)?;
                    }
                    // A repack killed before its commit leaves a second copy.
                    Ok(Meta::Manifest(m)) => {
                        if seen.insert(e.header.hash) {
                            manifests.push((hex::encode(e.header.hash), m))
                        }
                    }
                    Ok(Meta::Tombstone(t)) => forgotten.extend(t.snapshots),
                    Err(why) => report.unreadable.push(why),
                }
            }
            report.packs += 1;
            report.blobs += entries.len() as u64;
            index::insert_pack(&tx, &FinishedPack { id, size, entries })?;
        }
        let found = manifests.len();
        manifests.retain(|(id, _)| !forgotten.contains(id));
        report.forgotten = (found - manifests.len()) as u64;
        manifests.sort_by(|a, b| a.1.taken_at.cmp(&b.1.taken_at));
        for (id, m) in &manifests {
            for e in &m.entries {
                if known_files.contains(&e.hash) {
                    continue;
                }
                // A lost file map still gets a row, with no chunks: restore and
                // verify then report the file as damaged instead of losing the entry.
                let row = e.implied_file().unwrap_or_else(|| e.file_row(Vec::new()));
                index::insert_file(&tx, &row)?;
                known_files.insert(e.hash);
            }
            snapshots::insert(&tx, id, m)?;
            report.snapshots += 1;
        }
        report.files = known_files.len() as u64;
        tx.commit()?;
        let repo = Repository::from_connection(conn);
        // Audit history is not in the packs; carry it over when the old index reads.
        if db.exists() {
            fold_log(&db, vault.keys());
            match repo.carry_over_history(&db) {
                Ok(n) => report.audits_carried = n,
                Err(why) => report.history_lost = Some(why),
            }
        }
        repo.checkpoint()?;
    }
    swap_in(vault, &fresh, &mut report)?;
    Ok(report)
}

/// A metadata blob, decoded.
pub(super) enum Meta {
    FileMap(FileRow),
    Manifest(Manifest),
    Tombstone(Tombstone),
}

/// Reads blob `e` (not a data chunk) of pack `pack` and decodes it by its kind, as the
/// rebuild reads every one, and prune a manifest it keeps without a snapshot row
/// (pruner.rs). The error names the pack and the blob.
pub(super) fn read_meta(
    reader: &mut PackFiles,
    pack: &str,
    e: &BlobEntry,
) -> std::result::Result<Meta, String> {
    let hash = e.header.hash;
    let short = index::short_hash(&hash);
    let raw = reader
        .read(pack, e)
        .map_err(|err| format!("{pack}: blob {short}: {err}"))?;
    match e.header.kind {
        BlobKind::FileMap => manifest::decode_file_map(&raw, hash)
            .map(Meta::FileMap)
            .ok_or_else(|| format!("{pack}: file map {short}: not a file map")),
        BlobKind::Manifest => Manifest::decode(&raw)
            .map(Meta::Manifest)
            .map_err(|err| format!("{pack}: manifest {short}: {err}")),
        BlobKind::Tombstone => Tombstone::decode(&raw)
            .map(Meta::Tombstone)
            .map_err(|err| format!("{pack}: tombstone {short}: {err}")),
        BlobKind::Data => Err(format!("{pack}: blob {short}: a data chunk")),
    }
}

/// `path` with `suffix` appended (`vault.db` → `vault.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Folds an old index's write-ahead log into it, so that the kept copy is whole.
/// Best effort: a damaged index does not open, and its log is then kept beside the
/// copy instead (see [`swap_in`]).
fn fold_log(db: &Path, keys: Option<&crate::store::crypto::Keys>) {
    if let Ok(conn) = rusqlite::Connection::open(db) {
        if index::apply_key(&conn, keys).is_err() {
            return;
        }
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

/// Replaces vault.db by the finished new index with one atomic rename, so there is
/// never a moment without a vault.db. The old index is kept first as
/// `vault.db.before-rebuild` (a hard link, or a copy where links are not possible),
/// with its log as `vault.db.before-rebuild-wal` if one was left unfolded; the old
/// log goes before the rename, or SQLite would replay it into the new file.
fn swap_in(vault: &Vault, fresh: &Path, report: &mut RebuildReport) -> Result<()> {
    let db = vault.db_path();
    let backup = vault.root().join("vault.db.before-rebuild");
    for suffix in ["", "-wal", "-shm"] {
        let p = sibling(&backup, suffix);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&p)(e)),
        }
    }
    if db.exists() {
        if fs::hard_link(&db, &backup).is_err() {
            fs::copy(&db, &backup).map_err(io_at(&backup))?;
        }
        report.old_index = Some(backup.display().to_string());
    }
    let wal = sibling(&db, "-wal");
    if fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        let kept = sibling(&backup, "-wal");
        fs::copy(&wal, &kept).map_err(io_at(&kept))?;
    }
    for suffix in ["-wal", "-shm"] {
        let p = sibling(&db, suffix);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&p)(e)),
        }
    }
    fs::rename(fresh, &db).map_err(io_at(fresh))?;
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(sibling(fresh, suffix));
    }
    Ok(pack::sync_dir(vault.root())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{noise, snapshot, vault};

    fn rebuild(v: &Vault) -> RebuildReport {
        let lock = v.lock_for_rebuild(false).unwrap();
        rebuild_index(v, &lock).unwrap()
    }

    #[test]
    fn the_index_comes_back_from_the_packs_alone() {
        let t = vault();
        let big = noise(3 << 20, 31);
        let c1 = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("big", &big, Some("1")), ("s", b"small", None)],
        );
        let c2 = snapshot(&t.vault, "b", "2026-01-02T00:00:00Z", &[("e", b"", None)]);
        let before = Repository::open(&t.vault).unwrap();
        let file = before.file(&c1.manifest.entries[0].hash).unwrap().unwrap();
        let blobs = before.all_blobs().unwrap().len();
        drop(before);
        fs::remove_file(t.vault.db_path()).unwrap();
        let r = rebuild(&t.vault);
        assert_eq!((r.snapshots, r.forgotten), (2, 0));
        assert!(r.salvaged.is_empty() && r.unreadable.is_empty());
        assert_eq!(r.blobs as usize, blobs);
        let conn = t.vault.connect().unwrap();
        let ids: Vec<String> = snapshots::list(&conn, None)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, vec![c1.id.clone(), c2.id.clone()]);
        assert_eq!(
            snapshots::entries(&conn, &c1.id).unwrap(),
            c1.manifest.entries
        );
        assert_eq!(index::file(&conn, &file.hash).unwrap(), Some(file));
    }

    #[test]
    fn forgotten_snapshots_stay_forgotten_and_audits_carry_over() {
        let t = vault();
        let c1 = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("x", b"one", None)],
        );
        let c2 = snapshot(
            &t.vault,
            "a",
            "2026-01-02T00:00:00Z",
            &[("x", b"two", None)],
        );
        let lock = t.vault.lock_for_writing(false).unwrap();
        crate::store::tombstone::forget(&t.vault, &lock, std::slice::from_ref(&c1.id)).unwrap();
        drop(lock);
        let repo = Repository::open(&t.vault).unwrap();
        repo.start_audit("structure").unwrap();
        drop(repo);
        let r = rebuild(&t.vault);
        assert_eq!((r.snapshots, r.forgotten), (1, 1));
        let repo = Repository::open(&t.vault).unwrap();
        assert!(!repo.snapshot_exists(&c1.id).unwrap());
        assert!(repo.snapshot_exists(&c2.id).unwrap());
        assert_eq!(repo.audits().unwrap().len(), 1);
        assert!(t.vault.root().join("vault.db.before-rebuild").exists());
    }

    #[test]
    fn a_pack_without_its_trailer_is_salvaged_and_junk_is_reported() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("x", b"salvage me", None)],
        );
        let repo = Repository::open(&t.vault).unwrap();
        let p = repo.packs().unwrap().remove(0);
        drop(repo);
        let path = t.vault.pack_path(&p.name);
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(p.size - 10).unwrap();
        let junk_dir = t.vault.packs_dir().join("ff");
        fs::create_dir_all(&junk_dir).unwrap();
        let junk = "ff".repeat(16);
        fs::write(junk_dir.join(format!("{junk}.pack")), b"junk").unwrap();
        // Not a pack name at all: left alone, not even read (verify reports it).
        fs::write(junk_dir.join("a.pack"), b"junk").unwrap();
        let r = rebuild(&t.vault);
        assert_eq!(r.salvaged, vec![p.name.clone()]);
        assert_eq!(r.unreadable, vec![junk]);
        assert_eq!(r.snapshots, 1);
        assert!(Repository::open(&t.vault)
            .unwrap()
            .snapshot_exists(&c.id)
            .unwrap());
    }
}

//! Recreating the index from the packs alone.
//!
//! Packs are the truth: their trailers give every blob's place, file-map blobs give
//! the chunk lists of multi-chunk files, and manifest blobs give the snapshots with
//! their entries, except those a tombstone names (forgotten snapshots whose manifests
//! prune has not yet removed; see tombstone.rs). The new index is built beside the old one and swapped in only
//! when complete; the old one is kept as `vault.db.before-rebuild`.

use std::collections::HashSet;
use std::fs;

use serde::Serialize;

use super::lock::WriteLock;
use super::manifest::{self, Manifest};
use super::pack::{self, BlobKind, FinishedPack};
use super::reader::PackFiles;
use super::repository::{index, Repository};
use super::tombstone::Tombstone;
use super::vault::PackFile;
use super::{io_at, snapshots, Result, Vault};

impl Vault {
    /// Takes the writer lock for `rebuild-index` without crash recovery: recovery
    /// reads the old index, which may be missing or damaged, and the rebuild reads
    /// every pack anyway.
    pub fn lock_for_rebuild(&self, wait: bool) -> Result<WriteLock> {
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
}

pub fn rebuild_index(vault: &Vault, _lock: &WriteLock) -> Result<RebuildReport> {
    let db = vault.db_path();
    let fresh = vault.root().join("vault.db.rebuilding");
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    let mut report = RebuildReport::default();
    {
        let mut conn = index::open(&fresh)?;
        let tx = conn.transaction()?;
        let mut manifests = Vec::new();
        let mut known_files = HashSet::new();
        let mut forgotten = HashSet::new();
        let mut seen = HashSet::new();
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
                let Ok(raw) = reader.read(&id, e) else {
                    report
                        .unreadable
                        .push(format!("{id}: blob {}", index::short(&e.header.hash)));
                    continue;
                };
                match e.header.kind {
                    BlobKind::FileMap => {
                        if let Some(f) = manifest::decode_file_map(&raw, e.header.hash) {
                            known_files.insert(f.hash);
                            index::insert_file(&tx, &f)?;
                        }
                    }
                    BlobKind::Manifest => match Manifest::decode(&raw) {
                        // A repack killed before its commit leaves a second copy.
                        Ok(m) if seen.insert(e.header.hash) => {
                            manifests.push((hex::encode(e.header.hash), m))
                        }
                        Ok(_) => {}
                        Err(err) => report.unreadable.push(format!("{id}: manifest: {err}")),
                    },
                    BlobKind::Tombstone => match Tombstone::decode(&raw) {
                        Ok(t) => forgotten.extend(t.snapshots),
                        Err(err) => report.unreadable.push(format!("{id}: tombstone: {err}")),
                    },
                    BlobKind::Data => {}
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
        // Audit history is not in the packs; carry it over when the old index reads.
        tx.commit()?;
        let repo = Repository::from_connection(conn);
        if db.exists() {
            repo.carry_over_history(&db);
        }
        repo.checkpoint()?;
    }
    if db.exists() {
        let backup = vault.root().join("vault.db.before-rebuild");
        fs::rename(&db, &backup).map_err(io_at(&db))?;
    }
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", db.display()));
    }
    fs::rename(&fresh, &db).map_err(io_at(&fresh))?;
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    pack::sync_dir(vault.root())?;
    Ok(report)
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
        fs::write(junk_dir.join("ffff.pack"), b"junk").unwrap();
        let r = rebuild(&t.vault);
        assert_eq!(r.salvaged, vec![p.name.clone()]);
        assert_eq!(r.unreadable, vec!["ffff".to_string()]);
        assert_eq!(r.snapshots, 1);
        assert!(Repository::open(&t.vault)
            .unwrap()
            .snapshot_exists(&c.id)
            .unwrap());
    }
}

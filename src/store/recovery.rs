//! Crash recovery: what the next writer repairs after a killed one. It sits above the
//! pruner and tombstones because it finishes their work:
//!
//! 1. packs a committed prune no longer needs are deleted (`pending_deletes`, see
//!    pruner.rs) — first, or the dead packs of a killed prune would be adopted back;
//! 2. temporary packs are deleted (nothing references them);
//! 3. packs renamed into place but never committed are adopted, so their blobs are
//!    re-used instead of written again; a tombstone among them takes effect (the
//!    snapshots it names are forgotten, see tombstone.rs). A pack that does not read
//!    cleanly is left for verify to report.

use std::collections::HashSet;
use std::fs;

use super::lock::WriteLock;
use super::pack::{self, BlobKind, FinishedPack};
use super::pruner::RecoveryPending;
use super::reader::PackFiles;
use super::repository::{index, Repository};
use super::tombstone::Tombstone;
use super::vault::PackFile;
use super::{io_at, pruner, tombstone, Result, Vault};

impl Vault {
    /// Takes the writer lock and repairs what a killed writer may have left (see the
    /// module docs).
    pub fn lock_for_writing(&self, wait: bool) -> Result<WriteLock> {
        self.require_writable()?;
        let lock = WriteLock::acquire(self.root(), wait)?;
        self.make_private();
        recover(self)?;
        Ok(lock)
    }
}

fn recover(vault: &Vault) -> Result<()> {
    let mut repo = Repository::open(vault)?;
    pruner::finish_pending_deletes(vault, &repo)?;
    let known = repo.pack_names()?;
    for file in vault.pack_files()? {
        match file {
            PackFile::Temporary(path) => fs::remove_file(&path).map_err(io_at(&path))?,
            PackFile::Pack { id, path } if !known.contains(&id) => {
                if let Ok((size, entries)) = pack::read_index(&path, vault.keys()) {
                    // Committed only once off-site too (a killed upload is redone).
                    vault.upload_pack(&id)?;
                    let tx = repo.conn_mut().transaction()?;
                    tombstone::apply_adopted(vault, &tx, &id, &entries)?;
                    index::insert_pack(&tx, &FinishedPack { id, size, entries })?;
                    tx.commit()?;
                }
            }
            PackFile::Pack { .. } | PackFile::Other(_) => {}
        }
    }
    Ok(())
}

/// What [`recover`] would do now, found by reading only (for dry runs).
pub fn pending(vault: &Vault, repo: &Repository) -> Result<RecoveryPending> {
    let given_up: HashSet<String> = repo.pending_deletes()?.into_iter().collect();
    let known = repo.pack_names()?;
    let mut out = RecoveryPending {
        pending_deletes: given_up.len() as u64,
        ..RecoveryPending::default()
    };
    let mut reader = PackFiles::new(vault);
    for file in vault.pack_files()? {
        match file {
            PackFile::Temporary(_) => out.temporary_packs += 1,
            PackFile::Pack { id, path } if !known.contains(&id) && !given_up.contains(&id) => {
                let Ok((_, entries)) = pack::read_index(&path, vault.keys()) else {
                    continue;
                };
                out.packs_to_adopt += 1;
                for e in entries
                    .iter()
                    .filter(|e| e.header.kind == BlobKind::Tombstone)
                {
                    let raw = reader.read(&id, e).ok();
                    let Some(t) = raw.and_then(|r| Tombstone::decode(&r).ok()) else {
                        continue;
                    };
                    for id in &t.snapshots {
                        out.snapshots_to_forget += u64::from(repo.snapshot_exists(id)?);
                    }
                }
            }
            PackFile::Pack { .. } | PackFile::Other(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunker;
    use crate::store::codec::Codec;
    use crate::store::pack::{BlobKind, PackWriter};
    use crate::store::testing::{snapshot, vault};
    use crate::store::tombstone::{Tombstone, FORMAT};

    fn stray_pack(v: &Vault, kind: BlobKind, raw: &[u8]) -> FinishedPack {
        let mut w = PackWriter::create(&v.packs_dir(), None).unwrap();
        w.append(kind, Codec::Raw, chunker::hash(raw), raw.len(), raw)
            .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn temporary_packs_go_and_stray_packs_are_adopted() {
        let t = vault();
        let stray = stray_pack(&t.vault, BlobKind::Data, b"left by a killed run");
        let tmp = t.vault.packs_dir().join("ab").join("abab.pack.tmp");
        fs::create_dir_all(tmp.parent().unwrap()).unwrap();
        fs::write(&tmp, b"half a pack").unwrap();
        let junk = t.vault.packs_dir().join("ab").join("junk.pack");
        fs::write(&junk, b"not a pack").unwrap();
        drop(t.vault.lock_for_writing(false).unwrap());
        assert!(!tmp.exists());
        assert!(junk.exists(), "an unreadable pack is left for verify");
        let repo = Repository::open(&t.vault).unwrap();
        assert!(repo.pack_indexed(&stray.id).unwrap());
        assert!(repo
            .has_blob(&chunker::hash(b"left by a killed run"))
            .unwrap());
        assert!(!repo.pack_indexed("junk").unwrap());
    }

    #[test]
    fn an_adopted_tombstone_forgets_its_snapshots() {
        let t = vault();
        let c = snapshot(&t.vault, "a", "2026-01-01T00:00:00Z", &[("x", b"1", None)]);
        let raw = Tombstone {
            format: FORMAT,
            forgotten_at: "2026-01-02T00:00:00.000Z".into(),
            snapshots: vec![c.id.clone()],
        }
        .encode();
        stray_pack(&t.vault, BlobKind::Tombstone, &raw);
        drop(t.vault.lock_for_writing(false).unwrap());
        let repo = Repository::open(&t.vault).unwrap();
        assert!(!repo.snapshot_exists(&c.id).unwrap());
    }

    #[test]
    fn pending_deletes_finish_before_adoption() {
        let t = vault();
        snapshot(&t.vault, "a", "2026-01-01T00:00:00Z", &[("x", b"1", None)]);
        let mut repo = Repository::open(&t.vault).unwrap();
        let p = repo.packs().unwrap().remove(0);
        // A prune committed, then was killed before deleting the old pack's file.
        repo.commit_prune(&[], &[(p.id, p.name.as_str())], &[], &[], &mut |_| Ok(()))
            .unwrap();
        drop(repo);
        let path = t.vault.pack_path(&p.name);
        assert!(path.exists());
        drop(t.vault.lock_for_writing(false).unwrap());
        assert!(!path.exists(), "the dead pack is deleted, not adopted back");
        let repo = Repository::open(&t.vault).unwrap();
        assert!(repo.pending_deletes().unwrap().is_empty());
        assert!(!repo.pack_indexed(&p.name).unwrap());
    }
}

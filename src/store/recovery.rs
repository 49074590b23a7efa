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

use std::fs;

use super::lock::WriteLock;
use super::pack::{self, FinishedPack};
use super::repository::{index, Repository};
use super::vault::PackFile;
use super::{io_at, pruner, tombstone, Result, Vault};

impl Vault {
    /// Takes the writer lock and repairs what a killed writer may have left (see the
    /// module docs).
    pub fn lock_for_writing(&self, wait: bool) -> Result<WriteLock> {
        let lock = WriteLock::acquire(self.root(), wait)?;
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
                if let Ok((size, entries)) = pack::read_index(&path) {
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

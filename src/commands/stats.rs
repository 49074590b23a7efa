//! `tt-vault stats`: how much the vault holds and how much dedup saves.

use serde::Serialize;

use crate::store::snapshots::{self, Snapshot};
use crate::store::{Repository, Vault};

use super::Result;

#[derive(Debug, Serialize)]
pub struct Stats {
    pub snapshots: u64,
    pub logical_bytes: u64,
    pub stored_bytes: u64,
    pub dedup_ratio: f64,
    pub packs: u64,
    pub chunks: u64,
    pub unique_bytes: u64,
    pub accounts: Vec<AccountStats>,
    /// Each snapshot: its logical size and what it added when it was taken.
    pub per_snapshot: Vec<Snapshot>,
}

#[derive(Debug, Serialize)]
pub struct AccountStats {
    pub account: String,
    pub snapshots: u64,
    pub logical_bytes: u64,
    pub new_bytes: u64,
    pub stored_bytes: u64,
}

pub fn stats(vault: &Vault) -> Result<Stats> {
    let repo = Repository::open(vault)?;
    let t = repo.totals()?;
    let (logical_bytes, stored_bytes) = (t.logical_bytes, t.stored_bytes);
    let accounts = repo
        .account_totals()?
        .into_iter()
        .map(|a| AccountStats {
            account: a.account,
            snapshots: a.snapshots,
            logical_bytes: a.logical_bytes,
            new_bytes: a.new_bytes,
            stored_bytes: a.stored_bytes,
        })
        .collect();
    let per_snapshot = snapshots::list(repo.conn(), None)?;
    Ok(Stats {
        snapshots: t.snapshots,
        logical_bytes,
        stored_bytes,
        dedup_ratio: if stored_bytes == 0 {
            1.0
        } else {
            logical_bytes as f64 / stored_bytes as f64
        },
        packs: t.packs,
        chunks: t.chunks,
        unique_bytes: t.unique_bytes,
        accounts,
        per_snapshot,
    })
}

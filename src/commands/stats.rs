//! `tt-vault stats`: how much the vault holds and how much dedup saves.

use serde::Serialize;

use crate::store::snapshots::{self, Snapshot};
use crate::store::Vault;

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
    let conn = vault.connect()?;
    let one =
        |sql: &str| -> Result<u64> { Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
    let snapshots = one("SELECT count(*) FROM snapshots")?;
    let logical_bytes = one("SELECT coalesce(sum(bytes), 0) FROM snapshots")?;
    let stored_bytes = one("SELECT coalesce(sum(size), 0) FROM packs")?;
    let packs = one("SELECT count(*) FROM packs")?;
    let chunks = one("SELECT count(*) FROM chunks")?;
    let unique_bytes = one("SELECT coalesce(sum(raw_len), 0) FROM chunks WHERE kind = 0")?;
    let mut stmt = conn.prepare(
        "SELECT account, count(*), sum(bytes), sum(new_bytes), sum(stored_bytes)
         FROM snapshots GROUP BY account ORDER BY account",
    )?;
    let accounts = stmt
        .query_map([], |r| {
            Ok(AccountStats {
                account: r.get(0)?,
                snapshots: r.get::<_, i64>(1)? as u64,
                logical_bytes: r.get::<_, i64>(2)? as u64,
                new_bytes: r.get::<_, i64>(3)? as u64,
                stored_bytes: r.get::<_, i64>(4)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let per_snapshot = snapshots::list(&conn, None)?;
    Ok(Stats {
        snapshots,
        logical_bytes,
        stored_bytes,
        dedup_ratio: if stored_bytes == 0 {
            1.0
        } else {
            logical_bytes as f64 / stored_bytes as f64
        },
        packs,
        chunks,
        unique_bytes,
        accounts,
        per_snapshot,
    })
}

//! Verify's records (`audits`, `packs.verified_at`), the totals `stats` shows, and
//! the history a rebuilt index carries over from the old one.

use std::path::Path;

use rusqlite::params;
use serde::Serialize;

use super::index::now_rfc3339;
use super::Repository;
use crate::store::Result;

#[derive(Debug, Serialize)]
pub struct Audit {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub mode: String,
    pub packs_checked: i64,
    pub bytes_checked: i64,
    pub ok: Option<bool>,
    pub problems: serde_json::Value,
}

/// What the vault holds, summed over the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub snapshots: u64,
    pub logical_bytes: u64,
    pub stored_bytes: u64,
    pub packs: u64,
    pub chunks: u64,
    /// Raw bytes of the distinct data chunks.
    pub unique_bytes: u64,
}

/// One account's snapshots, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTotals {
    pub account: String,
    pub snapshots: u64,
    pub logical_bytes: u64,
    pub new_bytes: u64,
    pub stored_bytes: u64,
}

impl Repository {
    /// SQLite's own integrity check: `["ok"]` when the database is sound.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records the start of a verify run; returns its audit id.
    pub fn start_audit(&self, mode: &str) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO audits (started_at, mode) VALUES (?1, ?2)",
            params![now_rfc3339(), mode],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_audit(
        &self,
        audit: i64,
        packs_checked: u64,
        bytes_checked: u64,
        ok: bool,
        problems_json: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE audits SET finished_at = ?1, packs_checked = ?2, bytes_checked = ?3, ok = ?4, problems = ?5 WHERE id = ?6",
            params![
                now_rfc3339(),
                packs_checked as i64,
                bytes_checked as i64,
                ok,
                problems_json,
                audit
            ],
        )?;
        Ok(())
    }

    /// Stamps packs whose every blob re-hashed cleanly just now.
    pub fn mark_verified(&self, pack_ids: &[i64]) -> Result<()> {
        let now = now_rfc3339();
        let mut stmt = self
            .conn
            .prepare("UPDATE packs SET verified_at = ?1 WHERE id = ?2")?;
        for id in pack_ids {
            stmt.execute(params![now, id])?;
        }
        Ok(())
    }

    pub fn audits(&self) -> Result<Vec<Audit>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, started_at, finished_at, mode, packs_checked, bytes_checked, ok, problems FROM audits ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Audit {
                id: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                mode: r.get(3)?,
                packs_checked: r.get(4)?,
                bytes_checked: r.get(5)?,
                ok: r.get(6)?,
                problems: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn totals(&self) -> Result<Totals> {
        let one = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(Totals {
            snapshots: one("SELECT count(*) FROM snapshots")?,
            logical_bytes: one("SELECT coalesce(sum(bytes), 0) FROM snapshots")?,
            stored_bytes: one("SELECT coalesce(sum(size), 0) FROM packs")?,
            packs: one("SELECT count(*) FROM packs")?,
            chunks: one("SELECT count(*) FROM chunks")?,
            unique_bytes: one("SELECT coalesce(sum(raw_len), 0) FROM chunks WHERE kind = 0")?,
        })
    }

    pub fn account_totals(&self) -> Result<Vec<AccountTotals>> {
        let mut stmt = self.conn.prepare(
            "SELECT account, count(*), sum(bytes), sum(new_bytes), sum(stored_bytes)
             FROM snapshots GROUP BY account ORDER BY account",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(AccountTotals {
                account: r.get(0)?,
                snapshots: r.get::<_, u64>(1)?,
                logical_bytes: r.get::<_, u64>(2)?,
                new_bytes: r.get::<_, u64>(3)?,
                stored_bytes: r.get::<_, u64>(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Copies the audit history and the packs' verify stamps from an old index, which
    /// the packs cannot give back. Returns how many audits came over, or why the old
    /// index could not be read (the caller says so; the old file is kept).
    pub fn carry_over_history(&self, old: &Path) -> std::result::Result<u64, String> {
        let old = old.display().to_string().replace('\'', "''");
        // Without a KEY clause SQLCipher attaches with the main database's key: an
        // encrypted vault's old index is read with the vault's key, a plain one plain.
        self.conn
            .execute_batch(&format!("ATTACH DATABASE '{old}' AS old"))
            .map_err(|e| e.to_string())?;
        let carried = (|| -> rusqlite::Result<u64> {
            let tx = self.conn.unchecked_transaction()?;
            let n = tx.execute(
                "INSERT INTO audits (id, started_at, finished_at, mode, packs_checked, bytes_checked, ok, problems)
                 SELECT id, started_at, finished_at, mode, packs_checked, bytes_checked, ok, problems
                 FROM old.audits",
                [],
            )?;
            tx.execute(
                "UPDATE packs SET verified_at = (SELECT o.verified_at FROM old.packs o WHERE o.name = packs.name)",
                [],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })();
        let _ = self.conn.execute_batch("DETACH DATABASE old");
        carried.map_err(|e| e.to_string())
    }

    /// Folds the write-ahead log into the database file, before it is renamed.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

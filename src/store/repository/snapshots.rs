//! Snapshot rows in the index: recording, listing and finding them.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql, Transaction};

use super::{get_hash, get_opt_hash};
use crate::store::chunker::Hash;
use crate::store::manifest::{Entry, Manifest};
use crate::store::{Result, StoreError};

/// `entries.mtime_ns` in SQLite: an INTEGER when the time fits an `i64` of
/// nanoseconds (1677 to 2262, every row written before times became `i128`), else
/// the 16-byte big-endian BLOB of the `i128` (a numeric TEXT would be turned into a
/// REAL by the column's INTEGER affinity; a BLOB is kept as it is).
struct DbMtime(i128);

impl ToSql for DbMtime {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match i64::try_from(self.0) {
            Ok(n) => ToSqlOutput::Owned(Value::Integer(n)),
            Err(_) => ToSqlOutput::Owned(Value::Blob(self.0.to_be_bytes().to_vec())),
        })
    }
}

impl FromSql for DbMtime {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v {
            ValueRef::Integer(n) => Ok(DbMtime(i128::from(n))),
            ValueRef::Blob(b) => b
                .try_into()
                .map(|b| DbMtime(i128::from_be_bytes(b)))
                .map_err(|_| FromSqlError::InvalidBlobSize {
                    expected_size: 16,
                    blob_size: b.len(),
                }),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// A snapshot as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub id: String,
    pub account: String,
    pub taken_at: String,
    #[serde(skip)]
    pub taken_ms: i64,
    pub files: u64,
    pub bytes: u64,
    pub new_bytes: u64,
    pub stored_bytes: u64,
    pub sources: serde_json::Value,
    pub failed: serde_json::Value,
    #[serde(skip)]
    pub meta: serde_json::Value,
}

impl Snapshot {
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }
}

/// The first 8 hex digits of a snapshot id, as shown to people.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

const COLUMNS: &str =
    "id, account, taken_at, taken_ms, files, bytes, new_bytes, stored_bytes, sources, failed, meta";

fn from_row(r: &Row) -> rusqlite::Result<Snapshot> {
    let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
        Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap_or(serde_json::Value::Null))
    };
    Ok(Snapshot {
        id: r.get(0)?,
        account: r.get(1)?,
        taken_at: r.get(2)?,
        taken_ms: r.get(3)?,
        files: r.get::<_, u64>(4)?,
        bytes: r.get::<_, u64>(5)?,
        new_bytes: r.get::<_, u64>(6)?,
        stored_bytes: r.get::<_, u64>(7)?,
        sources: json(8)?,
        failed: json(9)?,
        meta: json(10)?,
    })
}

pub fn parse_taken_at(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Records a snapshot and its entries (their files must already be indexed).
pub fn insert(tx: &Transaction, id: &str, m: &Manifest) -> Result<()> {
    let taken_ms = parse_taken_at(&m.taken_at)
        .map(|d| d.timestamp_millis())
        .ok_or_else(|| StoreError::Vault(format!("snapshot {id} has a bad date {}", m.taken_at)))?;
    tx.execute(
        &format!("INSERT INTO snapshots ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        params![
            id,
            m.account,
            m.taken_at,
            taken_ms,
            m.stats.files as i64,
            m.stats.bytes as i64,
            m.stats.new_bytes as i64,
            m.stats.stored_bytes as i64,
            serde_json::to_string(&m.sources).unwrap(),
            serde_json::to_string(&m.failed).unwrap(),
            m.meta.to_string(),
        ],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO entries (snapshot_id, path, kind, file_hash, size, mtime_ns, inode, item_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in &m.entries {
        stmt.execute(params![
            id,
            e.path,
            e.kind,
            &e.hash[..],
            e.size as i64,
            e.mtime_ns.map(DbMtime),
            e.inode.map(|i| i as i64),
            e.item_id
        ])?;
    }
    Ok(())
}

/// Records, committed at once (`conn` must not be in a transaction), that the commit
/// of the snapshot whose manifest is `manifest` has started: called before the
/// manifest goes to a pack, so that prune, finding a manifest no snapshot row names,
/// can go on (keeping it) instead of refusing (see `schema/009_unfinished_snapshots.sql`).
/// A row already there (the same manifest, a commit tried again) stays.
pub fn begin_commit(conn: &Connection, manifest: &Hash) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO unfinished_snapshots (manifest) VALUES (?1)")?
        .execute([&manifest[..]])?;
    Ok(())
}

/// Drops the record of `manifest`'s commit: in the transaction that inserts the
/// snapshot's row (its commit is finished), in prune's once nothing is left to keep,
/// or in the one that commits a tombstone naming it (`forget --unfinished`).
pub fn drop_unfinished(tx: &Transaction, manifest: &Hash) -> Result<()> {
    tx.prepare_cached("DELETE FROM unfinished_snapshots WHERE manifest = ?1")?
        .execute([&manifest[..]])?;
    Ok(())
}

/// The manifests of snapshot commits that started and never finished.
pub fn unfinished(conn: &Connection) -> Result<HashSet<Hash>> {
    let mut stmt = conn.prepare("SELECT manifest FROM unfinished_snapshots")?;
    let rows = stmt.query_map([], |r| get_hash(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether the snapshot `id` has a row.
pub fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM snapshots WHERE id = ?1")?
        .exists([id])?)
}

/// All snapshots, oldest first, optionally of one account.
pub fn list(conn: &Connection, account: Option<&str>) -> Result<Vec<Snapshot>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM snapshots WHERE ?1 IS NULL OR account = ?1 ORDER BY taken_ms, id"
    ))?;
    let rows = stmt.query_map([account], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn latest(conn: &Connection, account: Option<&str>) -> Result<Option<Snapshot>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM snapshots WHERE ?1 IS NULL OR account = ?1
                 ORDER BY taken_ms DESC, id DESC LIMIT 1"
            ),
            [account],
            from_row,
        )
        .optional()?)
}

pub fn accounts(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT account FROM snapshots ORDER BY account")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Finds a snapshot by a unique prefix of its id.
pub fn by_prefix(conn: &Connection, prefix: &str) -> Result<Snapshot> {
    let prefix = prefix.to_ascii_lowercase();
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::NoSuchSnapshot(prefix));
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM snapshots WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 6"
    ))?;
    let found: Vec<Snapshot> = stmt
        .query_map([&prefix], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    match found.len() {
        0 => Err(StoreError::NoSuchSnapshot(prefix)),
        1 => Ok(found.into_iter().next().unwrap()),
        _ => Err(StoreError::Ambiguous {
            prefix,
            matches: found
                .iter()
                .map(|s| s.short_id().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The newest snapshot taken at or before `at`.
pub fn at_or_before(
    conn: &Connection,
    account: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Option<Snapshot>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM snapshots WHERE (?1 IS NULL OR account = ?1) AND taken_ms <= ?2
                 ORDER BY taken_ms DESC, id DESC LIMIT 1"
            ),
            params![account, at.timestamp_millis()],
            from_row,
        )
        .optional()?)
}

const ENTRY_COLUMNS: &str =
    "e.path, e.kind, e.file_hash, e.size, e.mtime_ns, e.inode, f.map, e.item_id, e.snapshot_id";

fn entry_from_row(r: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        path: r.get(0)?,
        kind: r.get(1)?,
        hash: get_hash(r, 2)?,
        size: r.get::<_, u64>(3)?,
        mtime_ns: r.get::<_, Option<DbMtime>>(4)?.map(|m| m.0),
        inode: r.get::<_, Option<i64>>(5)?.map(|i| i as u64),
        map: get_opt_hash(r, 6)?,
        item_id: r.get(7)?,
    })
}

pub fn entries(conn: &Connection, id: &str) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e JOIN files f ON f.hash = e.file_hash
         WHERE e.snapshot_id = ?1 ORDER BY e.path"
    ))?;
    let rows = stmt.query_map([id], entry_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The files of an item (a TikTok post id, say) as the newest snapshot holding it has them.
pub fn entries_for_item(conn: &Connection, item_id: &str) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e JOIN files f ON f.hash = e.file_hash
         JOIN snapshots s ON s.id = e.snapshot_id
         WHERE e.item_id = ?1 ORDER BY s.taken_ms DESC, e.snapshot_id, e.path"
    ))?;
    let rows = stmt.query_map([item_id], |r| {
        Ok((r.get::<_, String>(8)?, entry_from_row(r)?))
    })?;
    let mut out = Vec::new();
    let mut newest: Option<String> = None;
    for row in rows {
        let (snap, e) = row?;
        if newest.get_or_insert_with(|| snap.clone()) != &snap {
            break;
        }
        out.push(e);
    }
    Ok(out)
}

/// Every item id (a TikTok post id) some snapshot holds.
pub fn archived_items(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT item_id FROM entries WHERE item_id IS NOT NULL")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn delete(tx: &Transaction, id: &str) -> Result<()> {
    tx.execute("DELETE FROM snapshots WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{snapshot, vault};

    #[test]
    fn snapshots_are_found_by_prefix_date_and_account() {
        let t = vault();
        let a1 = snapshot(
            &t.vault,
            "a",
            "2026-01-01T10:00:00Z",
            &[("x", b"1", Some("9"))],
        );
        let b1 = snapshot(&t.vault, "b", "2026-01-02T10:00:00Z", &[("x", b"2", None)]);
        let a2 = snapshot(
            &t.vault,
            "a",
            "2026-01-03T10:00:00Z",
            &[("y", b"3", Some("9"))],
        );
        let conn = t.vault.connect().unwrap();
        let ids = |v: Vec<Snapshot>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(
            ids(list(&conn, None).unwrap()),
            [a1.id.clone(), b1.id.clone(), a2.id.clone()]
        );
        assert_eq!(
            ids(list(&conn, Some("a")).unwrap()),
            [a1.id.clone(), a2.id.clone()]
        );
        assert_eq!(accounts(&conn).unwrap(), ["a", "b"]);
        assert_eq!(latest(&conn, Some("b")).unwrap().unwrap().id, b1.id);
        let at = parse_taken_at("2026-01-02T23:00:00Z").unwrap();
        assert_eq!(
            at_or_before(&conn, Some("a"), at).unwrap().unwrap().id,
            a1.id
        );
        assert!(
            at_or_before(&conn, None, parse_taken_at("2025-01-01T00:00:00Z").unwrap())
                .unwrap()
                .is_none()
        );
        assert_eq!(
            by_prefix(&conn, &a2.id[..12].to_uppercase()).unwrap().id,
            a2.id
        );
        assert!(matches!(
            by_prefix(&conn, "zz"),
            Err(StoreError::NoSuchSnapshot(_))
        ));
        assert!(matches!(
            by_prefix(&conn, ""),
            Err(StoreError::NoSuchSnapshot(_))
        ));
        // The newest snapshot holding an item gives its files.
        let files = entries_for_item(&conn, "9").unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "y");
        assert_eq!(entries(&conn, &a1.id).unwrap(), a1.manifest.entries);
    }

    #[test]
    fn a_malformed_entry_hash_is_an_error_not_the_zero_hash() {
        let t = vault();
        let c = snapshot(&t.vault, "a", "2026-01-01T10:00:00Z", &[("x", b"1", None)]);
        let conn = t.vault.connect().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF; UPDATE entries SET file_hash = x'00';")
            .unwrap();
        assert!(conn
            .query_row("SELECT 1 FROM snapshots WHERE id = ?1", [&c.id], |_| Ok(()))
            .is_ok());
        let bad = conn
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries e LEFT JOIN files f ON f.hash = e.file_hash"),
                [],
                entry_from_row,
            )
            .unwrap_err();
        assert!(bad.to_string().contains("not 32"), "{bad}");
    }

    #[test]
    fn deleting_a_snapshot_removes_its_entries() {
        let t = vault();
        let c = snapshot(&t.vault, "a", "2026-01-01T10:00:00Z", &[("x", b"1", None)]);
        let mut conn = t.vault.connect().unwrap();
        let tx = conn.transaction().unwrap();
        delete(&tx, &c.id).unwrap();
        tx.commit().unwrap();
        assert!(list(&conn, None).unwrap().is_empty());
        assert!(entries(&conn, &c.id).unwrap().is_empty());
    }
}

//! The resume journal: files stored for an item by a run that has not committed.
//! See the `journal` table in `schema/001_init.sql`.

use rusqlite::{params, Connection, Transaction};

use super::index::{self, FileRow};
use super::{get_hash, get_hashes, get_opt_hash};
use crate::store::manifest::Entry;
use crate::store::Result;

pub fn record(conn: &Connection, entry: &Entry, file: &FileRow) -> Result<()> {
    let Some(item) = &entry.item_id else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO journal (item_id, path, kind, file_hash, size, chunks, map)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        item,
        entry.path,
        entry.kind,
        &file.hash[..],
        file.size as i64,
        file.chunks.concat(),
        file.map.as_ref().map(|m| &m[..])
    ])?;
    Ok(())
}

/// The journaled files of an item whose every blob is durably committed.
pub fn committed_files(conn: &Connection, item_id: &str) -> Result<Vec<(Entry, FileRow)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT path, kind, file_hash, size, chunks, map FROM journal WHERE item_id = ?1 ORDER BY path",
    )?;
    let rows: Vec<(Entry, FileRow)> = stmt
        .query_map([item_id], |r| {
            let file = FileRow {
                hash: get_hash(r, 2)?,
                size: r.get::<_, i64>(3)? as u64,
                chunks: get_hashes(r, 4)?,
                map: get_opt_hash(r, 5)?,
            };
            let entry = Entry::of_file(r.get(0)?, r.get(1)?, &file, Some(item_id.to_string()));
            Ok((entry, file))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (_, f) in &rows {
        for blob in f.chunks.iter().chain(f.map.iter()) {
            if !index::has_chunk(conn, blob)? {
                return Ok(Vec::new());
            }
        }
    }
    Ok(rows)
}

pub fn clear(tx: &Transaction) -> Result<()> {
    tx.execute("DELETE FROM journal", [])?;
    Ok(())
}

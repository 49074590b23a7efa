//! The resume journal: files stored for an item by a run that has not committed.
//! See the `journal` table in `schema/001_init.sql`.

use rusqlite::{params, Connection, Transaction};

use super::index::{self, split_hashes, FileRow};
use super::manifest::Entry;
use super::Result;

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
            let hash: [u8; 32] = r.get::<_, Vec<u8>>(2)?.try_into().unwrap_or([0; 32]);
            let map = r
                .get::<_, Option<Vec<u8>>>(5)?
                .and_then(|m| m.try_into().ok());
            let size = r.get::<_, i64>(3)? as u64;
            Ok((
                Entry {
                    path: r.get(0)?,
                    kind: r.get(1)?,
                    hash,
                    size,
                    mtime_ns: None,
                    inode: None,
                    map,
                    item_id: Some(item_id.to_string()),
                },
                FileRow {
                    hash,
                    size,
                    chunks: split_hashes(&r.get::<_, Vec<u8>>(4)?),
                    map,
                },
            ))
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

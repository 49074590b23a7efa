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
                size: r.get::<_, u64>(3)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{snapshot, vault};

    fn row(hash: u8, chunks: &[[u8; 32]]) -> FileRow {
        FileRow {
            hash: [hash; 32],
            size: 10,
            chunks: chunks.to_vec(),
            map: None,
        }
    }

    #[test]
    fn journal_rows_commit_without_an_fsync_and_other_connections_stay_full() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T10:00:00Z",
            &[("x", b"kept", None)],
        );
        let w = index::without_fsync(t.vault.connect().unwrap()).unwrap();
        let sync = |c: &Connection| -> i64 {
            c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(sync(&w), 1, "NORMAL on the journal's connection");
        let other = t.vault.connect().unwrap();
        assert_eq!(sync(&other), 2, "FULL everywhere else: packs and snapshots");
        // Committed, not held in a transaction: another connection sees the row.
        let f = row(3, &[c.manifest.entries[0].hash]);
        let e = Entry::of_file("v/3.mp4".into(), "video".into(), &f, Some("3".into()));
        record(&w, &e, &f).unwrap();
        assert_eq!(committed_files(&other, "3").unwrap(), vec![(e, f)]);
    }

    #[test]
    fn a_journaled_file_counts_only_once_its_blobs_are_committed() {
        let t = vault();
        // A committed chunk: the content of "x".
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T10:00:00Z",
            &[("x", b"stored", None)],
        );
        let stored = c.manifest.entries[0].hash;
        let conn = t.vault.connect().unwrap();
        let good = row(1, &[stored]);
        let e = Entry::of_file("v/1.mp4".into(), "video".into(), &good, Some("1".into()));
        record(&conn, &e, &good).unwrap();
        assert_eq!(
            committed_files(&conn, "1").unwrap(),
            vec![(e, good.clone())]
        );

        let pending = row(2, &[[9; 32]]);
        let e2 = Entry::of_file("v/2.mp4".into(), "video".into(), &pending, Some("2".into()));
        record(&conn, &e2, &pending).unwrap();
        assert!(committed_files(&conn, "2").unwrap().is_empty());

        // An entry with no item is not journaled.
        let e3 = Entry::of_file("other".into(), "media".into(), &good, None);
        record(&conn, &e3, &good).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM journal", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);

        let mut conn = conn;
        let tx = conn.transaction().unwrap();
        clear(&tx).unwrap();
        tx.commit().unwrap();
        assert!(committed_files(&conn, "1").unwrap().is_empty());
    }
}

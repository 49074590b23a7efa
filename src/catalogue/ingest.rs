//! One export into the catalogue as a new version of its account.
//!
//! Records stream from the parser straight into SQLite, one transaction per export:
//! a row already open for the account (same key and occurrence) is left alone, a new
//! one is inserted, and at the end every open row the export no longer holds is
//! closed. Memory stays flat; the index grows only by what changed.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use crate::tiktok::export::{norm, Export, ParseReport, Record, Section};

use super::{layout_name, Result};

/// The snapshot an export version belongs to.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub snapshot_id: &'a str,
    pub account: &'a str,
    pub taken_ms: i64,
    /// Where the export sits in the snapshot tree (`export/TikTok_Data_1.zip`).
    pub export_root: &'a str,
}

/// Parses `export` into a new version of `v.account`, linked to `v.snapshot_id`
/// (which must already be committed).
pub fn ingest(conn: &mut Connection, v: &NewVersion, export: &Export) -> Result<ParseReport> {
    let tx = conn.transaction()?;
    let report = ingest_in(&tx, v, export)?;
    tx.commit()?;
    Ok(report)
}

/// As [`ingest`], inside the caller's transaction (the snapshot's own commit, so a
/// snapshot and its catalogue become visible together).
pub fn ingest_in(
    tx: &rusqlite::Transaction,
    v: &NewVersion,
    export: &Export,
) -> Result<ParseReport> {
    let seq = next_seq(tx, v.account)?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS export_seen (
             key BLOB NOT NULL, occurrence INTEGER NOT NULL, PRIMARY KEY (key, occurrence)
         ) WITHOUT ROWID;
         DELETE FROM temp.export_seen;",
    )?;
    let mut position = 0i64;
    let report = export.parse(&mut |rec| {
        add(tx, v.account, seq, position, &rec).map_err(|e| e.to_string())?;
        position += 1;
        Ok(())
    })?;
    tx.execute(
        "UPDATE export_items SET last_seq = ?2 - 1
         WHERE account = ?1 AND last_seq IS NULL AND first_seq < ?2
           AND NOT EXISTS (SELECT 1 FROM temp.export_seen s
                           WHERE s.key = export_items.key AND s.occurrence = export_items.occurrence)",
        params![v.account, seq],
    )?;
    tx.execute(
        "INSERT INTO export_versions
             (snapshot_id, account, seq, taken_ms, layout, username, export_root, records, understood, kept_raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            v.snapshot_id,
            v.account,
            seq,
            v.taken_ms,
            layout_name(report.layout),
            report.account,
            v.export_root,
            report.records as i64,
            serde_json::to_string(&report.understood).unwrap(),
            serde_json::to_string(&report.kept_raw).unwrap(),
        ],
    )?;
    tx.execute("DELETE FROM temp.export_seen", [])?;
    Ok(report)
}

/// The username of the account's newest export, if it had one.
pub fn previous_username(conn: &Connection, account: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT username FROM export_versions WHERE account = ?1 AND username IS NOT NULL
             ORDER BY seq DESC LIMIT 1",
            [account],
            |r| r.get(0),
        )
        .optional()?)
}

fn next_seq(tx: &Transaction, account: &str) -> rusqlite::Result<i64> {
    tx.query_row(
        "INSERT INTO export_accounts (account, last_seq) VALUES (?1, 1)
         ON CONFLICT (account) DO UPDATE SET last_seq = last_seq + 1
         RETURNING last_seq",
        [account],
        |r| r.get(0),
    )
}

fn add(tx: &Transaction, account: &str, seq: i64, position: i64, rec: &Record) -> Result<()> {
    let key = item_key(rec);
    // Most rows are unique: one statement claims occurrence 0; only a duplicate
    // pays for counting the earlier ones.
    let first = tx
        .prepare_cached("INSERT OR IGNORE INTO temp.export_seen (key, occurrence) VALUES (?1, 0)")?
        .execute([&key[..]])?
        == 1;
    let occurrence: i64 = if first {
        0
    } else {
        let n: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM temp.export_seen WHERE key = ?1")?
            .query_row([&key[..]], |r| r.get(0))?;
        tx.prepare_cached("INSERT INTO temp.export_seen (key, occurrence) VALUES (?1, ?2)")?
            .execute(params![&key[..], n])?;
        n
    };
    let open: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM export_items
             WHERE account = ?1 AND key = ?2 AND occurrence = ?3 AND last_seq IS NULL",
        )?
        .query_row(params![account, &key[..], occurrence], |r| r.get(0))
        .optional()?;
    if open.is_some() {
        return Ok(());
    }
    let date = rec.date.as_ref();
    tx.prepare_cached(
        "INSERT INTO export_items
             (account, section, is_raw, key, occurrence, first_seq, last_seq, position,
              date_raw, date_utc, date_assumed, video_id, link, username, text, sender, fields)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        account,
        rec.section.name(),
        matches!(rec.section, Section::Raw(_)),
        &key[..],
        occurrence,
        seq,
        position,
        date.map(|d| &d.raw),
        date.map(|d| d.utc),
        date.map(|d| d.assumed_utc),
        rec.video_id,
        rec.link,
        rec.username,
        rec.text,
        rec.from,
        serde_json::to_string(&rec.fields).expect("JSON maps serialise"),
    ])?;
    Ok(())
}

/// BLAKE3 of the section and the record's canonical content: its fields with keys
/// normalised (so `Date` in 2020 and `date` in 2024 are the same row) and sorted
/// (so a reordered export is unchanged). A message also carries its chat partner,
/// which comes from the chat's key, not from the row.
pub fn item_key(rec: &Record) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(rec.section.name().as_bytes());
    h.update(&[0]);
    if rec.section == Section::Messages {
        h.update(rec.username.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
    }
    let mut canonical = String::new();
    write_canonical_map(&rec.fields, &mut canonical);
    h.update(canonical.as_bytes());
    *h.finalize().as_bytes()
}

fn write_canonical_map(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<(String, &String)> = map.keys().map(|k| (norm(k), k)).collect();
    keys.sort();
    out.push('{');
    for (i, (n, k)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(n.clone()).to_string());
        out.push(':');
        write_canonical(&map[*k], out);
    }
    out.push('}');
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(m) => write_canonical_map(m, out),
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(section: Section, fields: Value, username: Option<&str>) -> Record {
        Record {
            section,
            date: None,
            video_id: None,
            link: None,
            username: username.map(str::to_string),
            text: None,
            from: None,
            fields: fields.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn key_ignores_key_spelling_and_order_but_not_values() {
        let a = record(
            Section::Likes,
            json!({"Date": "2024-01-01 00:00:00", "Link": "x"}),
            None,
        );
        let b = record(
            Section::Likes,
            json!({"link": "x", "date": "2024-01-01 00:00:00"}),
            None,
        );
        let c = record(
            Section::Likes,
            json!({"link": "y", "date": "2024-01-01 00:00:00"}),
            None,
        );
        let d = record(
            Section::Favorites,
            json!({"link": "x", "date": "2024-01-01 00:00:00"}),
            None,
        );
        assert_eq!(item_key(&a), item_key(&b));
        assert_ne!(item_key(&a), item_key(&c));
        assert_ne!(item_key(&a), item_key(&d));
    }

    #[test]
    fn the_same_message_in_two_chats_is_two_items() {
        let m = json!({"Date": "2024-01-01 00:00:00", "From": "me", "Content": "hi"});
        let a = record(Section::Messages, m.clone(), Some("ann"));
        let b = record(Section::Messages, m, Some("bob"));
        assert_ne!(item_key(&a), item_key(&b));
    }

    /// Exact duplicate rows (TikTok repeats a watch-history row when a video is
    /// opened twice in a second) are kept as separate items, and survive re-ingest.
    #[test]
    fn exact_duplicates_are_counted_and_kept_open() {
        let dir = tempfile::tempdir().unwrap();
        let vault = crate::store::Vault::init(&dir.path().join("v")).unwrap();
        let mut conn = vault.connect().unwrap();
        let row = json!({"Date": "2024-01-01 10:00:00", "Link": "https://www.tiktokv.com/share/video/7300000000000000001/"});
        let other = json!({"Date": "2024-01-01 10:00:01", "Link": "https://www.tiktokv.com/share/video/7300000000000000002/"});
        let export =
            json!({"Activity": {"Video Browsing History": {"VideoList": [row, row, other, row]}}});
        let path = dir.path().join("user_data.json");
        std::fs::write(&path, export.to_string()).unwrap();
        let export = Export::open(&path).unwrap();
        for (n, snap) in ["a", "b"].iter().enumerate() {
            conn.execute(
                "INSERT INTO snapshots (id, account, taken_at, taken_ms, files, bytes, new_bytes, stored_bytes, sources, failed, meta)
                 VALUES (?1, 'acc', '2026-01-01T00:00:00Z', ?2, 0, 0, 0, 0, '[]', '[]', '{}')",
                params![snap, n as i64],
            )
            .unwrap();
            let v = NewVersion {
                snapshot_id: snap,
                account: "acc",
                taken_ms: n as i64,
                export_root: "export/user_data.json",
            };
            ingest(&mut conn, &v, &export).unwrap();
            let counts: Vec<(i64, i64)> = conn
                .prepare("SELECT occurrence, count(*) FROM export_items WHERE section = 'history' AND last_seq IS NULL GROUP BY occurrence ORDER BY occurrence")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(counts, [(0, 2), (1, 1), (2, 1)], "after version {}", n + 1);
        }
        let total: i64 = conn
            .query_row(
                "SELECT count(*) FROM export_items WHERE section = 'history'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(total, 4, "an unchanged export adds no rows");
    }
}

//! One export into the catalogue as a new version of its account.
//!
//! Records stream from the parser straight into SQLite, one transaction per export:
//! a row already open for the account (same key and occurrence) is left alone, a new
//! one is inserted, and at the end every open row the export no longer holds is
//! closed. Memory stays flat; the index grows only by what changed.

use std::collections::HashMap;

use rusqlite::types::Value as Sql;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use crate::tiktok::export::{norm, Export, ParseReport, Record, Section};

use super::query::{self, Version, SHAPE_COLUMNS, VERSION_COLUMNS};
use super::{layout_from_name, layout_name, Result};

/// The snapshot an export version belongs to.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub snapshot_id: &'a str,
    pub account: &'a str,
    pub taken_ms: i64,
    /// Where the export sits in the snapshot tree (`export/TikTok_Data_1.zip`).
    pub export_root: &'a str,
    /// The export's [`Export::fingerprint`], when known: an export identical to the
    /// account's newest version is not parsed again.
    pub export_hash: Option<[u8; 32]>,
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
///
/// An export identical (by its BLAKE3) to the account's newest version becomes a new
/// version without being read: every open row is that version's, and stays open.
pub fn ingest_in(
    tx: &rusqlite::Transaction,
    v: &NewVersion,
    export: &Export,
) -> Result<ParseReport> {
    if let Some(hash) = &v.export_hash {
        if let Some((_, report)) = catalogued(tx, Some(v.account), hash)? {
            let seq = next_seq(tx, v.account)?;
            add_version(tx, v, seq, &report)?;
            return Ok(report);
        }
    }
    let seq = next_seq(tx, v.account)?;
    // A heavy export inserts millions of rows in this one transaction: with SQLite's
    // default 2 MB cache, dirty pages spill to the log over and over.
    tx.execute_batch("PRAGMA cache_size = -32768")?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS export_seen (
             key BLOB NOT NULL, occurrence INTEGER NOT NULL, PRIMARY KEY (key, occurrence)
         ) WITHOUT ROWID;
         DELETE FROM temp.export_seen;",
    )?;
    let mut position = 0i64;
    let mut shapes = Shapes::default();
    let report = export.parse(&mut |rec| {
        add(tx, v.account, seq, position, &rec, &mut shapes).map_err(|e| e.to_string())?;
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
    add_version(tx, v, seq, &report)?;
    tx.execute("DELETE FROM temp.export_seen", [])?;
    Ok(report)
}

fn add_version(tx: &Transaction, v: &NewVersion, seq: i64, report: &ParseReport) -> Result<()> {
    tx.execute(
        "INSERT INTO export_versions
             (snapshot_id, account, seq, taken_ms, layout, username, export_root, records,
              understood, kept_raw, export_hash, damage, capped)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            v.snapshot_id,
            v.account,
            seq,
            v.taken_ms,
            layout_name(report.layout),
            report.account,
            v.export_root,
            report.records as i64,
            json(&report.understood),
            json(&report.kept_raw),
            v.export_hash.as_ref().map(|h| &h[..]),
            json(&report.damage),
            json(&report.capped),
        ],
    )?;
    Ok(())
}

/// A report's list as stored in `export_versions`.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

/// The export version an export with BLAKE3 `hash` would repeat: the newest version
/// ever ingested for its account (so the open rows are exactly its rows) when it has
/// that hash. `account` None: the account a snapshot without `--account` would use,
/// the export's own username (or `default`). Returns the version and its report.
pub fn catalogued(
    conn: &Connection,
    account: Option<&str>,
    hash: &[u8; 32],
) -> Result<Option<(Version, ParseReport)>> {
    let columns: Vec<String> = VERSION_COLUMNS
        .split(", ")
        .map(|c| format!("v.{c}"))
        .collect();
    let found = conn
        .prepare_cached(&format!(
            "SELECT {}, v.records, v.understood, v.kept_raw, v.damage, v.capped
             FROM export_versions v JOIN export_accounts a ON a.account = v.account AND a.last_seq = v.seq
             WHERE v.export_hash = ?1 AND v.account = coalesce(?2, v.username, 'default')",
            columns.join(", ")
        ))?
        .query_row(params![&hash[..], account], |r| {
            let texts: [Option<String>; 4] = [r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?];
            Ok((query::version_from_row(r)?, r.get::<_, i64>(7)?, texts))
        })
        .optional()?;
    let Some((version, records, [understood, kept_raw, damage, capped])) = found else {
        return Ok(None);
    };
    fn list<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<Vec<T>> {
        serde_json::from_str(text.as_deref()?).ok()
    }
    let (Some(layout), Some(understood), Some(kept_raw), Some(damage), Some(capped)) = (
        layout_from_name(&version.layout),
        list(understood),
        list(kept_raw),
        list(damage),
        list(capped),
    ) else {
        return Ok(None);
    };
    let report = ParseReport {
        layout,
        account: version.username.clone(),
        records: records as u64,
        understood,
        kept_raw,
        damage,
        capped,
    };
    Ok(Some((version, report)))
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

/// How many distinct row shapes one ingest records.
const MAX_SHAPES: usize = 1024;

/// The row shapes met in one ingest, by their keys' JSON (see `export_shapes`).
#[derive(Default)]
struct Shapes(HashMap<String, i64>);

impl Shapes {
    /// The shape of `rec`: when every original field is a string that is exactly one
    /// of the row's columns, the keys in order with those columns; else None.
    fn of(&mut self, tx: &Transaction, rec: &Record) -> Result<Option<i64>> {
        let columns = [
            rec.date.as_ref().map(|d| d.raw.as_str()),
            rec.link.as_deref(),
            rec.username.as_deref(),
            rec.text.as_deref(),
            rec.from.as_deref(),
        ];
        let mut keys = Vec::with_capacity(rec.fields.len());
        for (k, v) in &rec.fields {
            let Value::String(s) = v else { return Ok(None) };
            let Some(i) = columns.iter().position(|c| *c == Some(s.as_str())) else {
                return Ok(None);
            };
            keys.push((k.as_str(), SHAPE_COLUMNS[i]));
        }
        let text = serde_json::to_string(&keys).expect("strings serialise");
        if let Some(id) = self.0.get(&text) {
            return Ok(Some(*id));
        }
        // Real exports have a handful of shapes; rows whose keys keep changing (a
        // hostile or broken export) keep their JSON instead of growing this without end.
        if self.0.len() >= MAX_SHAPES {
            return Ok(None);
        }
        let id = tx
            .prepare_cached(
                "INSERT INTO export_shapes (keys) VALUES (?1)
                 ON CONFLICT (keys) DO UPDATE SET keys = keys RETURNING id",
            )?
            .query_row([&text], |r| r.get(0))?;
        self.0.insert(text, id);
        Ok(Some(id))
    }
}

fn add(
    tx: &Transaction,
    account: &str,
    seq: i64,
    position: i64,
    rec: &Record,
    shapes: &mut Shapes,
) -> Result<()> {
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
    let open = tx
        .prepare_cached(
            "SELECT 1 FROM export_items
             WHERE key = ?1 AND occurrence = ?2 AND account = ?3 AND last_seq IS NULL",
        )?
        .exists(params![&key[..], occurrence, account])?;
    if open {
        return Ok(());
    }
    // What the columns can give back exactly is not stored twice (see
    // schema/005_catalogue_compact.sql).
    let date = rec.date.as_ref();
    let date_raw = date
        .filter(|d| query::plain_date(d.utc).as_deref() != Some(d.raw.as_str()))
        .map(|d| &d.raw);
    let video_id = rec.video_id.as_deref().map(query::video_id_value);
    let link = rec.link.as_deref().filter(|l| {
        rec.video_id
            .as_deref()
            .is_none_or(|id| *l != query::share_link(id))
    });
    let shape = shapes.of(tx, rec)?;
    let fields = match shape {
        Some(_) => None,
        None => Some(serde_json::to_string(&rec.fields).expect("JSON maps serialise")),
    };
    tx.prepare_cached(
        "INSERT INTO export_items
             (account, section, is_raw, key, occurrence, first_seq, last_seq, position,
              date_raw, date_utc, date_assumed, video_id, link, username, text, sender, shape, fields)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        account,
        rec.section.name(),
        matches!(rec.section, Section::Raw(_)),
        &key[..],
        occurrence,
        seq,
        position,
        date_raw,
        date.map(|d| d.utc),
        date.map(|d| d.assumed_utc),
        video_id.unwrap_or(Sql::Null),
        link,
        rec.username,
        rec.text,
        rec.from,
        shape,
        fields,
    ])?;
    Ok(())
}

/// BLAKE3 of the section and the record's canonical content: its fields with keys
/// normalised (so `Date` in 2020 and `date` in 2024 are the same row) and sorted
/// (so a reordered export is unchanged). A message also carries its chat partner,
/// which comes from the chat's key, not from the row. The first 16 bytes are kept.
pub fn item_key(rec: &Record) -> [u8; 16] {
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
    let mut key = [0; 16];
    key.copy_from_slice(&h.finalize().as_bytes()[..16]);
    key
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
                export_hash: None,
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

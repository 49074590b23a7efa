//! One export into the catalogue as a new version of its account.
//!
//! Records stream from the parser straight into SQLite, one transaction per export:
//! a row already open for the account (same key and occurrence) is left alone, a new
//! one is inserted, and at the end every open row the export no longer holds is
//! closed. Memory stays flat; the index grows only by what changed.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use rusqlite::types::Value as Sql;
use rusqlite::{params, Connection, OptionalExtension, Statement, Transaction};
use serde_json::{Map, Value};

use crate::tiktok::export::{norm, Export, ParseReport, Record, Section};

use super::date_text::DateText;
use super::feed;
use super::query::{self, Version, SHAPE_COLUMNS};
use super::seen::Seen;
use super::view::json_str;
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
    let mut pass = Pass::new(tx, v.account, seq)?;
    let report = feed::parse_beside(export, Derived::of, |d| d.bytes, &mut |batch| {
        pass.seen.warm(batch.iter().map(|d| &d.key));
        for d in batch {
            pass.add(d)?;
            pass.position += 1;
        }
        Ok(())
    })?;
    pass.close_gone()?;
    pass.index_for_search()?;
    add_version(tx, v, seq, &report)?;
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
    let found = conn
        .prepare_cached(&format!(
            "SELECT {}, v.records, v.understood, v.kept_raw, v.damage, v.capped
             FROM export_versions v JOIN export_accounts a ON a.account = v.account AND a.last_seq = v.seq
             WHERE v.export_hash = ?1 AND v.account = coalesce(?2, v.username, 'default')",
            query::version_columns("v")
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
struct Shapes {
    ids: HashMap<String, i64>,
    /// The shape met last, as (original key, column index) pairs: a section's rows
    /// nearly all share one, and comparing with it allocates nothing.
    last: Option<(Vec<(String, usize)>, i64)>,
}

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
        let column = |v: &Value| match v {
            Value::String(s) => columns.iter().position(|c| *c == Some(s.as_str())),
            _ => None,
        };
        if let Some((keys, id)) = &self.last {
            let same = keys.len() == rec.fields.len()
                && (rec.fields.iter().zip(keys))
                    .all(|((k, v), (key, c))| k == key && column(v) == Some(*c));
            if same {
                return Ok(Some(*id));
            }
        }
        let mut keys = Vec::with_capacity(rec.fields.len());
        for (k, v) in &rec.fields {
            let Some(c) = column(v) else { return Ok(None) };
            keys.push((k.as_str(), c));
        }
        let named: Vec<(&str, &str)> = keys.iter().map(|&(k, c)| (k, SHAPE_COLUMNS[c])).collect();
        let text = serde_json::to_string(&named).expect("strings serialise");
        let id = match self.ids.get(&text) {
            Some(id) => *id,
            // Real exports have a handful of shapes; rows whose keys keep changing (a
            // hostile or broken export) keep their JSON instead of growing this without end.
            None if self.ids.len() >= MAX_SHAPES => return Ok(None),
            None => {
                let id = tx
                    .prepare_cached(
                        "INSERT INTO export_shapes (keys) VALUES (?1)
                         ON CONFLICT (keys) DO UPDATE SET keys = keys RETURNING id",
                    )?
                    .query_row([&text], |r| r.get(0))?;
                self.ids.insert(text, id);
                id
            }
        };
        let keys = keys.into_iter().map(|(k, c)| (k.to_string(), c)).collect();
        self.last = Some((keys, id));
        Ok(Some(id))
    }
}

/// A record with what ingest works out from it alone, on the parser's thread.
struct Derived {
    rec: Record,
    /// Its [`item_key`].
    key: [u8; 8],
    /// What the record weighs, about: its canonical form's length and its texts.
    bytes: usize,
    /// Whether its columns must be kept because they differ from what the others give
    /// back (see schema/006_catalogue_compact.sql): the date's text unless it is the
    /// instant written plainly, the link unless it is the video's share link.
    keep_date_text: bool,
    keep_link: bool,
    video_id: Sql,
}

impl Derived {
    fn of(rec: Record) -> Derived {
        let (key, canonical) = item_key(&rec);
        let keep_date_text = rec
            .date
            .as_ref()
            .is_some_and(|d| DateText::plain(d.utc).is_none_or(|t| t.as_str() != d.raw));
        let keep_link = rec.link.as_deref().is_some_and(|l| {
            rec.video_id
                .as_deref()
                .is_none_or(|id| !query::is_share_link(l, id))
        });
        let video_id = rec
            .video_id
            .as_deref()
            .map_or(Sql::Null, query::video_id_value);
        let texts = [&rec.text, &rec.link, &rec.username, &rec.from];
        let bytes = canonical
            + texts
                .iter()
                .map(|t| t.as_ref().map_or(0, String::len))
                .sum::<usize>();
        Derived {
            rec,
            key,
            bytes,
            keep_date_text,
            keep_link,
            video_id,
        }
    }
}

/// One export's way into the catalogue: what it has shown so far.
struct Pass<'t> {
    tx: &'t Transaction<'t>,
    account: &'t str,
    seq: i64,
    position: i64,
    shapes: Shapes,
    seen: Seen,
    /// The open rows of earlier versions this export still holds (by id).
    claimed: Claimed,
    /// How often the export has shown each key (with its instant) that the seen-filter
    /// flagged: only repeats and the filter's rare false alarms.
    repeats: HashMap<([u8; 8], Option<i64>), i64>,
    /// The lowest and highest id of the rows added with text to search.
    searchable: Option<(i64, i64)>,
    /// Prepared once for the pass: finding them in the statement cache a row at a
    /// time showed in the profile.
    open: Statement<'t>,
    earlier: Statement<'t>,
    insert: Statement<'t>,
}

/// Finds an item by the date index (see schema/007_catalogue_ingest.sql): `?1`
/// account, `?2` section, `?3` date, `?4` key. Named, not chosen: a planner free to
/// weigh the partial indexes compares `?2` with their `section = 'messages'` and
/// must then prepare the statement again at every new section bound (40 % of the
/// ingest's time).
const ITEM: &str = "export_items INDEXED BY export_items_by_date
     WHERE account = ?1 AND section = ?2 AND date_utc IS ?3 AND key = ?4";

/// The rows one pass added with text to search (`?1`..`?2` its lowest and highest
/// id, `?3` account, `?4` version). Read by id range, named: left to choose, SQLite
/// walked the date index over every row of the account (80× slower on a vault of
/// a million rows), which grows with the vault, not with the change.
const SEARCHABLE: &str = "INSERT INTO export_search (rowid, text)
     SELECT id, text FROM export_items NOT INDEXED
     WHERE id BETWEEN ?1 AND ?2 AND account = ?3 AND first_seq = ?4
       AND text IS NOT NULL AND is_raw = 0";

/// Open rows closed by one statement (their ids as a JSON array).
const CLOSE_BATCH: usize = 4096;

impl<'t> Pass<'t> {
    fn new(tx: &'t Transaction<'t>, account: &'t str, seq: i64) -> Result<Pass<'t>> {
        Ok(Pass {
            tx,
            account,
            seq,
            position: 0,
            shapes: Shapes::default(),
            seen: Seen::default(),
            claimed: Claimed::default(),
            repeats: HashMap::new(),
            searchable: None,
            open: tx.prepare(&format!(
                "SELECT id FROM {ITEM} AND occurrence = ?5 AND last_seq IS NULL AND first_seq < ?6"
            ))?,
            earlier: tx.prepare(&format!(
                "SELECT id, first_seq FROM {ITEM} AND last_seq IS NULL"
            ))?,
            insert: tx.prepare(
                "INSERT INTO export_items
                 (account, section, is_raw, key, occurrence, first_seq, last_seq, position,
                  date_raw, date_utc, date_assumed, video_id, link, username, text, sender, shape, fields)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?,
        })
    }

    fn add(&mut self, d: &Derived) -> Result<()> {
        let (rec, key) = (&d.rec, d.key);
        let section = rec.section.name();
        let date = rec.date.as_ref();
        let utc = date.map(|d| d.utc);
        // Most rows are unique, and the filter says so without SQL; only a duplicate
        // (or a rare false alarm) pays for counting the earlier ones.
        let occurrence = if self.seen.first_time(&key) {
            0
        } else {
            self.occurrence(section, utc, &key)?
        };
        // A first version has no open rows to find.
        if self.seq > 1 {
            let open: Option<i64> = self
                .open
                .query_row(
                    params![self.account, section, utc, &key[..], occurrence, self.seq],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = open {
                self.claimed.insert(id);
                return Ok(());
            }
        }
        let date_raw = date.filter(|_| d.keep_date_text).map(|date| &date.raw);
        let link = rec.link.as_deref().filter(|_| d.keep_link);
        let shape = self.shapes.of(self.tx, rec)?;
        let fields = match shape {
            Some(_) => None,
            None => Some(serde_json::to_string(&rec.fields).expect("JSON maps serialise")),
        };
        self.insert.execute(params![
            self.account,
            section,
            matches!(rec.section, Section::Raw(_)),
            &key[..],
            occurrence,
            self.seq,
            self.position,
            date_raw,
            utc,
            date.map(|d| d.assumed_utc),
            d.video_id,
            link,
            rec.username,
            rec.text,
            rec.from,
            shape,
            fields,
        ])?;
        if rec.text.is_some() && !matches!(rec.section, Section::Raw(_)) {
            let id = self.tx.last_insert_rowid();
            let (low, high) = self.searchable.get_or_insert((id, id));
            (*low, *high) = ((*low).min(id), (*high).max(id));
        }
        Ok(())
    }

    /// Adds the text of the rows this pass added to the search index, in one
    /// statement: a trigger doing it row by row made every insert a nested statement
    /// with its own journal (see schema/008_catalogue_search.sql). Same rule as the
    /// trigger: rows with text, not raw.
    fn index_for_search(&self) -> Result<()> {
        let Some((low, high)) = self.searchable else {
            return Ok(());
        };
        self.tx
            .execute(SEARCHABLE, params![low, high, self.account, self.seq])?;
        Ok(())
    }

    /// How many rows with this key the export has shown before. The first time the
    /// filter flags a key, SQL counts them ([`Pass::earlier`]); from then on a count
    /// in memory does: a row repeated n times costs n lookups, not n².
    fn occurrence(&mut self, section: &str, utc: Option<i64>, key: &[u8; 8]) -> Result<i64> {
        let n = match self.repeats.get(&(*key, utc)) {
            Some(&n) => n,
            None => self.earlier(section, utc, key)?,
        };
        // Each meeting claims an open row or adds one: the next meets one more.
        self.repeats.insert((*key, utc), n + 1);
        Ok(n)
    }

    /// How many rows with this key the export has shown before: the ones this
    /// version added, and the open ones of earlier versions it claimed.
    fn earlier(&mut self, section: &str, utc: Option<i64>, key: &[u8; 8]) -> Result<i64> {
        let mut rows = self
            .earlier
            .query(params![self.account, section, utc, &key[..]])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let (id, first): (i64, i64) = (r.get(0)?, r.get(1)?);
            if first == self.seq || self.claimed.contains(id) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Closes every open row of earlier versions the export no longer holds.
    fn close_gone(&self) -> Result<()> {
        if self.seq == 1 {
            return Ok(());
        }
        let gone: Vec<i64> = self
            .tx
            .prepare(
                "SELECT id FROM export_items
                 WHERE account = ?1 AND last_seq IS NULL AND first_seq < ?2",
            )?
            .query_map(params![self.account, self.seq], |r| r.get(0))?
            .filter(|id| id.as_ref().map_or(true, |id| !self.claimed.contains(*id)))
            .collect::<rusqlite::Result<_>>()?;
        // Thousands at a time: a statement a row cost more than the rows' writes.
        let mut close = self.tx.prepare(
            "UPDATE export_items SET last_seq = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
        )?;
        for ids in gone.chunks(CLOSE_BATCH) {
            close.execute(params![self.seq - 1, json(&ids)])?;
        }
        Ok(())
    }
}

/// A set of row ids, one bit each: ids are dense (SQLite gives max + 1), so an export's
/// open rows take a bit a row. An id past [`Claimed::DENSE`] (a vault edited by hand)
/// goes to a plain set rather than growing the bits without bound.
#[derive(Default)]
struct Claimed {
    bits: Vec<u64>,
    sparse: HashSet<i64>,
}

impl Claimed {
    /// Ids below this (32 MB of bits) are kept as bits.
    const DENSE: i64 = 1 << 28;

    fn insert(&mut self, id: i64) {
        if !(0..Self::DENSE).contains(&id) {
            self.sparse.insert(id);
            return;
        }
        let (word, bit) = (id as usize / 64, id % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << bit;
    }

    fn contains(&self, id: i64) -> bool {
        if !(0..Self::DENSE).contains(&id) {
            return self.sparse.contains(&id);
        }
        let (word, bit) = (id as usize / 64, id % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

/// BLAKE3 of the section and the record's canonical content: its fields with keys
/// normalised (so `Date` in 2020 and `date` in 2024 are the same row) and sorted
/// (so a reordered export is unchanged). A message also carries its chat partner,
/// which comes from the chat's key, not from the row. The first 8 bytes are kept:
/// an item is only ever looked up by its account, section and date with its key
/// (schema/007_catalogue_ingest.sql), so two rows would have to share all of them and
/// 64 bits of hash to be confused. Also gives the canonical form's length.
pub fn item_key(rec: &Record) -> ([u8; 8], usize) {
    let mut h = blake3::Hasher::new();
    h.update(rec.section.name().as_bytes());
    h.update(&[0]);
    if rec.section == Section::Messages {
        h.update(rec.username.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
    }
    let canonical = CANONICAL.with_borrow_mut(|c| {
        c.write(&rec.fields);
        h.update(&c.out);
        c.out.len()
    });
    let mut key = [0; 8];
    key.copy_from_slice(&h.finalize().as_bytes()[..8]);
    (key, canonical)
}

thread_local! {
    static CANONICAL: RefCell<Canonical> = RefCell::default();
}

/// Rows of at most this many keys have their values found by place.
const BY_PLACE: usize = 16;

/// Writes rows' canonical forms, remembering the order of the last row's keys: the
/// rows of a list share their keys, so their order is worked out once a list, not
/// normalised, sorted and allocated again for every row (a sixth of the parse).
#[derive(Default)]
struct Canonical {
    /// The last row's keys, as the row has them.
    keys: Vec<String>,
    /// Their canonical order: each key normalised, with its place in `keys`.
    order: Vec<(String, usize)>,
    out: Vec<u8>,
}

impl Canonical {
    fn write(&mut self, map: &Map<String, Value>) {
        if !map.keys().eq(&self.keys) {
            self.keys = map.keys().cloned().collect();
            self.order = self.keys.iter().map(|k| norm(k)).zip(0..).collect();
            let keys = &self.keys;
            self.order
                .sort_unstable_by(|(a, i), (b, j)| (a, &keys[*i]).cmp(&(b, &keys[*j])));
        }
        self.out.clear();
        self.out.push(b'{');
        for (n, (name, i)) in self.order.iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            json_str(&mut self.out, name);
            self.out.push(b':');
            // The map's keys are `keys`, in order: a row's few values are found by
            // place, not by hashing each key again; a row of many keys (the walk to
            // a place is linear) by its key.
            let value = if self.keys.len() <= BY_PLACE {
                map.values().nth(*i)
            } else {
                map.get(&self.keys[*i])
            };
            let value = value.expect("a place among the row's keys");
            write_canonical(value, &mut self.out);
        }
        self.out.push(b'}');
    }
}

/// The canonical form: compact JSON, keys normalised and sorted. Stored keys were
/// made from these exact bytes, so they must never change.
fn write_canonical_map(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let mut keys: Vec<(String, &String)> = map.keys().map(|k| (norm(k), k)).collect();
    keys.sort();
    out.push(b'{');
    for (i, (n, k)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, n);
        out.push(b':');
        write_canonical(&map[*k], out);
    }
    out.push(b'}');
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(m) => write_canonical_map(m, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => json_str(out, s),
        scalar => compact(scalar, out),
    }
}

/// serde_json's compact form, written in place (as `Value::to_string` gives it).
fn compact<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("JSON text and scalars write to memory");
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
        assert_eq!(item_key(&a).0, item_key(&b).0);
        assert_ne!(item_key(&a).0, item_key(&c).0);
        assert_ne!(item_key(&a).0, item_key(&d).0);
    }

    #[test]
    fn the_same_message_in_two_chats_is_two_items() {
        let m = json!({"Date": "2024-01-01 00:00:00", "From": "me", "Content": "hi"});
        let a = record(Section::Messages, m.clone(), Some("ann"));
        let b = record(Section::Messages, m, Some("bob"));
        assert_ne!(item_key(&a).0, item_key(&b).0);
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

    /// The search index is filled from the rows a pass added, found by their ids,
    /// not by walking every row of the account through an index.
    #[test]
    fn the_search_index_reads_only_the_rows_added() {
        let dir = tempfile::tempdir().unwrap();
        let vault = crate::store::Vault::init(&dir.path().join("v")).unwrap();
        let conn = vault.connect().unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {SEARCHABLE}"))
            .unwrap()
            .query_map(params![1, 2, "acc", 1], |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(
            plan.contains("SEARCH export_items USING INTEGER PRIMARY KEY"),
            "{plan}"
        );
    }

    /// Stored keys were made from the canonical form as `Value::to_string` wrote
    /// each key and scalar: the form written in place must be the same bytes, or every
    /// catalogued row would look new (and its old self gone) at the next snapshot.
    #[test]
    fn the_canonical_form_is_the_bytes_keys_were_made_from() {
        fn reference(value: &Value) -> String {
            match value {
                Value::Object(m) => {
                    let mut keys: Vec<(String, &String)> = m.keys().map(|k| (norm(k), k)).collect();
                    keys.sort();
                    let parts: Vec<String> = keys
                        .iter()
                        .map(|(n, k)| format!("{}:{}", Value::String(n.clone()), reference(&m[*k])))
                        .collect();
                    format!("{{{}}}", parts.join(","))
                }
                Value::Array(a) => {
                    let parts: Vec<String> = a.iter().map(reference).collect();
                    format!("[{}]", parts.join(","))
                }
                scalar => scalar.to_string(),
            }
        }
        let row = json!({
            "Date": "2024-01-01 00:00:00",
            "Quote \"and\" slash \\ and \u{1} and é 😀": "tab\tnewline\n\u{7f}",
            "Numbers": [0, -1, 1.5, 1e300, 18446744073709551615u64, -9223372036854775808i64],
            "Nested": {"b": null, "A": true, "c": [false, {"Z": "</script>"}]},
            "Empty": {},
            "Nothing": []
        });
        let same_keys = json!({
            "Date": "2024-01-02 00:00:00",
            "Quote \"and\" slash \\ and \u{1} and é 😀": "plain",
            "Numbers": 7,
            "Nested": "flat now",
            "Empty": "",
            "Nothing": null
        });
        let spelt_twice = json!({"date": 1, "Date": 2, "DATE": 3, "link": "x"});
        // More keys than are found by place.
        let many = Value::Object(
            (0..BY_PLACE * 3)
                .map(|i| (format!("Key {i}"), json!(i)))
                .collect(),
        );
        let mut canonical = Canonical::default();
        // Each row alone, then in turn through the remembered order (same keys, other
        // keys, the same again).
        for value in [&row, &same_keys, &spelt_twice, &many, &many, &row, &row] {
            let Value::Object(map) = value else {
                unreachable!()
            };
            let mut out = Vec::new();
            write_canonical_map(map, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), reference(value));
            canonical.write(map);
            assert_eq!(
                String::from_utf8(canonical.out.clone()).unwrap(),
                reference(value)
            );
        }
    }
}

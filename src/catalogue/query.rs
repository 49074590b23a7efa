//! Reading the catalogue: which export version a snapshot shows, its rows (as
//! [`Item`]s) and its profile. The readable views of its sections are in
//! [`super::view`].

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::store::snapshots::Snapshot;
use crate::tiktok::export::{Record, Timestamp};
use crate::tiktok::links::SHARE_LINK;

use super::{CatalogueError, Result};

use super::date_text::DateText;

/// One export version of an account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub snapshot_id: String,
    pub account: String,
    pub seq: i64,
    pub taken_ms: i64,
    pub layout: String,
    pub username: Option<String>,
    pub export_root: String,
}

/// One catalogue row.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub section: String,
    pub is_raw: bool,
    pub key: Vec<u8>,
    pub occurrence: i64,
    pub date_raw: Option<String>,
    pub date_utc: Option<i64>,
    pub date_assumed: Option<bool>,
    pub video_id: Option<String>,
    pub link: Option<String>,
    pub username: Option<String>,
    pub text: Option<String>,
    pub sender: Option<String>,
    pub fields: Map<String, Value>,
}

impl Item {
    /// The row as the parser gave it (its date's zone flag as recorded).
    pub fn into_record(self, section: crate::tiktok::export::Section) -> Record {
        let date = self
            .date_raw
            .zip(self.date_utc)
            .map(|(raw, utc)| Timestamp {
                raw,
                utc,
                assumed_utc: self.date_assumed.unwrap_or(false),
            });
        Record {
            section,
            date,
            video_id: self.video_id,
            link: self.link,
            username: self.username,
            text: self.text,
            from: self.sender,
            fields: self.fields,
        }
    }
}

/// The rows of version `?2` of account `?1` (SQL condition on `export_items`).
pub(crate) const AT_VERSION: &str =
    "account = ?1 AND first_seq <= ?2 AND (last_seq IS NULL OR last_seq >= ?2)";

/// The columns [`ItemReader`] reads, qualified by table name or alias `t`: the item
/// columns as stored, the last one the row's own JSON `fields` or, when it keeps
/// none, the id of its shape (see `schema/006_catalogue_compact.sql`).
pub(crate) fn item_columns(t: &str) -> String {
    format!(
        "{t}.section, {t}.is_raw, {t}.key, {t}.occurrence, {t}.date_raw, {t}.date_utc, \
         {t}.date_assumed, {t}.video_id, {t}.link, {t}.username, {t}.text, {t}.sender, \
         coalesce({t}.fields, {t}.shape)"
    )
}

/// Whether `link` is the share link of `video_id` ([`SHARE_LINK`], the id, `/`),
/// without writing that out: a row whose link is this one for its id stores no link.
pub(crate) fn is_share_link(link: &str, video_id: &str) -> bool {
    link.strip_prefix(SHARE_LINK)
        .and_then(|l| l.strip_suffix('/'))
        == Some(video_id)
}

/// A video id as stored: an integer when it is one, else its text (the column has
/// no type, so a bound value is compared as given). An integer only when it reads
/// back as the same text: no sign but a minus, no leading zero.
pub(crate) fn video_id_value(id: &str) -> rusqlite::types::Value {
    let written_as_read = match id.as_bytes() {
        [b'0'] => true,
        [b'-', first, ..] | [first, ..] => (b'1'..=b'9').contains(first),
        [] => false,
    };
    match id.parse::<i64>() {
        Ok(n) if written_as_read => rusqlite::types::Value::Integer(n),
        _ => rusqlite::types::Value::Text(id.to_string()),
    }
}

/// Which column an original field's value is, in a row shape.
pub(crate) const SHAPE_COLUMNS: &[&str] = &["date", "link", "username", "text", "sender"];

/// The original keys of a row that keeps no JSON of its own, in order, each with
/// the [`SHAPE_COLUMNS`] entry that holds its value (None: a column this program
/// does not know, shown as null).
#[derive(Debug, Default)]
pub(crate) struct Shape(Vec<(String, Option<usize>)>);

impl Shape {
    pub(crate) fn parse(keys: &str) -> Shape {
        let keys: Vec<(String, String)> = serde_json::from_str(keys).unwrap_or_default();
        Shape(
            keys.into_iter()
                .map(|(k, column)| {
                    let at = SHAPE_COLUMNS.iter().position(|c| *c == column);
                    (k, at)
                })
                .collect(),
        )
    }

    /// Each original key of `item` with its value (None for null), in order.
    pub(crate) fn fields<'a>(
        &'a self,
        item: &'a Item,
    ) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.0.iter().map(move |(k, at)| {
            let value = match at {
                Some(0) => &item.date_raw,
                Some(1) => &item.link,
                Some(2) => &item.username,
                Some(3) => &item.text,
                Some(4) => &item.sender,
                _ => &None,
            };
            (k.as_str(), value.as_deref())
        })
    }

    /// [`Shape::fields`] as a JSON map.
    pub(crate) fn to_map(&self, item: &Item) -> Map<String, Value> {
        self.fields(item)
            .map(|(k, v)| (k.to_string(), v.map_or(Value::Null, |v| v.into())))
            .collect()
    }
}

/// The most shapes an [`ItemReader`] keeps parsed: a real export has a handful.
const MAX_SHAPES: usize = 1024;

/// How many columns [`item_columns`] names.
const ITEM_COLUMNS: usize = 13;

/// The [`item_columns`] of one row, each read from SQLite once: every read of a
/// column asks SQLite its type again, and reading a row twice (its size, then its
/// item) showed in the profile of `show likes --json`.
pub(crate) struct Cells<'r>([ValueRef<'r>; ITEM_COLUMNS]);

impl<'r> Cells<'r> {
    pub(crate) fn of(r: &'r Row) -> rusqlite::Result<Cells<'r>> {
        let mut cells = [ValueRef::Null; ITEM_COLUMNS];
        for (n, cell) in cells.iter_mut().enumerate() {
            *cell = r.get_ref(n)?;
        }
        Ok(Cells(cells))
    }

    /// Column `n` as `T`, with the error `Row::get` gives for a cell of another type.
    fn get<T: rusqlite::types::FromSql>(&self, n: usize) -> rusqlite::Result<T> {
        T::column_result(self.0[n]).map_err(|e| self.error(n, e))
    }

    /// Text column `n` (None for null).
    fn text(&self, n: usize) -> rusqlite::Result<Option<&'r str>> {
        self.0[n].as_str_or_null().map_err(|e| self.error(n, e))
    }

    fn error(&self, n: usize, e: rusqlite::types::FromSqlError) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(n, self.0[n].data_type(), Box::new(e))
    }
}

/// `slot` set to `parts` joined, the String it holds reused: a walk fills one
/// [`Item`] per row, and a few allocations per row were a tenth of `show`'s time.
fn put(slot: &mut Option<String>, parts: &[&str]) {
    let text = slot.get_or_insert_with(String::new);
    text.clear();
    parts.iter().for_each(|p| text.push_str(p));
}

/// Reads [`Item`]s from rows of [`item_columns`], each shape read and parsed once
/// per reader rather than once per row.
pub(crate) struct ItemReader<'c> {
    conn: &'c Connection,
    shapes: HashMap<i64, Rc<Shape>>,
}

impl<'c> ItemReader<'c> {
    pub(crate) fn new(conn: &'c Connection) -> ItemReader<'c> {
        ItemReader {
            conn,
            shapes: HashMap::new(),
        }
    }

    /// A row's item, its original fields filled in whichever way they are kept.
    pub(crate) fn item(&mut self, r: &Row) -> rusqlite::Result<Item> {
        let mut item = Item::default();
        if let Some(shape) = self.fill(&mut item, &Cells::of(r)?)? {
            item.fields = shape.to_map(&item);
        }
        Ok(item)
    }

    /// Fills `item` with a row's columns, reusing the buffers it holds, and gives
    /// the row's shape when it keeps no JSON of its own; `fields` is then left
    /// empty: a view writes the fields straight from the shape.
    pub(crate) fn fill(
        &mut self,
        item: &mut Item,
        cells: &Cells,
    ) -> rusqlite::Result<Option<Rc<Shape>>> {
        let section = cells.text(0)?.unwrap_or_default();
        item.section.clear();
        item.section.push_str(section);
        item.is_raw = cells.get(1)?;
        let key = cells.0[2].as_blob().map_err(|e| cells.error(2, e))?;
        item.key.clear();
        item.key.extend_from_slice(key);
        item.occurrence = cells.get(3)?;
        item.date_utc = cells.get(5)?;
        item.date_assumed = cells.get(6)?;
        match cells.0[7] {
            ValueRef::Integer(n) => {
                let id = item.video_id.get_or_insert_with(String::new);
                id.clear();
                // Writing to a String does not fail.
                let _ = write!(id, "{n}");
            }
            ValueRef::Text(_) => put(&mut item.video_id, &[cells.text(7)?.unwrap_or_default()]),
            _ => item.video_id = None,
        }
        match (cells.text(4)?, item.date_utc.and_then(DateText::plain)) {
            (Some(raw), _) => put(&mut item.date_raw, &[raw]),
            (None, Some(plain)) => put(&mut item.date_raw, &[plain.as_str()]),
            (None, None) => item.date_raw = None,
        }
        match (cells.text(8)?, &item.video_id) {
            (Some(link), _) => put(&mut item.link, &[link]),
            (None, Some(id)) => put(&mut item.link, &[SHARE_LINK, id, "/"]),
            (None, None) => item.link = None,
        }
        item.username = cells.get(9)?;
        item.text = cells.get(10)?;
        item.sender = cells.get(11)?;
        let shape = match cells.0[12] {
            ValueRef::Integer(id) => Some(self.shape(id)?),
            _ => None,
        };
        item.fields = match cells.0[12] {
            ValueRef::Text(json) => match serde_json::from_slice(json) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        Ok(shape)
    }

    /// Shape `id`, read once; an id with no shape has no fields.
    fn shape(&mut self, id: i64) -> rusqlite::Result<Rc<Shape>> {
        if let Some(shape) = self.shapes.get(&id) {
            return Ok(shape.clone());
        }
        let keys: Option<String> = self
            .conn
            .prepare_cached("SELECT keys FROM export_shapes WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let shape = Rc::new(keys.as_deref().map(Shape::parse).unwrap_or_default());
        if self.shapes.len() >= MAX_SHAPES {
            self.shapes.clear();
        }
        self.shapes.insert(id, shape.clone());
        Ok(shape)
    }
}

/// The export version a snapshot shows: its own, else the newest of its account
/// taken at or before it.
pub fn version_at(conn: &Connection, snap: &Snapshot) -> Result<Option<Version>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {} FROM export_versions WHERE account = ?1 AND taken_ms <= ?2
                 ORDER BY snapshot_id = ?3 DESC, taken_ms DESC, seq DESC LIMIT 1",
                version_columns("export_versions")
            ),
            params![snap.account, snap.taken_ms, snap.id],
            version_from_row,
        )
        .optional()?)
}

/// The columns [`version_from_row`] reads, qualified by table name or alias `t`.
pub(crate) fn version_columns(t: &str) -> String {
    format!(
        "{t}.snapshot_id, {t}.account, {t}.seq, {t}.taken_ms, {t}.layout, {t}.username, \
         {t}.export_root"
    )
}

pub(crate) fn version_from_row(r: &Row) -> rusqlite::Result<Version> {
    Ok(Version {
        snapshot_id: r.get(0)?,
        account: r.get(1)?,
        seq: r.get(2)?,
        taken_ms: r.get(3)?,
        layout: r.get(4)?,
        username: r.get(5)?,
        export_root: r.get(6)?,
    })
}

/// [`version_at`], or an error that says what to do.
pub fn require_version(conn: &Connection, snap: &Snapshot) -> Result<Version> {
    version_at(conn, snap)?.ok_or_else(|| {
        CatalogueError::NotFound(format!(
            "snapshot {} of {} (taken {}) has no TikTok export, nor has any earlier snapshot of \
             that account; take one with `tt-vault snapshot --export PATH`",
            snap.short_id(),
            snap.account,
            snap.taken_at
        ))
    })
}

/// The rows of one section (`raw`: every raw section) at a version, newest first.
pub fn items(conn: &Connection, v: &Version, section: &str) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    each_item(conn, v, section, &mut |i| {
        out.push(i);
        Ok(())
    })?;
    Ok(out)
}

/// As [`items`], one at a time: a heavy account's likes or watch history is
/// millions of rows, never held at once.
pub(crate) fn each_item(
    conn: &Connection,
    v: &Version,
    section: &str,
    f: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    each_part(conn, v, section, &mut |item, shape| {
        let mut item = std::mem::take(item);
        if let Some(shape) = shape {
            item.fields = shape.to_map(&item);
        }
        f(item)
    })
}

/// Each row's item lent to `f` (its buffers are reused for a later row), a row that
/// keeps no JSON of its own given with its shape and its `fields` left empty (see
/// [`ItemReader::fill`]).
type PartFn<'f> = dyn FnMut(&mut Item, Option<&Shape>) -> Result<()> + 'f;

/// As [`each_item`], each row lent as [`PartFn`] says.
pub(crate) fn each_part(
    conn: &Connection,
    v: &Version,
    section: &str,
    f: &mut PartFn,
) -> Result<()> {
    each_part_tied(conn, v, section, MAX_TIED, f)
}

/// The most rows of one instant [`each_part`] puts in order itself, and the most
/// bytes of their text: the rows of an instant with more (only an odd or hostile
/// export: a row can be megabytes) are sorted by SQLite, which holds none of them.
const MAX_TIED: Tie = Tie {
    rows: 4096,
    bytes: 4 << 20,
};

#[derive(Clone, Copy)]
struct Tie {
    rows: usize,
    bytes: usize,
}

/// The order of a section's rows: newest first; rows of one instant, those of the
/// latest version first, then as the export listed them.
const TIE_ORDER: &str = "first_seq DESC, position, id";

fn each_part_tied(
    conn: &Connection,
    v: &Version,
    section: &str,
    max_tied: Tie,
    f: &mut PartFn,
) -> Result<()> {
    if section == "raw" {
        let sql = format!(
            "SELECT {} FROM export_items WHERE {AT_VERSION} AND is_raw = 1
             ORDER BY date_utc IS NULL, date_utc DESC, {TIE_ORDER}",
            item_columns("export_items")
        );
        return each_of(conn, &sql, params![v.account, v.seq], f);
    }
    // Dated rows newest first, then undated ones: two walks of the date index that
    // sort only rows of the same instant, rather than one sort of the whole section
    // (two million likes) before the first row comes out.
    each_dated(conn, v, section, max_tied, f)?;
    let sql = section_walk(&format!("date_utc IS NULL ORDER BY {TIE_ORDER}"));
    each_of(conn, &sql, params![v.account, v.seq, section], f)
}

/// A walk of section `?3`'s rows at version `?2` of account `?1` by the date index:
/// the item columns, then the row's place (first_seq, position, id). `tail` ends the
/// condition and orders the walk.
fn section_walk(tail: &str) -> String {
    format!(
        "SELECT {}, first_seq, position, id FROM export_items INDEXED BY export_items_by_date
         WHERE {AT_VERSION} AND section = ?3 AND is_raw = 0 AND {tail}",
        item_columns("export_items")
    )
}

/// One row of an instant, waiting for the others: its place by [`TIE_ORDER`].
type Tied = ((std::cmp::Reverse<i64>, i64, i64), Item, Option<Rc<Shape>>);

/// The dated rows of a section, newest first: the date index walked in its own
/// order, the rows of each instant (nearly always one) put in [`TIE_ORDER`] here.
/// SQLite's sorter, started and stopped for every instant, took 7 % of the
/// profile of `show likes --json` by itself.
fn each_dated(
    conn: &Connection,
    v: &Version,
    section: &str,
    max_tied: Tie,
    f: &mut PartFn,
) -> Result<()> {
    let mut stmt = conn.prepare(&section_walk("date_utc IS NOT NULL ORDER BY date_utc DESC"))?;
    let mut rows = stmt.query(params![v.account, v.seq, section])?;
    let mut read = ItemReader::new(conn);
    let mut tied: Vec<Tied> = Vec::new();
    // Items given out, kept to be filled again (at most `max_tied.rows`).
    let mut spare: Vec<Item> = Vec::new();
    let mut held = 0;
    // An instant with too many rows to hold, which SQLite sorted.
    let mut sorted: Option<i64> = None;
    let flush = |tied: &mut Vec<Tied>, spare: &mut Vec<Item>, f: &mut PartFn| {
        tied.sort_unstable_by_key(|t| t.0);
        tied.drain(..).try_for_each(|(_, mut item, shape)| {
            f(&mut item, shape.as_deref())?;
            spare.push(item);
            Ok(())
        })
    };
    while let Some(r) = rows.next()? {
        let cells = Cells::of(r)?;
        let date: i64 = cells.get(5)?;
        if sorted == Some(date) {
            continue;
        }
        if tied.first().is_some_and(|t| t.1.date_utc != Some(date)) {
            flush(&mut tied, &mut spare, f)?;
            held = 0;
        }
        let place = (std::cmp::Reverse(r.get(13)?), r.get(14)?, r.get(15)?);
        held += held_bytes(&cells);
        if tied.len() == max_tied.rows || held > max_tied.bytes {
            spare.extend(tied.drain(..).map(|t| t.1));
            held = 0;
            sorted = Some(date);
            let sql = section_walk(&format!("date_utc = ?4 ORDER BY {TIE_ORDER}"));
            each_of(conn, &sql, params![v.account, v.seq, section, date], f)?;
            continue;
        }
        let mut item = spare.pop().unwrap_or_default();
        let shape = read.fill(&mut item, &cells)?;
        tied.push((place, item, shape));
    }
    flush(&mut tied, &mut spare, f)
}

/// What holding a row costs, counted from its cells before anything is parsed
/// (a row past the bound is never parsed twice). A row's own JSON fields (rows
/// without a shape) count [`JSON_GROWTH`] times their length: parsed, a byte of JSON
/// such as `[0,0,0]` can take tens of bytes of `serde_json::Value`.
fn held_bytes(cells: &Cells) -> usize {
    const JSON_GROWTH: usize = 64;
    let bytes = |column: usize| cells.0[column].as_bytes().map_or(0, <[u8]>::len);
    let text: usize = [0, 2, 4, 7, 8, 9, 10, 11].into_iter().map(bytes).sum();
    text + JSON_GROWTH * bytes(12)
}

fn each_of(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    f: &mut PartFn,
) -> Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(args)?;
    let mut read = ItemReader::new(conn);
    let mut item = Item::default();
    while let Some(r) = rows.next()? {
        let shape = read.fill(&mut item, &Cells::of(r)?)?;
        f(&mut item, shape.as_deref())?;
    }
    Ok(())
}

/// The sections (from [`super::SECTIONS`]) that have rows at a version.
pub fn sections(conn: &Connection, v: &Version) -> Result<Vec<&'static str>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT DISTINCT CASE WHEN is_raw THEN 'raw' ELSE section END
         FROM export_items WHERE {AT_VERSION}"
    ))?;
    let found: Vec<String> = stmt
        .query_map(params![v.account, v.seq], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(super::SECTIONS
        .iter()
        .copied()
        .filter(|s| found.iter().any(|f| f == s))
        .collect())
}

/// Field names that feed `username` and `bio` in the profile view, normalised; the
/// diff reports those under the view's names only.
pub(crate) const PROFILE_ALIASES: &[&str] = &[
    "username",
    "uniqueid",
    "biodescription",
    "bio",
    "displayname",
    "nickname",
];

pub(crate) fn profile_view(item: Option<&Item>) -> Value {
    let Some(p) = item else {
        return json!({"username": null, "bio": null, "display_name": null, "fields": {}});
    };
    let display = p.fields.iter().find_map(|(k, v)| {
        matches!(
            crate::tiktok::export::norm(k).as_str(),
            "displayname" | "nickname"
        )
        .then(|| v.as_str().map(str::to_string))
        .flatten()
    });
    json!({
        "username": p.username,
        "bio": p.text,
        "display_name": display,
        "fields": p.fields,
    })
}

/// The profile view of a version, with the counts as they were then (exports carry
/// no reliable follower counts in the profile; the lists themselves are the truth).
pub fn profile(conn: &Connection, v: &Version) -> Result<Value> {
    let mut view = profile_fields(conn, v)?;
    let mut counts = Map::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT count(*) FROM export_items WHERE {AT_VERSION} AND is_raw = 0 AND section = ?3"
    ))?;
    for section in ["posts", "followers", "following", "likes", "favorites"] {
        let n: i64 = stmt.query_row(params![v.account, v.seq, section], |r| r.get(0))?;
        counts.insert(section.into(), json!(n));
    }
    view["counts"] = Value::Object(counts);
    Ok(view)
}

/// The profile as the export wrote it, without the counts (what `diff` compares).
pub(crate) fn profile_fields(conn: &Connection, v: &Version) -> Result<Value> {
    Ok(profile_view(items(conn, v, "profile")?.first()))
}

/// How much of the index the catalogue takes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Size {
    /// Bytes of the database pages of the catalogue's tables and indexes.
    pub bytes: u64,
    pub versions: u64,
    pub items: u64,
}

/// The catalogue's share of the index. Its tables are those named `export_*`
/// (indexes count with their table); the bundled SQLite has the `dbstat` table.
pub fn size(conn: &Connection) -> Result<Size> {
    let count = |table: &str| -> Result<u64> {
        Ok(
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })? as u64,
        )
    };
    let bytes: i64 = conn.query_row(
        r"SELECT coalesce(sum(pgsize), 0) FROM dbstat
          WHERE aggregate = 1 AND name IN
              (SELECT name FROM sqlite_schema WHERE tbl_name LIKE 'export\_%' ESCAPE '\')",
        [],
        |r| r.get(0),
    )?;
    Ok(Size {
        bytes: bytes as u64,
        versions: count("export_versions")?,
        items: count("export_items")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id is stored as an integer exactly when it reads back as the same text.
    #[test]
    fn a_video_id_is_an_integer_only_when_it_reads_back_the_same() {
        for id in [
            "0",
            "00",
            "7",
            "07",
            "-7",
            "-0",
            "-07",
            "+7",
            "-",
            "",
            "7a",
            " 7",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "7400000000002020000",
        ] {
            let as_read = id.parse::<i64>().ok().filter(|n| n.to_string() == id);
            let want = match as_read {
                Some(n) => rusqlite::types::Value::Integer(n),
                None => rusqlite::types::Value::Text(id.to_string()),
            };
            assert_eq!(video_id_value(id), want, "{id:?}");
        }
    }

    /// The rows of one instant come out in the order one SQL sort of the whole
    /// section gives, whether they are put in order here or (past the limits on
    /// rows or bytes) by SQLite; and a shaped row's fields are its shape's keys with
    /// its columns.
    #[test]
    fn rows_come_in_the_order_one_sort_gives() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::index::open(&dir.path().join("v.db"), None).unwrap();
        conn.execute(
            "INSERT INTO export_shapes (id, keys) VALUES (7, '[[\"Date\",\"date\"],[\"Odd\",\"nope\"]]')",
            [],
        )
        .unwrap();
        // Dates with ties of up to five rows, from both versions, positions out of
        // order; some undated; one row of another section, one raw.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..300u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let date = (x % 5 != 0).then_some((x % 60) as i64 * 1000);
            let (section, raw) = match i {
                17 => ("comments", 0),
                18 => ("raw.path", 1),
                _ => ("likes", 0),
            };
            let (shape, fields) = if i % 2 == 0 {
                (Some(7), None)
            } else {
                (None, Some("{\"n\":1}"))
            };
            conn.execute(
                "INSERT INTO export_items (account, section, is_raw, key, occurrence, first_seq,
                  position, date_utc, shape, fields) VALUES ('a', ?1, ?2, ?3, 0, ?4, ?5, ?6, ?7, ?8)",
                params![
                    section,
                    raw,
                    i.to_be_bytes().to_vec(),
                    1 + (x >> 20) % 2,
                    ((x >> 30) % 7) as i64,
                    date,
                    shape,
                    fields
                ],
            )
            .unwrap();
        }
        let v = Version {
            snapshot_id: String::new(),
            account: "a".into(),
            seq: 2,
            taken_ms: 0,
            layout: String::new(),
            username: None,
            export_root: String::new(),
        };
        let want = |section: &str| -> Vec<Vec<u8>> {
            conn.prepare(&format!(
                "SELECT key FROM export_items WHERE {AT_VERSION} AND section = ?3
                 ORDER BY date_utc IS NULL, date_utc DESC, first_seq DESC, position, id"
            ))
            .unwrap()
            .query_map(params![v.account, v.seq, section], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let ties = [
            (1, 1 << 20),
            (2, 1 << 20),
            (3, 1 << 20),
            (4096, 40),
            (4096, 1),
        ];
        for max_tied in ties
            .map(|(rows, bytes)| Tie { rows, bytes })
            .into_iter()
            .chain([MAX_TIED])
        {
            let mut got = Vec::new();
            each_part_tied(&conn, &v, "likes", max_tied, &mut |item, shape| {
                let n = u32::from_be_bytes(item.key[..].try_into().unwrap());
                let fields = match shape {
                    Some(shape) => shape.to_map(item),
                    None => item.fields.clone(),
                };
                let expected = match n % 2 {
                    0 => json!({"Date": item.date_raw, "Odd": null}),
                    _ => json!({"n": 1}),
                };
                assert_eq!(Value::Object(fields), expected, "row {n}");
                got.push(item.key.clone());
                Ok(())
            })
            .unwrap();
            let (rows, bytes) = (max_tied.rows, max_tied.bytes);
            assert_eq!(
                got,
                want("likes"),
                "at most {rows} tied rows, {bytes} bytes"
            );
        }
        assert_eq!(
            items(&conn, &v, "likes").unwrap().len(),
            want("likes").len()
        );
        let raw: Vec<Vec<u8>> = items(&conn, &v, "raw")
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(raw, want("raw.path"));
    }
}

//! The readable views of an export's sections: the JSON `show` prints, the text
//! table's columns, and `restore`'s `views/`, written row by row as the rows are read.
//!
//! View shapes (keys scripts rely on; more may be added):
//! - `profile`: an object with `username`, `bio`, `display_name`, `fields`.
//! - `posts`, `likes`, `favorites`, `reposts`: `id` (video id string or null), `link`,
//!   `date`, `archived` (media with that id is in the vault); posts add `caption` and,
//!   when the snapshot recorded a failed download of it, `failure`; favorites add
//!   `collection` (the collection's name, names joined by `, `, or null when the
//!   export does not say).
//! - `comments`: `date`, `comment`; `following`, `followers`, `blocked`: `date`,
//!   `username`; `messages`: `date`, `chat`, `from`, `content`, `link`, `id`;
//!   `history`: `date`, `id`, `link`; `searches`: `date`, `term`.
//! - `logins`: `ip`, `device`, `system`, `network`, `carrier`; `off-tiktok`: `source`,
//!   `event`; `settings`, `activity-summary`: `name`, `value` (verbatim: text, number,
//!   map or list); `devices`: `resolution`, `app_version`, `idfa`, `gaid`,
//!   `android_id`, `idfv`, `uid`, `did`, `web_id`; `location`: `gps`, `region`;
//!   `profile-views`: `username`; `collections`: `name`; `sounds`, `effects`,
//!   `hashtags`: `link`.
//! - every row: `date` (as the export wrote it), `date_utc` (RFC 3339 or null),
//!   `date_utc_assumed`, and `fields` (every original key and value).
//! - `raw`: `section` (its key path in the export) and `value`, verbatim.
//!
//! A row's view is a list of borrowed cells ([`RowView`]), written straight to the
//! output in serde_json's pretty form: no JSON value is built per row (building one
//! and serialising it took more of `show likes --json` than SQLite did).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::download::DownloadFailure;
use crate::store::snapshots::Snapshot;

use super::date_text::DateText;
use super::query::{self, Item, Shape, Version};
use super::Result;

/// The first of `keys` (normalised) a row's original fields hold, as text.
fn field_text(fields: &Map<String, Value>, keys: &[&str]) -> Value {
    json!(fields
        .iter()
        .find(|(k, _)| keys.contains(&crate::tiktok::export::norm(k).as_str()))
        .and_then(|(_, v)| crate::tiktok::export::present(v)))
}

/// The columns a section's rows take from their original fields whatever their
/// spelling (a login's `IP`, `DeviceModel`, …; a device's `App Version`, …), as
/// (column, normalised keys); placeholders are null.
pub(crate) fn field_columns(section: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match section {
        "logins" => &[
            ("ip", &["ip", "ipaddress"]),
            ("device", &["devicemodel", "device"]),
            ("system", &["devicesystem", "system", "os"]),
            ("network", &["networktype", "network"]),
            ("carrier", &["carrier"]),
        ],
        "devices" => &[
            ("resolution", &["resolution"]),
            ("app_version", &["appversion", "version"]),
            ("idfa", &["idfa"]),
            ("gaid", &["gaid"]),
            ("android_id", &["androidid"]),
            ("idfv", &["idfv"]),
            ("uid", &["uid"]),
            ("did", &["did", "deviceid"]),
            ("web_id", &["webid"]),
        ],
        "location" => &[
            ("gps", &["gpsdata", "gps"]),
            ("region", &["lastregion", "region"]),
        ],
        _ => &[],
    }
}

/// A row's [`field_columns`], added to `o`.
pub(crate) fn add_field_columns(
    section: &str,
    fields: &Map<String, Value>,
    o: &mut Map<String, Value>,
) {
    for (column, keys) in field_columns(section) {
        o.insert((*column).into(), field_text(fields, keys));
    }
}

/// Keys a favourite row may name its collection under.
const COLLECTION_KEYS: &[&str] = &[
    "collection",
    "collectionname",
    "favoritecollection",
    "collections",
];

/// The most favourites [`collection_members`] maps: a real account has tens of
/// collections of a few hundred videos; a hostile export gets a bounded map.
const MAX_MEMBERS: usize = 200_000;
/// The most collections one favourite is shown in, and the most characters of a
/// collection's name kept: each name is kept once, whatever lists it.
const MAX_IN: usize = 8;
const MAX_NAME_CHARS: usize = 200;
/// The most collections mapped (a real account has tens).
const MAX_COLLECTIONS: usize = 10_000;

/// Which collection(s) each video is in, from collections whose rows list their
/// videos (a list of links, or of rows with a link, under any key). TikTok's exports
/// seen so far give only each collection's name and date, and then this is empty.
#[derive(Default)]
struct Members {
    names: Vec<String>,
    index: HashMap<String, usize>,
    of: HashMap<String, Vec<usize>>,
}

impl Members {
    /// The collections video `id` is in, joined.
    fn get(&self, id: &str) -> Option<String> {
        let of = self.of.get(id)?;
        Some(
            of.iter()
                .map(|&n| self.names[n].as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

fn collection_members(conn: &Connection, v: &Version) -> Result<Members> {
    let mut members = Members::default();
    query::each_item(conn, v, "collections", &mut |c| {
        let Some(name) = c.text else { return Ok(()) };
        let name: String = name.chars().take(MAX_NAME_CHARS).collect();
        let n = match members.index.get(&name) {
            Some(&n) => n,
            None if members.names.len() >= MAX_COLLECTIONS => return Ok(()),
            None => {
                members.index.insert(name.clone(), members.names.len());
                members.names.push(name);
                members.names.len() - 1
            }
        };
        let links = c.fields.values().filter_map(Value::as_array).flatten();
        for entry in links {
            if members.of.len() >= MAX_MEMBERS {
                break;
            }
            let link = match entry {
                Value::Object(row) => field_text(row, &["link", "videolink", "url"]),
                other => other.clone(),
            };
            let Some(id) = link
                .as_str()
                .and_then(crate::tiktok::links::parse)
                .and_then(|l| l.id().map(str::to_string))
            else {
                continue;
            };
            let of = members.of.entry(id).or_default();
            // A video in ever more collections (only a hostile export) stops growing.
            if of.len() < MAX_IN && !of.contains(&n) {
                of.push(n);
            }
        }
        Ok(())
    })?;
    Ok(members)
}

/// The collection a favourite is in: named in its own row, else from the
/// collections that list it.
fn collection_of(item: &Item, members: &Members) -> Value {
    let own = item.fields.iter().find_map(|(k, v)| {
        if !COLLECTION_KEYS.contains(&crate::tiktok::export::norm(k).as_str()) {
            return None;
        }
        match v {
            Value::Array(names) => {
                let names: Vec<String> = names
                    .iter()
                    .filter_map(crate::tiktok::export::present)
                    .collect();
                (!names.is_empty()).then(|| names.join(", "))
            }
            other => crate::tiktok::export::present(other),
        }
    });
    json!(own.or_else(|| item.video_id.as_ref().and_then(|id| members.get(id))))
}

/// What a row's view needs beyond the row: the snapshot's failed downloads, the
/// post ids with files in the vault, and which collection each favourite is in.
struct Context {
    failed: Vec<DownloadFailure>,
    archived: HashSet<String>,
    members: Members,
}

/// One value of a row's view, borrowed from the row where it can be.
enum Cell<'a> {
    Text(Option<&'a str>),
    Flag(Option<bool>),
    Json(Option<&'a Value>),
    /// Boxed: a cell is moved and dropped with every row, and a `Value` would make
    /// each of them (and each row's [`Cells`]) several times larger for a rare cell.
    Owned(Box<Value>),
    /// An instant, written as RFC 3339.
    Utc(Option<i64>),
    /// The row's original fields, from its own JSON or its shape.
    Fields(&'a Item, Option<&'a Shape>),
}

impl Cell<'_> {
    /// The value as pretty JSON inside a row (one level in), as
    /// `serde_json::to_writer_pretty` writes it there.
    fn write(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Cell::Text(Some(t)) => json_str(buf, t),
            Cell::Flag(Some(b)) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            Cell::Json(Some(v)) => nested(buf, *v)?,
            Cell::Owned(v) => nested(buf, &**v)?,
            Cell::Utc(Some(t)) => match DateText::rfc3339(*t) {
                Some(t) => json_str(buf, t.as_str()),
                None => buf.extend_from_slice(b"null"),
            },
            Cell::Fields(item, None) => nested(buf, &item.fields)?,
            Cell::Fields(item, Some(shape)) => {
                let mut first = true;
                buf.push(b'{');
                for (k, v) in shape.fields(item) {
                    buf.extend_from_slice(if first { b"\n    " } else { b",\n    " });
                    first = false;
                    json_str(buf, k);
                    buf.extend_from_slice(b": ");
                    match v {
                        Some(v) => json_str(buf, v),
                        None => buf.extend_from_slice(b"null"),
                    }
                }
                buf.extend_from_slice(if first { b"}" } else { b"\n  }" });
            }
            Cell::Text(None) | Cell::Flag(None) | Cell::Json(None) | Cell::Utc(None) => {
                buf.extend_from_slice(b"null")
            }
        }
        Ok(())
    }
}

/// A JSON string as serde_json writes it: a text with nothing to escape (nearly
/// every one) is copied whole, after [`needs_escape`].
pub(super) fn json_str(buf: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing to memory does not fail.
        let _ = serde_json::to_writer(&mut *buf, s);
    } else {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    }
}

/// Whether a text holds a byte JSON escapes (a control, `"` or `\`), tested eight
/// bytes at a time: a byte-by-byte scan of the texts of each row was a tenth of
/// `show likes --json`.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `x` is below `n` (n <= 0x80): exact for "any", though the
    // bits set need not mark which bytes.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let escaped = |b: &u8| *b < 0x20 || *b == b'"' || *b == b'\\';
    let mut chunks = s.chunks_exact(8);
    let in_chunks = chunks.by_ref().any(|c| {
        let x = u64::from_ne_bytes(c.try_into().expect("chunks of eight"));
        below(x, 0x20)
            || below(x ^ (ONES * u64::from(b'"')), 1)
            || below(x ^ (ONES * u64::from(b'\\')), 1)
    });
    in_chunks || chunks.remainder().iter().any(escaped)
}

/// Any JSON value one level into a row: serde_json's pretty form, each of its line
/// breaks indented by one more level (a JSON text has no line breaks but these).
fn nested(buf: &mut Vec<u8>, v: &impl Serialize) -> serde_json::Result<()> {
    let start = buf.len();
    serde_json::to_writer_pretty(&mut *buf, v)?;
    if buf[start..].contains(&b'\n') {
        let written = buf.split_off(start);
        for part in written.split_inclusive(|b| *b == b'\n') {
            buf.extend_from_slice(part);
            if part.ends_with(b"\n") {
                buf.extend_from_slice(b"  ");
            }
        }
    }
    Ok(())
}

/// A column of a row's view, for a text table.
pub enum Column<'a> {
    Text(&'a str),
    Json(Cow<'a, Value>),
}

impl Cell<'_> {
    fn column(&self) -> Column<'_> {
        let json = |v: Value| Column::Json(Cow::Owned(v));
        match self {
            Cell::Text(Some(t)) => Column::Text(t),
            Cell::Text(None) | Cell::Flag(None) | Cell::Json(None) | Cell::Utc(None) => {
                json(Value::Null)
            }
            Cell::Flag(Some(b)) => json(Value::Bool(*b)),
            Cell::Json(Some(v)) => Column::Json(Cow::Borrowed(v)),
            Cell::Owned(v) => Column::Json(Cow::Borrowed(v)),
            Cell::Utc(Some(t)) => {
                json(DateText::rfc3339(*t).map_or(Value::Null, |t| t.as_str().into()))
            }
            Cell::Fields(item, None) => json(Value::Object(item.fields.clone())),
            Cell::Fields(item, Some(shape)) => json(Value::Object(shape.to_map(item))),
        }
    }
}

/// The most cells a row's view has (a device's has 13).
const MAX_CELLS: usize = 16;

/// A row's view's keys in order, each with its value, kept on the stack: a list
/// allocated for each row showed in the profile of `show likes --json`.
struct Cells<'a> {
    cells: [(&'static str, Cell<'a>); MAX_CELLS],
    len: usize,
}

impl<'a> Cells<'a> {
    fn new() -> Cells<'a> {
        Cells {
            cells: std::array::from_fn(|_| ("", Cell::Text(None))),
            len: 0,
        }
    }

    /// Adds a cell; a view has at most [`MAX_CELLS`], whatever its row holds.
    fn push(&mut self, cell: (&'static str, Cell<'a>)) {
        self.cells[self.len] = cell;
        self.len += 1;
    }
}

impl<'a> std::ops::Deref for Cells<'a> {
    type Target = [(&'static str, Cell<'a>)];

    fn deref(&self) -> &Self::Target {
        &self.cells[..self.len]
    }
}

/// One row as shown: its view's keys in order, each with its value.
pub struct RowView<'a> {
    cells: Cells<'a>,
}

impl RowView<'_> {
    /// Appends the row as `serde_json::to_writer_pretty` writes it as an object.
    pub fn write_pretty(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        buf.push(b'{');
        for (n, (key, cell)) in self.cells.iter().enumerate() {
            // A key is one of this module's own names, none with a byte to escape.
            debug_assert!(!needs_escape(key.as_bytes()), "{key}");
            buf.extend_from_slice(if n == 0 { b"\n  \"" } else { b",\n  \"" });
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(b"\": ");
            cell.write(buf)?;
        }
        buf.extend_from_slice(if self.cells.is_empty() { b"}" } else { b"\n}" });
        Ok(())
    }

    /// The value under `key` (null when the view has none).
    pub fn column(&self, key: &str) -> Column<'_> {
        self.cells
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Column::Json(Cow::Owned(Value::Null)), |(_, c)| c.column())
    }
}

/// True for the sections whose view reads a row's original fields by name.
fn reads_fields(section: &str) -> bool {
    matches!(
        section,
        "posts" | "favorites" | "settings" | "activity-summary"
    ) || !field_columns(section).is_empty()
}

/// The view of one row: `shape` is the row's when it keeps no JSON of its own
/// (then its `fields` are empty, unless the view reads them by name).
fn row_view<'a>(item: &'a mut Item, shape: Option<&'a Shape>, cx: &'a Context) -> RowView<'a> {
    let shape = match shape {
        // A raw row's view is its fields' value itself.
        Some(shape) if item.is_raw || reads_fields(&item.section) => {
            item.fields = shape.to_map(item);
            None
        }
        other => other,
    };
    let item: &'a Item = item;
    if item.is_raw {
        let mut cells = Cells::new();
        cells.push(("section", Cell::Text(Some(&item.section))));
        cells.push(("value", Cell::Json(item.fields.get("value"))));
        return RowView { cells };
    }
    let mut o = Cells::new();
    let text = |t: &'a Option<String>| Cell::Text(t.as_deref());
    o.push(("date", text(&item.date_raw)));
    let id_row = |o: &mut Cells<'a>| {
        o.push(("id", text(&item.video_id)));
        o.push(("link", text(&item.link)));
    };
    match item.section.as_str() {
        "posts" | "likes" | "favorites" | "reposts" => {
            id_row(&mut o);
            let is_archived = item
                .video_id
                .as_ref()
                .is_some_and(|id| cx.archived.contains(id));
            o.push(("archived", Cell::Flag(Some(is_archived))));
            if item.section == "favorites" {
                o.push((
                    "collection",
                    Cell::Owned(collection_of(item, &cx.members).into()),
                ));
            }
            if item.section == "posts" {
                o.push(("caption", text(&item.text)));
                // Export key names vary in case between years ("Likes", "likes").
                let field = |name: &str| {
                    Cell::Json(
                        item.fields
                            .iter()
                            .find(|(k, _)| crate::tiktok::export::norm(k) == name)
                            .map(|(_, v)| v),
                    )
                };
                o.push(("likes", field("likes")));
                o.push(("sound", field("sound")));
                let failure = item
                    .video_id
                    .as_ref()
                    .and_then(|id| cx.failed.iter().find(|f| f.id.as_ref() == Some(id)));
                if let Some(f) = failure {
                    o.push(("failed", Cell::Text(Some(&f.reason_text))));
                    o.push(("failure", Cell::Owned(f.to_json().into())));
                }
            }
        }
        "history" => id_row(&mut o),
        "comments" => o.push(("comment", text(&item.text))),
        "following" | "followers" | "blocked" | "profile-views" => {
            o.push(("username", text(&item.username)))
        }
        "messages" => {
            o.push(("chat", text(&item.username)));
            o.push(("from", text(&item.sender)));
            o.push(("content", text(&item.text)));
            id_row(&mut o);
        }
        "searches" => o.push(("term", text(&item.text))),
        "collections" => o.push(("name", text(&item.text))),
        "off-tiktok" => {
            o.push(("source", text(&item.text)));
            o.push(("event", text(&item.sender)));
        }
        // One row per entry of the export's map: its name, and its value verbatim
        // (a setting can be a map or a list itself).
        "settings" | "activity-summary" => {
            let value = item.text.as_ref().and_then(|name| item.fields.get(name));
            o.push(("name", text(&item.text)));
            o.push(("value", Cell::Json(value)));
        }
        "devices" | "location" => field_cells(&item.section, &item.fields, &mut o),
        section => {
            field_cells(section, &item.fields, &mut o);
            o.push(("text", text(&item.text)));
            o.push(("link", text(&item.link)));
        }
    }
    o.push(("date_utc", Cell::Utc(item.date_utc)));
    o.push(("date_utc_assumed", Cell::Flag(item.date_assumed)));
    o.push(("fields", Cell::Fields(item, shape)));
    RowView { cells: o }
}

/// A row's [`field_columns`], as cells of its view.
fn field_cells<'a>(section: &str, fields: &Map<String, Value>, o: &mut Cells<'a>) {
    for (column, keys) in field_columns(section) {
        o.push((column, Cell::Owned(field_text(fields, keys).into())));
    }
}

/// The rows of a list section's view, one at a time, newest first.
pub fn each_row(
    conn: &Connection,
    v: &Version,
    snap: &Snapshot,
    section: &str,
    f: &mut dyn FnMut(&RowView) -> Result<()>,
) -> Result<()> {
    // One query for the archived ids, not one per row; only video lists show it.
    let archived: HashSet<String> =
        if matches!(section, "posts" | "likes" | "favorites" | "reposts") {
            crate::store::snapshots::archived_items(conn)?
        } else {
            HashSet::new()
        };
    let members = if section == "favorites" {
        collection_members(conn, v)?
    } else {
        Members::default()
    };
    let cx = Context {
        failed: DownloadFailure::read_list(&snap.failed),
        archived,
        members,
    };
    query::each_part(conn, v, section, &mut |item, shape| {
        f(&row_view(item, shape, &cx))
    })
}

/// Writes a section's view as pretty JSON, row by row, so memory stays flat
/// whatever the section's size.
pub fn write_view(
    conn: &Connection,
    v: &Version,
    snap: &Snapshot,
    section: &str,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    if section == "profile" {
        serde_json::to_writer_pretty(&mut *out, &query::profile(conn, v)?)
            .map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    // Rows are written into `buf`, and `buf` to `out` a block at a time: serde_json
    // writes a row in tens of small pieces, each a dynamic call into `out` then.
    const BLOCK: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(BLOCK + 4096);
    buf.push(b'[');
    let mut first = true;
    each_row(conn, v, snap, section, &mut |row| {
        buf.extend_from_slice(if first { b"\n" } else { b",\n" });
        first = false;
        row.write_pretty(&mut buf).map_err(std::io::Error::from)?;
        if buf.len() >= BLOCK {
            out.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    buf.extend_from_slice(if first { b"]\n" } else { b"\n]\n" });
    out.write_all(&buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts each needing one kind of escape (or none), one per column.
    const ODD: [&str; 6] = [
        "a \"quoted\" word",
        "back\\slash",
        "line\nbreak and\ttab",
        "controls \u{1}\u{8}\u{c}\r\u{1f}",
        "none: \u{7f} é 🍞 </script>",
        "",
    ];

    fn item(section: &str, fields: Value, odd: usize) -> Item {
        let odd = |n: usize| ODD[(odd + n) % ODD.len()].to_string();
        Item {
            section: section.into(),
            is_raw: section.contains('›'),
            key: vec![1],
            occurrence: 0,
            date_raw: Some(odd(0)),
            date_utc: Some(1_709_164_800),
            date_assumed: Some(true),
            video_id: Some("7400000000000000001".into()),
            link: Some(odd(1)),
            username: None,
            text: Some("Private Account".into()),
            sender: Some(odd(2)),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    /// What serde_json writes for the view's values collected into one JSON value:
    /// what `show --json` printed before rows were written straight out.
    fn as_value(row: &RowView) -> String {
        let map: Map<String, Value> = row
            .cells
            .iter()
            .map(|(k, _)| {
                let v = match row.column(k) {
                    Column::Text(s) => Value::String(s.into()),
                    Column::Json(v) => v.into_owned(),
                };
                (k.to_string(), v)
            })
            .collect();
        serde_json::to_string_pretty(&Value::Object(map)).unwrap()
    }

    /// Every byte value, at every place of texts of up to three chunks, is found
    /// to need an escape exactly when serde_json escapes it.
    #[test]
    fn needs_escape_finds_every_escaped_byte() {
        for len in 1..=24 {
            for at in 0..len {
                for b in 0..=0x7f_u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    let escaped = serde_json::to_string(std::str::from_utf8(&text).unwrap())
                        .unwrap()
                        .len()
                        > len + 2;
                    assert_eq!(needs_escape(&text), escaped, "{b:#x} at {at} of {len}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("é 🍞 \u{7f}\u{80}ÿ".as_bytes()));
    }

    /// A row written straight out is byte for byte what serde_json writes for the
    /// same values: escapes, nested maps and lists, empty ones, numbers, nulls.
    #[test]
    fn a_row_is_written_as_serde_json_writes_its_value() {
        let nested = json!({
            "Likes": 15,
            "Private Account": {"a": [1, 2.5, null, true, {}], "b": [], "c": {"d": ODD[3]}},
            "value": [[{"x\"y": ODD[2]}], {}],
            "Sound": ODD[1],
            "n": null,
        });
        let cx = Context {
            failed: Vec::new(),
            archived: ["7400000000000000001".to_string()].into(),
            members: Members::default(),
        };
        let shapes = [
            Shape::parse(
                r#"[["Date","date"],["Link","link"],["Who \"?\"","sender"],["Odd","nope"]]"#,
            ),
            Shape::parse("[]"),
        ];
        let mut written = 0;
        for section in [
            "likes",
            "posts",
            "favorites",
            "settings",
            "messages",
            "logins",
            "devices",
            "shares",
            "Some › Raw",
        ] {
            for fields in [nested.clone(), json!({})] {
                for shape in [None, Some(&shapes[0]), Some(&shapes[1])] {
                    for odd in 0..ODD.len() {
                        let mut item = item(section, fields.clone(), odd);
                        let view = row_view(&mut item, shape, &cx);
                        let mut buf = Vec::new();
                        view.write_pretty(&mut buf).unwrap();
                        let got = String::from_utf8(buf).unwrap();
                        assert_eq!(got, as_value(&view), "{section}, shape {shape:?}");
                        written += 1;
                    }
                }
            }
        }
        assert_eq!(written, 9 * 2 * 3 * ODD.len());
    }
}

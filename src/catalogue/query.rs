//! Reading the catalogue: which export version a snapshot shows, and readable views
//! of its sections (the JSON `show`, `restore`'s `views/` and scripts rely on).
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

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

use std::collections::{HashMap, HashSet};

use crate::download::DownloadFailure;
use crate::store::snapshots::Snapshot;
use crate::tiktok::export::{Record, Timestamp};

use super::{CatalogueError, Result};

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
#[derive(Debug, Clone)]
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

/// The columns [`item_from_row`] reads, qualified by table name or alias `t`: the
/// item columns as stored, with `fields` replaced by the row's shape (a JSON array)
/// when the row keeps no JSON of its own (see `schema/006_catalogue_compact.sql`).
pub(crate) fn item_columns(t: &str) -> String {
    format!(
        "{t}.section, {t}.is_raw, {t}.key, {t}.occurrence, {t}.date_raw, {t}.date_utc, \
         {t}.date_assumed, {t}.video_id, {t}.link, {t}.username, {t}.text, {t}.sender, \
         coalesce({t}.fields, (SELECT keys FROM export_shapes WHERE export_shapes.id = {t}.shape))"
    )
}

/// The share link TikTok's exports give most rows; a row whose link is this one for
/// its id stores no link.
pub(crate) fn share_link(video_id: &str) -> String {
    format!("{SHARE_LINK}{video_id}/")
}

const SHARE_LINK: &str = "https://www.tiktokv.com/share/video/";

/// Whether `link` is [`share_link`] of `video_id` (without writing that out).
pub(crate) fn is_share_link(link: &str, video_id: &str) -> bool {
    link.strip_prefix(SHARE_LINK)
        .and_then(|l| l.strip_suffix('/'))
        == Some(video_id)
}

/// How exports that give no zone write a date (`%Y-%m-%d %H:%M:%S`); a row whose
/// date is its instant written so stores no date text.
pub(crate) fn plain_date(utc: i64) -> Option<String> {
    use chrono::{Datelike, Timelike};
    // Written by hand: strftime's format parsing showed in the ingest's profile.
    chrono::DateTime::from_timestamp(utc, 0).map(|d| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    })
}

/// A video id as stored: an integer when it is one, else its text (the column has
/// no type, so a bound value is compared as given).
pub(crate) fn video_id_value(id: &str) -> rusqlite::types::Value {
    match id.parse::<i64>() {
        Ok(n) if n.to_string() == id => rusqlite::types::Value::Integer(n),
        _ => rusqlite::types::Value::Text(id.to_string()),
    }
}

fn video_id_text(value: rusqlite::types::Value) -> Option<String> {
    use rusqlite::types::Value as Sql;
    match value {
        Sql::Integer(n) => Some(n.to_string()),
        Sql::Text(t) => Some(t),
        _ => None,
    }
}

/// Which column an original field's value is, in a row shape.
pub(crate) const SHAPE_COLUMNS: &[&str] = &["date", "link", "username", "text", "sender"];

fn shape_value(item: &Item, column: &str) -> Option<String> {
    match column {
        "date" => item.date_raw.clone(),
        "link" => item.link.clone(),
        "username" => item.username.clone(),
        "text" => item.text.clone(),
        "sender" => item.sender.clone(),
        _ => None,
    }
}

thread_local! {
    /// The last shape read: a section's rows nearly all share one.
    static SHAPE: std::cell::RefCell<(String, Vec<(String, String)>)> =
        const { std::cell::RefCell::new((String::new(), Vec::new())) };
}

/// The original fields of a row kept as a shape: each original key, in order, with
/// its column's value.
fn fields_from_shape(item: &Item, shape: &str) -> Map<String, Value> {
    SHAPE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != shape {
            let keys: Vec<(String, String)> = serde_json::from_str(shape).unwrap_or_default();
            *cached = (shape.to_string(), keys);
        }
        cached
            .1
            .iter()
            .map(|(k, column)| {
                let v = shape_value(item, column).map_or(Value::Null, Value::String);
                (k.clone(), v)
            })
            .collect()
    })
}

pub(crate) fn item_from_row(r: &Row) -> rusqlite::Result<Item> {
    let fields: Option<String> = r.get(12)?;
    let video_id = video_id_text(r.get(7)?);
    let date_utc: Option<i64> = r.get(5)?;
    let link: Option<String> = r.get(8)?;
    let date_raw: Option<String> = r.get(4)?;
    let mut item = Item {
        section: r.get(0)?,
        is_raw: r.get(1)?,
        key: r.get(2)?,
        occurrence: r.get(3)?,
        date_raw: date_raw.or_else(|| date_utc.and_then(plain_date)),
        date_utc,
        date_assumed: r.get(6)?,
        link: link.or_else(|| video_id.as_deref().map(share_link)),
        video_id,
        username: r.get(9)?,
        text: r.get(10)?,
        sender: r.get(11)?,
        fields: Map::new(),
    };
    item.fields = match fields.as_deref() {
        Some(shape) if shape.starts_with('[') => fields_from_shape(&item, shape),
        Some(json) => match serde_json::from_str(json) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    Ok(item)
}

/// The export version a snapshot shows: its own, else the newest of its account
/// taken at or before it.
pub fn version_at(conn: &Connection, snap: &Snapshot) -> Result<Option<Version>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM export_versions WHERE account = ?1 AND taken_ms <= ?2
                 ORDER BY snapshot_id = ?3 DESC, taken_ms DESC, seq DESC LIMIT 1"
            ),
            params![snap.account, snap.taken_ms, snap.id],
            version_from_row,
        )
        .optional()?)
}

pub(crate) const VERSION_COLUMNS: &str =
    "snapshot_id, account, seq, taken_ms, layout, username, export_root";

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
    if section == "raw" {
        let sql = format!(
            "SELECT {} FROM export_items WHERE {AT_VERSION} AND is_raw = 1
             ORDER BY date_utc IS NULL, date_utc DESC, first_seq DESC, position, id",
            item_columns("export_items")
        );
        return each_of(conn, &sql, params![v.account, v.seq], f);
    }
    // Dated rows newest first, then undated ones: two walks of the date index that
    // sort only rows of the same instant, rather than one sort of the whole section
    // (two million likes) before the first row comes out.
    for (dated, order) in [
        ("IS NOT NULL", "date_utc DESC, first_seq DESC, position, id"),
        ("IS NULL", "first_seq DESC, position, id"),
    ] {
        let sql = format!(
            "SELECT {} FROM export_items INDEXED BY export_items_by_date
             WHERE {AT_VERSION} AND section = ?3 AND is_raw = 0 AND date_utc {dated}
             ORDER BY {order}",
            item_columns("export_items")
        );
        each_of(conn, &sql, params![v.account, v.seq, section], f)?;
    }
    Ok(())
}

fn each_of(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    f: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(args)?;
    while let Some(r) = rows.next()? {
        f(item_from_row(r)?)?;
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

fn utc_text(secs: Option<i64>) -> Value {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

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
    each_item(conn, v, "collections", &mut |c| {
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

/// One row as shown.
fn row_view(item: Item, cx: &Context) -> Value {
    let (failed, archived) = (&cx.failed, &cx.archived);
    if item.is_raw {
        return json!({
            "section": item.section,
            "value": item.fields.get("value").cloned().unwrap_or(Value::Null),
        });
    }
    let mut o = Map::new();
    o.insert("date".into(), json!(item.date_raw));
    let id_row = |o: &mut Map<String, Value>| {
        o.insert("id".into(), json!(item.video_id));
        o.insert("link".into(), json!(item.link));
    };
    match item.section.as_str() {
        "posts" | "likes" | "favorites" | "reposts" => {
            id_row(&mut o);
            let is_archived = item
                .video_id
                .as_ref()
                .is_some_and(|id| archived.contains(id));
            o.insert("archived".into(), json!(is_archived));
            if item.section == "favorites" {
                o.insert("collection".into(), collection_of(&item, &cx.members));
            }
            if item.section == "posts" {
                o.insert("caption".into(), json!(item.text));
                // Export key names vary in case between years ("Likes", "likes").
                let field = |name: &str| {
                    item.fields
                        .iter()
                        .find(|(k, _)| crate::tiktok::export::norm(k) == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null)
                };
                o.insert("likes".into(), field("likes"));
                o.insert("sound".into(), field("sound"));
                let failure = item
                    .video_id
                    .as_ref()
                    .and_then(|id| failed.iter().find(|f| f.id.as_ref() == Some(id)));
                if let Some(f) = failure {
                    o.insert("failed".into(), json!(f.reason_text));
                    o.insert("failure".into(), f.to_json());
                }
            }
        }
        "history" => id_row(&mut o),
        "comments" => {
            o.insert("comment".into(), json!(item.text));
        }
        "following" | "followers" | "blocked" => {
            o.insert("username".into(), json!(item.username));
        }
        "messages" => {
            o.insert("chat".into(), json!(item.username));
            o.insert("from".into(), json!(item.sender));
            o.insert("content".into(), json!(item.text));
            id_row(&mut o);
        }
        "searches" => {
            o.insert("term".into(), json!(item.text));
        }
        "collections" => {
            o.insert("name".into(), json!(item.text));
        }
        "off-tiktok" => {
            o.insert("source".into(), json!(item.text));
            o.insert("event".into(), json!(item.sender));
        }
        // One row per entry of the export's map: its name, and its value verbatim
        // (a setting can be a map or a list itself).
        "settings" | "activity-summary" => {
            let value = item.text.as_ref().and_then(|name| item.fields.get(name));
            o.insert("name".into(), json!(item.text));
            o.insert("value".into(), value.cloned().unwrap_or(Value::Null));
        }
        "devices" | "location" => add_field_columns(&item.section, &item.fields, &mut o),
        "profile-views" => {
            o.insert("username".into(), json!(item.username));
        }
        section => {
            add_field_columns(section, &item.fields, &mut o);
            o.insert("text".into(), json!(item.text));
            o.insert("link".into(), json!(item.link));
        }
    }
    o.insert("date_utc".into(), utc_text(item.date_utc));
    o.insert("date_utc_assumed".into(), json!(item.date_assumed));
    o.insert("fields".into(), Value::Object(item.fields));
    Value::Object(o)
}

/// The rows of a list section's view, one at a time, newest first.
pub fn each_row(
    conn: &Connection,
    v: &Version,
    snap: &Snapshot,
    section: &str,
    f: &mut dyn FnMut(Value) -> Result<()>,
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
    each_item(conn, v, section, &mut |i| f(row_view(i, &cx)))
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
        serde_json::to_writer_pretty(&mut *out, &profile(conn, v)?)
            .map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    out.write_all(b"[")?;
    let mut first = true;
    each_row(conn, v, snap, section, &mut |row| {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        serde_json::to_writer_pretty(&mut *out, &row).map_err(std::io::Error::from)?;
        Ok(())
    })?;
    out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
    Ok(())
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

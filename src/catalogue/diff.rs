//! What changed between two export versions of an account.
//!
//! Shape (`diff --json`): an object keyed by section. `profile` is
//! `{"changed": {"<field>": [old, new]}}` (the view's `username`, `bio`,
//! `display_name`, and every other original field by its own name). Every other
//! section is `{"added": [...], "removed": [...]}`: video ids for posts, likes,
//! favorites, reposts and history; usernames for follows and blocks; links for
//! favourite sounds, effects and hashtags; names for collections, settings and the
//! activity summary's counts; short descriptors (`date [chat] from: text`, an
//! off-TikTok event as `date event: source`, a device as its columns) for the rest;
//! key paths under `raw`.
//! Sections listed by id, username, link or name also carry `changed`: those in
//! both versions whose row changed (a post's like count, a setting's value).

use std::collections::BTreeSet;

use rusqlite::{params, Connection, ToSql};
use serde_json::{json, Map, Value};

use super::query::{self, Item, Version, AT_VERSION, PROFILE_ALIASES};
use super::{Result, SECTIONS};
use crate::tiktok::export::norm;

/// The diff from version `a` to version `b` (same account).
pub fn diff(conn: &Connection, a: &Version, b: &Version) -> Result<Value> {
    let mut out = Map::new();
    out.insert("profile".into(), profile_changes(conn, a, b)?);
    for &section in SECTIONS.iter().filter(|s| **s != "profile") {
        let removed = only_in(conn, a, b, section)?;
        let added = only_in(conn, b, a, section)?;
        let entry = match KeyColumn::of_section(section) {
            Some(column) => {
                let ids = |items: &[Item]| -> BTreeSet<String> {
                    items
                        .iter()
                        .filter_map(|i| column.value(i).clone())
                        .collect()
                };
                let (gone, new) = (ids(&removed), ids(&added));
                let (in_a, in_b) = (
                    present(conn, a, section, column, &new)?,
                    present(conn, b, section, column, &gone)?,
                );
                let changed: Vec<&String> = new.intersection(&gone).collect();
                json!({
                    "added": new.iter().filter(|i| !in_a.contains(*i)).collect::<Vec<_>>(),
                    "removed": gone.iter().filter(|i| !in_b.contains(*i)).collect::<Vec<_>>(),
                    "changed": changed,
                })
            }
            None => json!({
                "added": added.iter().map(describe).collect::<Vec<_>>(),
                "removed": removed.iter().map(describe).collect::<Vec<_>>(),
            }),
        };
        out.insert(section.to_string(), entry);
    }
    Ok(Value::Object(out))
}

/// The column that identifies a row in a diff, in sections whose rows have one.
#[derive(Clone, Copy, PartialEq)]
enum KeyColumn {
    VideoId,
    Username,
    Link,
    Text,
}

impl KeyColumn {
    /// The column of `section`'s rows, or None: they are named by descriptor.
    fn of_section(section: &str) -> Option<KeyColumn> {
        match section {
            "posts" | "likes" | "favorites" | "reposts" | "history" => Some(KeyColumn::VideoId),
            "following" | "followers" | "blocked" => Some(KeyColumn::Username),
            "sounds" | "effects" | "hashtags" => Some(KeyColumn::Link),
            "collections" | "settings" | "activity-summary" => Some(KeyColumn::Text),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyColumn::VideoId => "video_id",
            KeyColumn::Username => "username",
            KeyColumn::Link => "link",
            KeyColumn::Text => "text",
        }
    }

    /// A row's value of this column.
    fn value(self, i: &Item) -> &Option<String> {
        match self {
            KeyColumn::VideoId => &i.video_id,
            KeyColumn::Username => &i.username,
            KeyColumn::Link => &i.link,
            KeyColumn::Text => &i.text,
        }
    }
}

/// Which of `ids` the section holds at version `v`.
fn present(
    conn: &Connection,
    v: &Version,
    section: &str,
    column: KeyColumn,
    ids: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    // Video ids through their own index: the planner, without statistics, would
    // scan the whole section for each id (110 ms an id on 200 000 likes).
    let by_video = column == KeyColumn::VideoId;
    // Any other column: the section's rows at the version, by the date index (left to
    // itself, SQLite may prepare this statement again for every id).
    let index = if by_video {
        "INDEXED BY export_items_by_video"
    } else {
        "INDEXED BY export_items_by_date"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT 1 FROM export_items {index}
         WHERE {AT_VERSION} AND section = ?3 AND {} = ?4 LIMIT 1",
        column.name()
    ))?;
    let mut found = BTreeSet::new();
    for id in ids {
        let value = if by_video {
            query::video_id_value(id)
        } else {
            rusqlite::types::Value::Text(id.clone())
        };
        if stmt.exists(params![v.account, v.seq, section, value])? {
            found.insert(id.clone());
        }
    }
    Ok(found)
}

/// Rows of `section` in version `x` whose item (key and occurrence) is not in `y`.
///
/// One set operation over the intervals, never a lookup per row of `x`: a row of `x`
/// missing from `y` must have ended before `y` (when `y` is later) or begun after it
/// (when `y` is earlier), and only those candidates, as many as changed, are checked
/// for the same item under another row (one that vanished and came back).
fn only_in(conn: &Connection, x: &Version, y: &Version, section: &str) -> Result<Vec<Item>> {
    rows_only_in(conn, x, y, section, 0, None)
}

/// As the rows of a section `diff` compares: those of version `x` whose item is not
/// in `y`, from the `skip`th and at most `limit` of them. One page of a section's
/// additions (`x` the newer) or removals (`x` the older), for the viewer.
///
/// The whole list (`limit` None, the `diff` command) comes newest first. A page comes
/// in the order of the interval index it is read from: by the version where the row
/// began or ended, then as the export listed it. Sorting by date would make every
/// page sort all of a section's changes first (764 ms for 20 000 changed likes among
/// two million), where the index order lets a page stop after its last row.
pub fn rows_only_in(
    conn: &Connection,
    x: &Version,
    y: &Version,
    section: &str,
    skip: usize,
    limit: Option<usize>,
) -> Result<Vec<Item>> {
    if x.seq == y.seq {
        return Ok(Vec::new());
    }
    let filter = if section == "raw" {
        "is_raw = 1"
    } else {
        "is_raw = 0 AND section = ?4"
    };
    // ?2 is x's sequence number, ?3 y's. The closed rows have their own index. The
    // same item under another row has the same section and date (its key hashes
    // both), so the date index, which ends with the key, finds it in one seek.
    let (changed, interval) = if y.seq > x.seq {
        (
            "last_seq >= ?2 AND last_seq < ?3 AND first_seq <= ?2",
            "last_seq",
        )
    } else {
        // `first_seq > 1` (implied: sequence numbers start at 1) lets the partial
        // index of the rows that began after the first version serve it.
        (
            "first_seq > ?3 AND first_seq > 1 AND first_seq <= ?2 AND (last_seq IS NULL OR last_seq >= ?2)",
            "first_seq",
        )
    };
    let order = match limit {
        Some(_) => format!("{interval}, id"),
        None => "date_utc IS NULL, date_utc DESC, position, id".to_string(),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM export_items i WHERE account = ?1 AND {changed} AND {filter}
           AND NOT EXISTS (SELECT 1 FROM export_items j INDEXED BY export_items_by_date
                           WHERE j.account = i.account AND j.section = i.section
                             AND j.date_utc IS i.date_utc AND j.key = i.key
                             AND j.occurrence = i.occurrence
                             AND j.first_seq <= ?3 AND (j.last_seq IS NULL OR j.last_seq >= ?3))
         ORDER BY {order} LIMIT {} OFFSET {skip}",
        query::item_columns("i"),
        limit.map_or(-1, |l| l as i64),
    ))?;
    // Raw rows are keyed by their path, not a section: no fourth parameter for them.
    let mut args: Vec<&dyn ToSql> = vec![&x.account, &x.seq, &y.seq];
    if section != "raw" {
        args.push(&section);
    }
    let mut read = query::ItemReader::new(conn);
    let rows = stmt
        .query_map(&*args, |r| read.item(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// How `diff` names a row: its video id or username in sections listed by those,
/// else a short descriptor (`date [chat] from: text`; the key path of a raw section).
pub fn name_of(i: &Item) -> String {
    KeyColumn::of_section(&i.section)
        .and_then(|column| column.value(i).clone())
        .unwrap_or_else(|| describe(i))
}

/// A short human descriptor of a row that has no id of its own.
fn describe(i: &Item) -> String {
    if i.is_raw {
        return i.section.clone();
    }
    let mut s = i.date_raw.clone().unwrap_or_default();
    if let Some(chat) = i.username.as_deref().filter(|_| i.section == "messages") {
        s.push_str(&format!(" [{chat}]"));
    }
    if let Some(from) = &i.sender {
        s.push_str(&format!(" {from}"));
    }
    // A login, device or location has no text of its own: it is its columns (IP,
    // device, …; resolution, app version, …).
    let mut columns = Map::new();
    super::view::add_field_columns(&i.section, &i.fields, &mut columns);
    let present: Vec<&str> = columns.values().filter_map(Value::as_str).collect();
    let columns = (!present.is_empty()).then(|| present.join(", "));
    let what = i
        .text
        .as_deref()
        .or(i.link.as_deref())
        .or(i.username.as_deref())
        .or(columns.as_deref())
        .unwrap_or("");
    if !what.is_empty() {
        // A row with neither date nor sender (a device) is its text alone.
        s.push_str(&format!("{}{what}", if s.is_empty() { "" } else { ": " }));
    }
    s.trim_start().to_string()
}

/// The `profile` entry of [`diff`]: `{"changed": {"<field>": [old, new]}}`.
pub fn profile_changes(conn: &Connection, a: &Version, b: &Version) -> Result<Value> {
    let (pa, pb) = (
        query::profile_fields(conn, a)?,
        query::profile_fields(conn, b)?,
    );
    let mut changed = Map::new();
    for name in ["username", "bio", "display_name"] {
        if pa[name] != pb[name] {
            changed.insert(name.into(), json!([pa[name], pb[name]]));
        }
    }
    let empty = Map::new();
    let fa = pa["fields"].as_object().unwrap_or(&empty);
    let fb = pb["fields"].as_object().unwrap_or(&empty);
    let names: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    for k in names {
        if PROFILE_ALIASES.contains(&norm(k).as_str()) {
            continue;
        }
        let (old, new) = (fa.get(k), fb.get(k));
        if old != new {
            changed.insert(k.clone(), json!([old, new]));
        }
    }
    Ok(json!({ "changed": changed }))
}

//! Paged reading of the catalogue, for the viewer (`tt-vault serve`): keyset pages of
//! a section or of one conversation, the conversations, full-text search, the rows
//! of one post, and an account's profile across its export versions.
//!
//! Every list query is bounded by a page size and walks an index from
//! `schema/004_browse.sql`; none skips rows with OFFSET, so the tenth-thousandth page
//! of two million likes costs what the first does.

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection};
use serde_json::Value;

use super::query::{
    item_columns, profile_view, version_columns, version_from_row, Item, ItemReader, Version,
    AT_VERSION,
};
use super::Result;

/// Where a page starts: its first row's instant (None: an undated row; those sort
/// after every dated one) and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub date: Option<i64>,
    pub id: i64,
}

impl Cursor {
    /// Reads [`Cursor::param`]'s form: `<unix seconds>.<id>`, or `-.<id>` undated.
    pub fn parse(text: &str) -> Option<Cursor> {
        let (date, id) = text.split_once('.')?;
        Some(Cursor {
            date: match date {
                "-" => None,
                d => Some(d.parse().ok()?),
            },
            id: id.parse().ok()?,
        })
    }

    pub fn param(&self) -> String {
        match self.date {
            Some(d) => format!("{d}.{}", self.id),
            None => format!("-.{}", self.id),
        }
    }
}

/// One catalogue row with its id (for cursors and links).
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub item: Item,
}

impl Row {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            date: self.item.date_utc,
            id: self.id,
        }
    }
}

fn row_from(read: &mut ItemReader, r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok(Row {
        item: read.item(r)?,
        id: r.get(13)?,
    })
}

/// One page and the ways on.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Row>,
    /// The next page's start, when there is one.
    pub next: Option<Cursor>,
    /// The previous page: None when this is the first; `Some(None)` when the
    /// previous one is the first.
    pub previous: Option<Option<Cursor>>,
}

/// What a page lists: a section's rows at a version, newest first, or one
/// conversation's messages (`chat`), oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    pub version: &'a Version,
    pub section: &'a str,
    pub chat: Option<&'a str>,
}

impl Listing<'_> {
    fn oldest_first(&self) -> bool {
        self.chat.is_some()
    }
}

/// The page of `listing` that starts at `from` (the first page without one).
pub fn page(
    conn: &Connection,
    listing: &Listing,
    from: Option<Cursor>,
    size: usize,
) -> Result<Page> {
    let forward_asc = listing.oldest_first();
    let (inclusive, strict) = if forward_asc {
        (">=", "<")
    } else {
        ("<=", ">")
    };
    // Dated rows in order, then undated ones: two index walks rather than one OR.
    let walk = |from: Option<(&str, Cursor)>, asc: bool, dated_first: bool, limit: usize| {
        let start_undated = from.is_some_and(|(_, c)| c.date.is_none());
        let mut rows = segment(conn, listing, !start_undated, from, asc, limit)?;
        if rows.len() < limit && start_undated != dated_first {
            rows.extend(segment(
                conn,
                listing,
                !dated_first,
                None,
                asc,
                limit - rows.len(),
            )?);
        }
        Ok::<_, super::CatalogueError>(rows)
    };
    let mut rows = walk(from.map(|c| (inclusive, c)), forward_asc, true, size + 1)?;
    let next = (rows.len() > size).then(|| rows.pop().expect("size + 1 rows").cursor());
    let previous = match from {
        None => None,
        Some(c) => {
            // One row more than a page: with no more than a page before this one,
            // the previous page is the first.
            let back = walk(Some((strict, c)), !forward_asc, false, size + 1)?;
            match back.len() {
                0 => None,
                n if n <= size => Some(None),
                _ => Some(Some(back[size - 1].cursor())),
            }
        }
    };
    Ok(Page {
        rows,
        next,
        previous,
    })
}

/// Up to `limit` dated (or undated) rows of a listing from `bound`, in one direction.
fn segment(
    conn: &Connection,
    listing: &Listing,
    dated: bool,
    bound: Option<(&str, Cursor)>,
    asc: bool,
    limit: usize,
) -> Result<Vec<Row>> {
    let v = listing.version;
    // A conversation names its section in the SQL text: the partial index on
    // messages serves only a statement that says `section = 'messages'` itself.
    // The index is named: without statistics the planner prefers the version
    // index and sorts the whole section (300 ms on 200 000 likes, not 2).
    let (index, filter, value) = match listing.chat {
        Some(chat) => (
            "export_items_by_chat",
            "section = 'messages' AND username = ?3",
            chat,
        ),
        None => ("export_items_by_date", "section = ?3", listing.section),
    };
    let mut args: Vec<Sql> = vec![
        Sql::Text(v.account.clone()),
        Sql::Integer(v.seq),
        Sql::Text(value.to_string()),
    ];
    let mut sql = format!(
        "SELECT {}, id FROM export_items INDEXED BY {index}
         WHERE {AT_VERSION} AND is_raw = 0 AND {filter}",
        item_columns("export_items")
    );
    let mut bind = |value: Sql| {
        args.push(value);
        format!("?{}", args.len())
    };
    sql.push_str(if dated {
        " AND date_utc IS NOT NULL"
    } else {
        " AND date_utc IS NULL"
    });
    if let Some((op, c)) = bound {
        match (dated, c.date) {
            (true, Some(d)) => {
                let (d, id) = (bind(Sql::Integer(d)), bind(Sql::Integer(c.id)));
                sql.push_str(&format!(" AND (date_utc, id) {op} ({d}, {id})"));
            }
            (false, None) => {
                let id = bind(Sql::Integer(c.id));
                sql.push_str(&format!(" AND id {op} {id}"));
            }
            // Crossing from one kind to the other: the whole segment is on this side.
            _ => {}
        }
    }
    let dir = if asc { "ASC" } else { "DESC" };
    let order = if dated {
        format!("date_utc {dir}, id {dir}")
    } else {
        format!("id {dir}")
    };
    let limit = bind(Sql::Integer(limit as i64));
    sql.push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut read = ItemReader::new(conn);
    let rows = stmt.query_map(params_from_iter(args), |r| row_from(&mut read, r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many rows a section has at a version, counting no further than `cap`: a
/// count is a scan, and two million likes take most of a second to count.
pub fn count_upto(conn: &Connection, v: &Version, section: &str, cap: i64) -> Result<i64> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT count(*) FROM (SELECT 1 FROM export_items
         WHERE {AT_VERSION} AND is_raw = 0 AND section = ?3 LIMIT ?4)"
    ))?;
    Ok(stmt.query_row(params![v.account, v.seq, section, cap], |r| r.get(0))?)
}

/// One conversation: the other person, how many messages, the newest one's instant.
#[derive(Debug, Clone)]
pub struct Chat {
    pub name: String,
    pub messages: i64,
    pub last: Option<i64>,
}

/// The conversations at a version, most recently active first (`skip` and `size`
/// page them: an account has hundreds of conversations, not millions).
pub fn chats(conn: &Connection, v: &Version, skip: usize, size: usize) -> Result<Vec<Chat>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT username, count(*), max(date_utc) FROM export_items
         WHERE {AT_VERSION} AND is_raw = 0 AND section = 'messages' AND username IS NOT NULL
         GROUP BY username ORDER BY max(date_utc) DESC, username LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt.query_map(params![v.account, v.seq, size as i64, skip as i64], |r| {
        Ok(Chat {
            name: r.get(0)?,
            messages: r.get(1)?,
            last: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The rows of a version that name post `video_id`, in every section.
pub fn post_rows(conn: &Connection, v: &Version, video_id: &str) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, id FROM export_items INDEXED BY export_items_by_video
         WHERE video_id = ?3 AND {AT_VERSION} AND is_raw = 0 ORDER BY id",
        item_columns("export_items")
    ))?;
    let id = super::query::video_id_value(video_id);
    let mut read = ItemReader::new(conn);
    let rows = stmt.query_map(params![v.account, v.seq, id], |r| row_from(&mut read, r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The sections search looks in: what people wrote.
pub const SEARCHED: &[&str] = &["posts", "comments", "messages", "searches", "profile"];

/// A search hit: the row, and its text with the matches between `\u{1}` and `\u{2}`.
#[derive(Debug, Clone)]
pub struct Hit {
    pub row: Row,
    pub marked: String,
}

/// Turns what a person typed into an FTS5 query: every word a quoted prefix, so
/// that no character of theirs is FTS syntax. None when nothing is left to match.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '_')
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Rows of `sections` at a version whose text matches `query` (an [`fts_query`]),
/// newest ingested first, below row id `before` when given. Returns the hits and
/// where the next page starts.
pub fn search(
    conn: &Connection,
    v: &Version,
    query: &str,
    sections: &[&str],
    before: Option<i64>,
    size: usize,
) -> Result<(Vec<Hit>, Option<i64>)> {
    let wanted: Vec<String> = sections.iter().map(|s| format!("'{s}'")).collect();
    // The search table's one column is named `text` too: qualify the item's columns.
    // CROSS JOIN keeps the search table outermost: driven from the items instead,
    // a search within messages ran one MATCH per message (37 s on 30 000).
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, i.id, highlight(export_search, 0, char(1), char(2))
         FROM export_search CROSS JOIN export_items i ON i.id = export_search.rowid
         WHERE export_search MATCH ?3 AND export_search.rowid < ?4
           AND i.account = ?1 AND i.first_seq <= ?2 AND (i.last_seq IS NULL OR i.last_seq >= ?2)
           AND i.is_raw = 0 AND i.section IN ({})
         ORDER BY export_search.rowid DESC LIMIT ?5",
        item_columns("i"),
        wanted.join(", ")
    ))?;
    let mut read = ItemReader::new(conn);
    let mut hits: Vec<Hit> = stmt
        .query_map(
            params![
                v.account,
                v.seq,
                query,
                before.unwrap_or(i64::MAX),
                size as i64 + 1
            ],
            |r| {
                Ok(Hit {
                    row: row_from(&mut read, r)?,
                    marked: r.get(14)?,
                })
            },
        )?
        .collect::<rusqlite::Result<_>>()?;
    let next = (hits.len() > size).then(|| {
        hits.pop();
        hits.last().map(|h| h.row.id).unwrap_or(0)
    });
    Ok((hits, next))
}

/// An account's profile as one export version showed it.
#[derive(Debug, Clone)]
pub struct ProfileVersion {
    pub version: Version,
    /// The profile view (`username`, `bio`, `display_name`, `fields`).
    pub profile: Value,
    pub followers: i64,
    pub following: i64,
}

/// The profile at every export version of `account`, oldest first. Two scans in
/// all, not one per version: follow counts come from the rows' version intervals.
pub fn profile_history(conn: &Connection, account: &str) -> Result<Vec<ProfileVersion>> {
    let versions: Vec<Version> = conn
        .prepare_cached(&format!(
            "SELECT {} FROM export_versions WHERE account = ?1 ORDER BY seq",
            version_columns("export_versions")
        ))?
        .query_map([account], version_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let valid_at =
        |first: i64, last: Option<i64>, seq: i64| first <= seq && last.is_none_or(|l| l >= seq);
    let mut read = ItemReader::new(conn);
    let profiles: Vec<(i64, Option<i64>, Item)> = conn
        .prepare_cached(&format!(
            "SELECT {}, first_seq, last_seq FROM export_items
             WHERE account = ?1 AND section = 'profile' AND is_raw = 0 ORDER BY position, id",
            item_columns("export_items")
        ))?
        .query_map([account], |r| Ok((r.get(13)?, r.get(14)?, read.item(r)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let spans: Vec<(String, i64, Option<i64>, i64)> = conn
        .prepare_cached(
            "SELECT section, first_seq, last_seq, count(*) FROM export_items
             WHERE account = ?1 AND section IN ('followers', 'following') AND is_raw = 0
             GROUP BY section, first_seq, last_seq",
        )?
        .query_map([account], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(versions
        .into_iter()
        .map(|version| {
            let seq = version.seq;
            let count = |section: &str| -> i64 {
                spans
                    .iter()
                    .filter(|(s, first, last, _)| s == section && valid_at(*first, *last, seq))
                    .map(|(_, _, _, n)| n)
                    .sum()
            };
            let item = profiles
                .iter()
                .find(|(first, last, _)| valid_at(*first, *last, seq))
                .map(|(_, _, i)| i);
            ProfileVersion {
                profile: profile_view(item),
                followers: count("followers"),
                following: count("following"),
                version,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(seq: i64) -> Version {
        Version {
            snapshot_id: String::new(),
            account: "a".into(),
            seq,
            taken_ms: 0,
            layout: String::new(),
            username: None,
            export_root: String::new(),
        }
    }

    /// Pages of 3, walked forward then back, list exactly the version's rows of the
    /// section in order: dates newest first (ties by id), undated last.
    #[test]
    fn keyset_pages_cover_every_row_once_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::index::open(&dir.path().join("v.db"), None).unwrap();
        let dates = [
            Some(5),
            None,
            Some(7),
            Some(5),
            None,
            Some(1),
            Some(9),
            Some(5),
            None,
            Some(3),
        ];
        for (i, d) in dates.iter().enumerate() {
            // One row is of a later version only, one of another section.
            let (first, section) = match i {
                4 => (2, "likes"),
                6 => (1, "comments"),
                _ => (1, "likes"),
            };
            conn.execute(
                "INSERT INTO export_items (account, section, is_raw, key, occurrence, first_seq,
                  position, date_utc, fields) VALUES ('a', ?1, 0, ?2, 0, ?3, ?4, ?5, '{}')",
                params![section, vec![i as u8], first, i as i64, d],
            )
            .unwrap();
        }
        let v = version(1);
        let mut want: Vec<(Option<i64>, i64)> = dates
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 4 && *i != 6)
            .map(|(i, d)| (*d, i as i64 + 1))
            .collect();
        want.sort_by_key(|r| std::cmp::Reverse((r.0.is_some(), r.0, r.1)));
        let listing = Listing {
            version: &v,
            section: "likes",
            chat: None,
        };
        let (mut got, mut starts, mut from) = (Vec::new(), Vec::new(), None);
        loop {
            let p = page(&conn, &listing, from, 3).unwrap();
            starts.push((from, p.previous));
            got.extend(p.rows.iter().map(|r| (r.item.date_utc, r.id)));
            match p.next {
                Some(c) => from = Some(c),
                None => break,
            }
        }
        assert_eq!(got, want);
        // Each page's "previous" is the page before it.
        for w in starts.windows(2) {
            let (before, _) = w[0];
            let (_, previous) = w[1];
            assert_eq!(previous, Some(before), "{starts:?}");
        }
        assert_eq!(starts[0].1, None);
    }
}

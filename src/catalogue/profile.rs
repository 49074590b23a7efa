//! The public profile page in the catalogue (`snapshot --profile NAME`): the versions
//! read, the one a snapshot shows, what changed between two, and the profile view that
//! joins a page version with the export's profile, naming each field's source.
//!
//! The table is `profile_versions` (`schema/005_profile_watch.sql`). Its rows come from
//! the profile document a snapshot stores ([`document`], at `profile/NAME/profile.json`),
//! so `rebuild-index` recreates them from the packs with [`record`] as a snapshot does.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::store::snapshots::Snapshot;
use crate::tiktok::fetch::profile::Profile;

use super::query::Version;
use super::Result;

/// The profile document's name in its folder (`profile/NAME/profile.json`).
pub const DOCUMENT: &str = "profile.json";
/// Where a field came from, as `show profile` says it.
pub const FROM_EXPORT: &str = "export";
pub const FROM_PAGE: &str = "profile page";

/// One profile page as a snapshot read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageVersion {
    pub snapshot_id: String,
    #[serde(skip)]
    pub account: String,
    pub username: String,
    #[serde(skip)]
    pub taken_ms: i64,
    pub fetched_at: String,
    pub nickname: Option<String>,
    pub bio: Option<String>,
    pub bio_link: Option<String>,
    /// BLAKE3 (hex) of the avatar image stored in the snapshot.
    pub avatar_hash: Option<String>,
    pub avatar_path: Option<String>,
    pub verified: Option<bool>,
    pub private: Option<bool>,
    pub followers: Option<i64>,
    pub following: Option<i64>,
    pub hearts: Option<i64>,
    pub videos: Option<i64>,
    /// Posts the page listed (0: the listing was unavailable).
    pub listed: i64,
    pub layout: String,
}

impl PageVersion {
    /// The fields that can change between versions, by the names `diff` uses.
    fn fields(&self) -> [(&'static str, Value); 11] {
        [
            ("username", json!(self.username)),
            ("nickname", json!(self.nickname)),
            ("bio", json!(self.bio)),
            ("bio_link", json!(self.bio_link)),
            ("avatar", json!(self.avatar_hash)),
            ("verified", json!(self.verified)),
            ("private", json!(self.private)),
            ("followers", json!(self.followers)),
            ("following", json!(self.following)),
            ("hearts", json!(self.hearts)),
            ("videos", json!(self.videos)),
        ]
    }

    /// The avatar's file name for the viewer's `/media/` route (`HASH.EXT`).
    pub fn avatar_media_name(&self) -> Option<String> {
        let hash = self.avatar_hash.as_ref()?;
        let ext = self.avatar_path.as_deref()?.rsplit_once('.')?.1;
        Some(format!("{hash}.{ext}"))
    }
}

/// The avatar file a snapshot stored for a profile.
#[derive(Debug, Clone, Copy)]
pub struct StoredAvatar<'a> {
    pub path: &'a str,
    pub hash: &'a str,
    pub size: u64,
}

/// The profile document a snapshot stores: every field the page gave, where and when
/// it was read, and the avatar file.
pub fn document(
    profile: &Profile,
    page: &str,
    fetched_at: &str,
    avatar: Option<StoredAvatar>,
) -> Value {
    let mut doc = serde_json::to_value(profile).expect("a profile is plain data");
    doc["page"] = json!(page);
    doc["fetched_at"] = json!(fetched_at);
    doc["avatar"] = match avatar {
        Some(a) => json!({"path": a.path, "hash": a.hash, "size": a.size}),
        None => Value::Null,
    };
    doc
}

/// Records the profile document `doc` as a version of `account` read by snapshot
/// `snapshot_id` (inside the snapshot's commit, or by `rebuild-index`).
pub fn record(
    conn: &Connection,
    snapshot_id: &str,
    account: &str,
    taken_ms: i64,
    doc: &Value,
) -> Result<()> {
    let text = |k: &str| doc[k].as_str().map(str::to_string);
    let count = |k: &str| doc[k].as_u64().map(|n| n.min(i64::MAX as u64) as i64);
    let listed = doc["listed_posts"].as_array().map_or(0, Vec::len) as i64;
    conn.execute(
        "INSERT OR REPLACE INTO profile_versions
             (snapshot_id, account, username, taken_ms, fetched_at, nickname, bio, bio_link,
              avatar_hash, avatar_path, verified, private, followers, following, hearts,
              videos, listed, layout)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            snapshot_id,
            account,
            text("username").unwrap_or_default(),
            taken_ms,
            text("fetched_at").unwrap_or_default(),
            text("nickname"),
            text("bio"),
            text("bio_link"),
            doc["avatar"]["hash"].as_str(),
            doc["avatar"]["path"].as_str(),
            doc["verified"].as_bool(),
            doc["private"].as_bool(),
            count("followers"),
            count("following"),
            count("hearts"),
            count("videos"),
            listed,
            text("layout").unwrap_or_default(),
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "snapshot_id, account, username, taken_ms, fetched_at, nickname, bio, \
     bio_link, avatar_hash, avatar_path, verified, private, followers, following, hearts, \
     videos, listed, layout";

fn from_row(r: &Row) -> rusqlite::Result<PageVersion> {
    Ok(PageVersion {
        snapshot_id: r.get(0)?,
        account: r.get(1)?,
        username: r.get(2)?,
        taken_ms: r.get(3)?,
        fetched_at: r.get(4)?,
        nickname: r.get(5)?,
        bio: r.get(6)?,
        bio_link: r.get(7)?,
        avatar_hash: r.get(8)?,
        avatar_path: r.get(9)?,
        verified: r.get(10)?,
        private: r.get(11)?,
        followers: r.get(12)?,
        following: r.get(13)?,
        hearts: r.get(14)?,
        videos: r.get(15)?,
        listed: r.get(16)?,
        layout: r.get(17)?,
    })
}

/// The profile page a snapshot shows: its own, else the newest of its account read
/// at or before it.
pub fn at(conn: &Connection, snap: &Snapshot) -> Result<Option<PageVersion>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM profile_versions WHERE account = ?1 AND taken_ms <= ?2
                 ORDER BY snapshot_id = ?3 DESC, taken_ms DESC, username LIMIT 1"
            ),
            params![snap.account, snap.taken_ms, snap.id],
            from_row,
        )
        .optional()?)
}

/// Every profile page version of `account`, oldest first.
pub fn history(conn: &Connection, account: &str) -> Result<Vec<PageVersion>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM profile_versions WHERE account = ?1 ORDER BY taken_ms, username"
    ))?;
    let rows = stmt
        .query_map([account], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What changed between the profile pages two snapshots show:
/// `{"changed": {"<field>": [old, new]}}`, fields as [`PageVersion`] names them
/// (`avatar` is the image's hash). A side without a page shows nothing changed.
pub fn changes(a: Option<&PageVersion>, b: Option<&PageVersion>) -> Value {
    let mut changed = Map::new();
    if let (Some(a), Some(b)) = (a, b) {
        for ((name, old), (_, new)) in a.fields().into_iter().zip(b.fields()) {
            if old != new {
                changed.insert(name.into(), json!([old, new]));
            }
        }
    }
    json!({ "changed": changed })
}

/// The profile as a snapshot shows it: the export's profile view (`export`: its
/// version and view, see `query::profile`) joined with the profile page. A field both
/// give comes from the newer of the two. Adds `bio_link`, `avatar`, `verified`,
/// `private`, `followers`, `following`, `hearts`, `videos` from the page; `sources`
/// names each field's source ([`FROM_EXPORT`], [`FROM_PAGE`]); `export` and
/// `profile_page` say which snapshot each came from (null when absent).
pub fn view(export: Option<(&Version, Value)>, page: Option<&PageVersion>) -> Value {
    let (mut out, export_ms) = match export {
        Some((v, view)) => {
            let mut view = view;
            view["export"] = json!({"snapshot": v.snapshot_id, "taken_at": utc(v.taken_ms)});
            (view, Some(v.taken_ms))
        }
        None => (
            json!({"username": null, "bio": null, "display_name": null, "fields": {},
                   "export": null}),
            None,
        ),
    };
    let mut sources = Map::new();
    for key in ["username", "display_name", "bio"] {
        if !out[key].is_null() {
            sources.insert(key.into(), json!(FROM_EXPORT));
        }
    }
    if let Some(p) = page {
        let page_newer = export_ms.is_none_or(|e| p.taken_ms >= e);
        let shared = [
            ("username", json!(p.username)),
            ("display_name", json!(p.nickname)),
            ("bio", json!(p.bio)),
        ];
        for (key, value) in shared {
            if !value.is_null() && (page_newer || out[key].is_null()) {
                out[key] = value;
                sources.insert(key.into(), json!(FROM_PAGE));
            }
        }
        let avatar = p
            .avatar_hash
            .as_ref()
            .map(|h| json!({"path": p.avatar_path, "hash": h}))
            .unwrap_or(Value::Null);
        // The page's own fields, as `diff` names them; the avatar with its path.
        for (key, value) in p.fields().into_iter().skip(3) {
            let value = if key == "avatar" {
                avatar.clone()
            } else {
                value
            };
            if !value.is_null() {
                sources.insert(key.into(), json!(FROM_PAGE));
            }
            out[key] = value;
        }
    }
    out["profile_page"] = match page {
        Some(p) => serde_json::to_value(p).expect("a page version is plain data"),
        None => Value::Null,
    };
    out["sources"] = Value::Object(sources);
    out
}

fn utc(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| json!(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bio: &str, followers: i64, taken_ms: i64) -> PageVersion {
        PageVersion {
            snapshot_id: format!("s{taken_ms}"),
            account: "alice".into(),
            username: "alice".into(),
            taken_ms,
            fetched_at: "2026-11-30T00:00:00Z".into(),
            nickname: Some("Alice".into()),
            bio: Some(bio.into()),
            bio_link: None,
            avatar_hash: Some("ab".into()),
            avatar_path: Some("profile/alice/avatar.jpeg".into()),
            verified: Some(false),
            private: Some(false),
            followers: Some(followers),
            following: None,
            hearts: None,
            videos: None,
            listed: 0,
            layout: "SIGI_STATE".into(),
        }
    }

    #[test]
    fn changes_name_the_fields_that_differ() {
        let (a, b) = (page("old", 10, 1), page("new", 12, 2));
        let c = changes(Some(&a), Some(&b));
        assert_eq!(c["changed"]["bio"], json!(["old", "new"]));
        assert_eq!(c["changed"]["followers"], json!([10, 12]));
        assert!(c["changed"].get("nickname").is_none());
        assert_eq!(changes(None, Some(&b))["changed"], json!({}));
        assert_eq!(a.avatar_media_name().as_deref(), Some("ab.jpeg"));
    }

    #[test]
    fn the_view_takes_each_field_from_the_newer_source_and_says_which() {
        let export = Version {
            snapshot_id: "e".into(),
            account: "alice".into(),
            seq: 1,
            taken_ms: 5,
            layout: "json2024".into(),
            username: Some("alice".into()),
            export_root: "export/x.zip".into(),
        };
        let from_export = json!({"username": "alice", "bio": "export bio",
                                 "display_name": null, "fields": {}});
        let older = page("page bio", 7, 1);
        let v = view(Some((&export, from_export.clone())), Some(&older));
        assert_eq!(v["bio"], "export bio");
        assert_eq!(v["sources"]["bio"], FROM_EXPORT);
        // The export has no name: the page's fills it, and says so.
        assert_eq!(v["display_name"], "Alice");
        assert_eq!(v["sources"]["display_name"], FROM_PAGE);
        assert_eq!(v["followers"], 7);
        assert_eq!(v["sources"]["followers"], FROM_PAGE);
        let newer = page("page bio", 7, 9);
        let v = view(Some((&export, from_export)), Some(&newer));
        assert_eq!(v["bio"], "page bio");
        assert_eq!(v["sources"]["bio"], FROM_PAGE);
        assert_eq!(v["export"]["snapshot"], "e");
        let v = view(None, None);
        assert_eq!(v["sources"], json!({}));
        assert!(v["profile_page"].is_null());
    }
}

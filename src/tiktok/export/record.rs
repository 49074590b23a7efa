//! What the parser yields: one [`Record`] per row of a section, whatever the layout.
//!
//! Both the JSON and TXT readers hand a row over as a map of its original keys and
//! values; [`build`] picks the common fields out of it by tolerant key matching, so the
//! layouts differ only in where rows are found, never in how a row is understood.

use std::cell::RefCell;

use serde_json::{Map, Value};

use super::dates::{self, Timestamp};
use crate::tiktok::links;

/// The catalogue section a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Section {
    Profile,
    Posts,
    Likes,
    Favorites,
    Comments,
    Following,
    Followers,
    Messages,
    WatchHistory,
    Searches,
    Logins,
    Shares,
    Reposts,
    Blocked,
    /// Favourite sounds, effects and hashtags: a date and a link each.
    Sounds,
    Effects,
    Hashtags,
    /// The named collections of favourite videos.
    Collections,
    /// Off TikTok Activity: what other apps and sites told TikTok (a date, the
    /// source and the event).
    OffTikTok,
    /// Settings (privacy and others): one row per setting, its name as the text.
    Settings,
    /// Status: the devices and app versions the account used.
    Devices,
    /// Activity Summary: one row per count, its name as the text.
    Summary,
    /// Most Recent Location Data: one row.
    Location,
    /// Profile Views: who viewed the profile, when.
    ProfileViews,
    /// A section this parser does not understand, by its key path in the export
    /// (`"Ads and data › Off TikTok Activity"`); kept whole, under the field `value`.
    Raw(String),
}

impl Section {
    /// The catalogue name (`"likes"`, `"history"`, …); for raw sections, the key path.
    pub fn name(&self) -> &str {
        match self {
            Section::Profile => "profile",
            Section::Posts => "posts",
            Section::Likes => "likes",
            Section::Favorites => "favorites",
            Section::Comments => "comments",
            Section::Following => "following",
            Section::Followers => "followers",
            Section::Messages => "messages",
            Section::WatchHistory => "history",
            Section::Searches => "searches",
            Section::Logins => "logins",
            Section::Shares => "shares",
            Section::Reposts => "reposts",
            Section::Blocked => "blocked",
            Section::Sounds => "sounds",
            Section::Effects => "effects",
            Section::Hashtags => "hashtags",
            Section::Collections => "collections",
            Section::OffTikTok => "off-tiktok",
            Section::Settings => "settings",
            Section::Devices => "devices",
            Section::Summary => "activity-summary",
            Section::Location => "location",
            Section::ProfileViews => "profile-views",
            Section::Raw(path) => path,
        }
    }

    /// A section TikTok writes as one map of names to values (`SettingsMap`,
    /// `ActivitySummaryMap`): each entry is a row of its own, so a changed setting is
    /// one changed row.
    pub fn is_keyed(&self) -> bool {
        matches!(self, Section::Settings | Section::Summary)
    }
}

/// One row of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub section: Section,
    pub date: Option<Timestamp>,
    /// The TikTok post id, from the row's link.
    pub video_id: Option<String>,
    pub link: Option<String>,
    /// Follows and blocks: the other user; messages: the chat partner; profile: the
    /// account's own username.
    pub username: Option<String>,
    /// Comment text, message content, search term, post caption, profile bio,
    /// collection name, off-TikTok source; a setting's or summary count's name.
    pub text: Option<String>,
    /// Messages: the sender; off-TikTok activity: the event.
    pub from: Option<String>,
    /// Every original key and value, verbatim (placeholders such as "N/A" included).
    pub fields: Map<String, Value>,
}

/// The separator used in key paths, as in `Activity › Like List`.
pub const PATH_SEP: &str = " › ";

/// Reduces a key to what identifies it: case, spaces, underscores and trailing colons
/// vary between years and between the JSON and TXT layouts (`SearchTerm`,
/// `Search Term:`, `HashTag Link::`).
pub fn norm(key: &str) -> String {
    // Keys are ASCII but for the rare user-named one; the catalogue norms every row's.
    if key.is_ascii() {
        let mut out = String::with_capacity(key.len());
        let kept = key.bytes().filter(u8::is_ascii_alphanumeric);
        out.extend(kept.map(|b| char::from(b.to_ascii_lowercase())));
        return out;
    }
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A value as text, or `None` for the placeholders exports use for "nothing"
/// (`""`, `"N/A"`, `"None"`, `null`). Numbers count: likes are sometimes numbers,
/// sometimes strings.
pub fn present(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let t = s.trim();
            let empty = t.is_empty()
                || t.eq_ignore_ascii_case("n/a")
                || t.eq_ignore_ascii_case("none")
                || t.eq_ignore_ascii_case("null");
            (!empty).then(|| t.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// True for a section that holds nothing: `null`, `""`, `[]`, `{}`, or containers of
/// only those (`{"FavoriteEffectsList": null}`). Placeholders such as `"N/A"` count as
/// content here: a section of placeholders is still kept.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        Value::Object(o) => o.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// True when `key` normalises to `wanted` (see [`norm`]), without building the
/// normalised key: every row of a watch history passes here.
fn norm_is(key: &str, wanted: &str) -> bool {
    if key.is_ascii() {
        let mut left = wanted.bytes();
        return key
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .all(|b| left.next() == Some(b.to_ascii_lowercase()))
            && left.next().is_none();
    }
    let mut left = wanted.chars();
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .all(|c| left.next() == Some(c))
        && left.next().is_none()
}

/// Keys holding the row's date, in order of preference.
const DATE_KEYS: &[&str] = &["date", "datetime", "time", "timestamp"];
/// Keys holding the row's link. `Video Link` is the old TXT spelling; favourite
/// sounds, effects and hashtags carry `SoundLink`, `EffectLink`, `HashTag Link`.
const LINK_KEYS: &[&str] = &[
    "link",
    "videolink",
    "url",
    "hashtaglink",
    "effectlink",
    "soundlink",
];
/// `UserName` (JSON follow and block lists), `Username` (TXT), `userName` (profile).
const USER_KEYS: &[&str] = &["username", "uniqueid"];

fn text_keys(section: &Section) -> &'static [&'static str] {
    match section {
        Section::Comments => &["comment", "commentcontent"],
        Section::Messages => &["content", "message"],
        Section::Searches => &["searchterm", "term"],
        Section::Posts => &["title", "caption", "description", "videodescription"],
        Section::Profile => &["biodescription", "bio"],
        Section::Shares => &["sharedcontent"],
        Section::Collections => &["favoritecollection", "collectionname", "name"],
        Section::OffTikTok => &["source", "appname", "app"],
        _ => &[],
    }
}

/// Keys holding the sender (messages) or the event (off-TikTok activity).
const FROM_KEYS: &[&str] = &["from", "sender"];
const EVENT_KEYS: &[&str] = &["event", "eventname", "action"];

thread_local! {
    static ROLES: RefCell<Roles> = RefCell::default();
}

/// Which of a row's keys hold its common fields, worked out for the last row's
/// section and keys: the rows of a list share their keys, so they are matched once a
/// list, where matching each row's keys against every key wanted took 7 % of a
/// heavy export's parse.
#[derive(Default)]
struct Roles {
    section: Option<Section>,
    keys: Vec<String>,
    /// For each common field, the places in `keys` that may hold it, in order of
    /// preference: for each key wanted, the first key of the row that is it.
    date: Vec<usize>,
    link: Vec<usize>,
    user: Vec<usize>,
    text: Vec<usize>,
    from: Vec<usize>,
}

impl Roles {
    fn fit(&mut self, section: &Section, fields: &Map<String, Value>) {
        if self.section.as_ref() == Some(section) && fields.keys().eq(&self.keys) {
            return;
        }
        self.keys = fields.keys().cloned().collect();
        let keys = &self.keys;
        let places = |wanted: &[&str]| -> Vec<usize> {
            wanted
                .iter()
                .filter_map(|w| keys.iter().position(|k| norm_is(k, w)))
                .collect()
        };
        self.date = places(DATE_KEYS);
        self.link = places(LINK_KEYS);
        self.user = places(USER_KEYS);
        self.text = places(text_keys(section));
        self.from = places(match section {
            Section::OffTikTok => EVENT_KEYS,
            _ => FROM_KEYS,
        });
        self.section = Some(section.clone());
    }
}

/// The first of `places` in `fields` that holds a value (see [`present`]).
fn first_at(fields: &Map<String, Value>, places: &[usize]) -> Option<String> {
    places
        .iter()
        .find_map(|&i| fields.values().nth(i).and_then(present))
}

/// Builds a record from a row's original keys and values.
pub fn build(section: Section, fields: Map<String, Value>) -> Record {
    let (date, mut link, username, text, from) = ROLES.with_borrow_mut(|roles| {
        roles.fit(&section, &fields);
        let at = |places: &[usize]| first_at(&fields, places);
        (
            at(&roles.date).and_then(dates::parse_owned),
            at(&roles.link),
            at(&roles.user),
            at(&roles.text),
            at(&roles.from),
        )
    });
    let mut parsed = link.as_deref().and_then(links::parse);
    // A shared video in a direct message is a bare link as the content.
    if link.is_none() && section == Section::Messages {
        if let Some(t) = text.as_deref().filter(|t| !t.contains(char::is_whitespace)) {
            parsed = links::parse(t);
            link = parsed.is_some().then(|| t.to_string());
        }
    }
    let video_id = parsed.and_then(links::VideoLink::into_id);
    Record {
        section,
        date,
        video_id,
        link,
        username,
        text,
        from,
        fields,
    }
}

/// The rows of a keyed section's map (see [`Section::is_keyed`]): one record per
/// entry, holding that entry alone, with its name as the text.
pub fn entries(section: Section, mut fields: Map<String, Value>) -> impl Iterator<Item = Record> {
    // A map cut at the size bound says so on each entry it kept, never as an entry.
    let cut = fields.remove(CUT_NOTE);
    fields.into_iter().map(move |(name, value)| {
        let mut one = Map::new();
        one.insert(name.clone(), value);
        if let Some(note) = &cut {
            one.insert(CUT_NOTE.into(), note.clone());
        }
        Record {
            section: section.clone(),
            date: None,
            video_id: None,
            link: None,
            username: None,
            text: Some(name),
            from: None,
            fields: one,
        }
    })
}

/// The records one row of `section` makes: itself, or in a keyed section (settings)
/// one per entry.
pub fn records(section: &Section, fields: Map<String, Value>) -> impl Iterator<Item = Record> {
    // Without a list per row: nearly every row makes one record.
    let (one, keyed) = if section.is_keyed() {
        (None, Some(entries(section.clone(), fields)))
    } else {
        (Some(build(section.clone(), fields)), None)
    };
    one.into_iter().chain(keyed.into_iter().flatten())
}

/// The partner's name from a chat's heading, the same rule for both layouts: JSON's
/// key `"Chat History with alice:"` and TXT's `>>> Chat History with alice::` (less
/// its `>>>`) both give `alice`. A heading without the phrase is the name itself.
pub fn chat_partner(heading: &str) -> String {
    const PREFIX: &str = "chat history with ";
    let h = heading.trim().trim_end_matches(':').trim_end();
    match h.get(..PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(PREFIX) => h[PREFIX.len()..].trim().to_string(),
        _ => h.to_string(),
    }
}

/// The field added to a row or verbatim section the catalogue holds only the
/// beginning of (see `bounded.rs`).
pub const CUT_NOTE: &str = "tt-vault: cut";

/// A record for a section kept verbatim: the whole value under `value`.
pub fn raw(path: String, value: Value) -> Record {
    let mut fields = Map::new();
    fields.insert("value".to_string(), value);
    Record {
        section: Section::Raw(path),
        date: None,
        video_id: None,
        link: None,
        username: None,
        text: None,
        from: None,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The first wanted key (normalised) that holds a value: the row's common fields
    /// found without [`Roles`], for the test below.
    fn first(fields: &Map<String, Value>, wanted: &[&str]) -> Option<String> {
        wanted.iter().find_map(|w| {
            fields
                .iter()
                .find(|(k, _)| norm_is(k, w))
                .and_then(|(_, v)| present(v))
        })
    }

    /// Rows read through the remembered places give what matching each row's keys
    /// gives, as keys, spellings, placeholders and sections change from row to row.
    #[test]
    fn remembered_places_find_what_matching_every_row_finds() {
        let rows = [
            (
                Section::Likes,
                json!({"Date": "2024-01-01 00:00:00", "Link": "https://www.tiktokv.com/share/video/7300000000000000001/"}),
            ),
            (
                Section::Likes,
                json!({"Date": "2024-01-02 00:00:00", "Link": "N/A"}),
            ),
            (
                Section::Likes,
                json!({"Link": "x", "Date": "2024-01-03 00:00:00"}),
            ),
            (
                Section::Messages,
                json!({"Link": "x", "Date": "2024-01-03 00:00:00"}),
            ),
            (
                Section::Messages,
                json!({"Date": "", "date": "2024-01-04 00:00:00", "From": "me", "Content": "hi"}),
            ),
            (
                Section::OffTikTok,
                json!({"Date": "2024-01-04 00:00:00", "From": "me", "Event": "open", "Source": "app"}),
            ),
            (
                Section::Messages,
                json!({"Date": "2024-01-04 00:00:00", "From": "me", "Event": "open", "Source": "app"}),
            ),
            (
                Section::Comments,
                json!({"date": "2024-01-05 00:00:00", "comment": 5, "url": "u", "UserName": "ann"}),
            ),
            (Section::Comments, json!({})),
        ];
        for (section, fields) in rows {
            let Value::Object(fields) = fields else {
                unreachable!()
            };
            let r = build(section.clone(), fields.clone());
            let from = match section {
                Section::OffTikTok => EVENT_KEYS,
                _ => FROM_KEYS,
            };
            let date = first(&fields, DATE_KEYS).and_then(dates::parse_owned);
            assert_eq!(r.date, date, "{section:?} {fields:?}");
            assert_eq!(r.username, first(&fields, USER_KEYS), "{fields:?}");
            assert_eq!(r.text, first(&fields, text_keys(&section)), "{fields:?}");
            assert_eq!(r.from, first(&fields, from), "{fields:?}");
            if section != Section::Messages {
                assert_eq!(r.link, first(&fields, LINK_KEYS), "{fields:?}");
            }
        }
    }

    /// A settings map cut at the size bound keeps the note on each entry it kept
    /// and makes no setting of it.
    #[test]
    fn a_cut_keyed_map_marks_its_entries_and_adds_no_row() {
        let fields = obj(json!({"Private Account": "On", "Allow DMs": "Friends", CUT_NOTE: "cut"}));
        let recs: Vec<_> = records(&Section::Settings, fields).collect();
        let names: Vec<_> = recs.iter().map(|r| r.text.clone().unwrap()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(!names.iter().any(|n| n == CUT_NOTE), "{names:?}");
        assert!(recs.iter().all(|r| r.fields.contains_key(CUT_NOTE)));
        let plain: Vec<_> =
            records(&Section::Settings, obj(json!({"Private Account": "On"}))).collect();
        assert!(!plain[0].fields.contains_key(CUT_NOTE));
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn chat_headings_name_the_partner() {
        assert_eq!(
            chat_partner("Chat History with bruno_cooks:"),
            "bruno_cooks"
        );
        assert_eq!(chat_partner(" chat history with Élodie::"), "Élodie");
        assert_eq!(chat_partner("group-42"), "group-42");
        assert_eq!(chat_partner("Chat History with"), "Chat History with");
    }

    #[test]
    fn keys_match_whatever_their_spelling() {
        assert_eq!(norm("Search Term:"), "searchterm");
        assert_eq!(norm("HashTag Link::"), "hashtaglink");
        assert_eq!(norm(" UserName "), "username");
        for key in [
            "Search Term:",
            "HashTag Link::",
            " UserName ",
            "Dátum",
            "DATE",
            "",
            "a_b",
        ] {
            assert!(norm_is(key, &norm(key)), "{key}");
            assert!(!norm_is(key, &format!("{}x", norm(key))), "{key}");
            assert!(
                norm(key).is_empty() || !norm_is(key, &norm(key)[1..]),
                "{key}"
            );
        }
    }

    #[test]
    fn lowercase_2024_like_rows_give_link_and_id() {
        let r = build(
            Section::Likes,
            obj(
                json!({"date": "2024-05-02 08:00:00", "link": "https://www.tiktokv.com/share/video/7360000000000000001/"}),
            ),
        );
        assert_eq!(r.video_id.as_deref(), Some("7360000000000000001"));
        assert_eq!(r.date.unwrap().utc, 1_714_636_800);
    }

    #[test]
    fn placeholders_are_absent_but_kept_in_fields() {
        let r = build(
            Section::Followers,
            obj(json!({"Date": "N/A", "UserName": "None", "Link": ""})),
        );
        assert_eq!((r.date, r.username, r.link), (None, None, None));
        assert_eq!(r.fields["UserName"], json!("None"));
        assert_eq!(r.fields["Date"], json!("N/A"));
    }

    #[test]
    fn a_shared_video_in_a_message_is_its_link() {
        let r = build(
            Section::Messages,
            obj(
                json!({"Date": "2024-01-01 00:00:00", "From": "bob", "Content": "https://www.tiktokv.com/share/video/7300000000000000009/"}),
            ),
        );
        assert_eq!(r.video_id.as_deref(), Some("7300000000000000009"));
        assert_eq!(r.from.as_deref(), Some("bob"));
        let r = build(
            Section::Messages,
            obj(json!({"From": "bob", "Content": "look https://www.tiktok.com/@a/video/1 lol"})),
        );
        assert_eq!(r.link, None);
    }
}

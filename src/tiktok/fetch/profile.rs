//! The public profile page (`https://www.tiktok.com/@NAME`): the profile fields, and
//! the posts the page lists, from its embedded JSON. Two layouts are known:
//!
//! - current: `__UNIVERSAL_DATA_FOR_REHYDRATION__` › `__DEFAULT_SCOPE__` ›
//!   `webapp.user-detail` › `statusCode` and `userInfo` › `user` (`uniqueId`,
//!   `nickname`, `signature`, `bioLink.link`, `avatarLarger`, `verified`,
//!   `privateAccount`) and `stats` (`followerCount`, `followingCount`, `heartCount`,
//!   `videoCount`). It lists no posts: the list comes from a signed API call, so an
//!   empty list is normal and is reported as "listing unavailable".
//! - older: `SIGI_STATE` › `UserModule` › `users` › NAME and `stats` › NAME, the
//!   status at `UserPage` › `statusCode`, the posts at `ItemList` › `user-post` ›
//!   `list` (ids), else the keys of `ItemModule`.
//!
//! Status codes are data, as for posts: 10222 private account, 10221 no such account,
//! 10204 not available (also an IP block). The caller records them.

use serde::Serialize;
use serde_json::Value;

use super::page::{embedded, status_code, PageError, UNIVERSAL};
use crate::tiktok::ids::{id_text, is_numeric_id};

/// More listed posts than any page shows: a bound on what a hostile page can make us fetch.
const MAX_LISTED: usize = 2000;
/// A longer text field is cut: bios are 80 characters, nicknames 30.
const MAX_TEXT: usize = 4096;

/// What a profile page says.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfilePage {
    Profile(Profile),
    /// A non-zero status code, with TikTok's message when present.
    Status {
        code: i64,
        message: String,
    },
}

/// The profile's fields as the page shows them; absent fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Profile {
    pub username: String,
    pub nickname: Option<String>,
    pub bio: Option<String>,
    pub bio_link: Option<String>,
    pub avatar_url: Option<String>,
    pub verified: Option<bool>,
    pub private: Option<bool>,
    pub followers: Option<u64>,
    pub following: Option<u64>,
    pub hearts: Option<u64>,
    pub videos: Option<u64>,
    /// Post ids the page lists, in page order, at most [`MAX_LISTED`].
    pub listed_posts: Vec<String>,
    /// The embedded JSON layout the fields came from.
    pub layout: &'static str,
}

/// True for a name a profile address may carry: 1 to 64 ASCII letters, digits, `_`
/// and `.` (TikTok allows 24), and not only dots. Anything else never reaches a URL
/// or a snapshot path.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && !name.bytes().all(|b| b == b'.')
}

/// Reads a profile page for `username` (without `@`; matched without regard to case).
pub fn parse(html: &str, username: &str) -> Result<ProfilePage, PageError> {
    let (root, layout) = embedded(html)?;
    if layout == UNIVERSAL {
        let detail = root
            .get("__DEFAULT_SCOPE__")
            .and_then(|s| s.get("webapp.user-detail"))
            .ok_or(PageError::Missing {
                layout: UNIVERSAL,
                what: "__DEFAULT_SCOPE__.webapp.user-detail",
            })?;
        if let Some(status) = status(detail.get("statusCode"), detail.get("statusMsg")) {
            return Ok(status);
        }
        let info = detail.get("userInfo");
        let user = info.and_then(|i| i.get("user"));
        let stats = info.and_then(|i| i.get("stats"));
        return read(user, stats, Vec::new(), UNIVERSAL, username);
    }
    let page = root.get("UserPage");
    if let Some(status) = status(
        page.and_then(|p| p.get("statusCode")),
        page.and_then(|p| p.get("statusMsg")),
    ) {
        return Ok(status);
    }
    let module = root.get("UserModule");
    let (user, stats) = match module {
        Some(m) => (
            by_name(m.get("users"), username),
            by_name(m.get("stats"), username),
        ),
        None => (None, None),
    };
    read(user, stats, sigi_listed(&root), layout, username)
}

fn status(code: Option<&Value>, message: Option<&Value>) -> Option<ProfilePage> {
    let code = status_code(code);
    (code != 0).then(|| ProfilePage::Status {
        code,
        message: message.and_then(Value::as_str).unwrap_or("").to_string(),
    })
}

/// The entry of a map keyed by username, the key matched without regard to case.
fn by_name<'a>(map: Option<&'a Value>, username: &str) -> Option<&'a Value> {
    map?.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(username))
        .map(|(_, v)| v)
}

fn sigi_listed(root: &Value) -> Vec<String> {
    let list = root
        .get("ItemList")
        .and_then(|l| l.get("user-post"))
        .and_then(|p| p.get("list"))
        .and_then(Value::as_array);
    let ids: Vec<String> = match list {
        Some(list) => list.iter().filter_map(|v| id_text(Some(v))).collect(),
        None => root
            .get("ItemModule")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    };
    ids.into_iter()
        .filter(|id| is_numeric_id(id))
        .take(MAX_LISTED)
        .collect()
}

fn read(
    user: Option<&Value>,
    stats: Option<&Value>,
    listed_posts: Vec<String>,
    layout: &'static str,
    wanted: &str,
) -> Result<ProfilePage, PageError> {
    let user = user.filter(|u| u.is_object()).ok_or(PageError::Missing {
        layout,
        what: "the user (userInfo.user / UserModule.users)",
    })?;
    let username = text(user.get("uniqueId")).unwrap_or_else(|| wanted.to_string());
    if !username.eq_ignore_ascii_case(wanted) {
        return Err(PageError::WrongPost {
            found: format!("@{username}"),
            wanted: format!("@{wanted}"),
        });
    }
    let count = |key: &str| {
        let v = stats?.get(key)?;
        v.as_u64().or_else(|| v.as_str()?.parse().ok())
    };
    Ok(ProfilePage::Profile(Profile {
        username,
        nickname: text(user.get("nickname")),
        bio: text(user.get("signature")),
        bio_link: text(user.get("bioLink").and_then(|b| b.get("link"))),
        avatar_url: text(
            user.get("avatarLarger")
                .or_else(|| user.get("avatarMedium"))
                .or_else(|| user.get("avatarThumb")),
        ),
        verified: user.get("verified").and_then(Value::as_bool),
        private: user.get("privateAccount").and_then(Value::as_bool),
        followers: count("followerCount"),
        following: count("followingCount"),
        hearts: count("heartCount").or_else(|| count("heart")),
        videos: count("videoCount"),
        listed_posts,
        layout,
    }))
}

/// A string field, cut at [`MAX_TEXT`] bytes (on a character boundary).
fn text(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(s[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn universal(detail: Value) -> String {
        let data = json!({"__DEFAULT_SCOPE__": {"webapp.user-detail": detail}});
        format!("<script id=\"{UNIVERSAL}\" type=\"application/json\">{data}</script>")
    }

    fn user() -> Value {
        json!({"uniqueId": "alice", "nickname": "Alice", "signature": "Sourdough 🍞",
               "bioLink": {"link": "example.org"}, "avatarLarger": "https://p16.tiktokcdn.com/a.jpg",
               "verified": false, "privateAccount": false})
    }

    #[test]
    fn the_current_layout_yields_fields_and_no_listing() {
        let html = universal(json!({"statusCode": 0, "userInfo": {"user": user(),
            "stats": {"followerCount": 1200, "followingCount": 80, "heartCount": 50000, "videoCount": 42}}}));
        let ProfilePage::Profile(p) = parse(&html, "Alice").unwrap() else {
            panic!()
        };
        assert_eq!(p.username, "alice");
        assert_eq!(p.bio.as_deref(), Some("Sourdough 🍞"));
        assert_eq!(p.bio_link.as_deref(), Some("example.org"));
        assert_eq!(
            (p.followers, p.following, p.hearts, p.videos),
            (Some(1200), Some(80), Some(50000), Some(42))
        );
        assert_eq!(p.verified, Some(false));
        assert!(p.listed_posts.is_empty());
        assert_eq!(p.layout, UNIVERSAL);
    }

    #[test]
    fn the_sigi_layout_yields_fields_and_the_listed_posts() {
        let data = json!({"UserPage": {"statusCode": 0},
            "UserModule": {"users": {"alice": user()}, "stats": {"alice": {"followerCount": "7", "heart": 9}}},
            "ItemList": {"user-post": {"list": ["7301", 7302, "../x"]}}});
        let html = format!("<script id=\"SIGI_STATE\">{data}</script>");
        let ProfilePage::Profile(p) = parse(&html, "alice").unwrap() else {
            panic!()
        };
        assert_eq!((p.followers, p.hearts), (Some(7), Some(9)));
        assert_eq!(p.listed_posts, ["7301", "7302"]);
        assert_eq!(p.layout, "SIGI_STATE");
    }

    #[test]
    fn status_codes_and_other_users_are_reported() {
        let html = universal(json!({"statusCode": 10222, "statusMsg": "private"}));
        assert_eq!(
            parse(&html, "alice").unwrap(),
            ProfilePage::Status {
                code: 10222,
                message: "private".into()
            }
        );
        let data = json!({"UserPage": {"statusCode": "10221"}});
        let html = format!("<script id='SIGI_STATE'>{data}</script>");
        assert!(matches!(
            parse(&html, "a").unwrap(),
            ProfilePage::Status { code: 10221, .. }
        ));
        let html = universal(json!({"userInfo": {"user": user()}}));
        assert!(matches!(
            parse(&html, "bob"),
            Err(PageError::WrongPost { .. })
        ));
        assert!(matches!(
            parse("<html></html>", "a"),
            Err(PageError::NoData)
        ));
        let html = universal(json!({"statusCode": 0}));
        assert!(matches!(parse(&html, "a"), Err(PageError::Missing { .. })));
    }

    #[test]
    fn usernames_are_checked_before_use() {
        for good in ["alice", "a.b_c", "A1"] {
            assert!(valid_username(good), "{good}");
        }
        for bad in ["", "..", ".", "a/b", "a b", "@a", "é", &"a".repeat(65)] {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        let cut = text(Some(&json!(long))).unwrap();
        assert!(cut.len() <= MAX_TEXT && cut.chars().all(|c| c == 'é'));
    }
}

//! The video page: where its embedded JSON sits, and what its status code means.
//!
//! A post page (`https://www.tiktok.com/@user/video/ID`) embeds its data as JSON in a
//! script element. Two layouts are known:
//!
//! - current: `<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">`,
//!   path `__DEFAULT_SCOPE__` › `webapp.video-detail` › `statusCode`, `statusMsg` and
//!   `itemInfo` › `itemStruct` (the post);
//! - older: `<script id="SIGI_STATE">` (also seen as `sigi-persisted-data`), with the post
//!   at `ItemModule` › `<id>` and the status at `VideoPage` › `statusCode`.
//!
//! A missing `statusCode` means 0 (fine). Non-zero codes are data, not crashes:
//! 10216 private post, 10222 private account, 10221 not found, 10231 region-locked,
//! 10204 "not available" (also what an IP block looks like, so never called deleted).

use super::waf::{Challenge, WafError};
use super::FailReason;
use serde_json::Value;

/// What a page says about a post.
#[derive(Debug, Clone, PartialEq)]
pub enum PageData {
    /// Status 0 and the post (`itemStruct`).
    Item(Value),
    /// A non-zero status code, with TikTok's message when present.
    Status { code: i64, message: String },
}

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("page has no embedded post data (neither __UNIVERSAL_DATA_FOR_REHYDRATION__ nor SIGI_STATE)")]
    NoData,
    #[error("embedded {layout} JSON is broken: {source}")]
    BrokenJson {
        layout: &'static str,
        source: serde_json::Error,
    },
    #[error("embedded {layout} JSON lacks {what}")]
    Missing {
        layout: &'static str,
        what: &'static str,
    },
    #[error("page is for post {found}, not {wanted}")]
    WrongPost { found: String, wanted: String },
    /// The bot wall instead of the page.
    #[error("bot-wall challenge instead of the page")]
    Challenge(Challenge),
    #[error(transparent)]
    BadChallenge(WafError),
}

pub(super) const UNIVERSAL: &str = "__UNIVERSAL_DATA_FOR_REHYDRATION__";

/// Reads a page. `video_id` selects the post in the SIGI layout and is checked against
/// the post found in either layout.
pub fn parse(html: &str, video_id: &str) -> Result<PageData, PageError> {
    let (root, layout) = embedded(html)?;
    let data = if layout == UNIVERSAL {
        let detail = root
            .get("__DEFAULT_SCOPE__")
            .and_then(|s| s.get("webapp.video-detail"))
            .ok_or(PageError::Missing {
                layout: UNIVERSAL,
                what: "__DEFAULT_SCOPE__.webapp.video-detail",
            })?;
        read(
            detail.get("statusCode"),
            detail.get("statusMsg"),
            detail.get("itemInfo").and_then(|i| i.get("itemStruct")),
            UNIVERSAL,
        )?
    } else {
        let page = root.get("VideoPage");
        read(
            page.and_then(|p| p.get("statusCode")),
            page.and_then(|p| p.get("statusMsg")),
            root.get("ItemModule").and_then(|m| m.get(video_id)),
            layout,
        )?
    };
    if let PageData::Item(item) = &data {
        let found = id_text(item.get("id"));
        if found.as_deref() != Some(video_id) {
            return Err(PageError::WrongPost {
                found: found.unwrap_or_else(|| "(no id)".into()),
                wanted: video_id.to_string(),
            });
        }
    }
    Ok(data)
}

fn read(
    status: Option<&Value>,
    message: Option<&Value>,
    item: Option<&Value>,
    layout: &'static str,
) -> Result<PageData, PageError> {
    let code = status_code(status);
    if code != 0 {
        let message = message.and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(PageData::Status { code, message });
    }
    match item {
        Some(item @ Value::Object(_)) => Ok(PageData::Item(item.clone())),
        _ => Err(PageError::Missing {
            layout,
            what: "the post (itemStruct / ItemModule entry)",
        }),
    }
}

/// The page's embedded JSON, parsed, with its layout (`UNIVERSAL`, `SIGI_STATE` or
/// `sigi-persisted-data`); without one, the bot wall's challenge or `NoData`.
pub(super) fn embedded(html: &str) -> Result<(Value, &'static str), PageError> {
    let found = [UNIVERSAL, "SIGI_STATE", "sigi-persisted-data"]
        .into_iter()
        .find_map(|layout| script_by_id(html, layout).map(|json| (json, layout)));
    match found {
        Some((json, layout)) => Ok((from_json(json, layout)?, layout)),
        None => Err(match Challenge::find(html) {
            Some(Ok(ch)) => PageError::Challenge(ch),
            Some(Err(e)) => PageError::BadChallenge(e),
            None => PageError::NoData,
        }),
    }
}

/// A status code, written as a number or a string; absent means 0 (fine).
pub(super) fn status_code(v: Option<&Value>) -> i64 {
    v.and_then(|s| s.as_i64().or_else(|| s.as_str()?.parse().ok()))
        .unwrap_or(0)
}

fn from_json(text: &str, layout: &'static str) -> Result<Value, PageError> {
    serde_json::from_str(text.trim()).map_err(|source| PageError::BrokenJson { layout, source })
}

use crate::tiktok::ids::id_text;

/// How far from an `id=` attribute the rest of its tag is looked for. Scans for a tag
/// stay within this window, so a page crowded with `id=` costs time linear in its size.
pub(crate) const TAG_WINDOW: usize = 64 * 1024;

/// The text inside `<script ... id="ID" ...>…</script>`.
fn script_by_id<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    for quoted in [format!("id=\"{id}\""), format!("id='{id}'")] {
        let mut from = 0;
        while let Some(rel) = html[from..].find(&quoted) {
            let at = from + rel;
            from = at + quoted.len();
            let back = boundary_at_or_after(html, at.saturating_sub(TAG_WINDOW));
            let Some(open) = html[back..at].rfind('<').map(|o| back + o) else {
                continue;
            };
            if !html[open..].starts_with("<script") {
                continue;
            }
            let body = at + window(html, at, TAG_WINDOW).find('>')? + 1;
            let end = body + html[body..].find("</script>")?;
            return Some(&html[body..end]);
        }
    }
    None
}

/// `html[from..]`, at most `len` bytes of it (cut at a character boundary).
pub(crate) fn window(html: &str, from: usize, len: usize) -> &str {
    let mut end = from.saturating_add(len).min(html.len());
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    &html[from..end]
}

/// The first character boundary at or after `at`.
pub(crate) fn boundary_at_or_after(html: &str, mut at: usize) -> usize {
    while !html.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// What a non-zero status code means for the post.
pub fn status_reason(code: i64) -> FailReason {
    match code {
        10216 => FailReason::PrivatePost,
        10222 => FailReason::PrivateAccount,
        10221 => FailReason::AccountNotFound,
        10231 => FailReason::RegionLocked,
        10204 => FailReason::Blocked,
        other => FailReason::Unavailable(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn universal(detail: Value) -> String {
        let data =
            json!({"__DEFAULT_SCOPE__": {"webapp.app-context": {}, "webapp.video-detail": detail}});
        format!(
            "<html><head><script id=\"{UNIVERSAL}\" type=\"application/json\">{data}</script></head></html>"
        )
    }

    #[test]
    fn universal_layout_yields_the_item() {
        let html = universal(json!({"statusCode": 0, "statusMsg": "",
            "itemInfo": {"itemStruct": {"id": "7301", "desc": "hello"}}}));
        match parse(&html, "7301").unwrap() {
            PageData::Item(item) => assert_eq!(item["desc"], "hello"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sigi_layout_yields_the_item_by_id() {
        let data = json!({"VideoPage": {"statusCode": 0},
            "ItemModule": {"1": {"id": "1"}, "7302": {"id": "7302", "desc": "old"}}});
        let html = format!("<script id='SIGI_STATE' type=\"application/json\">{data}</script>");
        match parse(&html, "7302").unwrap() {
            PageData::Item(item) => assert_eq!(item["desc"], "old"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_codes_are_data() {
        let html = universal(json!({"statusCode": 10216, "statusMsg": "author_secret"}));
        assert_eq!(
            parse(&html, "1").unwrap(),
            PageData::Status {
                code: 10216,
                message: "author_secret".into()
            }
        );
        assert_eq!(status_reason(10216), FailReason::PrivatePost);
        assert_eq!(status_reason(10222), FailReason::PrivateAccount);
        assert_eq!(status_reason(10221), FailReason::AccountNotFound);
        assert_eq!(status_reason(10231), FailReason::RegionLocked);
        assert_eq!(status_reason(10204), FailReason::Blocked);
        assert_eq!(status_reason(10000), FailReason::Unavailable(10000));
    }

    #[test]
    fn malformed_pages_say_what_is_wrong() {
        assert!(matches!(
            parse("<html>nothing</html>", "1"),
            Err(PageError::NoData)
        ));
        let broken = format!("<script id=\"{UNIVERSAL}\">{{\"__DEFAULT_SCOPE__\": {{</script>");
        assert!(matches!(
            parse(&broken, "1"),
            Err(PageError::BrokenJson {
                layout: UNIVERSAL,
                ..
            })
        ));
        let no_item = universal(json!({"statusCode": 0}));
        assert!(matches!(
            parse(&no_item, "1"),
            Err(PageError::Missing { .. })
        ));
        let other = universal(json!({"itemInfo": {"itemStruct": {"id": "2"}}}));
        assert!(matches!(
            parse(&other, "1"),
            Err(PageError::WrongPost { .. })
        ));
    }

    #[test]
    fn a_challenge_page_is_recognised() {
        let page = super::super::waf::challenge_page("wafid", b"x", 3);
        assert!(matches!(parse(&page, "1"), Err(PageError::Challenge(_))));
    }
}

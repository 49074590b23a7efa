//! The profile page's parts that come from the watched public profile
//! (`snapshot --profile`): the archived avatar, the page's counts, and how the page
//! changed over time. The avatar is served from the vault (`/media/HASH.EXT`), never
//! fetched from TikTok.

use maud::{html, Markup};
use serde_json::Value;

use crate::catalogue::profile::PageVersion;

use super::views;

/// The archived avatar, or the name's initial where none was stored.
pub(crate) fn avatar(page: Option<&PageVersion>, name: &str) -> Markup {
    match page.and_then(PageVersion::avatar_media_name) {
        Some(file) => html! { img.avatar src=(format!("/media/{file}")) alt=""; },
        None => {
            let initial: String = name.chars().next().unwrap_or('?').to_uppercase().collect();
            html! { div.avatar aria-hidden="true" { (initial) } }
        }
    }
}

/// The counts the profile page showed, with when it was read.
pub(crate) fn stats(page: &PageVersion) -> Markup {
    let count = |n: Option<i64>| n.map_or("?".to_string(), |n| n.to_string());
    html! {
        ul.counts {
            li { b { (count(page.followers)) } " Followers" }
            li { b { (count(page.following)) } " Following" }
            li { b { (count(page.hearts)) } " Hearts" }
            li { b { (count(page.videos)) } " Videos" }
        }
        p.muted {
            "From the public profile page, read " (page.fetched_at)
            @if let Some(link) = &page.bio_link { " · link in bio: " (link) }
            @if page.verified == Some(true) { " · verified" }
            @if page.private == Some(true) { " · private account" }
        }
    }
}

/// Followers at each reading of the page, and every edit of its name, bio, link and
/// avatar; nothing for fewer than two readings.
pub(crate) fn history(pages: &[PageVersion]) -> Markup {
    if pages.len() < 2 {
        return html! {};
    }
    let points: Vec<(String, i64)> = pages
        .iter()
        .filter_map(|p| Some((day(&p.fetched_at), p.followers?)))
        .collect();
    let mut edits = Vec::new();
    for pair in pages.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        for (label, old, new) in [
            ("username", Some(&a.username), Some(&b.username)),
            ("name", a.nickname.as_ref(), b.nickname.as_ref()),
            ("bio", a.bio.as_ref(), b.bio.as_ref()),
            ("link in bio", a.bio_link.as_ref(), b.bio_link.as_ref()),
            ("avatar", a.avatar_hash.as_ref(), b.avatar_hash.as_ref()),
        ] {
            if old != new {
                let text = |v: Option<&String>| v.cloned().unwrap_or_default();
                edits.push((day(&b.fetched_at), label, text(old), text(new)));
            }
        }
    }
    over_time(
        "Public profile over time",
        ("Followers at each reading of the profile page", &points),
        &edits,
        "Username, name, bio, link and avatar never changed.",
    )
}

/// A card of a profile's history: a chart of `(title, points)`, then every edit
/// (day, field, old, new), or `unchanged` when there was none.
pub(crate) fn over_time(
    heading: &str,
    (title, points): (&str, &[(String, i64)]),
    edits: &[(String, &str, String, String)],
    unchanged: &str,
) -> Markup {
    html! {
        section.card {
            h2 { (heading) }
            (views::chart(title, points))
            @if edits.is_empty() {
                p.muted { (unchanged) }
            } @else {
                ol.changes {
                    @for (day, field, old, new) in edits {
                        li { span.time { (day) } " " b { (field) } ": "
                             del { (old) } " → " ins { (new) } }
                    }
                }
            }
        }
    }
}

fn day(rfc3339: &str) -> String {
    rfc3339.get(..10).unwrap_or(rfc3339).to_string()
}

/// The name the page header shows: the view's display name, else its username.
pub(crate) fn display_name<'a>(view: &'a Value, fallback: &'a str) -> &'a str {
    view["display_name"]
        .as_str()
        .or(view["username"].as_str())
        .unwrap_or(fallback)
}

//! The HTML: the page frame and the pieces pages share. maud escapes every value
//! spliced in, so nothing from the export can become markup.

use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::catalogue::browse::Cursor;
use crate::store::snapshots::Snapshot;

use super::WebError;

const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");

pub(crate) fn html(m: Markup) -> Html<String> {
    Html(m.into_string())
}

pub(crate) async fn asset(Path(name): Path<String>) -> Result<Response, WebError> {
    let (body, kind) = match name.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Err(WebError::NotFound(format!("no asset {name}"))),
    };
    Ok(([(header::CONTENT_TYPE, kind)], body).into_response())
}

/// The tabs of an account's archive: (path under the snapshot, label).
pub(crate) const TABS: &[(&str, &str)] = &[
    ("", "Profile"),
    ("/posts", "Posts"),
    ("/list/likes", "Likes"),
    ("/list/favorites", "Favourites"),
    ("/list/reposts", "Reposts"),
    ("/messages", "Messages"),
    ("/list/comments", "Comments"),
    ("/list/following", "Following"),
    ("/list/followers", "Followers"),
    ("/list/history", "Watched"),
    ("/list/searches", "Searched"),
    ("/list/logins", "Logins"),
    ("/list/shares", "Shares"),
    ("/list/blocked", "Blocked"),
    ("/diff", "Changes"),
];

/// Where a page sits: the snapshot it shows, the account's other snapshots (for the
/// picker), and which tab it belongs to.
pub(crate) struct Frame<'a> {
    pub snap: &'a Snapshot,
    pub snapshots: &'a [Snapshot],
    pub tab: &'a str,
}

/// A page: the header (account, snapshot picker, tabs), then `body`.
pub(crate) fn page(title: &str, frame: Option<&Frame>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · tt-vault" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "tt-vault" }
                    @if let Some(f) = frame {
                        span.account { "@" (f.snap.account) }
                        (picker(f))
                        form.find action=(format!("/s/{}/search", f.snap.id)) method="get" {
                            input type="search" name="q" placeholder="Search" aria-label="Search";
                        }
                    }
                }
                @if let Some(f) = frame {
                    nav.tabs {
                        @for (path, label) in TABS {
                            a href=(format!("/s/{}{path}", f.snap.id))
                              class=@if *path == f.tab { "on" } { (label) }
                        }
                    }
                    p.asof {
                        "The archive as of snapshot "
                        code { (f.snap.short_id()) }
                        ", taken " (f.snap.taken_at) "."
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The snapshot picker: switches snapshot and stays on the same tab.
fn picker(f: &Frame) -> Markup {
    html! {
        form.picker action="/go" method="get" {
            input type="hidden" name="to" value=(f.tab);
            select name="snapshot" aria-label="Snapshot" data-autosubmit {
                @for s in f.snapshots.iter().rev() {
                    option value=(s.id) selected[s.id == f.snap.id] {
                        (s.taken_at.get(..16).unwrap_or(&s.taken_at).replace('T', " "))
                        " · " (s.short_id())
                    }
                }
            }
            noscript { button { "Go" } }
        }
    }
}

/// An error page; `see` is a link (address, label) to where the answer is instead.
pub(crate) fn error_page(status: u16, text: &str, see: Option<(String, String)>) -> Markup {
    page(
        &status.to_string(),
        None,
        html! {
            section.empty {
                h1 { (status) }
                p { (text) }
                @if let Some((href, label)) = see {
                    p { a.button href=(href) { (label) } }
                }
                p { a href="/" { "Back to the archive" } }
            }
        },
    )
}

/// An instant as people read it (UTC), else the export's own text.
pub(crate) fn when(utc: Option<i64>, raw: Option<&str>) -> String {
    utc.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .or_else(|| raw.map(str::to_string))
        .unwrap_or_default()
}

/// Text with search matches (between `\u{1}` and `\u{2}`) marked, the rest escaped.
pub(crate) fn marked(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split(['\u{1}', '\u{2}']).enumerate() {
            @if i % 2 == 1 { mark { (part) } } @else { (part) }
        }
    }
}

/// Older / newer links of a keyset-paged list at `base` (which may carry a query).
pub(crate) fn pager(base: &str, previous: Option<Option<Cursor>>, next: Option<Cursor>) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        nav.pager {
            @match previous {
                Some(Some(c)) => a href=(format!("{base}{sep}from={}", c.param())) { "← Newer" },
                Some(None) => a href=(base) { "← Newer" },
                None => span {},
            }
            @if let Some(c) = next {
                a href=(format!("{base}{sep}from={}", c.param())) { "Older →" }
            }
        }
    }
}

/// A path segment or query value, percent-encoded.
pub(crate) fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link out to TikTok, shown but never followed by the page itself.
pub(crate) fn outlink(link: Option<&str>) -> Markup {
    html! {
        @if let Some(l) = link.filter(|l| l.starts_with("https://")) {
            a.out href=(l) rel="noreferrer noopener" target="_blank" { "tiktok ↗" }
        }
    }
}

/// A line chart of `points` (label, value) as inline SVG.
pub(crate) fn chart(title: &str, points: &[(String, i64)]) -> Markup {
    let (w, h, pad) = (600.0, 160.0, 28.0);
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(2) as f64 - 1.0;
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = pad + (w - 2.0 * pad) * if points.len() == 1 { 0.5 } else { i as f64 / n };
            (x, h - pad - (h - 2.0 * pad) * p.1 as f64 / max)
        })
        .collect();
    let line: Vec<String> = xy.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(title) {
                line x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) class="axis" {}
                polyline points=(line.join(" ")) class="line" {}
                @for ((x, y), (label, value)) in xy.iter().zip(points) {
                    circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="4" {
                        title { (label) ": " (value) }
                    }
                    text x=(format!("{x:.1}")) y=(format!("{:.1}", y - 8.0)) text-anchor="middle" { (value) }
                    text x=(format!("{x:.1}")) y=(format!("{:.1}", h - 8.0)) text-anchor="middle" class="label" { (label) }
                }
            }
            figcaption { (title) }
        }
    }
}

//! One handler per page. Each reads what it shows on a blocking thread with a
//! read-only connection, then renders it with [`super::views`].

use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use maud::{html, Markup};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::Value;

use crate::catalogue::browse::{self, Cursor, Listing, Row};
use crate::catalogue::profile::{self as catalogue_profile, PageVersion};
use crate::catalogue::query::{self, Version};
use crate::catalogue::{self, diff as catalogue_diff};
use crate::store::snapshots::{self, Snapshot};

use super::media::{read_small, PostMedia};
use super::profile_page;
use super::views::{self, enc, html as respond, marked, outlink, pager, when, Frame};
use super::{App, Shared, WebError, WebResult};

/// Rows per page.
const PAGE: usize = 50;

/// The profile counts stop here (see [`browse::count_upto`]).
const COUNT_CAP: i64 = 50_000;

/// Whether a section is shown as a list page: every catalogue section but those
/// with pages of their own (profile, posts, messages) and the verbatim ones.
fn is_list(section: &str) -> bool {
    catalogue::SECTIONS.contains(&section)
        && !matches!(section, "profile" | "posts" | "messages" | "raw")
}

#[derive(Debug, Deserialize)]
pub(crate) struct From {
    from: Option<String>,
}

impl From {
    fn cursor(&self) -> Option<Cursor> {
        self.from.as_deref().and_then(Cursor::parse)
    }
}

/// A snapshot page's context: the snapshot, its account's snapshots, the export
/// version it shows (None: no export at or before it).
struct At {
    snap: Snapshot,
    all: Vec<Snapshot>,
    version: Option<Version>,
}

impl At {
    fn load(app: &App, conn: &Connection, id: &str) -> WebResult<At> {
        let snap = app.snapshot(conn, id)?;
        Ok(At {
            all: snapshots::list(conn, Some(&snap.account))?,
            version: query::version_at(conn, &snap)?,
            snap,
        })
    }

    fn version(&self) -> WebResult<&Version> {
        // A profile-only or links-only snapshot: its page still has the profile and
        // the posts downloaded, so say so and link there rather than a bare 404.
        self.version.as_ref().ok_or_else(|| {
            WebError::NotFoundSee(
                format!(
                    "Snapshot {} of @{} has no TikTok export, nor has any earlier one: \
                     it holds only the profile page and the posts downloaded.",
                    self.snap.short_id(),
                    self.snap.account
                ),
                self.base(),
                "Its profile and posts".into(),
            )
        })
    }

    fn render(&self, title: &str, tab: &str, body: Markup) -> Html<String> {
        let frame = Frame {
            snap: &self.snap,
            snapshots: &self.all,
            tab,
        };
        respond(views::page(title, Some(&frame), body))
    }

    fn base(&self) -> String {
        format!("/s/{}", self.snap.id)
    }

    fn post_link(&self, id: &str) -> String {
        format!("{}/post/{}", self.base(), enc(id))
    }
}

/// Runs a snapshot page's work with its context loaded (404 for an unknown snapshot).
async fn on_snapshot<T: Send + 'static>(
    app: &Shared,
    snap: String,
    f: impl FnOnce(&App, &Connection, At) -> WebResult<T> + Send + 'static,
) -> WebResult<T> {
    app.with_conn(move |app, conn| f(app, conn, At::load(app, conn, &snap)?))
        .await
}

pub(crate) async fn home(State(app): State<Shared>) -> WebResult<Html<String>> {
    app.with_conn(|app, conn| {
        let accounts: Vec<String> = snapshots::accounts(conn)?
            .into_iter()
            .filter(|a| app.account.as_ref().is_none_or(|only| only == a))
            .collect();
        let mut cards = Vec::new();
        for account in &accounts {
            cards.push((account.clone(), snapshots::list(conn, Some(account))?));
        }
        let start = &app.start;
        Ok(respond(views::page(
            "Archive",
            None,
            html! {
                section.hero {
                    h1 { "Your TikTok archive" }
                    p {
                        "Opening at snapshot " code { (start.short_id()) } " of "
                        b { "@" (start.account) } ", taken " (start.taken_at) "."
                    }
                    a.button href=(format!("/s/{}", start.id)) { "Open @" (start.account) }
                }
                @for (account, snaps) in &cards {
                    section.card {
                        h2 { "@" (account) }
                        form.dates action="/go" method="get" {
                            input type="hidden" name="account" value=(account);
                            label { "As it was on " input type="date" name="date" required; }
                            button { "Show" }
                        }
                        ol.snaps {
                            @for s in snaps.iter().rev() {
                                li {
                                    a href=(format!("/s/{}", s.id)) { (s.taken_at) }
                                    " " code { (s.short_id()) }
                                    span.muted { " · " (s.files) " files" }
                                }
                            }
                        }
                    }
                }
            },
        )))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Go {
    snapshot: Option<String>,
    date: Option<String>,
    account: Option<String>,
    to: Option<String>,
}

/// The date picker and the snapshot picker land here and are sent on.
pub(crate) async fn go(State(app): State<Shared>, Query(q): Query<Go>) -> WebResult<Redirect> {
    app.with_conn(move |app, conn| {
        // Only a known tab: never a redirect elsewhere.
        let to =
            q.to.as_deref()
                .filter(|t| views::TABS.iter().any(|(p, _)| p == t))
                .unwrap_or("");
        let snap = match (&q.snapshot, &q.date) {
            (Some(id), _) => app.snapshot(conn, id)?,
            (None, Some(date)) => {
                let until = crate::dates::parse_until(date)
                    .map_err(|e| WebError::BadRequest(e.to_string()))?;
                let account = q
                    .account
                    .clone()
                    .or_else(|| app.account.clone())
                    .unwrap_or_else(|| app.start.account.clone());
                let found = snapshots::at_or_before(conn, Some(&account), until)?;
                let found = found.ok_or_else(|| {
                    WebError::NotFound(format!("@{account} has no snapshot on or before {date}"))
                })?;
                app.snapshot(conn, &found.id)?
            }
            (None, None) => app.start.clone(),
        };
        Ok(Redirect::to(&format!("/s/{}{to}", snap.id)))
    })
    .await
}

pub(crate) async fn profile(
    State(app): State<Shared>,
    Path(snap): Path<String>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |_, conn, at| {
        let page = catalogue_profile::at(conn, &at.snap)?;
        let pages = catalogue_profile::history(conn, &at.snap.account)?;
        let export = match &at.version {
            Some(v) => {
                let mut view = query::profile_fields(conn, v)?;
                for section in ["posts", "followers", "following", "likes", "favorites"] {
                    let n = browse::count_upto(conn, v, section, COUNT_CAP)?;
                    view["counts"][section] = if n < COUNT_CAP {
                        n.into()
                    } else {
                        format!("{COUNT_CAP}+").into()
                    };
                }
                Some((v, view))
            }
            None if page.is_none() => {
                return Ok(at.render(
                    "Profile",
                    "",
                    html! { section.empty { p { "This snapshot holds no TikTok export (only media)." } } },
                ))
            }
            None => None,
        };
        let view = catalogue_profile::view(export, page.as_ref());
        let history = browse::profile_history(conn, &at.snap.account)?;
        let watched = Watched {
            page: page.as_ref(),
            pages: &pages,
        };
        Ok(at.render("Profile", "", profile_body(&at, &view, &history, watched)))
    })
    .await
}

/// The watched public profile page a snapshot shows, and all of its account's.
struct Watched<'a> {
    page: Option<&'a PageVersion>,
    pages: &'a [PageVersion],
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn profile_body(
    at: &At,
    view: &Value,
    history: &[browse::ProfileVersion],
    watched: Watched,
) -> Markup {
    let name = profile_page::display_name(view, &at.snap.account);
    let counts = [
        ("posts", "Posts", "/posts"),
        ("followers", "Followers", "/list/followers"),
        ("following", "Following", "/list/following"),
        ("likes", "Likes", "/list/likes"),
        ("favorites", "Favourites", "/list/favorites"),
    ];
    let points: Vec<(String, i64)> = history
        .iter()
        .map(|h| (taken_day(h.version.taken_ms), h.followers))
        .collect();
    let changes = profile_changes(history);
    html! {
        section.profile {
            (profile_page::avatar(watched.page, name))
            div {
                h1 { (name) }
                @if let Some(u) = view["username"].as_str() { p.handle { "@" (u) } }
                @if let Some(b) = view["bio"].as_str() { p.bio { (b) } }
            }
        }
        @if at.version.is_some() {
            ul.counts {
                @for (key, label, path) in counts {
                    li { a href=(format!("{}{path}", at.base())) { b { (text_of(&view["counts"][key])) } " " (label) } }
                }
            }
        }
        @if let Some(page) = watched.page { (profile_page::stats(page)) }
        (profile_page::history(watched.pages))
        @if history.len() > 1 {
            (profile_page::over_time(
                "Over time",
                ("Followers at each export", &points),
                &changes,
                "Username, name and bio never changed.",
            ))
        }
        section.card {
            h2 { "Profile details" }
            dl.fields {
                @for (k, v) in view["fields"].as_object().into_iter().flatten() {
                    dt { (k) } dd { (text_of(v)) }
                }
            }
        }
    }
}

fn taken_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// (day, field, old, new) for every username, name or bio edit between versions.
fn profile_changes(
    history: &[browse::ProfileVersion],
) -> Vec<(String, &'static str, String, String)> {
    let mut out = Vec::new();
    for pair in history.windows(2) {
        for (key, label) in [
            ("username", "username"),
            ("display_name", "name"),
            ("bio", "bio"),
        ] {
            let (old, new) = (&pair[0].profile[key], &pair[1].profile[key]);
            if old != new {
                out.push((
                    taken_day(pair[1].version.taken_ms),
                    label,
                    text_of(old),
                    text_of(new),
                ));
            }
        }
    }
    out
}

pub(crate) async fn posts(
    State(app): State<Shared>,
    Path(snap): Path<String>,
    Query(from): Query<From>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |_, conn, at| {
        let v = at.version()?;
        let listing = Listing {
            version: v,
            section: "posts",
            chat: None,
        };
        let page = browse::page(conn, &listing, from.cursor(), PAGE)?;
        let mut tiles = Vec::new();
        for row in &page.rows {
            let media = match &row.item.video_id {
                Some(id) => PostMedia::of(&snapshots::entries_for_item(conn, id)?),
                None => PostMedia::default(),
            };
            tiles.push(post_tile(&at, row, &media));
        }
        let base = format!("{}/posts", at.base());
        Ok(at.render(
            "Posts",
            "/posts",
            html! {
                @if tiles.is_empty() { section.empty { p { "No posts in this export." } } }
                div.grid { @for t in &tiles { (t) } }
                (pager(&base, page.previous, page.next))
            },
        ))
    })
    .await
}

fn field<'a>(row: &'a Row, name: &str) -> Option<&'a Value> {
    row.item
        .fields
        .iter()
        .find(|(k, _)| crate::tiktok::export::norm(k) == name)
        .map(|(_, v)| v)
}

fn post_tile(at: &At, row: &Row, media: &PostMedia) -> Markup {
    let i = &row.item;
    let inner = html! {
        @if let Some(p) = media.poster() {
            img src=(p.url()) alt="" loading="lazy";
        } @else {
            div.placeholder {
                @if media.video.is_some() { span.play { "▶" } } @else { span { "not in the vault" } }
            }
        }
        div.meta {
            @if let Some(c) = i.text.as_deref().filter(|c| !c.is_empty()) { p.caption { (c) } }
            p.muted {
                (when(i.date_utc, i.date_raw.as_deref()))
                @if let Some(l) = field(row, "likes") { " · ♥ " (text_of(l)) }
            }
        }
    };
    html! {
        @match &i.video_id {
            Some(id) => a.tile id=(format!("r{}", row.id)) href=(at.post_link(id)) { (inner) },
            None => div.tile id=(format!("r{}", row.id)) { (inner) },
        }
    }
}

pub(crate) async fn post(
    State(app): State<Shared>,
    Path((snap, id)): Path<(String, String)>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |app, conn, at| {
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WebError::NotFound(format!("no post {id}")));
        }
        let rows = match &at.version {
            Some(v) => browse::post_rows(conn, v, &id)?,
            None => Vec::new(),
        };
        let media = PostMedia::of(&snapshots::entries_for_item(conn, &id)?);
        let failure = at
            .snap
            .failed
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["id"].as_str() == Some(id.as_str()))
            .cloned();
        if rows.is_empty() && media.is_empty() && failure.is_none() {
            return Err(WebError::NotFound(format!(
                "post {id} is neither in snapshot {}'s export nor in the vault",
                at.snap.short_id()
            )));
        }
        let sidecar = match &media.sidecar {
            Some(f) => read_small(&app.vault, f, 1 << 20)?
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok()),
            None => None,
        };
        let tab = if rows.iter().any(|r| r.item.section == "posts") {
            "/posts"
        } else {
            ""
        };
        Ok(at.render(
            &format!("Post {id}"),
            tab,
            post_body(&rows, &media, failure.as_ref(), sidecar.as_ref()),
        ))
    })
    .await
}

fn player(media: &PostMedia) -> Markup {
    html! {
        @if let Some(v) = &media.video {
            video #player controls playsinline preload="metadata" src=(v.url())
                  poster=[media.cover.as_ref().map(|c| c.url())] {
                @for (lang, f) in &media.subtitles {
                    track kind="subtitles" srclang=(lang) label=(lang) src=(f.url());
                }
            }
        } @else if !media.images.is_empty() {
            div.slides data-slideshow {
                @for (n, img) in media.images.iter().enumerate() {
                    img src=(img.url()) alt=(format!("photo {} of {}", n + 1, media.images.len()))
                        class=@if n == 0 { "on" } @else { "" };
                }
                @if media.images.len() > 1 {
                    button.prev type="button" aria-label="Previous photo" { "‹" }
                    button.next type="button" aria-label="Next photo" { "›" }
                }
            }
            @if let Some(s) = &media.sound {
                audio #sound controls loop preload="metadata" src=(s.url()) {}
            }
        }
    }
}

fn post_body(
    rows: &[Row],
    media: &PostMedia,
    failure: Option<&Value>,
    sidecar: Option<&Value>,
) -> Markup {
    let own = rows.iter().find(|r| r.item.section == "posts");
    let caption = own.and_then(|r| r.item.text.clone()).or_else(|| {
        sidecar
            .and_then(|s| s["desc"].as_str().or(s["title"].as_str()))
            .map(String::from)
    });
    let seen: Vec<(&str, &Row)> = rows
        .iter()
        .filter_map(|r| {
            let label = match r.item.section.as_str() {
                "posts" => "Posted",
                "likes" => "Liked",
                "favorites" => "Favourited",
                "reposts" => "Reposted",
                "history" => "Watched",
                "shares" => "Shared",
                "messages" => "Sent in a message",
                _ => return None,
            };
            Some((label, r))
        })
        .collect();
    let link = rows.iter().find_map(|r| r.item.link.as_deref());
    html! {
        article.post {
            div.media {
                @if media.is_empty() {
                    div.placeholder.big {
                        p { "This post's media is not in the vault." }
                        @if let Some(f) = failure {
                            p { "The download failed: " b { (text_of(&f["reason_text"])) } }
                            @if let Some(d) = f["detail"].as_str() { p.muted { (d) } }
                        }
                    }
                } @else {
                    (player(media))
                }
            }
            div.details {
                @if let Some(c) = &caption { p.caption.full { (c) } }
                @if let Some(s) = sidecar {
                    @if let Some(a) = s["author"]["uniqueId"].as_str() { p { "by " b { "@" (a) } } }
                    @if let Some(stats) = s["stats"].as_object() {
                        ul.stats { @for (k, v) in stats { li { b { (text_of(v)) } " " (k) } } }
                    }
                    @if let Some(m) = s["music"]["title"].as_str() { p { "♪ " (m) } }
                }
                @if let Some(r) = own {
                    @if let Some(l) = field(r, "likes") { p { "♥ " (text_of(l)) " likes" } }
                    @if let Some(sound) = field(r, "sound") { p { "♪ " (text_of(sound)) } }
                }
                ul.seen {
                    @for (label, r) in &seen {
                        li { (label) " " span.time { (when(r.item.date_utc, r.item.date_raw.as_deref())) } }
                    }
                }
                p { (outlink(link)) }
            }
        }
    }
}

pub(crate) async fn list(
    State(app): State<Shared>,
    Path((snap, section)): Path<(String, String)>,
    Query(from): Query<From>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |_, conn, at| {
        let Some(&section) = catalogue::SECTIONS
            .iter()
            .find(|s| **s == section && is_list(s))
        else {
            return Err(WebError::NotFound(format!("no list {section}")));
        };
        let v = at.version()?;
        let listing = Listing {
            version: v,
            section,
            chat: None,
        };
        let page = browse::page(conn, &listing, from.cursor(), PAGE)?;
        let mut lines = Vec::new();
        for row in &page.rows {
            let archived = match (&row.item.video_id, is_video_list(section)) {
                (Some(id), true) => !snapshots::entries_for_item(conn, id)?.is_empty(),
                _ => false,
            };
            lines.push(list_line(&at, section, row, archived));
        }
        let tab = format!("/list/{section}");
        let label = views::TABS
            .iter()
            .find(|(p, _)| *p == tab)
            .map_or(section, |(_, l)| l);
        Ok(at.render(
            label,
            &tab,
            html! {
                h1 { (label) }
                @if lines.is_empty() { section.empty { p { "Nothing here in this export." } } }
                ol.rows { @for l in &lines { (l) } }
                (pager(&format!("{}{tab}", at.base()), page.previous, page.next))
            },
        ))
    })
    .await
}

fn is_video_list(section: &str) -> bool {
    matches!(
        section,
        "likes" | "favorites" | "reposts" | "history" | "shares"
    )
}

/// Fields not already shown in a row's line (a login's IP and device, say).
fn extra_fields(row: &Row) -> Vec<(String, String)> {
    row.item
        .fields
        .iter()
        .filter(|(k, _)| {
            !matches!(
                crate::tiktok::export::norm(k).as_str(),
                "date" | "timestamp" | "link" | "videolink" | "username" | "comment" | "searchterm"
            )
        })
        .map(|(k, v)| (k.clone(), text_of(v)))
        .filter(|(_, v)| !v.is_empty() && v != "N/A")
        .collect()
}

fn list_line(at: &At, section: &str, row: &Row, archived: bool) -> Markup {
    let i = &row.item;
    html! {
        li id=(format!("r{}", row.id)) {
            span.time { (when(i.date_utc, i.date_raw.as_deref())) }
            @if is_video_list(section) {
                @if let Some(id) = &i.video_id {
                    a href=(at.post_link(id)) { "Post " (id) }
                    @if archived { " " span.badge { "▶ in the vault" } }
                }
                " " (outlink(i.link.as_deref()))
            } @else if let Some(u) = &i.username {
                b { "@" (u) }
            } @else if let Some(t) = &i.text {
                span.text { (t) }
            }
            @let extra = extra_fields(row);
            @if !extra.is_empty() && !is_video_list(section) {
                span.extra { @for (k, v) in &extra { span { (k) ": " (v) } } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Paged {
    page: Option<usize>,
}

pub(crate) async fn chats(
    State(app): State<Shared>,
    Path(snap): Path<String>,
    Query(q): Query<Paged>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |_, conn, at| {
        let v = at.version()?;
        let n = q.page.unwrap_or(0).min(100_000);
        let mut list = browse::chats(conn, v, n * PAGE, PAGE + 1)?;
        let more = list.len() > PAGE;
        list.truncate(PAGE);
        let base = format!("{}/messages", at.base());
        Ok(at.render(
            "Messages",
            "/messages",
            html! {
                h1 { "Messages" }
                @if list.is_empty() { section.empty { p { "No messages in this export." } } }
                ul.chats {
                    @for c in &list {
                        li { a href=(format!("{base}/{}", enc(&c.name))) {
                            b { (c.name) }
                            span.muted { (c.messages) " messages · last " (when(c.last, None)) }
                        } }
                    }
                }
                nav.pager {
                    @if n > 0 { a href=(format!("{base}?page={}", n - 1)) { "← Previous" } } @else { span {} }
                    @if more { a href=(format!("{base}?page={}", n + 1)) { "Next →" } }
                }
            },
        ))
    })
    .await
}

pub(crate) async fn thread(
    State(app): State<Shared>,
    Path((snap, chat)): Path<(String, String)>,
    Query(from): Query<From>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |_, conn, at| {
        let v = at.version()?;
        let listing = Listing {
            version: v,
            section: "messages",
            chat: Some(&chat),
        };
        let page = browse::page(conn, &listing, from.cursor(), PAGE)?;
        if page.rows.is_empty() && from.from.is_none() {
            return Err(WebError::NotFound(format!("no conversation with {chat}")));
        }
        let me = v.username.as_deref().unwrap_or("");
        let base = format!("{}/messages/{}", at.base(), enc(&chat));
        Ok(at.render(
            &format!("Messages with {chat}"),
            "/messages",
            html! {
                h1 { "With " (chat) }
                p.muted { "Oldest first." }
                (pager(&base, page.previous, page.next))
                ol.thread {
                    @for r in &page.rows {
                        @let from_me = r.item.sender.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(me));
                        li.msg.me[from_me] id=(format!("m{}", r.id)) {
                            p.who { b { (r.item.sender.as_deref().unwrap_or("?")) }
                                    " " span.time { (when(r.item.date_utc, r.item.date_raw.as_deref())) } }
                            @if let Some(t) = &r.item.text { p.text { (t) } }
                            @if let Some(id) = &r.item.video_id {
                                p { a href=(at.post_link(id)) { "Shared post " (id) } }
                            }
                        }
                    }
                }
                (pager(&base, page.previous, page.next))
            },
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Find {
    q: Option<String>,
    #[serde(rename = "in")]
    within: Option<String>,
    before: Option<i64>,
}

pub(crate) async fn search(
    State(app): State<Shared>,
    Path(snap): Path<String>,
    Query(q): Query<Find>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |_, conn, at| {
        let v = at.version()?;
        let text = q.q.clone().unwrap_or_default();
        let within: Vec<&str> = browse::SEARCHED
            .iter()
            .copied()
            .filter(|s| q.within.as_deref().is_none_or(|w| w.split(',').any(|x| x == *s)))
            .collect();
        let found = match browse::fts_query(&text) {
            Some(fts) if !within.is_empty() => Some(browse::search(conn, v, &fts, &within, q.before, PAGE)?),
            _ => None,
        };
        let base = format!("{}/search?q={}&in={}", at.base(), enc(&text), within.join(","));
        Ok(at.render(
            "Search",
            "/search",
            html! {
                h1 { "Search" }
                form.search action=(format!("{}/search", at.base())) method="get" {
                    input type="search" name="q" value=(text) autofocus aria-label="Words to find";
                    button { "Search" }
                    p.muted { "Captions, comments, messages, search terms and the bio." }
                }
                @if let Some((hits, next)) = &found {
                    @if hits.is_empty() { section.empty { p { "Nothing matches." } } }
                    ol.rows.hits {
                        @for h in hits {
                            li {
                                span.badge { (h.row.item.section) }
                                span.time { (when(h.row.item.date_utc, h.row.item.date_raw.as_deref())) }
                                a.hit href=(hit_link(&at, &h.row)) { (marked(&h.marked)) }
                            }
                        }
                    }
                    @if let Some(n) = next {
                        nav.pager { span {} a href=(format!("{base}&before={n}")) { "More →" } }
                    }
                }
            },
        ))
    })
    .await
}

/// Where a search hit is shown in context.
fn hit_link(at: &At, row: &Row) -> String {
    let i = &row.item;
    let from = row.cursor().param();
    match i.section.as_str() {
        "posts" => i
            .video_id
            .as_deref()
            .map_or(format!("{}/posts?from={from}", at.base()), |id| {
                at.post_link(id)
            }),
        "messages" => format!(
            "{}/messages/{}?from={from}#m{}",
            at.base(),
            enc(i.username.as_deref().unwrap_or("")),
            row.id
        ),
        "profile" => at.base(),
        s => format!("{}/list/{s}?from={from}#r{}", at.base(), row.id),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Against {
    with: Option<String>,
    /// One part of one section, paged: `section`, `part` (`added` or `removed`),
    /// and how many of its rows come before the page.
    section: Option<String>,
    part: Option<String>,
    skip: Option<usize>,
}

/// How many of a diff list's entries a page shows.
const DIFF_SHOWN: usize = 200;

/// The two exports a diff page compares, oldest first.
struct Compared<'a> {
    older: &'a Snapshot,
    newer: &'a Snapshot,
    a: &'a Version,
    b: &'a Version,
}

impl Compared<'_> {
    /// One page of a section's added or removed rows, and whether more follow.
    fn rows(
        &self,
        conn: &Connection,
        section: &str,
        part: &str,
        skip: usize,
    ) -> WebResult<(Vec<String>, bool)> {
        let (x, y) = if part == "added" {
            (self.b, self.a)
        } else {
            (self.a, self.b)
        };
        let rows = catalogue_diff::rows_only_in(conn, x, y, section, skip, Some(DIFF_SHOWN + 1))?;
        let more = rows.len() > DIFF_SHOWN;
        Ok((
            rows.iter()
                .take(DIFF_SHOWN)
                .map(catalogue_diff::name_of)
                .collect(),
            more,
        ))
    }
}

pub(crate) async fn diff(
    State(app): State<Shared>,
    Path(snap): Path<String>,
    Query(q): Query<Against>,
) -> WebResult<Html<String>> {
    on_snapshot(&app, snap, move |app, conn, at| {
        let v = at.version()?;
        // By default: against the export before this one.
        let other = match &q.with {
            Some(id) => Some(app.snapshot(conn, id)?),
            None => at
                .all
                .iter()
                .rev()
                .filter(|s| s.taken_ms < at.snap.taken_ms)
                .find(|s| query::version_at(conn, s).ok().flatten().is_some_and(|o| o.seq != v.seq))
                .cloned(),
        };
        let body = match other {
            None => html! { section.empty { p { "No earlier export of this account to compare with." } } },
            Some(o) if o.account != at.snap.account => {
                return Err(WebError::NotFound(format!(
                    "snapshot {} is of another account",
                    o.short_id()
                )))
            }
            Some(o) => {
                let ov = query::require_version(conn, &o)?;
                let c = if o.taken_ms <= at.snap.taken_ms {
                    Compared { older: &o, newer: &at.snap, a: &ov, b: v }
                } else {
                    Compared { older: &at.snap, newer: &o, a: v, b: &ov }
                };
                match (&q.section, &q.part) {
                    (Some(section), Some(part)) => {
                        let known = catalogue::SECTIONS.contains(&section.as_str()) && section != "profile";
                        if !known || !matches!(part.as_str(), "added" | "removed") {
                            return Err(WebError::NotFound(format!(
                                "no list {part:?} of section {section:?} in a diff"
                            )));
                        }
                        // Any number in the address is a valid page, if an empty one.
                        let skip = q.skip.unwrap_or(0).min(1 << 40);
                        diff_part(&at, conn, &c, section, part, skip)?
                    }
                    _ => diff_body(&at, conn, &c)?,
                }
            }
        };
        Ok(at.render("Changes", "/diff", body))
    })
    .await
}

/// The link to a diff list (`skip` rows in).
fn diff_link(at: &At, c: &Compared, section: &str, part: &str, skip: usize) -> String {
    let other = if c.older.id == at.snap.id {
        c.newer
    } else {
        c.older
    };
    format!(
        "{}/diff?with={}&section={}&part={part}&skip={skip}",
        at.base(),
        other.id,
        enc(section)
    )
}

fn diff_heading(at: &At, c: &Compared) -> Markup {
    html! {
        h1 { "What changed" }
        form.picker action=(format!("{}/diff", at.base())) method="get" {
            label { "Compare with "
                select name="with" {
                    @for s in at.all.iter().rev().filter(|s| s.id != at.snap.id) {
                        option value=(s.id) selected[s.id == c.older.id || s.id == c.newer.id] { (s.taken_at) }
                    }
                }
            }
            button { "Compare" }
        }
        p { "From " code { (c.older.short_id()) } " (" (c.older.taken_at) ") to "
            code { (c.newer.short_id()) } " (" (c.newer.taken_at) ")." }
    }
}

fn diff_list(at: &At, names: &[String], label: &str) -> Markup {
    html! {
        ul.diff {
            @for t in names {
                li.(label) {
                    @if t.bytes().all(|b| b.is_ascii_digit()) && t.len() >= 15 {
                        a href=(at.post_link(t)) { (t) }
                    } @else { (t) }
                }
            }
        }
    }
}

/// Every section's first page of changes. Each list costs what changed in it, so
/// the page is as quick on two million likes as on twenty.
fn diff_body(at: &At, conn: &Connection, c: &Compared) -> WebResult<Markup> {
    let profile = catalogue_diff::profile_changes(conn, c.a, c.b)?;
    let pages = (
        catalogue_profile::at(conn, c.older)?,
        catalogue_profile::at(conn, c.newer)?,
    );
    let page = (pages.0.is_some() || pages.1.is_some())
        .then(|| catalogue_profile::changes(pages.0.as_ref(), pages.1.as_ref()));
    let changes = [
        ("Profile", Some(&profile)),
        ("Public profile page", page.as_ref()),
    ];
    let unchanged = |v: Option<&Value>| {
        v.and_then(|v| v["changed"].as_object())
            .is_none_or(|c| c.is_empty())
    };
    let mut sections = Vec::new();
    for &section in catalogue::SECTIONS.iter().filter(|s| **s != "profile") {
        let mut parts = Vec::new();
        for part in ["added", "removed"] {
            let (names, more) = c.rows(conn, section, part, 0)?;
            if !names.is_empty() {
                parts.push((part, names, more));
            }
        }
        if !parts.is_empty() {
            sections.push((section, parts));
        }
    }
    Ok(html! {
        (diff_heading(at, c))
        @for (heading, d) in &changes {
            @if let Some(changed) = d.and_then(|d| d["changed"].as_object()).filter(|c| !c.is_empty()) {
                section.card {
                    h2 { (heading) }
                    ul.changes { @for (k, pair) in changed {
                        li { b { (k) } ": " del { (text_of(&pair[0])) } " → " ins { (text_of(&pair[1])) } }
                    } }
                }
            }
        }
        @if sections.is_empty() && changes.iter().all(|(_, d)| unchanged(*d)) {
            section.empty { p { "Nothing changed." } }
        }
        @for (section, parts) in &sections {
            section.card {
                h2 { (section) }
                @for (part, names, more) in parts {
                    h3 { (part) }
                    (diff_list(at, names, part))
                    @if *more {
                        p { a href=(diff_link(at, c, section, part, DIFF_SHOWN)) { "More " (part) " →" } }
                    }
                }
            }
        }
    })
}

/// One page of one section's added or removed rows.
fn diff_part(
    at: &At,
    conn: &Connection,
    c: &Compared,
    section: &str,
    part: &str,
    skip: usize,
) -> WebResult<Markup> {
    let (names, more) = c.rows(conn, section, part, skip)?;
    Ok(html! {
        (diff_heading(at, c))
        section.card {
            h2 { (section) ": " (part) }
            @if names.is_empty() { p.muted { "Nothing here." } }
            (diff_list(at, &names, part))
            nav.pager {
                @if skip > 0 {
                    a href=(diff_link(at, c, section, part, skip.saturating_sub(DIFF_SHOWN))) { "← Previous" }
                } @else { span {} }
                @if more {
                    a href=(diff_link(at, c, section, part, skip + DIFF_SHOWN)) { "Next →" }
                }
            }
        }
    })
}

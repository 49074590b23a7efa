//! One post from link to stored files, and the concurrent run over all of them.
//!
//! For each target: skip it when the vault already has its id; resolve a short link;
//! fetch the canonical page (solving the bot wall when it shows up); read the post;
//! download its files in order (each URL candidate in turn, retries inside); store the
//! metadata sidecar last. Up to `jobs` posts are in flight; every request shares one
//! pace, so a 429 slows the whole run, and after `max_blocked` blocked pages the rest is
//! marked [`FailReason::Stopped`] without asking TikTok again.

use super::client::{Http, HttpError, Kind};
use super::media::{self, Fetched, MediaUrl, PlannedFile};
use super::page::{self, PageData, PageError};
use super::stream::{read_page, store_worker, stream_to_sink, StoreJob, StreamError};
use super::waf::WafError;
use super::{
    cookies, FailReason, Failure, FetchConfig, FetchError, MediaSink, Outcome, PostResult,
    StoredFile, Target,
};
use crate::tiktok::links::{self, canonical_page, VideoLink};
use futures_util::StreamExt;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Bot-wall challenges solved for one page before it counts as blocked.
const MAX_CHALLENGES: u32 = 3;
/// Posts in flight at most, whatever the configuration says (each has a store thread).
pub const MAX_JOBS: usize = 64;

/// Runs the whole download (own tokio runtime inside; callers are sync and must not be
/// inside a tokio runtime themselves). `progress` is
/// called after each post. A configuration that cannot be used (bad base address,
/// unreadable cookies file) fails every target with [`FailReason::Stopped`] and says why;
/// [`try_download_all`] returns that error instead.
pub fn download_all(
    cfg: &FetchConfig,
    targets: Vec<Target>,
    sink: &dyn MediaSink,
    progress: &(dyn Fn(&PostResult) + Sync),
) -> Vec<PostResult> {
    match try_download_all(cfg, targets.clone(), sink, progress) {
        Ok(results) => results,
        Err(e) => targets
            .into_iter()
            .map(|target| {
                let r = PostResult {
                    video_id: target.video_id.clone(),
                    target,
                    outcome: Outcome::Failed(failure(FailReason::Stopped, e.to_string(), None, 0)),
                };
                progress(&r);
                r
            })
            .collect(),
    }
}

/// As [`download_all`], but a configuration error is returned before anything is fetched.
/// Results are in the order of `targets`.
pub fn try_download_all(
    cfg: &FetchConfig,
    targets: Vec<Target>,
    sink: &dyn MediaSink,
    progress: &(dyn Fn(&PostResult) + Sync),
) -> Result<Vec<PostResult>, FetchError> {
    session(cfg, sink, async |ctx| run_all(ctx, targets, progress).await)
}

/// Runs `work` with one client (cookies, pace, block count) and the store threads of
/// one run; the work is done when this returns. Configuration errors come first.
pub(super) fn session<R>(
    cfg: &FetchConfig,
    sink: &dyn MediaSink,
    work: impl AsyncFnOnce(&Ctx<'_>) -> R,
) -> Result<R, FetchError> {
    let cookies = match &cfg.cookies_file {
        Some(path) => cookies::load(path, chrono::Utc::now().timestamp().max(0) as u64)?,
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)?;
    let http = {
        let _guard = runtime.enter();
        Http::new(cfg, &cookies)?
    };
    let jobs = cfg.jobs.clamp(1, MAX_JOBS);
    // Unbounded, yet never long: each post in flight has at most one store job queued.
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<StoreJob>();
    let out = std::thread::scope(|scope| {
        for _ in 0..jobs {
            let rx = job_rx.clone();
            scope.spawn(move || store_worker(sink, rx));
        }
        drop(job_rx);
        let ctx = Ctx {
            cfg,
            http,
            jobs: job_tx,
            sink,
            blocked: AtomicU32::new(0),
            claimed: Mutex::new(HashSet::new()),
        };
        let out = runtime.block_on(work(&ctx));
        // Closing the job channel lets the store threads end before the scope joins them.
        drop(ctx);
        out
    });
    Ok(out)
}

pub(super) struct Ctx<'a> {
    pub(super) cfg: &'a FetchConfig,
    http: Http,
    jobs: crossbeam_channel::Sender<StoreJob>,
    sink: &'a dyn MediaSink,
    blocked: AtomicU32,
    /// Ids taken by a post of this run (a short link may lead to one already handled).
    claimed: Mutex<HashSet<String>>,
}

impl Ctx<'_> {
    fn stopped(&self) -> bool {
        self.cfg.max_blocked > 0 && self.blocked.load(Ordering::SeqCst) >= self.cfg.max_blocked
    }

    fn count_block(&self) {
        self.blocked.fetch_add(1, Ordering::SeqCst);
    }

    fn claim(&self, id: &str) -> bool {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string())
    }
}

pub(super) async fn run_all(
    ctx: &Ctx<'_>,
    targets: Vec<Target>,
    progress: &(dyn Fn(&PostResult) + Sync),
) -> Vec<PostResult> {
    // The same post listed twice (own post also liked, say) is fetched once.
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut copies: Vec<(usize, usize)> = Vec::new();
    let mut unique = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        match known_id(t) {
            Some(id) => match first.get(&id) {
                Some(&f) => copies.push((i, f)),
                None => {
                    first.insert(id, i);
                    unique.push((i, t.clone()));
                }
            },
            None => unique.push((i, t.clone())),
        }
    }
    let mut results: Vec<Option<PostResult>> = vec![None; targets.len()];
    let mut posts = futures_util::stream::iter(unique)
        .map(|(i, t)| async move { (i, process(ctx, t).await) })
        .buffer_unordered(ctx.cfg.jobs.clamp(1, MAX_JOBS));
    while let Some((i, r)) = posts.next().await {
        progress(&r);
        results[i] = Some(r);
    }
    for (i, f) in copies {
        let outcome = results[f]
            .as_ref()
            .map(|r| r.outcome.clone())
            .unwrap_or(Outcome::AlreadyArchived);
        let r = PostResult {
            video_id: known_id(&targets[i]),
            target: targets[i].clone(),
            outcome,
        };
        progress(&r);
        results[i] = Some(r);
    }
    results.into_iter().flatten().collect()
}

fn known_id(t: &Target) -> Option<String> {
    links::video_id(&t.link).or_else(|| t.video_id.clone())
}

pub(super) fn failure(
    reason: FailReason,
    detail: String,
    http_status: Option<u16>,
    attempts: u32,
) -> Failure {
    Failure {
        retry_next_run: reason.worth_retrying(),
        reason,
        detail,
        http_status,
        attempts,
    }
}

fn from_http(e: HttpError, attempts: u32) -> Failure {
    match e {
        HttpError::Login => failure(FailReason::LoginRequired, e.to_string(), None, attempts),
        HttpError::RateLimited(_) => {
            failure(FailReason::Network, e.to_string(), Some(429), attempts)
        }
        HttpError::Redirect(_) => failure(FailReason::BadPage, e.to_string(), None, attempts),
        HttpError::Transient(_) => failure(FailReason::Network, e.to_string(), None, attempts),
        HttpError::Refused(_) => failure(FailReason::Refused, e.to_string(), None, attempts),
        HttpError::TooLarge(_) => failure(FailReason::TooLarge, e.to_string(), None, attempts),
    }
}

async fn process(ctx: &Ctx<'_>, target: Target) -> PostResult {
    let mut attempts = 0;
    let mut video_id = known_id(&target);
    let outcome = match fetch_post(ctx, &target, &mut video_id, &mut attempts).await {
        Ok(outcome) => outcome,
        Err(f) => Outcome::Failed(f),
    };
    PostResult {
        target,
        video_id,
        outcome,
    }
}

async fn fetch_post(
    ctx: &Ctx<'_>,
    target: &Target,
    video_id: &mut Option<String>,
    attempts: &mut u32,
) -> Result<Outcome, Failure> {
    if let Some(id) = video_id.as_deref() {
        if ctx.sink.already_archived(id) {
            return Ok(Outcome::AlreadyArchived);
        }
    }
    if ctx.stopped() {
        return Err(stopped(*attempts));
    }
    let (id, user, photo) = match links::parse(&target.link) {
        Some(VideoLink::Post { id, user, photo }) => (id, user, photo),
        Some(VideoLink::Short { url }) => {
            let (id, user, photo) = resolve_short(ctx, &url, attempts).await?;
            *video_id = Some(id.clone());
            if ctx.sink.already_archived(&id) {
                return Ok(Outcome::AlreadyArchived);
            }
            (id, user, photo)
        }
        None => match &target.video_id {
            Some(id) if crate::tiktok::ids::is_numeric_id(id) => (id.clone(), None, false),
            _ => {
                return Err(failure(
                    FailReason::BadLink,
                    format!("{:?} is not a TikTok post link", target.link),
                    None,
                    0,
                ))
            }
        },
    };
    if !ctx.claim(&id) {
        // Another link of this run led to the same post; its result stands for both.
        return Ok(Outcome::AlreadyArchived);
    }
    let page_url = canonical_page(user.as_deref(), &id, photo);
    let page = Url::parse(&page_url).expect("canonical page URLs are valid");
    let item = fetch_item(ctx, &page, &id, attempts).await?;
    let plan = media::plan(&item).map_err(|why| {
        failure(
            FailReason::BadPage,
            format!("{page_url}: {why}"),
            None,
            *attempts,
        )
    })?;

    let base = format!("videos/{}_{id}", file_date(target.date.as_deref(), &item));
    let mut files: Vec<(String, StoredFile)> = Vec::new();
    let mut fetched: Vec<(usize, String, usize)> = Vec::new();
    let mut missing = Vec::new();
    for (n, file) in plan.iter().enumerate() {
        let path = format!("{base}{}", file.suffix);
        match fetch_file(ctx, file, &path, &page_url, ctx.cfg.max_file_size, attempts).await {
            Ok((stored, used)) => {
                files.push((path.clone(), stored));
                fetched.push((n, path, used));
            }
            Err(f) if file.required || f.reason == FailReason::Storage => return Err(f),
            Err(f) => missing.push(format!("{path}: {}", f.detail)),
        }
    }
    let used: Vec<Fetched<'_>> = fetched
        .iter()
        .map(|(n, path, c)| Fetched {
            file: &plan[*n],
            path: path.clone(),
            used: &plan[*n].candidates[*c],
        })
        .collect();
    let archive = json!({"source": target.source, "link": target.link, "page": page_url});
    let meta = media::sidecar(&item, &used, &missing, archive);
    let json_path = format!("{base}.json");
    let mut text = serde_json::to_vec_pretty(&meta).expect("JSON values serialize");
    text.push(b'\n');
    let stored = store_bytes(ctx, &json_path, text).await.map_err(|e| {
        failure(
            FailReason::Storage,
            format!("{json_path}: {e}"),
            None,
            *attempts,
        )
    })?;
    files.push((json_path, stored));
    Ok(Outcome::Archived { files, meta })
}

fn stopped(attempts: u32) -> Failure {
    failure(
        FailReason::Stopped,
        "not tried: TikTok blocked this run repeatedly; run again later".into(),
        None,
        attempts,
    )
}

/// The date part of file names: the export's date when it looks like one, else the
/// post's createTime (UTC), else "undated". Only digits and dashes reach a path.
fn file_date(given: Option<&str>, item: &Value) -> String {
    if let Some(d) = given {
        let d = d.get(..10).unwrap_or(d);
        if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return d.to_string();
        }
    }
    let secs = match item.get("createTime") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "undated".into())
}

/// Follows a short link to the post it stands for: a HEAD with the link-preview agent,
/// then a GET if that did not reach a post URL.
async fn resolve_short(
    ctx: &Ctx<'_>,
    link: &str,
    attempts: &mut u32,
) -> Result<(String, Option<String>, bool), Failure> {
    let with_scheme = if link.contains("://") {
        link.to_string()
    } else {
        format!("https://{link}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| failure(FailReason::BadLink, format!("{link:?}: {e}"), None, 0))?;
    let mut last = failure(
        FailReason::BadLink,
        format!("{link} did not lead to a post"),
        None,
        0,
    );
    for kind in [Kind::Preview, Kind::Page] {
        let (http, url) = (&ctx.http, &url);
        let r = http
            .retry(attempts, || async move {
                let (resp, logical) = http.send(url, kind).await?;
                Ok((resp.status(), logical))
            })
            .await;
        match r {
            Ok((status, logical)) => {
                if let Some(VideoLink::Post { id, user, photo }) = links::parse(logical.as_str()) {
                    return Ok((id, user, photo));
                }
                let reason = if status == StatusCode::NOT_FOUND {
                    FailReason::Deleted
                } else {
                    FailReason::BadLink
                };
                last = failure(
                    reason,
                    format!("{link} led to {logical} (HTTP {status}), not a post"),
                    Some(status.as_u16()),
                    *attempts,
                );
            }
            Err(e) => last = from_http(e, *attempts),
        }
        if last.reason == FailReason::LoginRequired {
            break;
        }
    }
    last.attempts = *attempts;
    Err(last)
}

/// Fetches the page and returns the post, solving the bot wall on the way.
async fn fetch_item(
    ctx: &Ctx<'_>,
    page_url: &Url,
    id: &str,
    attempts: &mut u32,
) -> Result<Value, Failure> {
    fetch_embedded(ctx, page_url, attempts, |body| {
        Ok(match page::parse(body, id)? {
            PageData::Item(item) => Embedded::Data(item),
            PageData::Status { code, message } => Embedded::Status { code, message },
        })
    })
    .await
}

/// What a page's embedded JSON says: what was asked for, or TikTok's status code.
pub(super) enum Embedded<T> {
    Data(T),
    Status { code: i64, message: String },
}

/// Fetches a page of a TikTok page host and reads its embedded JSON with `read`,
/// solving the bot wall on the way. An HTTP error, a status code or an unreadable
/// page is a [`Failure`]; blocks count towards the run's `max_blocked`.
pub(super) async fn fetch_embedded<T>(
    ctx: &Ctx<'_>,
    page_url: &Url,
    attempts: &mut u32,
    read: impl Fn(&str) -> Result<Embedded<T>, PageError>,
) -> Result<T, Failure> {
    let mut challenges = 0;
    loop {
        if ctx.stopped() {
            return Err(stopped(*attempts));
        }
        let (http, timeout) = (&ctx.http, ctx.cfg.timeout);
        let got = http
            .retry(attempts, || async move {
                let (resp, _) = http.send(page_url, Kind::Page).await?;
                let status = resp.status();
                // Only a page that came is read; an error's status says all there is.
                if !status.is_success() {
                    return Ok((status, String::new()));
                }
                Ok((status, read_page(resp, timeout).await?))
            })
            .await;
        let (status, body) = got.map_err(|e| from_http(e, *attempts))?;
        let code = Some(status.as_u16());
        if let Some(failed) = page_status_failure(ctx, page_url, status, *attempts) {
            return Err(failed);
        }
        match read(&body) {
            Ok(Embedded::Data(data)) => return Ok(data),
            Ok(Embedded::Status {
                code: status_code,
                message,
            }) => {
                let reason = page::status_reason(status_code);
                if reason == FailReason::Blocked {
                    ctx.count_block();
                }
                let msg = if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({message})")
                };
                return Err(failure(
                    reason,
                    format!("{page_url}: TikTok status {status_code}{msg}"),
                    code,
                    *attempts,
                ));
            }
            Err(PageError::Challenge(challenge)) if challenges < MAX_CHALLENGES => {
                challenges += 1;
                let solved = tokio::task::spawn_blocking(move || challenge.solve())
                    .await
                    .unwrap_or(Err(WafError::Unsolvable));
                match solved {
                    Ok((name, value)) => ctx.http.set_cookie(page_url, &name, &value),
                    Err(e) => {
                        ctx.count_block();
                        return Err(failure(
                            FailReason::Blocked,
                            format!("{page_url}: {e}"),
                            code,
                            *attempts,
                        ));
                    }
                }
            }
            Err(PageError::Challenge(_)) => {
                ctx.count_block();
                return Err(failure(
                    FailReason::Blocked,
                    format!(
                        "{page_url}: bot-wall challenge still there after {MAX_CHALLENGES} answers"
                    ),
                    code,
                    *attempts,
                ));
            }
            // A bot wall that cannot even be read is as unsolvable as one without answer.
            Err(PageError::BadChallenge(e)) => {
                ctx.count_block();
                return Err(failure(
                    FailReason::Blocked,
                    format!("{page_url}: {e}"),
                    code,
                    *attempts,
                ));
            }
            Err(e) => {
                return Err(failure(
                    FailReason::BadPage,
                    format!("{page_url}: {e}"),
                    code,
                    *attempts,
                ))
            }
        }
    }
}

/// What an HTTP status other than success says about a post page.
fn page_status_failure(
    ctx: &Ctx<'_>,
    page_url: &Url,
    status: StatusCode,
    attempts: u32,
) -> Option<Failure> {
    let reason = match status {
        StatusCode::NOT_FOUND | StatusCode::GONE => FailReason::Deleted,
        StatusCode::FORBIDDEN => {
            ctx.count_block();
            FailReason::Blocked
        }
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => FailReason::RegionLocked,
        s if !s.is_success() => FailReason::BadPage,
        _ => return None,
    };
    Some(failure(
        reason,
        format!("{page_url}: HTTP {status}"),
        Some(status.as_u16()),
        attempts,
    ))
}

enum MediaAttempt {
    Stored(StoredFile),
    Status(StatusCode),
    Sink(std::io::Error),
}

/// Downloads one planned file, trying its candidates in order. Returns the stored file
/// and the index of the candidate that worked.
/// A body over `max` bytes is refused and nothing of it stored.
pub(super) async fn fetch_file(
    ctx: &Ctx<'_>,
    file: &PlannedFile,
    path: &str,
    referer: &str,
    max: u64,
    attempts: &mut u32,
) -> Result<(StoredFile, usize), Failure> {
    let mut last = failure(
        FailReason::BadPage,
        format!("{path}: no URL to fetch"),
        None,
        *attempts,
    );
    for (n, candidate) in file.candidates.iter().enumerate() {
        let MediaUrl { url, label, .. } = candidate;
        let Ok(url) = Url::parse(url) else {
            last = failure(
                FailReason::BadPage,
                format!("{path}: bad {label} URL {url:?}"),
                None,
                *attempts,
            );
            continue;
        };
        let (http, jobs, url) = (&ctx.http, &ctx.jobs, &url);
        let timeout = ctx.cfg.timeout;
        let got = http
            .retry(attempts, || async move {
                let (resp, _) = http.send(url, Kind::Media { referer }).await?;
                if !resp.status().is_success() {
                    return Ok(MediaAttempt::Status(resp.status()));
                }
                match stream_to_sink(resp, path, jobs, timeout, max).await {
                    Ok(stored) => Ok(MediaAttempt::Stored(stored)),
                    Err(StreamError::Http(e)) => Err(e),
                    Err(StreamError::Sink(e)) => Ok(MediaAttempt::Sink(e)),
                }
            })
            .await;
        match got {
            Ok(MediaAttempt::Stored(stored)) => return Ok((stored, n)),
            Ok(MediaAttempt::Status(status)) => {
                let reason = if status == StatusCode::FORBIDDEN {
                    FailReason::Blocked
                } else {
                    FailReason::Network
                };
                last = failure(
                    reason,
                    format!("{path}: {label} answered HTTP {status}"),
                    Some(status.as_u16()),
                    *attempts,
                );
            }
            Ok(MediaAttempt::Sink(e)) => {
                return Err(failure(
                    FailReason::Storage,
                    format!("{path}: {e}"),
                    None,
                    *attempts,
                ))
            }
            Err(e) => last = from_http(e, *attempts),
        }
    }
    Err(last)
}

/// Stores a small in-memory file (the sidecar) through the store threads.
async fn store_bytes(ctx: &Ctx<'_>, path: &str, bytes: Vec<u8>) -> std::io::Result<StoredFile> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    ctx.jobs
        .send(StoreJob {
            path: path.to_string(),
            body: Box::new(std::io::Cursor::new(bytes)),
            reply,
        })
        .map_err(|_| std::io::Error::other("store threads have stopped"))?;
    rx.await
        .map_err(|_| std::io::Error::other("store thread dropped the job"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_dates_come_from_the_export_or_the_post() {
        let item = json!({"createTime": "1714521600"});
        assert_eq!(file_date(Some("2023-02-03 10:00:00"), &item), "2023-02-03");
        assert_eq!(file_date(Some("../../etc"), &item), "2024-05-01");
        assert_eq!(
            file_date(None, &json!({"createTime": 1714521600})),
            "2024-05-01"
        );
        assert_eq!(file_date(None, &json!({})), "undated");
    }
}

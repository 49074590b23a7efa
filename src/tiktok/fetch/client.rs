//! Polite HTTP for the downloader: one cookie jar per run, the base override, manual
//! redirects, a shared pace (rate limit and 429 back-off), timeouts and retries.
//!
//! Redirects are followed here rather than by reqwest so that every hop goes through the
//! base override: a test server's redirect to `https://www.tiktok.com/…` must come back to
//! the test server, never to the internet. URLs are handled in two forms: the *logical*
//! URL (what TikTok would see: used for Referer, link parsing and relative redirects) and
//! the *physical* URL actually requested (the logical one, rewritten to the base).
//! Every hop's physical URL is checked against [`Hosts`] before it is asked, and only
//! trusted hosts get cookies (the jar) and the Referer.

use super::cookies::Cookie;
use super::hosts::{GuardedJar, GuardedResolver, Hosts, PrivateName};
use super::FetchConfig;
use crate::tiktok::links::{self, PAGE_HOSTS};
use reqwest::cookie::Jar;
use reqwest::header::{
    HeaderValue, ACCEPT, ACCEPT_LANGUAGE, LOCATION, REFERER, RETRY_AFTER, USER_AGENT,
};
use reqwest::{Response, StatusCode, Url};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What link-preview bots send; TikTok answers short links for it with a plain redirect.
pub const PREVIEW_AGENT: &str = "facebookexternalhit/1.1";
/// The longest a 429 may pause the run, whatever Retry-After says.
const MAX_HOLD: Duration = Duration::from_secs(600);
const MAX_REDIRECTS: usize = 10;

/// A failed request, classified for the retry policy.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpError {
    /// Connect error, reset, timeout, short body, 5xx: worth retrying.
    Transient(String),
    /// 429; the whole run already holds for this long.
    RateLimited(Duration),
    /// The page redirected to `/login`.
    Login,
    /// More than [`MAX_REDIRECTS`] hops, or a redirect without a usable Location.
    Redirect(String),
    /// A URL (or redirect) the downloader may not ask: a private address, another port
    /// of the base override's host, a scheme other than http(s).
    Refused(String),
    /// A body larger than its limit; nothing of it was stored.
    TooLarge(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Transient(s) => write!(f, "{s}"),
            HttpError::RateLimited(d) => {
                write!(f, "rate limited (HTTP 429), waited {}s", d.as_secs())
            }
            HttpError::Login => write!(
                f,
                "TikTok redirected to /login: the post needs a logged-in session (--cookies)"
            ),
            HttpError::Redirect(s) | HttpError::Refused(s) | HttpError::TooLarge(s) => {
                write!(f, "{s}")
            }
        }
    }
}

/// What a request is for; decides headers and the redirect rules.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a> {
    /// A post page.
    Page,
    /// Resolving a short link: HEAD with the link-preview agent.
    Preview,
    /// A media file; TikTok's CDN wants the page as Referer.
    Media { referer: &'a str },
}

pub struct Http {
    client: reqwest::Client,
    jar: Arc<GuardedJar>,
    hosts: Arc<Hosts>,
    base: Option<Url>,
    user_agent: String,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    pace: Mutex<Pace>,
}

struct Pace {
    next: Instant,
    interval: Duration,
    not_before: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("TT_VAULT_TIKTOK_BASE {0:?} is not an http(s) URL")]
    BadBase(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(reqwest::Error),
}

impl Http {
    pub fn new(cfg: &FetchConfig, cookies: &[Cookie]) -> Result<Http, ClientError> {
        let base = parse_base(cfg.base.as_deref())?;
        let hosts = Arc::new(Hosts::new(base.clone()));
        let jar = Arc::new(GuardedJar {
            jar: Jar::default(),
            hosts: hosts.clone(),
        });
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .dns_resolver(Arc::new(GuardedResolver {
                hosts: hosts.clone(),
            }))
            // Redirects are followed in `send`, each hop rewritten and checked.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from $HTTP(S)_PROXY would resolve names itself, past the
            // resolver's private-address check: requests go direct.
            .no_proxy()
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(ClientError::Build)?;
        // A rate so small its interval overflows a Duration waits the longest one can.
        let interval = if cfg.rate > 0.0 && cfg.rate.is_finite() {
            Duration::try_from_secs_f64(1.0 / cfg.rate).unwrap_or(MAX_HOLD)
        } else {
            Duration::ZERO
        };
        let now = Instant::now();
        let http = Http {
            client,
            jar,
            hosts,
            base,
            user_agent: cfg.user_agent.clone(),
            timeout: cfg.timeout,
            retries: cfg.retries,
            backoff: cfg.backoff,
            pace: Mutex::new(Pace {
                next: now,
                interval,
                not_before: now,
            }),
        };
        // Only TikTok's cookies are loaded: a cookies.txt exported from a browser holds
        // every site's, and none of those may leave this machine through us.
        for c in cookies.iter().filter(|c| c.is_tiktok()) {
            if let Ok(url) = Url::parse(&format!("https://{}{}", c.host(), c.path)) {
                http.jar.jar.add_cookie_str(&c.set_cookie(false), &url);
                // The stand-in server gets TikTok's cookies too, host-only, but a Secure
                // cookie (the session) never over plain http: the jar would send it to a
                // loopback http base, as browsers treat loopback as secure. The tests'
                // cookies files therefore mark their session cookie non-Secure.
                if let Some(base) = &http.base {
                    if !c.secure || base.scheme() == "https" {
                        http.jar.jar.add_cookie_str(&c.set_cookie(true), base);
                    }
                }
            }
        }
        Ok(http)
    }

    /// Sets a cookie for the host that `logical` is actually requested from, when that
    /// host may have cookies at all.
    pub fn set_cookie(&self, logical: &Url, name: &str, value: &str) {
        let physical = self.physical(logical);
        if self.hosts.trusted(&physical) {
            self.jar
                .jar
                .add_cookie_str(&format!("{name}={value}; Path=/"), &physical);
        }
    }

    /// The URL actually requested: page hosts go to the base, path and query kept.
    pub fn physical(&self, logical: &Url) -> Url {
        let (Some(base), Some(host)) = (&self.base, logical.host_str()) else {
            return logical.clone();
        };
        if !PAGE_HOSTS.contains(&host.to_ascii_lowercase().as_str()) {
            return logical.clone();
        }
        let mut out = base.clone();
        let prefix = base.path().trim_end_matches('/');
        out.set_path(&format!("{prefix}{}", logical.path()));
        out.set_query(logical.query());
        out
    }

    /// Sends one request, following redirects (each hop paced and rewritten). Returns the
    /// final non-redirect response, whatever its status except 429 and 5xx, with its
    /// logical URL.
    pub async fn send(&self, url: &Url, kind: Kind<'_>) -> Result<(Response, Url), HttpError> {
        let mut logical = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let physical = self.physical(&logical);
            self.hosts.check(&physical).map_err(HttpError::Refused)?;
            let trusted = self.hosts.trusted(&physical);
            self.wait_turn().await;
            let (req, agent) = match kind {
                Kind::Preview => (self.client.head(physical), PREVIEW_AGENT),
                _ => (self.client.get(physical), self.user_agent.as_str()),
            };
            let mut req = req
                .header(USER_AGENT, agent)
                .header(ACCEPT_LANGUAGE, "en-US,en;q=0.9");
            req = match kind {
                Kind::Media { referer } if trusted => {
                    req.header(REFERER, referer).header(ACCEPT, "*/*")
                }
                Kind::Media { .. } => req.header(ACCEPT, "*/*"),
                _ => req.header(
                    ACCEPT,
                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                ),
            };
            let resp = match tokio::time::timeout(self.timeout, req.send()).await {
                Err(_) => {
                    return Err(HttpError::Transient(format!(
                        "no response from {logical} within {}s",
                        self.timeout.as_secs_f32()
                    )))
                }
                Ok(Err(e)) if caused_by::<PrivateName>(&e) => {
                    return Err(HttpError::Refused(format!(
                        "{logical}: {}",
                        error_chain(&e)
                    )))
                }
                Ok(Err(e)) => {
                    return Err(HttpError::Transient(format!(
                        "{logical}: {}",
                        error_chain(&e)
                    )))
                }
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| logical.join(l).ok())
                    .ok_or_else(|| {
                        HttpError::Redirect(format!(
                            "{logical}: redirect without a usable Location"
                        ))
                    })?;
                if !matches!(kind, Kind::Media { .. }) && next.path().starts_with("/login") {
                    return Err(HttpError::Login);
                }
                // A short link is resolved once its redirect names the post.
                if matches!(kind, Kind::Preview) && links::video_id(next.as_str()).is_some() {
                    return Ok((resp, next));
                }
                logical = next;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(resp.headers().get(RETRY_AFTER));
                self.hold(wait);
                return Err(HttpError::RateLimited(wait));
            }
            if status.is_server_error() {
                return Err(HttpError::Transient(format!("{logical}: HTTP {status}")));
            }
            return Ok((resp, logical));
        }
        Err(HttpError::Redirect(format!(
            "{url}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Runs `op` until it succeeds, fails for good, or the retries are spent; transient
    /// errors back off exponentially with jitter, 429s wait for the shared hold.
    pub async fn retry<T, F, Fut>(&self, attempts: &mut u32, mut op: F) -> Result<T, HttpError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            *attempts += 1;
            match op().await {
                Err(HttpError::Transient(_)) if tries <= self.retries => {
                    tokio::time::sleep(self.backoff_for(tries)).await;
                }
                // The hold is already in the pace; the next request waits for it.
                Err(HttpError::RateLimited(_)) if tries <= self.retries => {}
                other => return other,
            }
        }
    }

    fn backoff_for(&self, try_no: u32) -> Duration {
        let exp = self.backoff.saturating_mul(1 << (try_no - 1).min(10));
        let jitter = rand::random::<f64>() * 0.5;
        exp + exp.mul_f64(jitter)
    }

    /// Waits for this request's turn under the rate limit and any 429 hold.
    async fn wait_turn(&self) {
        let at = {
            let mut p = self.pace.lock().unwrap_or_else(|e| e.into_inner());
            let at = Instant::now().max(p.next).max(p.not_before);
            p.next = at + p.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// A 429 pauses every request of the run, and halves the rate from then on.
    fn hold(&self, wait: Duration) {
        let mut p = self.pace.lock().unwrap_or_else(|e| e.into_inner());
        p.not_before = p.not_before.max(Instant::now() + wait);
        p.interval = (p.interval * 2).clamp(Duration::from_millis(50), Duration::from_secs(10));
    }
}

/// The base override as a URL: http(s) with a host, or an error naming it.
pub fn parse_base(base: Option<&str>) -> Result<Option<Url>, ClientError> {
    let Some(b) = base else {
        return Ok(None);
    };
    let url = Url::parse(b).map_err(|_| ClientError::BadBase(b.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ClientError::BadBase(b.to_string()));
    }
    Ok(Some(url))
}

/// Retry-After in seconds (the HTTP-date form is rare here; it gets a cautious default).
fn retry_after(v: Option<&HeaderValue>) -> Duration {
    v.and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30))
        .min(MAX_HOLD)
}

/// True when `T` is among the causes of `e`.
fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// reqwest's top-level message hides the cause ("error sending request"); keep it all.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(base: Option<&str>) -> Http {
        let cfg = FetchConfig {
            base: base.map(str::to_string),
            ..FetchConfig::default()
        };
        Http::new(&cfg, &[]).unwrap()
    }

    #[test]
    fn page_hosts_go_to_the_base_with_path_and_query() {
        let h = http(Some("http://127.0.0.1:8123"));
        let u = Url::parse("https://www.tiktok.com/@a/video/1?lang=en").unwrap();
        assert_eq!(
            h.physical(&u).as_str(),
            "http://127.0.0.1:8123/@a/video/1?lang=en"
        );
        let short = Url::parse("https://vm.tiktok.com/ZMabc/").unwrap();
        assert_eq!(h.physical(&short).as_str(), "http://127.0.0.1:8123/ZMabc/");
        let cdn = Url::parse("https://v16-webapp.tiktokcdn.com/x.mp4?sig=1").unwrap();
        assert_eq!(h.physical(&cdn), cdn, "media hosts are fetched as given");
    }

    #[test]
    fn a_base_with_a_path_prefixes_it_and_no_base_changes_nothing() {
        let h = http(Some("http://localhost:9/tt/"));
        let u = Url::parse("https://m.tiktok.com/v/1.html").unwrap();
        assert_eq!(h.physical(&u).as_str(), "http://localhost:9/tt/v/1.html");
        assert_eq!(http(None).physical(&u), u);
        let cfg = FetchConfig {
            base: Some("not a url".into()),
            ..FetchConfig::default()
        };
        assert!(matches!(Http::new(&cfg, &[]), Err(ClientError::BadBase(_))));
    }

    #[test]
    fn only_tiktok_cookies_load_and_a_secure_one_skips_an_http_base() {
        use reqwest::cookie::CookieStore;
        let cookies = super::super::cookies::parse(
            ".tiktok.com\tTRUE\t/\tFALSE\t0\tsessionid\ts1\n\
             .tiktok.com\tTRUE\t/\tTRUE\t0\tsecure\ts2\n\
             127.0.0.1\tFALSE\t/\tFALSE\t0\tlocal\tl\n\
             .example.com\tTRUE\t/\tFALSE\t0\tforeign\tf\n",
            0,
        )
        .unwrap();
        let cfg = FetchConfig {
            base: Some("http://127.0.0.1:8123".into()),
            ..FetchConfig::default()
        };
        let h = Http::new(&cfg, &cookies).unwrap();
        let sent = |u: &str| {
            h.jar
                .cookies(&Url::parse(u).unwrap())
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(sent("http://127.0.0.1:8123/x"), "sessionid=s1");
        assert_eq!(sent("http://127.0.0.1:9999/x"), "", "another port");
        let tiktok = sent("https://www.tiktok.com/");
        assert!(
            tiktok.contains("secure=s2") && tiktok.contains("sessionid=s1"),
            "{tiktok}"
        );
        assert_eq!(
            sent("http://www.tiktok.com/"),
            "sessionid=s1",
            "Secure stays on https"
        );
        assert_eq!(sent("https://example.com/"), "");
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("2"))),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("99999"))),
            MAX_HOLD
        );
        assert_eq!(retry_after(None), Duration::from_secs(30));
    }
}

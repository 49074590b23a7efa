//! The downloader: video pages, media selection, the bot wall, polite HTTP.
//!
//! [`download_all`] turns post links into files handed to a [`MediaSink`]. It knows
//! nothing of the vault: the sink stores, and tells which posts are already archived.
//! Failures are data ([`Outcome::Failed`]), never a panic or an early return.
//!
//! - [`page`]: the embedded page JSON (both layouts) and its status codes;
//! - [`media`]: which files a post has, which encoding to take, the metadata sidecar;
//! - [`waf`]: TikTok's proof-of-work bot wall;
//! - [`client`]: HTTP with the base override, cookies, pacing and retries;
//! - [`hosts`]: which addresses may be asked, and which get cookies and the Referer;
//! - [`cookies`]: Netscape `cookies.txt`;
//! - [`stream`]: response bodies streamed into the sink, and pages read, both size-capped;
//! - [`run`]: one post from link to files, and the concurrent run;
//! - [`profile`], [`watch`]: the public profile page, its avatar and listed posts.

pub mod client;
pub mod cookies;
pub mod hosts;
pub mod media;
pub mod page;
pub mod profile;
pub mod run;
pub mod stream;
pub mod waf;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

pub use run::{download_all, try_download_all};
pub use watch::{watch_profile, ProfileRun, Watched};

/// The environment variable that points every TikTok page host at another server
/// (tests, and tools that drive the binary). Path and query are kept.
pub const BASE_ENV: &str = "TT_VAULT_TIKTOK_BASE";

/// A current desktop browser; TikTok serves the full page (with its JSON) to these.
pub const BROWSER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Where downloaded files go. Called from blocking threads, possibly several at once.
pub trait MediaSink: Send + Sync {
    /// Read `body` to its end and store it under the snapshot-relative `path`
    /// (e.g. "videos/2024-05-01_7301234567890123456.mp4"). An Err from `body` (reset, short read)
    /// must propagate: nothing is recorded for that path, and the downloader retries.
    fn store(&self, path: &str, body: &mut dyn std::io::Read) -> std::io::Result<StoredFile>;
    /// True when a post with this TikTok id is already archived in the vault (any snapshot):
    /// the downloader then skips it and the caller links the earlier files in.
    fn already_archived(&self, video_id: &str) -> bool;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub hash: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// `TT_VAULT_TIKTOK_BASE`: where page-host requests go instead of TikTok.
    pub base: Option<String>,
    /// Posts downloaded at once.
    pub jobs: usize,
    /// Requests per second over the whole run (pages and media alike).
    pub rate: f64,
    /// Per request: connect, first byte, and any stall inside a body.
    pub timeout: Duration,
    /// Retries after the first try, for transient errors and 429s.
    pub retries: u32,
    /// First back-off; doubled each retry, plus up to 50 % jitter.
    pub backoff: Duration,
    pub cookies_file: Option<PathBuf>,
    pub user_agent: String,
    /// After this many blocked pages (403, unsolvable bot wall, 10204) stop asking.
    pub max_blocked: u32,
    /// The largest media file downloaded (bytes); a larger one is a recorded failure and
    /// nothing of it is stored.
    pub max_file_size: u64,
}

/// The default of [`FetchConfig::max_file_size`]: TikTok allows uploads up to a few GiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 30;

impl Default for FetchConfig {
    /// Conservative defaults, without reading the environment.
    fn default() -> Self {
        FetchConfig {
            base: None,
            jobs: 4,
            rate: 2.0,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_secs(1),
            cookies_file: None,
            user_agent: BROWSER_AGENT.to_string(),
            max_blocked: 5,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

impl FetchConfig {
    /// The defaults, plus `TT_VAULT_TIKTOK_BASE` when set and not empty.
    pub fn from_env() -> FetchConfig {
        FetchConfig {
            base: std::env::var(BASE_ENV)
                .ok()
                .filter(|b| !b.trim().is_empty()),
            ..FetchConfig::default()
        }
    }
}

/// One post to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub link: String,
    /// Known from the export; otherwise taken from the link (or its redirect).
    pub video_id: Option<String>,
    /// YYYY-MM-DD for file naming; otherwise the post's createTime (UTC).
    pub date: Option<String>,
    /// "posts" | "likes" | "favorites" | "url".
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every required file stored; `files` are (snapshot path, stored file), the sidecar
    /// `.json` last; `meta` is the sidecar's content.
    Archived {
        files: Vec<(String, StoredFile)>,
        meta: serde_json::Value,
    },
    AlreadyArchived,
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: FailReason,
    pub detail: String,
    pub http_status: Option<u16>,
    /// Requests made for this post (retries included).
    pub attempts: u32,
    /// Worth trying again next run (blocks, network, stop); false for definite answers.
    pub retry_next_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// HTTP 404.
    Deleted,
    /// Status 10221: the author's account no longer exists.
    AccountNotFound,
    /// Status 10216.
    PrivatePost,
    /// Status 10222.
    PrivateAccount,
    /// Status 10231.
    RegionLocked,
    /// Status 10204, HTTP 403, or an unsolvable bot wall: ambiguous, retried next run.
    Blocked,
    /// Redirected to /login.
    LoginRequired,
    /// Any other non-zero status code.
    Unavailable(i64),
    /// The page came but could not be read (no JSON, broken JSON, no media address).
    BadPage,
    /// Connect errors, resets, timeouts, short bodies, 5xx, past all retries.
    Network,
    /// Not tried: the run stopped asking after repeated blocks.
    Stopped,
    /// Not a TikTok post link (or a short link that led nowhere).
    BadLink,
    /// The sink could not store a file (disk full, …).
    Storage,
    /// A URL the downloader may not ask (a private address, a scheme other than http(s)).
    Refused,
    /// A page or media file over its size limit.
    TooLarge,
}

impl FailReason {
    /// A stable short name for records and summaries.
    pub fn code(&self) -> String {
        match self {
            FailReason::Deleted => "deleted".into(),
            FailReason::AccountNotFound => "account_not_found".into(),
            FailReason::PrivatePost => "private_post".into(),
            FailReason::PrivateAccount => "private_account".into(),
            FailReason::RegionLocked => "region_locked".into(),
            FailReason::Blocked => "blocked".into(),
            FailReason::LoginRequired => "login_required".into(),
            FailReason::Unavailable(n) => format!("unavailable_{n}"),
            FailReason::BadPage => "bad_page".into(),
            FailReason::Network => "network".into(),
            FailReason::Stopped => "stopped".into(),
            FailReason::BadLink => "bad_link".into(),
            FailReason::Storage => "storage".into(),
            FailReason::Refused => "refused".into(),
            FailReason::TooLarge => "too_large".into(),
        }
    }

    /// Whether a later run may succeed where this one failed.
    pub fn worth_retrying(&self) -> bool {
        matches!(
            self,
            FailReason::Blocked
                | FailReason::Unavailable(_)
                | FailReason::BadPage
                | FailReason::Network
                | FailReason::Stopped
                | FailReason::Storage
        )
    }
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            FailReason::Deleted => "deleted on TikTok".to_string(),
            FailReason::AccountNotFound => "account not found on TikTok".into(),
            FailReason::PrivatePost => "private post".into(),
            FailReason::PrivateAccount => "private account".into(),
            FailReason::RegionLocked => "not available in this region".into(),
            FailReason::Blocked => "blocked by TikTok".into(),
            FailReason::LoginRequired => "login required".into(),
            FailReason::Unavailable(n) => format!("unavailable (code {n})"),
            FailReason::BadPage => "unreadable page".into(),
            FailReason::Network => "network error".into(),
            FailReason::Stopped => "not tried (run stopped after repeated blocks)".into(),
            FailReason::BadLink => "not a TikTok post link".into(),
            FailReason::Storage => "could not store".into(),
            FailReason::Refused => "address refused".into(),
            FailReason::TooLarge => "too large".into(),
        };
        f.write_str(&s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostResult {
    pub target: Target,
    pub video_id: Option<String>,
    pub outcome: Outcome,
}

/// The configuration could not be used (bad base address, unreadable cookies file).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error(transparent)]
    Cookies(#[from] cookies::CookieFileError),
    #[error("cannot start the download runtime: {0}")]
    Runtime(std::io::Error),
}

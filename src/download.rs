//! The download run of a snapshot: it glues the TikTok fetcher to the archiver.
//! Post links go in, their files go into the snapshot being built, and each failure
//! is recorded in the snapshot (a [`DownloadFailure`]) instead of failing it.

mod failure;

pub use failure::DownloadFailure;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::archiver::{AddError, SnapshotBuilder};
use crate::store::index::FileRow;
use crate::store::manifest::Entry;
use crate::store::{journal, snapshots, StoreError, Vault};
use crate::tiktok::export::{Record, Section};
use crate::tiktok::fetch::{self, FetchConfig, MediaSink, Outcome, PostResult, StoredFile, Target};
use crate::tiktok::links;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// A bad `--download` value.
    #[error("{0}")]
    Usage(String),
    /// The run could not begin (a bad cookies file, no HTTP client).
    #[error("cannot start downloading: {0}")]
    Start(fetch::FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for DownloadError {
    fn from(e: rusqlite::Error) -> Self {
        DownloadError::Store(e.into())
    }
}

pub type Result<T> = std::result::Result<T, DownloadError>;

/// One of the export's lists of posts that a snapshot can download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportList {
    Posts,
    Likes,
    Favorites,
}

impl ExportList {
    /// Reads `posts,favorites,likes` or `none`.
    pub fn parse_list(text: &str) -> Result<Vec<ExportList>> {
        let mut out = Vec::new();
        let parts: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() > 1 && parts.iter().any(|p| p.eq_ignore_ascii_case("none")) {
            return Err(DownloadError::Usage(format!(
                "--download {text:?}: `none` cannot be combined with other lists"
            )));
        }
        for part in parts {
            match part.to_ascii_lowercase().as_str() {
                "none" => return Ok(Vec::new()),
                "posts" => out.push(ExportList::Posts),
                "likes" => out.push(ExportList::Likes),
                "favorites" | "favourites" => out.push(ExportList::Favorites),
                other => {
                    return Err(DownloadError::Usage(format!(
                    "--download {other:?}: use posts, likes, favorites (comma-separated) or none"
                )))
                }
            }
        }
        Ok(out)
    }

    pub fn section(self) -> Section {
        match self {
            ExportList::Posts => Section::Posts,
            ExportList::Likes => Section::Likes,
            ExportList::Favorites => Section::Favorites,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ExportList::Posts => "posts",
            ExportList::Likes => "likes",
            ExportList::Favorites => "favorites",
        }
    }
}

/// The download target an export record stands for, when it is in a chosen list
/// (called for every record of the one parse that also checks the export).
pub fn export_target(r: &Record, lists: &[ExportList]) -> Option<Target> {
    let w = lists.iter().find(|w| w.section() == r.section)?;
    let link = r.link.clone().or_else(|| r.video_id.clone())?;
    Some(Target {
        link,
        video_id: r.video_id.clone(),
        date: r.date.as_ref().map(|d| d.raw.chars().take(10).collect()),
        source: w.name().into(),
    })
}

/// Targets for links given on the command line.
pub fn targets_from_urls(urls: &[String]) -> Vec<Target> {
    urls.iter()
        .map(|u| Target {
            link: u.clone(),
            video_id: links::video_id(u),
            date: None,
            source: "url".into(),
        })
        .collect()
}

/// Stores downloads into the snapshot being built.
struct VaultSink<'a, 'v> {
    builder: &'a SnapshotBuilder<'v>,
    conn: Mutex<Connection>,
    checkpoint: Duration,
    /// Posts an earlier download of this snapshot already put in it.
    in_snapshot: &'a HashSet<String>,
}

/// The variable that sets how often a download makes finished posts durable.
const CHECKPOINT_ENV: &str = "TT_VAULT_CHECKPOINT_SECS";

/// How often finished posts are made durable during a download, so a killed run
/// resumes without fetching them again (`TT_VAULT_CHECKPOINT_SECS`: 0 to 86400 seconds,
/// default 10). Read before any work, so a bad value stops the snapshot at once.
pub fn checkpoint_interval() -> Result<Duration> {
    let Ok(text) = std::env::var(CHECKPOINT_ENV) else {
        return Ok(Duration::from_secs(10));
    };
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(DownloadError::Usage(format!(
            "{CHECKPOINT_ENV}={text:?}: give a number of seconds from 0 to 86400"
        ))),
    }
}

/// The TikTok video id in a downloader file name (`videos/<date>_<id>[_NN].<ext>`).
fn video_id_from_path(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let after = name.split_once('_')?.1;
    let id: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    (!id.is_empty()).then_some(id)
}

impl MediaSink for VaultSink<'_, '_> {
    fn store(&self, path: &str, body: &mut dyn io::Read) -> io::Result<StoredFile> {
        let kind = if path.starts_with("profile/") {
            "profile"
        } else if path.ends_with(".json") {
            "sidecar"
        } else {
            "video"
        };
        match self
            .builder
            .add_reader(path, body, kind, video_id_from_path(path), None)
        {
            Ok(e) => {
                // The sidecar is a post's last file: a good moment to make it durable.
                if kind == "sidecar" {
                    self.builder
                        .checkpoint(self.checkpoint)
                        .map_err(|e| io::Error::other(e.to_string()))?;
                }
                Ok(StoredFile {
                    hash: hex::encode(e.hash),
                    size: e.size,
                })
            }
            Err(AddError::Source { source, .. }) => Err(source),
            Err(AddError::Store(e)) => Err(io::Error::other(e.to_string())),
        }
    }

    fn already_archived(&self, video_id: &str) -> bool {
        self.in_snapshot.contains(video_id)
            || !archived_files(&self.conn.lock().unwrap(), video_id)
                .unwrap_or_default()
                .is_empty()
    }
}

/// The files of a post the vault already has: from the newest snapshot holding it,
/// else from a killed run's journal when that run stored the post completely (its
/// metadata sidecar, stored last, is there). Journal files come with their rows.
fn archived_files(conn: &Connection, video_id: &str) -> Result<Vec<(Entry, Option<FileRow>)>> {
    let in_snapshots = snapshots::entries_for_item(conn, video_id)?;
    if !in_snapshots.is_empty() {
        return Ok(in_snapshots.into_iter().map(|e| (e, None)).collect());
    }
    let journaled = journal::committed_files(conn, video_id)?;
    if journaled.iter().any(|(e, _)| e.path.ends_with(".json")) {
        return Ok(journaled.into_iter().map(|(e, f)| (e, Some(f))).collect());
    }
    Ok(Vec::new())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DownloadSummary {
    pub archived: u64,
    pub already: u64,
    pub failed: Vec<DownloadFailure>,
    /// The ids of the posts now in the snapshot (fetched or linked in).
    #[serde(skip)]
    pub in_snapshot: HashSet<String>,
}

impl DownloadSummary {
    /// "412 archived, 3 deleted on TikTok, 1 blocked by TikTok".
    pub fn line(&self) -> String {
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for f in &self.failed {
            *by_reason.entry(f.reason_text.clone()).or_default() += 1;
        }
        let mut parts = vec![format!("{} archived", self.archived)];
        if self.already > 0 {
            parts.push(format!("{} already in the vault", self.already));
        }
        parts.extend(by_reason.into_iter().map(|(r, n)| format!("{n} {r}")));
        parts.join(", ")
    }
}

/// Downloads `targets` into the snapshot. Posts already in the vault are linked in
/// from the newest snapshot holding them, not fetched again. `status` hears a line
/// of progress (posts done, failures so far) after each post.
pub fn run(
    vault: &Vault,
    builder: &SnapshotBuilder,
    targets: Vec<Target>,
    cfg: &FetchConfig,
    checkpoint: Duration,
    status: &(dyn Fn(String) + Sync),
) -> Result<DownloadSummary> {
    let none = HashSet::new();
    let sink = VaultSink {
        builder,
        conn: Mutex::new(vault.connect()?),
        checkpoint,
        in_snapshot: &none,
    };
    let counter = Counter::new(Some(targets.len()), status);
    let results = fetch::try_download_all(cfg, targets, &sink, &|r| counter.post(r))
        .map_err(DownloadError::Start)?;
    summarise(vault, builder, results, &none)
}

/// Watches the public profile of `username` into the snapshot: the page (its fields
/// come back to the caller), the avatar (stored at `profile/NAME/avatar.EXT`), and
/// the listed posts, which are downloaded or linked in as [`run`] does — except those
/// in `in_snapshot` (put in this snapshot by an earlier download).
pub fn profile(
    vault: &Vault,
    builder: &SnapshotBuilder,
    username: &str,
    cfg: &FetchConfig,
    checkpoint: Duration,
    in_snapshot: &HashSet<String>,
    status: &(dyn Fn(String) + Sync),
) -> Result<(fetch::ProfileRun, DownloadSummary)> {
    let sink = VaultSink {
        builder,
        conn: Mutex::new(vault.connect()?),
        checkpoint,
        in_snapshot,
    };
    let counter = Counter::new(None, status);
    let mut watched = fetch::watch_profile(cfg, username, &sink, &|r| counter.post(r))
        .map_err(DownloadError::Start)?;
    let posts = std::mem::take(&mut watched.posts);
    Ok((watched, summarise(vault, builder, posts, in_snapshot)?))
}

/// Posts done and failed so far, said after each post.
struct Counter<'a> {
    total: Option<usize>,
    done: AtomicU64,
    failed: AtomicU64,
    status: &'a (dyn Fn(String) + Sync),
}

impl<'a> Counter<'a> {
    fn new(total: Option<usize>, status: &'a (dyn Fn(String) + Sync)) -> Self {
        Counter {
            total,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            status,
        }
    }

    fn post(&self, r: &PostResult) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if matches!(r.outcome, Outcome::Failed(_)) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        (self.status)(format!(
            "videos {n}{of}, {} failed",
            self.failed.load(Ordering::Relaxed)
        ));
    }
}

/// Counts the results, links posts already archived into the snapshot, and turns
/// failures into records.
fn summarise(
    vault: &Vault,
    builder: &SnapshotBuilder,
    results: Vec<PostResult>,
    in_snapshot: &HashSet<String>,
) -> Result<DownloadSummary> {
    let conn = vault.connect()?;
    let mut summary = DownloadSummary::default();
    for r in results {
        match r.outcome {
            Outcome::Archived { .. } => {
                summary.archived += 1;
                summary.in_snapshot.extend(r.video_id);
            }
            Outcome::AlreadyArchived => {
                summary.already += 1;
                let Some(id) = r.video_id.clone() else {
                    continue;
                };
                if in_snapshot.contains(&id) || !summary.in_snapshot.insert(id.clone()) {
                    continue;
                }
                for (e, file) in archived_files(&conn, &id)? {
                    let path = if e.path.starts_with("videos/") {
                        e.path.clone()
                    } else {
                        format!("videos/{}", e.path.rsplit('/').next().unwrap_or(&e.path))
                    };
                    builder.add_existing(&path, &e, file);
                }
            }
            Outcome::Failed(f) => summary
                .failed
                .push(DownloadFailure::new(r.video_id, &r.target, f)),
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_downloader_file_names() {
        assert_eq!(
            video_id_from_path("videos/2024-05-01_7301234567890123456.mp4").as_deref(),
            Some("7301234567890123456")
        );
        assert_eq!(
            video_id_from_path("videos/undated_42_01.jpeg").as_deref(),
            Some("42")
        );
        assert_eq!(video_id_from_path("videos/nothing.mp4"), None);
    }

    #[test]
    fn download_lists_parse() {
        assert_eq!(
            ExportList::parse_list("posts,likes").unwrap(),
            [ExportList::Posts, ExportList::Likes]
        );
        assert!(ExportList::parse_list("none").unwrap().is_empty());
        assert!(ExportList::parse_list("videos").is_err());
        assert!(ExportList::parse_list("posts,none").is_err());
    }
}

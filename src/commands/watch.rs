//! The profile watch of a snapshot (`snapshot --profile NAME`): the public page's
//! fields stored as a document beside the avatar, the posts it lists downloaded, and
//! every outcome a note or a recorded failure — never an error of the snapshot.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::catalogue::profile::{document, StoredAvatar, DOCUMENT};
use crate::download::{self, DownloadFailure, DownloadSummary};
use crate::store::archiver::SnapshotBuilder;
use crate::store::Vault;
use crate::tiktok::fetch::{Failure, FetchConfig, ProfileRun, Target, Watched};

use super::{Progress, Result};

/// What the watch gave the snapshot.
#[derive(Debug, Default)]
pub struct Watch {
    /// The profile document stored in the snapshot, when the page was read.
    pub document: Option<Value>,
    /// The page's failure (private, missing, blocked…) and the listed posts' failures.
    pub failed: Vec<DownloadFailure>,
    pub notes: Vec<String>,
}

/// Watches `name` into the snapshot being built; `in_snapshot` are the posts an
/// earlier download of this snapshot holds already.
pub fn profile(
    vault: &Vault,
    builder: &SnapshotBuilder,
    name: &str,
    fetch: &FetchConfig,
    checkpoint: Duration,
    in_snapshot: &HashSet<String>,
    progress: &dyn Progress,
) -> Result<Watch> {
    let status = |line| progress.message(line);
    let (run, posts) = download::profile(
        vault,
        builder,
        name,
        fetch,
        checkpoint,
        in_snapshot,
        &status,
    )?;
    let ProfileRun { page, outcome, .. } = run;
    let mut watch = Watch::default();
    match outcome {
        Err(f) => {
            watch.notes.push(format!(
                "profile @{name}: {} ({}); recorded in the snapshot",
                f.reason, f.detail
            ));
            watch.failed.push(page_failure(&page, f));
        }
        Ok(watched) => {
            watch.notes.extend(notes(name, &watched, &posts));
            let fetched_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let avatar = watched.avatar.as_ref().map(|(path, f)| StoredAvatar {
                path,
                hash: &f.hash,
                size: f.size,
            });
            let doc = document(&watched.profile, &page, &fetched_at, avatar);
            store_document(builder, name, &doc)?;
            watch.document = Some(doc);
            watch.failed.extend(posts.failed);
        }
    }
    Ok(watch)
}

/// The record of a profile page that could not be read, as a post's would be.
fn page_failure(page: &str, f: Failure) -> DownloadFailure {
    let target = Target {
        link: page.to_string(),
        video_id: None,
        date: None,
        source: "profile".into(),
    };
    DownloadFailure::new(None, &target, f)
}

fn notes(name: &str, watched: &Watched, posts: &DownloadSummary) -> Vec<String> {
    let p = &watched.profile;
    let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    let mut notes = vec![format!(
        "profile @{}: {} followers, {} following, {} hearts, {} videos",
        p.username,
        count(p.followers),
        count(p.following),
        count(p.hearts),
        count(p.videos)
    )];
    if let Some(f) = &watched.avatar_failure {
        notes.push(format!(
            "profile @{name}: avatar not stored: {} ({})",
            f.reason, f.detail
        ));
    }
    if p.private == Some(true) {
        notes.push(format!(
            "profile @{name}: private account: its posts are not public"
        ));
    } else if p.listed_posts.is_empty() {
        notes.push(format!(
            "profile @{name}: listing unavailable (the page lists no posts; TikTok serves \
             the list only to signed requests)"
        ));
    } else {
        notes.push(format!(
            "profile @{name}: {} posts listed: {}",
            p.listed_posts.len(),
            posts.line()
        ));
    }
    notes
}

/// Stores the profile document at `profile/NAME/profile.json`.
fn store_document(builder: &SnapshotBuilder, name: &str, doc: &Value) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(doc).expect("JSON values serialize");
    text.push(b'\n');
    let path = format!("profile/{name}/{DOCUMENT}");
    builder
        .add_reader(&path, &mut text.as_slice(), "profile", None, None)
        .map_err(super::snapshot::add_error)?;
    Ok(())
}

//! `tt-vault forget`: remove snapshots, by id or by a keep policy applied per account.
//!
//! Videos are what a backup exists for: a snapshot that is the last one holding some
//! item (a TikTok post id, `entries.item_id`) is kept, whatever the policy says, unless
//! `allow_video_loss` is set. Such a snapshot is kept with the reason "protects N
//! videos only it holds"; when several removed snapshots hold the same item, the
//! newest of them is the one kept.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::Connection;

use crate::store::Repository;
use serde::Serialize;

use crate::retention::{self, Candidate, Policy};
use crate::store::lock::WriteLock;
use crate::store::pruner::{PruneOptions, RecoveryPending};
use crate::store::snapshots::{self, Snapshot};
use crate::store::tombstone::UnfinishedCommit;
use crate::store::{recovery, tombstone, Vault};

use super::{CommandError, Progress, Result};

#[derive(Debug, Clone, Default)]
pub struct ForgetArgs {
    /// Snapshot id prefixes to forget; exclusive with a policy.
    pub ids: Vec<String>,
    pub policy: Policy,
    pub account: Option<String>,
    pub dry_run: bool,
    /// Prune right after forgetting, with these options.
    pub prune: Option<PruneOptions>,
    pub allow_video_loss: bool,
    pub wait: bool,
    /// Forget the snapshot commits that never finished instead (exclusive with ids,
    /// a policy, an account and `allow_video_loss`).
    pub unfinished: bool,
}

/// What forget decided for one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub id: String,
    pub account: String,
    pub taken_at: String,
    pub keep: bool,
    /// Why it is kept, or why it goes.
    pub reasons: Vec<String>,
    /// Items (TikTok post ids) that only this snapshot would still hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protects: Vec<String>,
}

impl Verdict {
    pub fn short_id(&self) -> &str {
        snapshots::short(&self.id)
    }
}

#[derive(Debug, Serialize)]
pub struct ForgetReport {
    pub dry_run: bool,
    /// The policy in words, when one was given.
    pub policy: Option<String>,
    pub snapshots: Vec<Verdict>,
    pub kept: u64,
    pub removed: u64,
    /// Items kept in the vault because forget refused to drop their last snapshot.
    pub protected_videos: Vec<String>,
    /// Items no snapshot holds any more (only with `allow_video_loss`).
    pub lost_videos: Vec<String>,
    pub prune: Option<super::prune::PruneOutcome>,
    /// In a dry run, what crash recovery will do first (a killed run left work).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_pending: Option<RecoveryPending>,
    /// With `unfinished`: every commit recorded as never finished, each dropped (and
    /// counted in `removed` unless it had finished after all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<Vec<UnfinishedCommit>>,
}

pub fn forget(vault: &Vault, args: &ForgetArgs, progress: &dyn Progress) -> Result<ForgetReport> {
    let by_policy = !args.policy.is_empty();
    if args.unfinished {
        if !args.ids.is_empty() || by_policy || args.account.is_some() || args.allow_video_loss {
            return Err(CommandError::Usage(
                "--unfinished forgets every commit that never finished: give no snapshot \
                 ids, --keep-* policy, --account or --allow-video-loss with it"
                    .into(),
            ));
        }
        return forget_unfinished(vault, args, progress);
    }
    if args.ids.is_empty() && !by_policy {
        return Err(CommandError::Usage(
            "forget needs snapshot ids or a policy (--keep-last, --keep-hourly, --keep-daily, \
             --keep-weekly, --keep-monthly, --keep-yearly or --keep-within)"
                .into(),
        ));
    }
    if !args.ids.is_empty() && by_policy {
        return Err(CommandError::Usage(
            "give snapshot ids or a --keep-* policy, not both".into(),
        ));
    }
    let (lock, repo, recovery_pending) = begin(vault, args)?;
    let mut verdicts = if by_policy {
        by_policy_per_account(repo.conn(), &args.policy, args.account.as_deref())?
    } else {
        named(repo.conn(), &args.ids, args.account.as_deref())?
    };
    let (protected_videos, lost_videos) =
        protect_videos(&repo, &mut verdicts, args.allow_video_loss)?;
    drop(repo);

    let removed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.keep)
        .map(|v| v.id.clone())
        .collect();
    let mut report = ForgetReport {
        dry_run: args.dry_run,
        policy: by_policy.then(|| args.policy.to_string()),
        kept: verdicts.iter().filter(|v| v.keep).count() as u64,
        removed: removed.len() as u64,
        snapshots: verdicts,
        protected_videos,
        lost_videos,
        prune: None,
        recovery_pending,
        unfinished: None,
    };
    if let Some(lock) = lock {
        tombstone::forget(vault, &lock, &removed)?;
        if let Some(options) = &args.prune {
            // Snapshots named one by one are forgotten to be rid of what they hold:
            // every pack holding any of it is repacked, whatever the limits.
            let options = PruneOptions {
                purge: options.purge || !args.ids.is_empty(),
                ..*options
            };
            report.prune = Some(super::prune::run_locked(vault, &lock, &options, progress)?);
        }
    }
    Ok(report)
}

/// The writer lock and the index, or, in a dry run, the index read-only (a dry run only
/// reads, see prune::dry_run) and what crash recovery will do first.
fn begin(
    vault: &Vault,
    args: &ForgetArgs,
) -> Result<(Option<WriteLock>, Repository, Option<RecoveryPending>)> {
    if !args.dry_run {
        let lock = vault.lock_for_writing(args.wait)?;
        return Ok((Some(lock), Repository::open(vault)?, None));
    }
    let repo = Repository::open_read_only(vault)?;
    let pending = Some(recovery::pending(vault, &repo)?).filter(|p| !p.is_empty());
    Ok((None, repo, pending))
}

/// `forget --unfinished`: the snapshot commits recorded as never finished are dropped
/// (see `tombstone::forget_unfinished`), then, if asked, the vault is pruned of what
/// only they referenced.
fn forget_unfinished(
    vault: &Vault,
    args: &ForgetArgs,
    progress: &dyn Progress,
) -> Result<ForgetReport> {
    let (lock, repo, recovery_pending) = begin(vault, args)?;
    let commits = tombstone::unfinished_commits(vault, &repo)?;
    drop(repo);
    let mut report = ForgetReport {
        dry_run: args.dry_run,
        policy: None,
        snapshots: Vec::new(),
        kept: 0,
        removed: commits.iter().filter(|c| !c.finished).count() as u64,
        protected_videos: Vec::new(),
        lost_videos: Vec::new(),
        prune: None,
        recovery_pending,
        unfinished: None,
    };
    if let Some(lock) = lock {
        if !commits.is_empty() {
            tombstone::forget_unfinished(vault, &lock, &commits)?;
        }
        if let Some(options) = &args.prune {
            // As for snapshots named by id: dropped to be rid of what they hold.
            let options = PruneOptions {
                purge: true,
                ..*options
            };
            report.prune = Some(super::prune::run_locked(vault, &lock, &options, progress)?);
        }
    }
    report.unfinished = Some(commits);
    Ok(report)
}

/// The policy applied to each account's snapshots on their own; newest first per account.
fn by_policy_per_account(
    conn: &Connection,
    policy: &Policy,
    account: Option<&str>,
) -> Result<Vec<Verdict>> {
    let all = snapshots::list(conn, account)?;
    if all.is_empty() {
        if let Some(a) = account {
            return Err(CommandError::Input(format!(
                "account {a} has no snapshots; `tt-vault snapshots` lists what there is"
            )));
        }
    }
    let mut by_account: std::collections::BTreeMap<&str, Vec<&Snapshot>> = Default::default();
    for s in &all {
        by_account.entry(&s.account).or_default().push(s);
    }
    let tz: FixedOffset = *chrono::Local::now().offset();
    let now = Utc::now();
    let mut out = Vec::with_capacity(all.len());
    for (account, snaps) in by_account {
        let by_id: HashMap<&str, &Snapshot> = snaps.iter().map(|s| (s.id.as_str(), *s)).collect();
        let candidates: Vec<Candidate> = snaps
            .iter()
            .map(|s| Candidate {
                id: s.id.clone(),
                taken_at: DateTime::from_timestamp_millis(s.taken_ms).unwrap_or_default(),
            })
            .collect();
        for d in retention::apply(policy, &candidates, now, tz) {
            out.push(Verdict {
                id: d.id.clone(),
                account: account.to_string(),
                taken_at: by_id[d.id.as_str()].taken_at.clone(),
                keep: d.keep,
                reasons: if d.keep {
                    d.reasons
                } else {
                    vec!["kept by no rule".into()]
                },
                protects: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// The snapshots named by id prefix, each once, newest first.
fn named(conn: &Connection, ids: &[String], account: Option<&str>) -> Result<Vec<Verdict>> {
    let mut found: Vec<Snapshot> = Vec::new();
    for prefix in ids {
        let s = snapshots::by_prefix(conn, prefix)?;
        if let Some(a) = account {
            if s.account != a {
                return Err(CommandError::Usage(format!(
                    "snapshot {} belongs to account {}, not {a}",
                    s.short_id(),
                    s.account
                )));
            }
        }
        if !found.iter().any(|f| f.id == s.id) {
            found.push(s);
        }
    }
    found.sort_by(|a, b| b.taken_ms.cmp(&a.taken_ms).then(b.id.cmp(&a.id)));
    Ok(found
        .into_iter()
        .map(|s| Verdict {
            id: s.id,
            account: s.account,
            taken_at: s.taken_at,
            keep: false,
            reasons: vec!["named on the command line".into()],
            protects: Vec::new(),
        })
        .collect())
}

/// Keeps, among the snapshots to remove, those that hold the last copy of an item.
/// Returns (protected items, lost items), each sorted.
fn protect_videos(
    repo: &Repository,
    verdicts: &mut [Verdict],
    allow_loss: bool,
) -> Result<(Vec<String>, Vec<String>)> {
    let removing: HashSet<&str> = verdicts
        .iter()
        .filter(|v| !v.keep)
        .map(|v| v.id.as_str())
        .collect();
    if removing.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut items_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut kept_items: HashSet<String> = HashSet::new();
    for (snap, item) in repo.items_by_snapshot()? {
        if removing.contains(snap.as_str()) {
            items_of.entry(snap).or_default().insert(item);
        } else {
            kept_items.insert(item);
        }
    }
    drop(removing);
    let lost: BTreeSet<String> = items_of
        .values()
        .flatten()
        .filter(|i| !kept_items.contains(*i))
        .cloned()
        .collect();
    if allow_loss {
        return Ok((Vec::new(), lost.into_iter().collect()));
    }
    let mut order: Vec<usize> = (0..verdicts.len()).filter(|&i| !verdicts[i].keep).collect();
    // Newest first: the most recent copy of an item is the one kept.
    order.sort_by(|&a, &b| {
        let t = |i: usize| snapshots::parse_taken_at(&verdicts[i].taken_at);
        t(b).cmp(&t(a)).then(verdicts[b].id.cmp(&verdicts[a].id))
    });
    let mut protected = BTreeSet::new();
    for i in order {
        let Some(items) = items_of.get(&verdicts[i].id) else {
            continue;
        };
        let only: Vec<String> = items
            .iter()
            .filter(|it| lost.contains(*it) && !protected.contains(*it))
            .cloned()
            .collect();
        if only.is_empty() {
            continue;
        }
        let v = &mut verdicts[i];
        v.keep = true;
        v.reasons = vec![format!(
            "protects {} {} only it holds",
            only.len(),
            if only.len() == 1 { "video" } else { "videos" }
        )];
        protected.extend(only.iter().cloned());
        v.protects = only;
    }
    Ok((protected.into_iter().collect(), Vec::new()))
}

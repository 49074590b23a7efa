//! `tt-vault run`: the whole configured job in one go — a snapshot of every
//! configured account, forget by the configured policy, prune, then a sampled
//! verify. Every step waits for the vault's lock, and every step runs even when an
//! earlier one failed: a broken download must not stop the audit.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::config::Config;
use crate::store::checker::Report;
use crate::store::pruner::PruneOptions;
use crate::store::Vault;

use super::accounts::{self, AccountRun};
use super::forget::{self, ForgetArgs, ForgetReport};
use super::prune::{self, PruneArgs, PruneOutcome};
use super::snapshot::SnapshotArgs;
use super::{verify, Progress};

/// The share of packs `run` re-reads when the config names none.
pub const DEFAULT_SAMPLE_PCT: u32 = 5;

#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// The settings every account's snapshot shares (downloader, time).
    pub snapshot: SnapshotArgs,
    pub sample: Option<u32>,
}

/// One step's outcome: 0 ok, 1 problems found, 2 failed.
#[derive(Debug, Serialize)]
pub struct Step<T> {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub code: u8,
}

impl<T> Step<T> {
    fn new(result: super::Result<T>, problems: impl Fn(&T) -> bool) -> Step<T> {
        match result {
            Ok(r) if problems(&r) => Step::with(1, Some(r), None),
            Ok(r) => Step::with(0, Some(r), None),
            Err(e) => Step::with(2, None, Some(e.to_string())),
        }
    }

    fn with(code: u8, report: Option<T>, error: Option<String>) -> Step<T> {
        let status = ["ok", "problems", "failed"][code as usize];
        Step {
            status,
            report,
            error,
            code,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    /// The worst of the steps: 0 ok, 1 problems found, 2 a step failed.
    pub exit_code: u8,
    pub accounts: Vec<AccountRun>,
    /// `None` when the config has no retention policy: nothing is forgotten.
    pub forget: Option<Step<ForgetReport>>,
    /// Prune on its own, when there was no forget (forget prunes itself).
    pub prune: Option<Step<PruneOutcome>>,
    pub verify: Step<Report>,
}

pub fn run(vault: &Vault, config: &Config, args: &RunArgs, progress: &dyn Progress) -> RunReport {
    let base = SnapshotArgs {
        wait: true,
        ..args.snapshot.clone()
    };
    let accounts = match accounts::snapshot_all(vault, config, &base, progress) {
        Ok(a) => a,
        Err(e) => vec![AccountRun {
            account: "*".into(),
            export: None,
            snapshot: None,
            skipped: None,
            error: Some(e.to_string()),
        }],
    };
    let policy = config.retention.clone();
    let (forget, prune) = if policy.is_empty() {
        let args = PruneArgs {
            options: PruneOptions::default(),
            wait: true,
        };
        (
            None,
            Some(Step::new(prune::prune(vault, &args, progress), |_| false)),
        )
    } else {
        let args = ForgetArgs {
            policy,
            prune: Some(PruneOptions::default()),
            wait: true,
            ..ForgetArgs::default()
        };
        let step = Step::new(forget::forget(vault, &args, progress), |_| false);
        (Some(step), None)
    };
    let sample = args
        .sample
        .or(config.verify.sample)
        .unwrap_or(DEFAULT_SAMPLE_PCT);
    let verify = Step::new(
        verify::verify(vault, false, Some(sample), false, progress),
        |r| !r.ok,
    );
    let exit_code = accounts
        .iter()
        .map(AccountRun::severity)
        .chain(forget.iter().map(|s| s.code))
        .chain(prune.iter().map(|s| s.code))
        .chain([verify.code])
        .max()
        .unwrap_or(0);
    RunReport {
        exit_code,
        accounts,
        forget,
        prune,
        verify,
    }
}

/// Runs `command` through `sh -c` with the report as JSON on stdin (a mailer, a
/// push notification). Its failure is returned, never fatal: the run is done.
pub fn notify(command: &str, report: &RunReport) -> std::result::Result<(), String> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("notify command {command:?} did not start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not an error.
        let _ = stdin.write_all(&json);
    }
    let status = child
        .wait()
        .map_err(|e| format!("notify command {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("notify command {command:?} exited with {status}"))
    }
}

//! `tt-vault prune`: remove from the packs, and from the index's export catalogue,
//! what no snapshot references.

use serde::Serialize;

use crate::catalogue::forget::{forget_unreferenced, Forgotten};
use crate::store::pruner::{self, PruneOptions, PruneReport};
use crate::store::{recovery, Repository, Vault};

use super::{Progress, Result};

/// What prune did: the store's report and the catalogue rows it dropped.
#[derive(Debug, Clone, Serialize)]
pub struct PruneOutcome {
    #[serde(flatten)]
    pub store: PruneReport,
    /// Catalogue rows no remaining snapshot showed, removed in prune's commit (all
    /// zero in a dry run).
    pub catalogue: Forgotten,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PruneArgs {
    pub options: PruneOptions,
    pub wait: bool,
}

pub fn prune(vault: &Vault, args: &PruneArgs, progress: &dyn Progress) -> Result<PruneOutcome> {
    if args.options.dry_run {
        return dry_run(vault, &args.options);
    }
    let lock = vault.lock_for_writing(args.wait)?;
    run_locked(vault, &lock, &args.options, progress)
}

/// A dry run only reads: no writer lock, no crash recovery (it says what recovery
/// will do instead), the index opened read-only; so it works on a read-only vault.
pub(crate) fn dry_run(vault: &Vault, options: &PruneOptions) -> Result<PruneOutcome> {
    let repo = Repository::open_read_only(vault)?;
    let pending = recovery::pending(vault, &repo)?;
    let mut store = pruner::dry_run(vault, repo, options)?;
    store.recovery_pending = (!pending.is_empty()).then_some(pending);
    Ok(PruneOutcome {
        store,
        catalogue: Forgotten::default(),
    })
}

/// Prune under a lock the caller already holds (`forget --prune`).
pub(crate) fn run_locked(
    vault: &Vault,
    lock: &crate::store::lock::WriteLock,
    options: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneOutcome> {
    progress.begin("repack", None);
    let add = |n| progress.add(n);
    let mut catalogue = Forgotten::default();
    let mut forget = |tx: &rusqlite::Transaction| {
        catalogue = forget_unreferenced(tx)?;
        Ok(())
    };
    let store = pruner::prune(vault, lock, options, &add, &mut forget)?;
    progress.end();
    Ok(PruneOutcome { store, catalogue })
}

/// Reads a `--max-repack` / `--max-unused` percentage: `10`, `10%` or `2.5%`, 0 to 100.
pub fn parse_percent(text: &str) -> std::result::Result<f64, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match number.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "invalid percentage {text:?}: give a number from 0 to 100, e.g. 10 or 10%"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_percent;

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10"), Ok(10.0));
        assert_eq!(parse_percent("2.5%"), Ok(2.5));
        assert_eq!(parse_percent("100%"), Ok(100.0));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("ten").is_err());
    }
}

//! Snapshots of the configured accounts: each account's sources from the
//! configuration, the newest export of its export folder when it is new.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Account, Config};
use crate::store::{index, snapshots, Vault};

use super::snapshot::{self, SnapshotArgs, SnapshotOutcome};
use super::{CommandError, Progress, Result};

/// What happened to one configured account.
#[derive(Debug, Serialize)]
pub struct AccountRun {
    pub account: String,
    /// The export taken from the account's export folder, when one was new.
    pub export: Option<PathBuf>,
    pub snapshot: Option<SnapshotOutcome>,
    /// Why no snapshot was taken, when none was and nothing failed.
    pub skipped: Option<String>,
    /// The error that stopped this account's snapshot.
    pub error: Option<String>,
}

impl AccountRun {
    /// 0 done, 1 done with failed downloads, 2 failed.
    pub fn severity(&self) -> u8 {
        match (&self.error, &self.snapshot) {
            (Some(_), _) => 2,
            (None, Some(s)) if !s.failed.is_empty() => 1,
            _ => 0,
        }
    }
}

/// One snapshot per configured account, each with `base`'s settings (time, wait,
/// downloader) and the account's own sources. One account's error does not stop
/// the others; it is in its `AccountRun`.
pub fn snapshot_all(
    vault: &Vault,
    config: &Config,
    base: &SnapshotArgs,
    progress: &dyn Progress,
) -> Result<Vec<AccountRun>> {
    if config.accounts.is_empty() {
        return Err(CommandError::Usage(
            "nothing to snapshot: give --export PATH, --media DIR or --url LINK, \
             or name accounts in the config file ([[account]] in config.toml)"
                .into(),
        ));
    }
    Ok(config
        .accounts
        .iter()
        .map(|a| snapshot_account(vault, a, base, progress))
        .collect())
}

fn snapshot_account(
    vault: &Vault,
    account: &Account,
    base: &SnapshotArgs,
    progress: &dyn Progress,
) -> AccountRun {
    let mut run = AccountRun {
        account: account.name.clone(),
        export: None,
        snapshot: None,
        skipped: None,
        error: None,
    };
    let export = match &account.exports {
        Some(dir) => match new_export(vault, &account.name, dir) {
            Ok(found) => found,
            Err(e) => {
                run.error = Some(e.to_string());
                return run;
            }
        },
        None => None,
    };
    if export.is_none() && account.media.is_empty() && account.profile.is_none() {
        run.skipped = Some(match &account.exports {
            Some(dir) => format!(
                "no new TikTok_Data_*.zip in {} (the newest is already in the vault)",
                dir.display()
            ),
            None => {
                "no sources configured (give it exports = DIR, media = [DIR] or profile = NAME)"
                    .into()
            }
        });
        return run;
    }
    let args = SnapshotArgs {
        account: Some(account.name.clone()),
        media: account.media.clone(),
        // The lists to download are lists of an export: without a new one, none.
        download: export.as_ref().and(base.download.clone()),
        export: export.clone(),
        profile: account.profile.clone(),
        ..base.clone()
    };
    run.export = export;
    match snapshot::snapshot(vault, &args, progress) {
        Ok(o) => run.snapshot = Some(o),
        Err(e) => run.error = Some(e.to_string()),
    }
    run
}

/// The newest `TikTok_Data_*.zip` in `dir` (by modification time, then name),
/// unless it is already in the vault: recorded by file name among the account's
/// snapshot sources, or stored with the same bytes (its BLAKE3). Only the newest is
/// considered: an older export found later would make the account's latest snapshot
/// show older data than the one before it.
pub fn new_export(vault: &Vault, account: &str, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(newest) = newest_export(dir)? else {
        return Ok(None);
    };
    let conn = vault.connect()?;
    let name = newest.file_name().map(|n| n.to_os_string());
    let known_by_name = snapshots::list(&conn, Some(account))?
        .iter()
        .flat_map(|s| s.sources.as_array().cloned().unwrap_or_default())
        .filter(|src| src["kind"] == "export")
        .filter_map(|src| src["path"].as_str().map(PathBuf::from))
        .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
    if known_by_name {
        return Ok(None);
    }
    let hash = hash_file(&newest, vault.keys())?;
    if index::file(&conn, &hash)?.is_some() {
        return Ok(None);
    }
    Ok(Some(newest))
}

/// The newest `TikTok_Data_*.zip` directly in `dir`.
fn newest_export(dir: &Path) -> Result<Option<PathBuf>> {
    let read = |e: std::io::Error| {
        CommandError::Input(format!(
            "export folder {}: {e}; check `exports` in the config file",
            dir.display()
        ))
    };
    let mut best: Option<(std::time::SystemTime, String, PathBuf)> = None;
    for item in std::fs::read_dir(dir).map_err(read)? {
        let item = item.map_err(read)?;
        let name = item.file_name().to_string_lossy().into_owned();
        let meta = item.metadata().map_err(read)?;
        if !(name.starts_with("TikTok_Data_") && name.ends_with(".zip") && meta.is_file()) {
            continue;
        }
        let key = (meta.modified().map_err(read)?, name);
        if best
            .as_ref()
            .is_none_or(|(t, n, _)| (t, n) < (&key.0, &key.1))
        {
            best = Some((key.0, key.1, item.path()));
        }
    }
    Ok(best.map(|(_, _, p)| p))
}

/// The vault's id of a file's content (keyed BLAKE3 in an encrypted vault), streamed.
fn hash_file(path: &Path, keys: Option<&crate::store::crypto::Keys>) -> Result<crate::store::Hash> {
    let mut hasher = crate::store::crypto::hasher(keys);
    let file = std::fs::File::open(path)
        .map_err(|e| CommandError::Input(format!("export {}: {e}", path.display())))?;
    hasher
        .update_reader(file)
        .map_err(|e| CommandError::Input(format!("reading export {}: {e}", path.display())))?;
    Ok(*hasher.finalize().as_bytes())
}

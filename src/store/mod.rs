#![doc = include_str!("README.md")]

pub mod archiver;
pub mod backend;
pub mod census;
pub mod checker;
pub mod chunker;
pub mod codec;
pub mod crypto;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod pack;
pub mod page_cache;
pub mod prefetch;
pub mod pruner;
pub mod reader;
pub mod rebuild;
pub mod recovery;
pub mod remote;
pub mod repository;
pub mod restorer;
pub mod tombstone;
pub mod vault;
pub mod workers;

#[cfg(test)]
pub(crate) mod testing;

pub use chunker::Hash;
pub use repository::{index, journal, snapshots, Repository};
pub use vault::Vault;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Pack(#[from] pack::PackError),
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error("vault index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Key(#[from] crypto::KeyError),
    #[error("{0}")]
    Vault(String),
    #[error(
        "vault {0} is read-only (a read-only mount, or no permission to write it): \
             snapshot, forget, prune and rebuild-index must write it; snapshots, ls, show, \
             diff, stats, audits, restore, verify and dry runs work on it as it is"
    )]
    ReadOnly(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {0} not found; `tt-vault snapshots` lists them")]
    NoSuchSnapshot(String),
    #[error("snapshot prefix {prefix} is ambiguous: {matches}")]
    Ambiguous { prefix: String, matches: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The environment variable that names a failpoint (see [`failpoint`]).
pub const FAILPOINT_ENV: &str = "TT_VAULT_FAILPOINT";

/// Crash tests: when `$TT_VAULT_FAILPOINT` equals `name`, the process aborts here at
/// once, with no unwinding and no cleanup, as a SIGKILL would leave it. The points:
/// `prune-after-new-packs`, `prune-after-commit`, `prune-mid-delete` (after the first
/// old pack is deleted) and `forget-after-tombstone` (durable, not yet committed).
pub fn failpoint(name: &str) {
    if std::env::var_os(FAILPOINT_ENV).is_some_and(|v| v == name) {
        std::process::abort();
    }
}

/// The environment variable that pauses a process at a named point (see
/// [`pause_point`]).
pub const PAUSE_ENV: &str = "TT_VAULT_PAUSE";

/// Concurrency tests: when `$TT_VAULT_PAUSE` is `name:DIR`, the first time the
/// process passes point `name` it creates `DIR/reached`, then waits (a minute at
/// most) until `DIR/go` exists. The point: `blob-located` (a blob's place was read
/// from the index; its pack is not opened yet).
pub fn pause_point(name: &str) {
    // Read once: this sits on the per-blob read path.
    static SETTING: std::sync::OnceLock<Option<(String, PathBuf)>> = std::sync::OnceLock::new();
    static PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let setting = SETTING.get_or_init(|| {
        let value = std::env::var_os(PAUSE_ENV)?;
        let (point, dir) = value.to_str()?.split_once(':')?;
        Some((point.to_string(), PathBuf::from(dir)))
    });
    let Some((point, dir)) = setting else {
        return;
    };
    if point != name || PAUSED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let _ = std::fs::write(dir.join("reached"), b"");
    for _ in 0..6000 {
        if dir.join("go").exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}

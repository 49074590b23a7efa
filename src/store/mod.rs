#![doc = include_str!("README.md")]

pub mod archiver;
pub mod checker;
pub mod chunker;
pub mod codec;
pub mod crypto;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod pack;
pub mod pruner;
pub mod reader;
pub mod rebuild;
pub mod recovery;
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

pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}

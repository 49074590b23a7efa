//! The content-addressed store. Knows nothing of TikTok: it could back up anything.
//!
//! - [`chunker`] — FastCDC chunks and BLAKE3 ids.
//! - [`codec`] — zstd or raw, decided by a cheap trial.
//! - [`pack`] — the pack file format (documented there) and its writer and readers.
//! - [`index`] — the SQLite index and its migrations.
//! - [`manifest`] — snapshot manifests and file maps, stored as blobs.
//! - [`journal`] — files stored by a run not yet committed, for resuming it.
//! - [`lock`] — the one-writer lock.
//! - [`vault`] — a vault directory: opening, creating, recovering after a crash.
//! - [`archiver`] — writing a snapshot (parallel chunking, a packing thread).
//! - [`restorer`] — reading files back, BLAKE3-checked.
//! - [`checker`] — verify.
//! - [`rebuild`] — recreating the index from the packs alone.
//! - [`snapshots`] — snapshot rows in the index: recording, listing, finding.
//! - [`tombstone`] — the packs' record of forgotten snapshots.
//! - [`pruner`] — removing what no snapshot references (crash-safe repacking).

pub mod archiver;
pub mod checker;
pub mod chunker;
pub mod codec;
pub mod index;
pub mod journal;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod pack;
pub mod pruner;
pub mod rebuild;
pub mod restorer;
pub mod snapshots;
pub mod tombstone;
pub mod vault;

pub use chunker::Hash;
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

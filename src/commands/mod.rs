//! One module per command; each an ordinary function the binary and the tests call.

pub mod accounts;
pub mod diff;
pub mod forget;
pub mod init;
pub mod key;
pub mod list;
pub mod passphrase;
pub mod prune;
pub mod rebuild;
pub mod restore;
pub mod run;
pub mod serve;
pub mod show;
pub mod snapshot;
pub mod stats;
pub mod verify;
pub mod watch;

use std::path::Path;

use crate::store::{StoreError, Vault};

/// How a long command reports progress; the CLI draws bars, tests ignore it.
pub trait Progress: Sync {
    /// A new phase: `what` is shown, `total` in bytes when known.
    fn begin(&self, what: &str, total: Option<u64>);
    fn add(&self, bytes: u64);
    /// A line of status beside the bar (videos done, failures so far).
    fn message(&self, _text: String) {}
    fn end(&self);
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Catalogue(#[from] crate::catalogue::CatalogueError),
}

pub type Result<T> = std::result::Result<T, CommandError>;

impl From<crate::selection::SelectError> for CommandError {
    fn from(e: crate::selection::SelectError) -> Self {
        use crate::selection::SelectError;
        match e {
            SelectError::Usage(m) => CommandError::Usage(m),
            SelectError::NotFound(m) => CommandError::Input(m),
            SelectError::Store(s) => CommandError::Store(s),
        }
    }
}

impl From<crate::download::DownloadError> for CommandError {
    fn from(e: crate::download::DownloadError) -> Self {
        use crate::download::DownloadError;
        match e {
            DownloadError::Usage(m) => CommandError::Usage(m),
            DownloadError::Start(_) => CommandError::Input(e.to_string()),
            DownloadError::Store(s) => CommandError::Store(s),
        }
    }
}

impl From<rusqlite::Error> for CommandError {
    fn from(e: rusqlite::Error) -> Self {
        CommandError::Store(e.into())
    }
}

/// Opens the vault at `vault`, unlocking it with a passphrase from `pass` when it is
/// encrypted (an unencrypted vault never asks).
pub fn open(vault: &Path, pass: &passphrase::Source) -> Result<Vault> {
    let mut v = Vault::open(vault)?;
    if v.is_encrypted() {
        let p = pass.read(&format!("passphrase for {}", vault.display()))?;
        v.unlock(p.as_bytes())?;
    }
    Ok(v)
}

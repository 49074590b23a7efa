//! One writer at a time: an advisory `flock` on `<vault>/lock`.
//!
//! The kernel drops the lock when the holder dies, so a crash never leaves a stale
//! lock to clear by hand. The file's text (pid, host, start time) only serves the
//! message shown to a second writer; it is never trusted as the lock itself.
//!
//! Readers and prune: readers that read packs (restore, verify) hold a shared `flock`
//! on `<vault>/readers` ([`ReadLock`]) from before they read the index until they are
//! done; deleting pack files (prune's last step, and recovery finishing it) takes it
//! exclusively ([`DeleteLock`]) and so waits for running readers, while new readers
//! wait for the deletes. A reader therefore never looks for a pack that a prune
//! deleted under it. On a vault that cannot be written the file may not exist and
//! cannot be created; readers then go without it (nobody can prune such a vault).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("vault {vault} is locked by {holder}; wait for it to finish, or pass --wait")]
    Held { vault: PathBuf, holder: String },
    #[error("cannot lock vault {vault}: {source}")]
    Io {
        vault: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

impl WriteLock {
    pub fn acquire(vault: &Path, wait: bool) -> Result<WriteLock, LockError> {
        let io = |source| LockError::Io {
            vault: vault.to_path_buf(),
            source,
        };
        let mut file = open_lock_file(&vault.join("lock")).map_err(io)?;
        let mode = if wait {
            libc::LOCK_EX
        } else {
            libc::LOCK_EX | libc::LOCK_NB
        };
        if let Err(err) = flock(&file, mode) {
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    vault: vault.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another tt-vault process".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            return Err(io(err));
        }
        let host = hostname();
        let info = format!(
            "pid {} ({host}, since {})\n",
            std::process::id(),
            super::index::now_rfc3339()
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(info.as_bytes()).map_err(io)?;
        Ok(WriteLock { _file: file })
    }
}

/// A lock file, created 0600 if missing.
fn open_lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn flock(file: &File, mode: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor we own; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), mode) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A reader's shared hold on `<vault>/readers` (see the module docs); `None` inside
/// on a vault where the file can be neither opened nor created.
#[derive(Debug)]
pub struct ReadLock {
    _file: Option<File>,
}

impl ReadLock {
    /// Waits while a prune deletes packs, then holds the shared lock.
    pub fn acquire(vault: &Path) -> Result<ReadLock, LockError> {
        let path = vault.join(READERS);
        let Ok(file) = open_lock_file(&path).or_else(|_| File::open(&path)) else {
            return Ok(ReadLock { _file: None });
        };
        flock(&file, libc::LOCK_SH).map_err(|source| LockError::Io {
            vault: vault.to_path_buf(),
            source,
        })?;
        Ok(ReadLock { _file: Some(file) })
    }
}

/// Prune's exclusive hold on `<vault>/readers` while it deletes pack files.
#[derive(Debug)]
pub struct DeleteLock {
    _file: File,
}

impl DeleteLock {
    /// Waits for every running reader to finish; `waiting` is called once first
    /// when one is running.
    pub fn acquire(vault: &Path, waiting: &dyn Fn()) -> Result<DeleteLock, LockError> {
        let io = |source| LockError::Io {
            vault: vault.to_path_buf(),
            source,
        };
        let file = open_lock_file(&vault.join(READERS)).map_err(io)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                waiting();
                flock(&file, libc::LOCK_EX).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
        Ok(DeleteLock { _file: file })
    }
}

const READERS: &str = "readers";

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer outlives the call and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

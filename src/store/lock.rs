//! One writer at a time: an advisory `flock` on `<vault>/lock`.
//!
//! The kernel drops the lock when the holder dies, so a crash never leaves a stale
//! lock to clear by hand. The file's text (pid, host, start time) only serves the
//! message shown to a second writer; it is never trusted as the lock itself.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
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
        let path = vault.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mode = if wait {
            libc::LOCK_EX
        } else {
            libc::LOCK_EX | libc::LOCK_NB
        };
        // SAFETY: flock on a descriptor we own; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), mode) } != 0 {
            let err = std::io::Error::last_os_error();
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

//! Hints to the kernel's page cache (`posix_fadvise`) for the snapshot's data path.
//!
//! They change no byte of what is read or written, only how the kernel caches it, so
//! a hint the kernel refuses is ignored.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// `file` will be read once from start to end: read ahead further (a cold snapshot
/// waits on the disk less).
pub fn read_sequentially(file: &File) {
    advise(file, libc::POSIX_FADV_SEQUENTIAL);
}

/// Drops the cached pages of a pack that is durable (fsynced), uploaded and no
/// longer needed here: a first snapshot of tens of GiB would otherwise push the
/// machine's working set out of the page cache for packs nobody reads back soon.
/// (It costs or saves no measurable CPU time of the snapshot itself.)
pub fn forget(path: &Path) {
    if let Ok(file) = File::open(path) {
        advise(&file, libc::POSIX_FADV_DONTNEED);
    }
}

fn advise(file: &File, advice: libc::c_int) {
    // SAFETY: a plain system call on a descriptor `file` keeps open; it reads no memory.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, advice);
    }
}

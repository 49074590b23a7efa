//! Reading files back out of the vault, every chunk and every file BLAKE3-checked.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::chunker::Hash;
use super::crypto::{self, Keys};
use super::manifest::{mtime_to_system, Entry};
use super::names::{self, RawPaths};
use super::prefetch::ReadAhead;
use super::reader::BlobReader;
use super::{workers, Result, Vault};

pub struct RestoreOptions {
    pub target: PathBuf,
    pub force: bool,
    pub verify: bool,
    /// The real names of paths that are not UTF-8 (see `names.rs`).
    pub raw_paths: RawPaths,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct RestoreReport {
    pub restored: u64,
    pub skipped: u64,
    pub bytes: u64,
    pub failed: Vec<RestoreFailure>,
}

#[derive(Debug, serde::Serialize)]
pub struct RestoreFailure {
    pub path: String,
    pub error: String,
}

/// Joins a snapshot path under `target`, refusing anything that could land outside
/// it: absolute paths, `..`, and directories along the way that are symlinks.
pub fn safe_target(target: &Path, rel: &Path) -> std::result::Result<PathBuf, String> {
    let rel_path = rel;
    let mut out = target.to_path_buf();
    for c in rel_path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            _ => {
                return Err(format!(
                    "refusing unsafe path {rel:?} (absolute or with ..)"
                ))
            }
        }
    }
    if rel.as_os_str().is_empty() || rel.as_os_str().as_bytes().contains(&0) {
        return Err(format!("refusing unsafe path {rel:?}"));
    }
    // Every existing directory between target and the file must be a real directory.
    let mut dir = target.to_path_buf();
    let parts: Vec<_> = rel_path.components().collect();
    for c in &parts[..parts.len() - 1] {
        dir.push(c);
        if let Ok(m) = fs::symlink_metadata(&dir) {
            if !m.is_dir() {
                return Err(format!(
                    "refused: {} is a symlink or not a directory",
                    dir.display()
                ));
            }
        }
    }
    if let Ok(m) = fs::symlink_metadata(&out) {
        if m.file_type().is_symlink() {
            return Err(format!("refused: {} is a symlink", out.display()));
        }
    }
    Ok(out)
}

/// The hash of what is at a target path already: `None` when nothing is there, an
/// error naming the path when it is not a regular file. A FIFO, socket or device is
/// never opened (opening a FIFO would wait forever): the type is checked before, and
/// again on the opened descriptor, which is opened without following a symlink and
/// without blocking, in case the path changed in between.
pub fn existing_hash(
    path: &Path,
    keys: Option<&Keys>,
) -> std::result::Result<Option<Hash>, String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    not_special(path, &meta)?;
    hash_file(path, keys)
        .map(Some)
        .map_err(|e| format!("reading {}: {e}", path.display()))
}

/// An error naming `path` unless it is a regular file.
fn not_special(path: &Path, meta: &fs::Metadata) -> std::result::Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(format!(
        "{} is {what}, not a regular file; it was left alone: remove it or restore somewhere else",
        path.display()
    ))
}

/// Hashes a regular file, refusing (without blocking) anything else put at `path`.
pub fn hash_file(path: &Path, keys: Option<&Keys>) -> io::Result<Hash> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    not_special(path, &f.metadata()?).map_err(io::Error::other)?;
    let mut h = crypto::hasher(keys);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(*h.finalize().as_bytes())
}

/// Restores `entries` under `opts.target`. Each file fails or succeeds on its own;
/// failures are reported, never silently skipped. Files are restored side by side
/// (see workers.rs), so reading, checking and writing use every core, while the
/// packs of an off-site vault are fetched ahead of them (see prefetch.rs).
pub fn restore(
    vault: &Vault,
    entries: &[Entry],
    opts: &RestoreOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RestoreReport> {
    fs::create_dir_all(&opts.target).map_err(super::io_at(&opts.target))?;
    // A file already at its place with its size is most likely restored: its packs
    // are not fetched ahead (its worker still checks it, and fetches what it lacks).
    let ahead = ReadAhead::plan(vault, entries, |e| {
        let there = names::restore_path(&e.path, &opts.raw_paths);
        safe_target(&opts.target, &there)
            .ok()
            .and_then(|dest| fs::symlink_metadata(dest).ok())
            .is_none_or(|m| m.len() != e.size)
    })?;
    let report = Mutex::new(RestoreReport::default());
    let indexed: Vec<(usize, &Entry)> = entries.iter().enumerate().collect();
    std::thread::scope(|s| {
        if let Some(ahead) = &ahead {
            s.spawn(|| ahead.run());
        }
        // Stops the fetchers however the workers end: a worker's panic, passed on by
        // `workers::run`, must not leave the scope waiting on a full window.
        let _stop = StopAhead(ahead.as_ref());
        let restored = workers::run(
            &indexed,
            || BlobReader::new(vault),
            |reader, &(i, e)| {
                if let Some(ahead) = &ahead {
                    ahead.started(i);
                }
                let outcome = restore_one(reader, e, opts, progress);
                if let Some(ahead) = &ahead {
                    ahead.finished(i);
                }
                let mut r = report.lock().unwrap();
                match outcome {
                    Ok(true) => {
                        r.restored += 1;
                        r.bytes += e.size;
                    }
                    Ok(false) => {
                        r.skipped += 1;
                        progress(e.size);
                    }
                    Err(err) => r.failed.push(RestoreFailure {
                        path: e.path.clone(),
                        error: err,
                    }),
                }
                Ok(())
            },
        );
        restored
    })?;
    drop(ahead);
    let mut report = report.into_inner().unwrap();
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

struct StopAhead<'a, 'v>(Option<&'a ReadAhead<'v>>);

impl Drop for StopAhead<'_, '_> {
    fn drop(&mut self) {
        if let Some(ahead) = self.0 {
            ahead.stop();
        }
    }
}

/// Ok(false): already there with the right content.
fn restore_one(
    reader: &mut BlobReader,
    e: &Entry,
    opts: &RestoreOptions,
    progress: &dyn Fn(u64),
) -> std::result::Result<bool, String> {
    let dest = safe_target(&opts.target, &names::restore_path(&e.path, &opts.raw_paths))?;
    if let Ok(meta) = fs::symlink_metadata(&dest) {
        not_special(&dest, &meta)?;
        if meta.len() == e.size
            && hash_file(&dest, reader.keys())
                .map(|h| h == e.hash)
                .unwrap_or(false)
        {
            return Ok(false);
        }
        if !opts.force {
            return Err(format!(
                "{} already exists with other content; pass --force to overwrite",
                dest.display()
            ));
        }
    }
    let dir = dest.parent().expect("restored files have a parent");
    fs::create_dir_all(dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(dest.file_name().unwrap_or_default());
    tmp_name.push(".tt-vault-tmp");
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let file = reader.file(&e.hash).map_err(|err| err.to_string())?;
        // A stale temporary from an interrupted run goes; create_new then never
        // follows a symlink someone planted under that name.
        let _ = fs::remove_file(&tmp);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|err| format!("creating {}: {err}", tmp.display()))?;
        {
            let mut buf = io::BufWriter::with_capacity(1 << 20, &mut out);
            reader
                .copy_file(&file, &mut buf, &e.path, progress)
                .map_err(|err| err.to_string())?;
            buf.flush()
                .map_err(|err| format!("writing {}: {err}", tmp.display()))?;
        }
        if let Some(t) = e.mtime_ns.and_then(mtime_to_system) {
            // Best effort: a filesystem whose range is narrower than the source's
            // (ext4 without large inodes stops in 2038) must not cost the file.
            let _ = out.set_modified(t);
        }
        drop(out);
        if opts.verify && hash_file(&tmp, reader.keys()).map_err(|err| err.to_string())? != e.hash {
            return Err(format!("{}: re-read does not match the snapshot", e.path));
        }
        fs::rename(&tmp, &dest).map_err(|err| format!("renaming to {}: {err}", dest.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{flip_byte, noise, snapshot, vault};

    fn run(v: &Vault, entries: &[Entry], target: &Path, force: bool) -> RestoreReport {
        let opts = RestoreOptions {
            target: target.to_path_buf(),
            force,
            verify: true,
            raw_paths: RawPaths::new(),
        };
        restore(v, entries, &opts, &|_| ()).unwrap()
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(safe_target(dir.path(), Path::new(bad)).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("/tmp", dir.path().join("link")).unwrap();
        assert!(safe_target(dir.path(), Path::new("link/x")).is_err());
        assert_eq!(
            safe_target(dir.path(), Path::new("a/b")).unwrap(),
            dir.path().join("a/b")
        );
    }

    #[test]
    fn restores_exact_bytes_and_never_silently_overwrites() {
        let t = vault();
        let big = noise(3 << 20, 21);
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("d/big", &big, None), ("small", b"hi", None)],
        );
        let out = tempfile::tempdir().unwrap();
        let r = run(&t.vault, &c.manifest.entries, out.path(), false);
        assert_eq!((r.restored, r.skipped, r.failed.len()), (2, 0, 0));
        assert_eq!(fs::read(out.path().join("d/big")).unwrap(), big);
        // Again: already there, skipped.
        let r = run(&t.vault, &c.manifest.entries, out.path(), false);
        assert_eq!((r.restored, r.skipped), (0, 2));
        // Other content is not overwritten without force.
        fs::write(out.path().join("small"), b"changed").unwrap();
        let r = run(&t.vault, &c.manifest.entries, out.path(), false);
        assert_eq!(r.failed.len(), 1);
        assert!(r.failed[0].error.contains("--force"));
        assert_eq!(fs::read(out.path().join("small")).unwrap(), b"changed");
        let r = run(&t.vault, &c.manifest.entries, out.path(), true);
        assert_eq!(r.restored, 1);
        assert_eq!(fs::read(out.path().join("small")).unwrap(), b"hi");
    }

    #[test]
    fn a_damaged_chunk_fails_its_file_only() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("a", b"first file", None), ("b", b"second file", None)],
        );
        flip_byte(&t.vault, &c.manifest.entries[0].hash);
        let out = tempfile::tempdir().unwrap();
        let r = run(&t.vault, &c.manifest.entries, out.path(), false);
        assert_eq!(r.restored, 1);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].path, "a");
        assert!(
            !out.path().join("a").exists(),
            "no damaged bytes are left behind"
        );
    }
}

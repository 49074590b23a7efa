//! Reading files back out of the vault, every chunk and every file BLAKE3-checked.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use super::chunker::Hash;
use super::index::{self, FileRow};
use super::manifest::Entry;
use super::pack::{self, BlobEntry, BlobHeader};
use super::{Result, StoreError, Vault};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("chunk {0} is not in the index (run `tt-vault verify`)")]
    MissingChunk(String),
    #[error("chunk {chunk} in pack {pack} is unreadable: {why}")]
    Corrupt {
        chunk: String,
        pack: String,
        why: String,
    },
    #[error("file content {0} is not in the index")]
    MissingFile(String),
    #[error("restored bytes of {0} do not match its BLAKE3")]
    WholeFileMismatch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Reads blobs, keeping pack files open between reads.
pub struct BlobReader<'v> {
    vault: &'v Vault,
    conn: Connection,
    open: HashMap<String, File>,
}

impl<'v> BlobReader<'v> {
    pub fn new(vault: &'v Vault) -> Result<BlobReader<'v>> {
        Ok(BlobReader {
            vault,
            conn: vault.connect()?,
            open: HashMap::new(),
        })
    }

    /// A reader over a connection the caller opened (a read-only one, for `serve`).
    pub fn with_connection(vault: &'v Vault, conn: Connection) -> BlobReader<'v> {
        BlobReader {
            vault,
            conn,
            open: HashMap::new(),
        }
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The raw bytes of a blob, checked against its hash.
    pub fn read(&mut self, hash: &Hash) -> std::result::Result<Vec<u8>, ReadError> {
        let loc = index::chunk_location(&self.conn, hash)
            .map_err(StoreError::from)?
            .ok_or_else(|| ReadError::MissingChunk(hex::encode(hash)))?;
        let corrupt = |why: String| ReadError::Corrupt {
            chunk: hex::encode(hash),
            pack: loc.pack.clone(),
            why,
        };
        if self.open.len() > 64 {
            self.open.clear();
        }
        let path = self.vault.pack_path(&loc.pack);
        let file = match self.open.entry(loc.pack.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(File::open(&path).map_err(|e| corrupt(format!("cannot open: {e}")))?)
            }
        };
        let entry = BlobEntry {
            header: BlobHeader {
                kind: loc.kind,
                codec: loc.codec,
                raw_len: loc.raw_len,
                stored_len: loc.stored_len,
                hash: *hash,
            },
            offset: loc.offset,
        };
        pack::read_raw(file, &path, &entry).map_err(|e| corrupt(e.to_string()))
    }

    pub fn file(&self, hash: &Hash) -> std::result::Result<FileRow, ReadError> {
        index::file(&self.conn, hash)
            .map_err(StoreError::from)?
            .ok_or_else(|| ReadError::MissingFile(hex::encode(hash)))
    }

    /// Streams a file's content to `out`, checking every chunk and the whole.
    pub fn copy_file(
        &mut self,
        file: &FileRow,
        out: &mut dyn Write,
        out_name: &str,
        progress: &dyn Fn(u64),
    ) -> std::result::Result<(), ReadError> {
        let mut whole = blake3::Hasher::new();
        for chunk in &file.chunks {
            let raw = self.read(chunk)?;
            whole.update(&raw);
            out.write_all(&raw).map_err(|source| ReadError::Write {
                path: out_name.to_string(),
                source,
            })?;
            progress(raw.len() as u64);
        }
        if whole.finalize().as_bytes() != &file.hash {
            return Err(ReadError::WholeFileMismatch(out_name.to_string()));
        }
        Ok(())
    }
}

pub struct RestoreOptions {
    pub target: PathBuf,
    pub force: bool,
    pub verify: bool,
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
pub fn safe_target(target: &Path, rel: &str) -> std::result::Result<PathBuf, String> {
    let rel_path = Path::new(rel);
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
    if rel.is_empty() || rel.contains('\0') {
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

pub fn hash_file(path: &Path) -> io::Result<Hash> {
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
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
/// failures are reported, never silently skipped. Two workers restore files side by
/// side, so reading, checking and writing use both cores.
pub fn restore(
    vault: &Vault,
    entries: &[Entry],
    opts: &RestoreOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RestoreReport> {
    fs::create_dir_all(&opts.target).map_err(super::io_at(&opts.target))?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let report = std::sync::Mutex::new(RestoreReport::default());
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut reader = BlobReader::new(vault)?;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(e) = entries.get(i) else {
                            return Ok(());
                        };
                        let outcome = restore_one(&mut reader, e, opts, progress);
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
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("restore worker panicked")?;
        }
        Ok(())
    })?;
    let mut report = report.into_inner().unwrap();
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Ok(false): already there with the right content.
fn restore_one(
    reader: &mut BlobReader,
    e: &Entry,
    opts: &RestoreOptions,
    progress: &dyn Fn(u64),
) -> std::result::Result<bool, String> {
    let dest = safe_target(&opts.target, &e.path)?;
    if let Ok(meta) = fs::symlink_metadata(&dest) {
        if meta.is_file()
            && meta.len() == e.size
            && hash_file(&dest).map(|h| h == e.hash).unwrap_or(false)
        {
            return Ok(false);
        }
        if !opts.force {
            return Err(format!(
                "{} already exists with other content; pass --force to overwrite",
                dest.display()
            ));
        }
        if meta.is_dir() {
            return Err(format!("{} is a directory", dest.display()));
        }
    }
    let dir = dest.parent().expect("restored files have a parent");
    fs::create_dir_all(dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tt-vault-tmp"));
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
        if let Some(ns) = e.mtime_ns {
            let t = UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64);
            let _ =
                out.set_modified(t.min(SystemTime::now() + Duration::from_secs(86400 * 365 * 100)));
        }
        drop(out);
        if opts.verify && hash_file(&tmp).map_err(|err| err.to_string())? != e.hash {
            return Err(format!("{}: re-read does not match the snapshot", e.path));
        }
        fs::rename(&tmp, &dest).map_err(|err| format!("renaming to {}: {err}", dest.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

//! The one way blobs are read back: restore, verify, prune, rebuild, recovery and
//! tombstones all read through [`PackFiles`] (a blob at a known place in a named
//! pack) or [`BlobReader`] (a blob by hash, found in the index). Every read checks the
//! in-pack header against what the caller expects, decodes, and re-hashes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::chunker::Hash;
use super::crypto::{self, Keys};
use super::pack::{self, BlobEntry, PackError};
use super::repository::{BlobLocation, FileRow, Repository};
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
    #[error("restored bytes of {0} do not match its BLAKE3 (keyed, in an encrypted vault)")]
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

/// Pack files kept open between reads (a bounded number of them).
pub struct PackFiles<'v> {
    vault: &'v Vault,
    open: HashMap<String, File>,
    /// A pack was opened: the off-site cache may have grown (trimmed on drop).
    fetched: bool,
}

impl Drop for PackFiles<'_> {
    fn drop(&mut self) {
        if self.fetched {
            self.vault.trim_cache();
        }
    }
}

impl<'v> PackFiles<'v> {
    const MAX_OPEN: usize = 64;

    pub fn new(vault: &'v Vault) -> PackFiles<'v> {
        PackFiles {
            vault,
            open: HashMap::new(),
            fetched: false,
        }
    }

    /// The open file of pack `name`.
    pub fn file(&mut self, name: &str) -> std::result::Result<&File, PackError> {
        if !self.open.contains_key(name) && self.open.len() >= Self::MAX_OPEN {
            self.open.clear();
            self.vault.trim_cache();
        }
        Ok(match self.open.entry(name.to_string()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                // A pack kept off-site comes into the local cache first.
                let file = self.vault.open_pack(name).map_err(|e| match e {
                    StoreError::Io { path, source } => PackError::Io { path, source },
                    e => PackError::Io {
                        path: self.vault.pack_path(name),
                        source: io::Error::other(e.to_string()),
                    },
                })?;
                self.fetched = true;
                v.insert(file)
            }
        })
    }

    /// The raw bytes of the blob `entry` in pack `name`, header- and hash-checked.
    pub fn read(
        &mut self,
        name: &str,
        entry: &BlobEntry,
    ) -> std::result::Result<Vec<u8>, PackError> {
        self.read_blob(name, entry, true)
            .map(pack::RawBlob::into_vec)
    }

    /// As [`PackFiles::read`], in place, and with the choice of `rehash` (see
    /// [`pack::read_blob`]).
    pub fn read_blob(
        &mut self,
        name: &str,
        entry: &BlobEntry,
        rehash: bool,
    ) -> std::result::Result<pack::RawBlob, PackError> {
        self.reading(name, |f, path, keys| {
            pack::read_blob(f, path, entry, keys, rehash)
        })
    }

    /// The stored (still encoded) bytes of a blob, header-checked: what prune copies
    /// into a new pack once [`pack::decode_checked`] accepts them.
    pub fn read_stored(
        &mut self,
        name: &str,
        entry: &BlobEntry,
    ) -> std::result::Result<Vec<u8>, PackError> {
        self.reading(name, |f, path, keys| {
            pack::read_stored(f, path, entry, keys)
        })
    }

    /// `read` on pack `name`. A copy that fails it in a bounded cache of an off-site
    /// vault (a crash can leave one damaged: see `Vault::open_pack`) is dropped and
    /// fetched again, once; the bucket's copy is the one that counts.
    fn reading<T>(
        &mut self,
        name: &str,
        read: impl Fn(&File, &Path, Option<&Keys>) -> std::result::Result<T, PackError>,
    ) -> std::result::Result<T, PackError> {
        let vault = self.vault;
        let path = vault.pack_path(name);
        let first = read(self.file(name)?, &path, vault.keys());
        if first.is_err() && vault.evict_cached(name) {
            self.open.remove(name);
            return read(self.file(name)?, &path, vault.keys());
        }
        first
    }

    /// Checks an indexed blob as `verify` reads it: in an encrypted vault its tag,
    /// unless `decode` (then, as in a plain vault, opened, decoded and re-hashed).
    pub fn check_at(
        &mut self,
        loc: &BlobLocation,
        decode: bool,
    ) -> std::result::Result<(), PackError> {
        match self.vault.keys() {
            Some(keys) if !decode => self.reading(&loc.pack, |f, path, _| {
                let stored = pack::read_stored(f, path, &loc.entry, Some(keys))?;
                pack::authenticate_stored(path, &loc.entry, &stored, keys)
            }),
            _ => self.read_at(loc).map(drop),
        }
    }

    /// The raw bytes of an indexed blob.
    pub fn read_at(&mut self, loc: &BlobLocation) -> std::result::Result<Vec<u8>, PackError> {
        self.read(&loc.pack, &loc.entry)
    }
}

/// Reads blobs and files by hash through the index.
pub struct BlobReader<'v> {
    vault: &'v Vault,
    repo: Repository,
    packs: PackFiles<'v>,
}

impl<'v> BlobReader<'v> {
    pub fn new(vault: &'v Vault) -> Result<BlobReader<'v>> {
        Ok(BlobReader {
            vault,
            repo: Repository::open(vault)?,
            packs: PackFiles::new(vault),
        })
    }

    /// A reader over a repository the caller opened (a read-only one, for `serve`).
    pub fn with_repository(vault: &'v Vault, repo: Repository) -> BlobReader<'v> {
        BlobReader {
            vault,
            repo,
            packs: PackFiles::new(vault),
        }
    }

    /// The vault's keys, for ids of content read back.
    pub fn keys(&self) -> Option<&crypto::Keys> {
        self.vault.keys()
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The raw bytes of a blob, checked against its hash.
    pub fn read(&mut self, hash: &Hash) -> std::result::Result<Vec<u8>, ReadError> {
        self.read_blob(hash, true).map(pack::RawBlob::into_vec)
    }

    /// As [`BlobReader::read`], in place; `rehash` as in [`pack::read_blob`].
    fn read_blob(
        &mut self,
        hash: &Hash,
        rehash: bool,
    ) -> std::result::Result<pack::RawBlob, ReadError> {
        let loc = self
            .repo
            .blob(hash)?
            .ok_or_else(|| ReadError::MissingChunk(hex::encode(hash)))?;
        super::pause_point("blob-located");
        let corrupt = |why: String| ReadError::Corrupt {
            chunk: hex::encode(hash),
            pack: loc.pack.clone(),
            why,
        };
        if let Err(PackError::Io { source, .. }) = self.packs.file(&loc.pack) {
            return Err(corrupt(format!("cannot open: {source}")));
        }
        self.packs
            .read_blob(&loc.pack, &loc.entry, rehash)
            .map_err(|e| corrupt(e.to_string()))
    }

    pub fn file(&self, hash: &Hash) -> std::result::Result<FileRow, ReadError> {
        self.repo
            .file(hash)?
            .ok_or_else(|| ReadError::MissingFile(hex::encode(hash)))
    }

    /// Streams a file's content to `out`, checking every chunk and the whole. (An
    /// encrypted vault's chunks are checked by their tags, not re-hashed one by one:
    /// the whole is hashed here all the same.)
    pub fn copy_file(
        &mut self,
        file: &FileRow,
        out: &mut dyn Write,
        out_name: &str,
        progress: &dyn Fn(u64),
    ) -> std::result::Result<(), ReadError> {
        let mut whole = crypto::hasher(self.vault.keys());
        for chunk in &file.chunks {
            let raw = self.read_blob(chunk, false)?;
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

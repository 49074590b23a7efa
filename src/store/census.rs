//! What the packs on disk say about snapshots, without the index: the manifests their
//! trailers list and the snapshots their tombstones forget. The packs are the truth
//! and the index a cache, so prune checks the index against this before it deletes
//! anything: a snapshot the packs hold and the index does not know would otherwise
//! look dead and be deleted.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use super::backend::{Backend, BackendError};
use super::chunker::Hash;
use super::crypto::Keys;
use super::pack::{self, BlobEntry, BlobKind, PackError};
use super::reader::PackFiles;
use super::remote;
use super::tombstone::Tombstone;
use super::{Result, Vault};

#[derive(Debug, Default)]
pub struct Census {
    /// Every manifest in a pack's trailer, with every pack holding it, in the order read.
    pub manifests: BTreeMap<Hash, Vec<String>>,
    /// Every manifest a readable tombstone names.
    pub forgotten: HashSet<Hash>,
    /// Taken `with_blobs`: the packs whose blobs were read (by trailer or scan)...
    pub packs_read: HashSet<String>,
    /// ...and every blob in them. Both stay empty without `with_blobs`, so no caller
    /// can take a pack as read without its blobs.
    pub blobs: HashSet<Hash>,
}

impl Census {
    /// Reads the trailer (or, when damaged, scans) every pack (under packs/, or in
    /// the remote for a vault with one) except
    /// those in `skip` (packs a committed prune already gave up). A pack that does not
    /// read at all is left out: it holds nothing prune could delete by mistake that
    /// verify does not already report. `with_blobs` keeps every blob seen in
    /// [`Census::blobs`] (prune's tombstone check, which would read them again).
    ///
    /// A remote pack missing from the cache is not downloaded: its tail and its
    /// tombstones are read by range ([`RemoteTail`]), since a prune of a large
    /// off-site vault would otherwise fetch all of it for a few KiB a pack. Only a
    /// pack whose tail does not read comes whole into the cache, to be scanned.
    pub fn take(vault: &Vault, skip: &HashSet<String>, with_blobs: bool) -> Result<Census> {
        let mut census = Census::default();
        let mut reader = PackFiles::new(vault);
        let packs: Vec<(String, Option<u64>)> = match vault.remote_listing()? {
            Some(listing) => listing
                .packs
                .into_iter()
                .map(|(id, size)| (id, Some(size)))
                .collect(),
            None => vault
                .every_pack()?
                .into_iter()
                .map(|id| (id, None))
                .collect(),
        };
        let mut fetched = false;
        for (id, remote_size) in packs {
            if skip.contains(&id) {
                continue;
            }
            census.take_pack(
                vault,
                &mut reader,
                &id,
                remote_size,
                with_blobs,
                &mut fetched,
            )?;
        }
        drop(reader);
        if fetched {
            vault.trim_cache();
        }
        Ok(census)
    }

    /// Counts pack `id` (`remote_size` bytes in the remote's listing, for a vault
    /// with one): from its remote tail when the cache lacks it, else from the local
    /// file. `fetched`: a pack came whole into the cache.
    fn take_pack(
        &mut self,
        vault: &Vault,
        reader: &mut PackFiles,
        id: &str,
        remote_size: Option<u64>,
        with_blobs: bool,
        fetched: &mut bool,
    ) -> Result<()> {
        // A bounded cache is not fsynced: a cached copy that is not whole (no trailer,
        // or nothing) may be what a crash left, and its scan stops at the first damage.
        // It is dropped, once, and the remote's copy read instead; a copy just
        // downloaded is the remote's and is taken as it reads.
        let mut dropped = false;
        loop {
            let mut fresh = false;
            if let Some(mut tail) = RemoteTail::uncached(vault, id, remote_size)? {
                if let Some(entries) = tail.toc()? {
                    for e in &entries {
                        self.count(id, e, || tail.raw(e))?;
                    }
                    self.read(id, &entries, with_blobs);
                    return Ok(());
                }
                *fetched = true;
                fresh = true;
            }
            // A pack kept off-site that cannot be fetched stops prune: a pack left
            // out could hold a live snapshot the index lost.
            let path = vault.cached_pack(id)?;
            let contents = pack::contents(&path, vault.keys());
            let whole = contents.as_ref().is_ok_and(|c| !c.salvaged);
            if !whole && !fresh && !dropped && vault.evict_cached(id) {
                dropped = true;
                continue;
            }
            let Ok(contents) = contents else {
                return Ok(());
            };
            for e in &contents.entries {
                self.count(id, e, || Ok(reader.read(id, e).ok()))?;
            }
            self.read(id, &contents.entries, with_blobs);
            return Ok(());
        }
    }

    /// Notes pack `id` as read, with its blobs, when taken `with_blobs`.
    fn read(&mut self, id: &str, entries: &[BlobEntry], with_blobs: bool) {
        if with_blobs {
            self.packs_read.insert(id.to_string());
            self.blobs.extend(entries.iter().map(|e| e.header.hash));
        }
    }

    /// Counts blob `e` of pack `id`: a manifest as held there, a tombstone's
    /// snapshots (read by `tombstone`, when it reads) as forgotten.
    fn count(
        &mut self,
        id: &str,
        e: &BlobEntry,
        tombstone: impl FnOnce() -> Result<Option<Vec<u8>>>,
    ) -> Result<()> {
        match e.header.kind {
            BlobKind::Manifest => {
                let holders = self.manifests.entry(e.header.hash).or_default();
                if !holders.iter().any(|h| h == id) {
                    holders.push(id.to_string());
                }
            }
            BlobKind::Tombstone => {
                if let Some(t) = tombstone()?.and_then(|raw| Tombstone::decode(&raw).ok()) {
                    self.forgotten.extend(t.manifests());
                }
            }
            BlobKind::Data | BlobKind::FileMap => {}
        }
        Ok(())
    }

    /// The live snapshots (manifests no tombstone names) missing from `known`, with
    /// the first pack holding each.
    pub fn unknown(&self, known: &HashSet<Hash>) -> Vec<(Hash, &str)> {
        self.manifests
            .iter()
            .filter(|(h, _)| !self.forgotten.contains(*h) && !known.contains(*h))
            .map(|(h, p)| (*h, p[0].as_str()))
            .collect()
    }

    /// The packs holding manifest `hash` (none when no pack does).
    pub fn holders(&self, hash: &Hash) -> &[String] {
        self.manifests.get(hash).map_or(&[], Vec::as_slice)
    }
}

/// The last bytes of a remote pack, fetched by one ranged GET; reads past them are
/// ranged GETs of exactly what is asked (a trailer longer than the tail, a
/// tombstone). Nothing is written to the cache.
pub(crate) struct RemoteTail<'a> {
    backend: &'a Backend,
    keys: Option<&'a Keys>,
    key: String,
    /// The remote object, for messages (`s3://bucket/prefix/packs/…`).
    place: PathBuf,
    size: u64,
    /// Where `bytes` start in the pack.
    start: u64,
    bytes: Vec<u8>,
    /// A GET that failed: the caller stops, as for a pack it cannot download.
    failed: Option<BackendError>,
}

impl<'a> RemoteTail<'a> {
    /// Enough for the trailer of a pack of a thousand blobs: most packs' table of
    /// contents in one request.
    const TAIL: u64 = 64 * 1024;

    /// The tail of pack `id` (of `size` bytes by the remote's listing) when the
    /// vault keeps it off-site and the cache lacks it; None when it is to be read
    /// from the local file (no remote, cached, or not listed).
    pub(crate) fn uncached(
        vault: &'a Vault,
        id: &str,
        size: Option<u64>,
    ) -> Result<Option<RemoteTail<'a>>> {
        let (Some(remote), Some(size)) = (vault.off_site_only(id), size) else {
            return Ok(None);
        };
        let backend = remote.backend()?;
        let key = remote::pack_key(id);
        let start = size.saturating_sub(Self::TAIL);
        let bytes = backend.read_range(&key, start..size)?;
        Ok(Some(RemoteTail {
            backend,
            keys: vault.keys(),
            place: PathBuf::from(backend.describe(&key)),
            key,
            size,
            start,
            bytes,
            failed: None,
        }))
    }

    /// `len` bytes at `offset`: from the tail when it holds them, else by range.
    fn read(&mut self, offset: u64, len: usize) -> std::result::Result<Vec<u8>, PackError> {
        let end = offset.saturating_add(len as u64);
        if offset >= self.start && end <= self.start + self.bytes.len() as u64 {
            let at = (offset - self.start) as usize;
            return Ok(self.bytes[at..at + len].to_vec());
        }
        if end > self.size {
            return Err(PackError::Damaged {
                path: self.place.clone(),
                what: format!("bytes {offset}..{end} lie past its {} bytes", self.size),
            });
        }
        self.backend
            .read_range(&self.key, offset..end)
            .map_err(|e| {
                let io = PackError::Io {
                    path: self.place.clone(),
                    source: std::io::Error::other(e.to_string()),
                };
                self.failed = Some(e);
                io
            })
    }

    /// The pack's table of contents, as [`pack::read_index`] reads a file's; None
    /// when the tail does not parse (the caller scans the whole pack). A failed GET
    /// is an error.
    pub(crate) fn toc(&mut self) -> Result<Option<Vec<BlobEntry>>> {
        let (keys, place, size) = (self.keys, self.place.clone(), self.size);
        let toc = pack::read_toc(&place, size, keys, &mut |o, l| self.read(o, l));
        if let Some(e) = self.failed.take() {
            return Err(e.into());
        }
        Ok(toc.ok())
    }

    /// The raw bytes of blob `e` (an entry [`RemoteTail::toc`] gave), checked as a
    /// file's; None when they do not read. A failed GET is an error.
    fn raw(&mut self, e: &BlobEntry) -> Result<Option<Vec<u8>>> {
        let range = pack::blob_range(e);
        let bytes = self.read(range.start, (range.end - range.start) as usize);
        if let Some(e) = self.failed.take() {
            return Err(e.into());
        }
        Ok(bytes
            .ok()
            .and_then(|b| pack::raw_from(&self.place, e, &b, self.keys).ok()))
    }
}

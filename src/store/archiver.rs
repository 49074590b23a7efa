//! Writing a snapshot.
//!
//! Callers (one per file, on as many threads as they like) chunk, hash, pick the
//! codec, compress and (in an encrypted vault) seal on their own thread; the packed
//! blobs go through a bounded channel to one packing thread, which appends them to
//! the open pack and commits each pack to the index once it is durable. So the CPU
//! work runs on every core, the packer only writes, memory stays bounded by the
//! channel (a few maximal chunks per caller), and a killed run leaves every finished
//! pack committed for the next run to re-use.
//!
//! A blob is claimed before it is sent: `pending` holds the hashes sent but not yet
//! committed, so two files sharing a chunk in one run store it once. The packer
//! commits a pack to SQLite before it drops its hashes from `pending`, so a claim
//! that misses `pending` and then finds nothing in SQLite is truly new.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};
use rusqlite::Connection;

use super::chunker::{Chunker, Hash};
use super::codec::{Codec, Compressor};
use super::crypto::{self, Keys};
use super::index::{self, FileRow};
use super::lock::WriteLock;
use super::manifest::{self, Entry, Manifest, Source, Stats};
use super::pack::{BlobKind, FinishedPack, PackWriter, PackedBlob, TARGET_PACK_SIZE};
use super::{journal, page_cache, snapshots, tombstone, Result, StoreError, Vault};

thread_local! {
    /// zstd's state, one per thread that packs blobs (it is reused chunk after chunk).
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// Picks the codec for `raw`, compresses it when that pays, and seals it with `keys`:
/// the blob as it goes into a pack.
fn pack_blob(keys: Option<&Keys>, kind: BlobKind, hash: Hash, raw: Vec<u8>) -> Result<PackedBlob> {
    let zstd = |e: std::io::Error| StoreError::Vault(format!("zstd: {e}"));
    let encoded = COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(Compressor::new().map_err(zstd)?);
        }
        c.as_mut().expect("made above").encode(&raw).map_err(zstd)
    })?;
    let raw_len = raw.len();
    let (codec, stored) = match encoded {
        Some(z) => (Codec::Zstd, z),
        None => (Codec::Raw, raw),
    };
    PackedBlob::new(keys, kind, codec, hash, raw_len, stored).map_err(StoreError::Vault)
}

/// How much of a chunk the whole-file and chunk hashers take in turn: small enough
/// to stay in the core's cache between the two, large enough that the hashers'
/// serial work where a piece starts inside a 1 KiB BLAKE3 chunk stays negligible.
const HASH_PIECE: usize = 256 * 1024;

enum Msg {
    Blob(PackedBlob),
    /// Answer once every earlier blob is appended; with `commit`, also close the
    /// open pack and commit it first.
    Barrier {
        commit: bool,
        ack: Sender<()>,
    },
}

/// The content-addressed writer under a snapshot.
pub struct Archiver {
    lookup: Mutex<Connection>,
    pending: Arc<Mutex<HashSet<Hash>>>,
    tx: Option<Sender<Msg>>,
    packer: Option<JoinHandle<()>>,
    packer_error: Arc<Mutex<Option<String>>>,
    stored_bytes: Arc<AtomicU64>,
    new_bytes: AtomicU64,
    keys: Option<Arc<Keys>>,
}

/// Why adding a file failed: its source could not be read (the caller decides
/// whether to retry or record a failure), or the vault could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("reading {path}: {source}")]
    Source {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Archiver {
    fn new(vault: &Vault) -> Result<Archiver> {
        let (tx, rx) = bounded::<Msg>(8);
        let pending = Arc::new(Mutex::new(HashSet::new()));
        let packer_error = Arc::new(Mutex::new(None));
        let stored_bytes = Arc::new(AtomicU64::new(0));
        // A local vault's pack commits need no fsync each (see `index::without_fsync`).
        // With a remote, a committed pack's local copy may be trimmed from the cache at
        // once, and recovery adopts only packs it finds here: its row must be durable.
        let mut conn = vault.connect()?;
        if vault.remote().is_none() {
            conn = index::without_fsync(conn)?;
        }
        let packs_vault = vault.clone();
        let keys = vault.shared_keys();
        let (p, e, s) = (pending.clone(), packer_error.clone(), stored_bytes.clone());
        let k = keys.clone();
        let packer = std::thread::Builder::new()
            .name("packer".into())
            .spawn(move || {
                if let Err(err) = pack_loop(&rx, &mut conn, &packs_vault, k, &p, &s, &e) {
                    *e.lock().unwrap() = Some(err.to_string());
                    // Drop what was queued (and the barriers' answer channels with it).
                    while rx.try_recv().is_ok() {}
                }
            })
            .map_err(|e| StoreError::Vault(format!("cannot start the packing thread: {e}")))?;
        Ok(Archiver {
            lookup: Mutex::new(vault.connect()?),
            pending,
            tx: Some(tx),
            packer: Some(packer),
            packer_error,
            stored_bytes,
            new_bytes: AtomicU64::new(0),
            keys,
        })
    }

    fn packer_failed(&self) -> StoreError {
        // The packer drops a barrier's answer channel as it fails, a moment before it
        // records why: wait for the why (or for the thread to end).
        let running = || self.packer.as_ref().is_some_and(|h| !h.is_finished());
        while self.packer_error.lock().unwrap().is_none() && running() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let msg = self
            .packer_error
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "the packing thread stopped".into());
        StoreError::Vault(format!("writing packs failed: {msg}"))
    }

    /// True when `hash` must be written: not in this run and not in the vault.
    fn claim(&self, hash: &Hash) -> Result<bool> {
        let mut pending = self.pending.lock().unwrap();
        if pending.contains(hash) {
            return Ok(false);
        }
        if index::has_chunk(&self.lookup.lock().unwrap(), hash)? {
            return Ok(false);
        }
        pending.insert(*hash);
        Ok(true)
    }

    /// Packs a claimed blob on this thread and hands it to the packer.
    fn send(&self, kind: BlobKind, hash: Hash, raw: Vec<u8>) -> Result<()> {
        let blob = pack_blob(self.keys.as_deref(), kind, hash, raw)?;
        let tx = self.tx.as_ref().expect("archiver is open");
        tx.send(Msg::Blob(blob)).map_err(|_| self.packer_failed())
    }

    /// Stores one blob unless the vault has it; returns its hash.
    pub fn store_blob(&self, kind: BlobKind, raw: Vec<u8>) -> Result<Hash> {
        let hash = self.blob_id(&raw);
        self.store_as(kind, hash, raw)?;
        Ok(hash)
    }

    /// The id `raw` has as a blob of this vault.
    fn blob_id(&self, raw: &[u8]) -> Hash {
        crypto::id(self.keys.as_deref(), raw)
    }

    /// [`store_blob`](Self::store_blob) for a blob whose id `hash` the caller computed
    /// with [`blob_id`](Self::blob_id).
    fn store_as(&self, kind: BlobKind, hash: Hash, raw: Vec<u8>) -> Result<()> {
        if self.claim(&hash)? {
            self.send(kind, hash, raw)?;
        }
        Ok(())
    }

    /// Streams a file's bytes into the vault; `progress` is called with each chunk's size.
    pub fn store_reader(
        &self,
        name: &str,
        reader: &mut dyn Read,
        progress: &dyn Fn(u64),
    ) -> std::result::Result<FileRow, AddError> {
        let keys = self.keys.as_deref();
        let mut chunker = Chunker::for_vault(reader, keys);
        let mut whole = crypto::hasher(keys);
        let mut chunks = Vec::new();
        let mut size = 0u64;
        loop {
            let chunk = chunker.next_slice().map_err(|source| AddError::Source {
                path: name.to_string(),
                source,
            })?;
            let Some(chunk) = chunk else { break };
            // Both hashes in one pass, a cache-sized piece at a time: the chunk is
            // read from memory once, not twice.
            let mut id = crypto::hasher(keys);
            for piece in chunk.chunks(HASH_PIECE) {
                whole.update(piece);
                id.update(piece);
            }
            let hash = *id.finalize().as_bytes();
            let len = chunk.len() as u64;
            size += len;
            chunks.push(hash);
            if self.claim(&hash)? {
                self.new_bytes.fetch_add(len, Ordering::Relaxed);
                self.send(BlobKind::Data, hash, chunk.to_vec())?;
            }
            progress(len);
        }
        let mut row = FileRow {
            hash: *whole.finalize().as_bytes(),
            size,
            chunks,
            map: None,
        };
        if row.chunks.len() > 1 {
            row.map = Some(self.store_blob(BlobKind::FileMap, manifest::encode_file_map(&row))?);
        }
        Ok(row)
    }

    /// Waits until everything sent so far is appended (and, with `commit`, in
    /// committed packs).
    fn sync(&self, commit: bool) -> Result<()> {
        let (ack_tx, ack_rx) = bounded(1);
        let tx = self.tx.as_ref().expect("archiver is open");
        tx.send(Msg::Barrier {
            commit,
            ack: ack_tx,
        })
        .map_err(|_| self.packer_failed())?;
        // A packer that died (disk full) after our barrier was queued never answers,
        // and the queued barrier keeps the answer channel open: watch the thread too.
        loop {
            match ack_rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(self.packer_failed())
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if self.packer.as_ref().is_none_or(|h| h.is_finished()) {
                        return Err(self.packer_failed());
                    }
                }
            }
        }
    }

    /// Flushes and stops the packing thread.
    fn finish(mut self) -> Result<()> {
        self.sync(true)?;
        self.stop();
        match self.packer_error.lock().unwrap().take() {
            Some(msg) => Err(StoreError::Vault(format!("writing packs failed: {msg}"))),
            None => Ok(()),
        }
    }

    fn stop(&mut self) {
        self.tx.take();
        if let Some(h) = self.packer.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Archiver {
    /// An archiver dropped without `finish` abandons its open pack; packs already
    /// committed stay for the next run to re-use.
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the packer hands the committer: a full pack to finish (fsync, rename) and
/// commit, or a barrier to answer once everything before it is committed.
enum Finished {
    Pack(PackWriter),
    Flush(Sender<()>),
}

/// The packer: appends blobs to packs and hands each full one over. Finishing it
/// (fsync, rename), uploading (for a vault with a remote, a few packs at once) and
/// committing (in order) run on a committer thread beside it, so the next pack is
/// written while the last ones reach the disk and travel.
fn pack_loop(
    rx: &crossbeam_channel::Receiver<Msg>,
    conn: &mut Connection,
    vault: &Vault,
    keys: Option<Arc<Keys>>,
    pending: &Mutex<HashSet<Hash>>,
    stored_bytes: &AtomicU64,
    error: &Mutex<Option<String>>,
) -> Result<()> {
    let (done_tx, done_rx) = bounded::<Finished>(2);
    std::thread::scope(|scope| {
        let committer = scope.spawn(move || commit_loop(&done_rx, conn, vault, pending, error));
        let packed = pack_blobs(rx, &done_tx, vault, keys, stored_bytes);
        drop(done_tx);
        let committed = committer
            .join()
            .unwrap_or_else(|_| Err(StoreError::Vault("the committing thread panicked".into())));
        // The committer's error is the cause when both failed (the packer only saw
        // its channel close).
        committed.and(packed)
    })
}

fn pack_blobs(
    rx: &crossbeam_channel::Receiver<Msg>,
    done: &Sender<Finished>,
    vault: &Vault,
    keys: Option<Arc<Keys>>,
    stored_bytes: &AtomicU64,
) -> Result<()> {
    let mut open: Option<PackWriter> = None;
    let stopped = || StoreError::Vault("the committing thread stopped".into());
    let hand_over = |w: PackWriter| -> Result<()> {
        done.send(Finished::Pack(w)).map_err(|e| {
            abandon(e.0);
            stopped()
        })
    };
    let result = (|| {
        for msg in rx.iter() {
            match msg {
                Msg::Blob(blob) => {
                    if open.is_none() {
                        open = Some(PackWriter::create(&vault.packs_dir(), keys.clone())?);
                    }
                    let w = open.as_mut().unwrap();
                    w.push(&blob)?;
                    stored_bytes.fetch_add(blob.pack_len(), Ordering::Relaxed);
                    if w.len() >= TARGET_PACK_SIZE {
                        hand_over(open.take().unwrap())?;
                    }
                }
                Msg::Barrier { commit: close, ack } => {
                    if close {
                        if let Some(w) = open.take() {
                            hand_over(w)?;
                        }
                        done.send(Finished::Flush(ack)).map_err(|_| stopped())?;
                    } else {
                        let _ = ack.send(());
                    }
                }
            }
        }
        Ok(())
    })();
    if let Some(w) = open.take() {
        w.abandon();
    }
    result
}

/// Uploads each finished pack (nothing to do for a local vault), then commits it.
fn commit_loop(
    done: &crossbeam_channel::Receiver<Finished>,
    conn: &mut Connection,
    vault: &Vault,
    pending: &Mutex<HashSet<Hash>>,
    error: &Mutex<Option<String>>,
) -> Result<()> {
    let result = commit_each(done, conn, vault, pending);
    if let Err(e) = &result {
        // Say why at once, then answer no barrier (dropping its answer channel) until
        // the packer stops: the writer waiting on a barrier gives up with this error
        // instead of waiting on a packer that waits on it.
        error.lock().unwrap().get_or_insert_with(|| e.to_string());
        done.iter().for_each(abandon);
    }
    result
}

/// Removes the temporary file of a pack that will not be committed.
fn abandon(item: Finished) {
    if let Finished::Pack(w) = item {
        w.abandon();
    }
}

/// Packs uploading at once (for a vault with a remote): the next pack goes up while
/// the last ones are still travelling, as `rclone copy` sends four files at once
/// (measured on moto: 4 beat 3, 2 and 1; memory is a pack per upload).
const UPLOADS_IN_FLIGHT: usize = 4;

/// Starts each finished pack's upload on a thread of its own (at most
/// [`UPLOADS_IN_FLIGHT`]) and commits the packs in the order they were finished, each
/// only once its own upload succeeded. On the first failed upload it returns that
/// error and commits nothing after it; the scope waits for the uploads still going,
/// whose packs stay local and uncommitted for the next run to adopt.
fn commit_each(
    done: &crossbeam_channel::Receiver<Finished>,
    conn: &mut Connection,
    vault: &Vault,
    pending: &Mutex<HashSet<Hash>>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let mut uploading = VecDeque::new();
        let mut commit_oldest = |uploading: &mut VecDeque<(FinishedPack, _)>| -> Result<()> {
            let Some((finished, upload)) = uploading.pop_front() else {
                return Ok(());
            };
            let upload: std::thread::ScopedJoinHandle<Result<()>> = upload;
            upload
                .join()
                .unwrap_or_else(|_| Err(StoreError::Vault("an upload thread panicked".into())))?;
            commit_pack(conn, vault, pending, &finished)
        };
        for item in done.iter() {
            match item {
                Finished::Pack(writer) => {
                    let finished = writer.finish()?;
                    if uploading.len() >= UPLOADS_IN_FLIGHT {
                        commit_oldest(&mut uploading)?;
                    }
                    let id = finished.id.clone();
                    let upload = std::thread::Builder::new()
                        .name("upload".into())
                        .spawn_scoped(scope, move || vault.upload_pack(&id))
                        .map_err(|e| {
                            StoreError::Vault(format!("cannot start an upload thread: {e}"))
                        })?;
                    uploading.push_back((finished, upload));
                }
                Finished::Flush(ack) => {
                    while !uploading.is_empty() {
                        commit_oldest(&mut uploading)?;
                    }
                    let _ = ack.send(());
                }
            }
        }
        while !uploading.is_empty() {
            commit_oldest(&mut uploading)?;
        }
        Ok(())
    })
}

/// Commits a pack that is durable (and off-site, for a vault with a remote); the
/// blobs in it stop being pending only then.
fn commit_pack(
    conn: &mut Connection,
    vault: &Vault,
    pending: &Mutex<HashSet<Hash>>,
    finished: &FinishedPack,
) -> Result<()> {
    page_cache::forget(&vault.pack_path(&finished.id));
    let tx = conn.transaction()?;
    index::insert_pack(&tx, finished)?;
    tx.commit()?;
    let mut p = pending.lock().unwrap();
    for e in &finished.entries {
        p.remove(&e.header.hash);
    }
    drop(p);
    // Committed, so off-site: a long first snapshot keeps the cache bounded.
    vault.trim_cache();
    Ok(())
}

/// What the caller knows of a snapshot besides its files.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub account: String,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub sources: Vec<Source>,
    pub failed: Vec<serde_json::Value>,
    pub meta: serde_json::Value,
}

/// A snapshot that is durably in the vault.
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: String,
    pub manifest: Manifest,
}

/// Builds one snapshot; nothing is visible until [`SnapshotBuilder::commit`].
pub struct SnapshotBuilder<'v> {
    vault: &'v Vault,
    /// Held until the commit: prune, which holds it too, then knows that no commit is
    /// in flight (see `schema/009_unfinished_snapshots.sql`).
    _lock: &'v WriteLock,
    on_bytes: &'v (dyn Fn(u64) + Sync),
    archiver: Archiver,
    parent: HashMap<String, Entry>,
    entries: Mutex<Vec<Entry>>,
    files: Mutex<Vec<FileRow>>,
    journal: Mutex<Connection>,
    last_checkpoint: Mutex<std::time::Instant>,
    rehash: bool,
}

impl<'v> SnapshotBuilder<'v> {
    /// `rehash` reads every file even when the account's previous snapshot has it
    /// with the same size, mtime and inode. `on_bytes` hears of every byte added.
    pub fn new(
        vault: &'v Vault,
        lock: &'v WriteLock,
        account: &str,
        rehash: bool,
        on_bytes: &'v (dyn Fn(u64) + Sync),
    ) -> Result<SnapshotBuilder<'v>> {
        let conn = vault.connect()?;
        let parent = match snapshots::latest(&conn, Some(account))? {
            Some(s) => snapshots::entries(&conn, &s.id)?
                .into_iter()
                .map(|e| (e.path.clone(), e))
                .collect(),
            None => HashMap::new(),
        };
        Ok(SnapshotBuilder {
            vault,
            _lock: lock,
            on_bytes,
            archiver: Archiver::new(vault)?,
            parent,
            entries: Mutex::new(Vec::new()),
            files: Mutex::new(Vec::new()),
            journal: Mutex::new(index::without_fsync(vault.connect()?)?),
            last_checkpoint: Mutex::new(std::time::Instant::now()),
            rehash,
        })
    }

    fn push(&self, entry: Entry) -> Entry {
        self.entries.lock().unwrap().push(entry.clone());
        entry
    }

    /// Adds a file from disk, re-using the parent snapshot's hash when size, mtime
    /// and inode are unchanged (so an unchanged folder is not read again).
    pub fn add_file(
        &self,
        path: &str,
        fs_path: &Path,
        kind: &str,
        item_id: Option<String>,
    ) -> std::result::Result<Entry, AddError> {
        let source = |source| AddError::Source {
            path: fs_path.display().to_string(),
            source,
        };
        let file = File::open(fs_path).map_err(source)?;
        let meta = file.metadata().map_err(source)?;
        if let Some(p) = self.unchanged(path, &meta) {
            (self.on_bytes)(p.size);
            return Ok(self.push(Entry {
                kind: kind.to_string(),
                item_id,
                ..p.clone()
            }));
        }
        let mtime_ns = manifest::mtime_ns(meta.mtime(), meta.mtime_nsec());
        self.stream(
            path,
            &mut page_cache::ReadAhead::new(&file),
            kind,
            item_id,
            Some(mtime_ns),
            Some(meta.ino()),
        )
    }

    /// Starts fetching the file [`add_file`](Self::add_file) will read next into the
    /// page cache, unless it is unchanged (then it will not be read at all).
    pub fn prefetch_file(&self, path: &str, fs_path: &Path) {
        match std::fs::metadata(fs_path) {
            Ok(meta) if self.unchanged(path, &meta).is_none() => page_cache::prefetch(fs_path),
            _ => {}
        }
    }

    /// The parent snapshot's entry for `path` when the file on disk still has its size,
    /// mtime and inode.
    fn unchanged(&self, path: &str, meta: &std::fs::Metadata) -> Option<&Entry> {
        if self.rehash {
            return None;
        }
        let p = self.parent.get(path)?;
        let mtime_ns = manifest::mtime_ns(meta.mtime(), meta.mtime_nsec());
        (p.size == meta.len() && p.mtime_ns == Some(mtime_ns) && p.inode == Some(meta.ino()))
            .then_some(p)
    }

    /// Adds a file from any stream (a download, an archive member).
    pub fn add_reader(
        &self,
        path: &str,
        reader: &mut dyn Read,
        kind: &str,
        item_id: Option<String>,
        mtime_ns: Option<i128>,
    ) -> std::result::Result<Entry, AddError> {
        self.stream(path, reader, kind, item_id, mtime_ns, None)
    }

    fn stream(
        &self,
        path: &str,
        reader: &mut dyn Read,
        kind: &str,
        item_id: Option<String>,
        mtime_ns: Option<i128>,
        inode: Option<u64>,
    ) -> std::result::Result<Entry, AddError> {
        let row = self.archiver.store_reader(path, reader, self.on_bytes)?;
        let entry = Entry {
            mtime_ns,
            inode,
            ..Entry::of_file(path.to_string(), kind.to_string(), &row, item_id)
        };
        journal::record(&self.journal.lock().unwrap(), &entry, &row)?;
        self.files.lock().unwrap().push(row);
        Ok(self.push(entry))
    }

    /// Commits the open pack if `every` has passed since the last checkpoint, so that
    /// a killed run, or a power cut, loses at most that much work (with the journal, a
    /// resumed download skips what was stored before the kill).
    pub fn checkpoint(&self, every: std::time::Duration) -> Result<()> {
        let mut last = self.last_checkpoint.lock().unwrap();
        if last.elapsed() >= every {
            self.archiver.sync(true)?;
            // The journal's and packs' rows commit without an fsync each: a WAL
            // checkpoint syncs the WAL first, making every row so far durable.
            self.journal
                .lock()
                .unwrap()
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            *last = std::time::Instant::now();
        }
        Ok(())
    }

    /// Links content already in the vault under a new path (a video archived by an
    /// earlier snapshot, or stored by a killed run: then `file` is its row from the
    /// journal): costs an index row, no bytes.
    pub fn add_existing(&self, path: &str, from: &Entry, file: Option<FileRow>) -> Entry {
        if let Some(f) = file {
            self.files.lock().unwrap().push(f);
        }
        self.push(Entry {
            path: path.to_string(),
            ..from.clone()
        })
    }

    /// Makes the snapshot durable and visible: the manifest goes into a pack, every
    /// pack is committed, and only then the snapshot row.
    pub fn commit(self, info: SnapshotInfo) -> Result<Committed> {
        self.commit_with(info, |_, _| Ok(()))
    }

    /// As [`commit`](Self::commit), with `extra` run inside the transaction that makes
    /// the snapshot visible (given the snapshot id), so that what a higher layer
    /// derives from it appears at the same moment or not at all.
    ///
    /// The manifest is durable in a committed pack before that transaction opens, so a
    /// kill in between, or an `extra` that fails, leaves it in the packs with no
    /// snapshot row. Its hash is recorded as unfinished first, in a committed (and
    /// fsynced) transaction of its own, and the snapshot's transaction removes the
    /// record: a record left behind lets prune go on, keeping that manifest and what it
    /// references, instead of refusing to run on an index that looks out of date (see
    /// pruner.rs).
    pub fn commit_with(
        self,
        info: SnapshotInfo,
        extra: impl FnOnce(&rusqlite::Transaction, &str) -> std::result::Result<(), String>,
    ) -> Result<Committed> {
        let mut entries = self.entries.into_inner().unwrap();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(w) = entries.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(StoreError::Vault(format!(
                "two files would be stored at the same path {} in one snapshot",
                w[0].path
            )));
        }
        // Stats count what this run stored before its manifest, which joins the same pack.
        self.archiver.sync(false)?;
        let stats = Stats {
            files: entries.len() as u64,
            bytes: entries.iter().map(|e| e.size).sum(),
            new_bytes: self.archiver.new_bytes.load(Ordering::Relaxed),
            stored_bytes: self.archiver.stored_bytes.load(Ordering::Relaxed),
        };
        let mut manifest = Manifest {
            format: manifest::FORMAT,
            account: info.account,
            taken_at: info
                .taken_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            sources: info.sources,
            stats,
            failed: info.failed,
            meta: info.meta,
            entries,
        };
        let mut raw = manifest.encode();
        let mut hash = self.archiver.blob_id(&raw);
        if tombstone::may_name(self.vault, &hash) {
            // The same snapshot (same account, time and files, nothing new stored) was
            // started or committed before and forgotten since: under that id the
            // tombstone would make rebuild-index leave this commit out and prune drop
            // what only it holds. A nonce in its meta gives it an id of its own.
            let mut nonce = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
            let mut meta = match std::mem::take(&mut manifest.meta) {
                serde_json::Value::Object(m) => m,
                serde_json::Value::Null => serde_json::Map::new(),
                other => serde_json::Map::from_iter([("value".to_string(), other)]),
            };
            meta.insert("commit_nonce".into(), hex::encode(nonce).into());
            manifest.meta = serde_json::Value::Object(meta);
            raw = manifest.encode();
            hash = self.archiver.blob_id(&raw);
        }
        // A connection of `connect`'s own, synchronous FULL: the record is on disk
        // before the manifest can be.
        let mut conn = self.vault.connect()?;
        snapshots::begin_commit(&conn, &hash)?;
        self.archiver.store_as(BlobKind::Manifest, hash, raw)?;
        self.archiver.finish()?;
        let tx = conn.transaction()?;
        for f in self.files.into_inner().unwrap() {
            index::insert_file(&tx, &f)?;
        }
        let id = hex::encode(hash);
        snapshots::insert(&tx, &id, &manifest)?;
        snapshots::drop_unfinished(&tx, &hash)?;
        journal::clear(&tx)?;
        extra(&tx, &id).map_err(StoreError::Vault)?;
        tx.commit()?;
        self.vault.trim_cache();
        Ok(Committed { id, manifest })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::store::repository::Repository;
    use crate::store::testing::{info, noise, snapshot, vault};

    #[test]
    fn shared_chunks_are_stored_once_and_stats_say_so() {
        let t = vault();
        let big = noise(3 << 20, 11);
        let c1 = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("one", &big, None), ("two", &big, None)],
        );
        assert_eq!(c1.manifest.stats.files, 2);
        assert_eq!(c1.manifest.stats.bytes, 2 * big.len() as u64);
        assert_eq!(c1.manifest.stats.new_bytes, big.len() as u64);
        let repo = Repository::open(&t.vault).unwrap();
        let chunks = repo.all_blobs().unwrap().len();
        // The same bytes again add no blob but the new manifest.
        let c2 = snapshot(
            &t.vault,
            "a",
            "2026-01-02T00:00:00Z",
            &[("three", &big, None)],
        );
        assert_eq!(c2.manifest.stats.new_bytes, 0);
        assert_eq!(repo.all_blobs().unwrap().len(), chunks + 1);
        assert_eq!(c2.manifest.entries[0].hash, c1.manifest.entries[0].hash);
    }

    #[test]
    fn nothing_is_visible_before_commit_and_the_journal_empties_at_commit() {
        let t = vault();
        let lock = t.vault.lock_for_writing(false).unwrap();
        let quiet = |_| {};
        let b = SnapshotBuilder::new(&t.vault, &lock, "a", false, &quiet).unwrap();
        b.add_reader(
            "v/1.mp4",
            &mut Cursor::new(b"video"),
            "video",
            Some("1".into()),
            None,
        )
        .unwrap();
        b.checkpoint(std::time::Duration::ZERO).unwrap();
        // The checkpoint put the journal's row in the database file itself, not only
        // in its WAL (whose commits are not fsynced one by one): a copy of vault.db
        // without its WAL has it.
        let copy = t._dir.path().join("copy.db");
        std::fs::copy(t.vault.db_path(), &copy).unwrap();
        let rows: i64 = Connection::open(&copy)
            .unwrap()
            .query_row("SELECT count(*) FROM journal", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        let conn = t.vault.connect().unwrap();
        assert!(snapshots::list(&conn, None).unwrap().is_empty());
        assert_eq!(journal::committed_files(&conn, "1").unwrap().len(), 1);
        let committed = b.commit(info("a", chrono::Utc::now())).unwrap();
        assert_eq!(snapshots::list(&conn, None).unwrap()[0].id, committed.id);
        assert!(journal::committed_files(&conn, "1").unwrap().is_empty());
        // The commit's record of having started goes with it (see pruner.rs).
        assert!(snapshots::unfinished(&conn).unwrap().is_empty());
    }

    #[test]
    fn two_files_at_one_path_are_refused() {
        let t = vault();
        let lock = t.vault.lock_for_writing(false).unwrap();
        let quiet = |_| {};
        let b = SnapshotBuilder::new(&t.vault, &lock, "a", false, &quiet).unwrap();
        for bytes in [&b"a"[..], b"b"] {
            b.add_reader("same", &mut Cursor::new(bytes), "media", None, None)
                .unwrap();
        }
        let err = b.commit(info("a", chrono::Utc::now())).unwrap_err();
        assert!(err.to_string().contains("same path same"), "{err}");
    }

    #[test]
    fn an_unchanged_file_is_not_read_again() {
        let t = vault();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"content").unwrap();
        let add = |v: &Vault| {
            let lock = v.lock_for_writing(false).unwrap();
            let read = AtomicU64::new(0);
            let count = |n| {
                read.fetch_add(n, Ordering::Relaxed);
            };
            let b = SnapshotBuilder::new(v, &lock, "a", false, &count).unwrap();
            let e = b.add_file("f", &f, "media", None).unwrap();
            let c = b.commit(info("a", chrono::Utc::now())).unwrap();
            (e, c.manifest.stats.stored_bytes)
        };
        let (first, stored1) = add(&t.vault);
        assert!(first.mtime_ns.is_some() && first.inode.is_some());
        let (second, _) = add(&t.vault);
        assert_eq!(first, second);
        assert!(stored1 > 0);
    }
}

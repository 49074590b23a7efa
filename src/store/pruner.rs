//! Prune: remove from the packs what no snapshot references any more.
//!
//! # What is live
//!
//! The manifests of the remaining snapshots, the file maps and chunks of every file a
//! remaining entry references, the same for a manifest of a commit that never
//! finished (see below), the blobs of files in the resume journal (a killed
//! run's work, see `journal.rs`), and the tombstones that still name a manifest
//! present in some pack (see `tombstone.rs`). Everything else is dead.
//!
//! # What happens to a pack
//!
//! - No live blob: the pack is deleted.
//! - Some live blobs and some waste (dead blobs, or copies of blobs indexed in another
//!   pack): it is repacked — its live blobs are copied verbatim (stored bytes and codec
//!   as they are, each decoded and re-hashed first) into new packs — when the waste is
//!   worth it, otherwise left as it is. Packs are taken most wasteful first while the
//!   waste left in partly used packs exceeds `max_unused` percent of the vault and the
//!   live bytes copied stay within `max_repack` percent of the vault — except that one
//!   pack is always allowed, so a budget smaller than a pack never blocks all work.
//!   As restic's, the default budget is unlimited (100 %): `max_unused` alone bounds
//!   the work, and forgetting a third of the bytes frees them.
//!
//! So the granularity is the pack: the bytes freed are the sizes of the deleted packs
//! plus, for each repacked pack, its size minus its live blobs (and their trailer
//! entries). With `max_unused` 0 and `max_repack` 100 every byte that only forgotten
//! snapshots held is freed, up to the trailer and footer of the new packs; with the
//! defaults up to `max_unused` percent of the vault may stay in partly used packs.
//!
//! # Commits that never finished
//!
//! A snapshot's manifest reaches a committed pack before the transaction that inserts
//! its row (see `SnapshotBuilder::commit_with`). A commit killed in between, or whose
//! last step failed, leaves a manifest the index does not know: prune refuses to run
//! on such an index, since the snapshot may be live and only the index out of date —
//! unless the index records the commit as unfinished (`unfinished_snapshots`, written
//! before the manifest was sent). The record lets prune go on, and nothing more: it
//! is not proof that the commit died (a copy of vault.db taken during a commit's last
//! seconds has the record and not the row, though the commit may have finished), so
//! such a manifest is live like a snapshot's — itself, its files' maps and chunks,
//! read from the packs as `rebuild-index` reads them; one that does not read stops
//! prune. `rebuild-index` lists it as a snapshot (then `forget` can drop it),
//! `forget --unfinished` drops it at once (a tombstone names it: see tombstone.rs),
//! and a new snapshot of the same files re-uses its blobs. A record goes in prune's commit
//! once no pack holds its manifest or its snapshot row exists. Prune holds the writer
//! lock, as every snapshot does until its commit ends, so no record is of a commit
//! still running.
//!
//! # The index forgets too
//!
//! The layers above keep rows of their own about snapshots (the export catalogue);
//! the caller's `also` drops theirs inside prune's one transaction, so they go
//! together with the blob rows. After the old packs are deleted, the index is
//! compacted (`index::compact`): deleted rows were zeroed as they went
//! (`secure_delete`), free pages are dropped by a `VACUUM` and the write-ahead log is
//! folded in and truncated. So what only forgotten snapshots held is left neither in
//! the packs (within the repack limits above) nor in vault.db or its log.
//!
//! # Crash safety
//!
//! 1. New packs are written and made durable (`PackWriter::finish`).
//! 2. One index transaction moves the live blobs of repacked packs to the new packs,
//!    deletes the rows of dead blobs, of the old packs and of files no entry
//!    references, and records the old packs in `pending_deletes`.
//! 3. The old pack files are deleted, their directories fsynced, and
//!    `pending_deletes` emptied.
//!
//! Killed before 2, the new packs are strays: the next writer adopts them, but every
//! blob in them is indexed in its old pack, so they hold nothing live and the next
//! prune deletes them. Killed after 2, the next writer (recovery, or the next prune)
//! finishes step 3 from `pending_deletes` before it adopts stray packs, so a dead pack
//! is never taken back. In every case the index only ever points at durable packs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;

use rusqlite::Transaction;
use serde::Serialize;

use super::census::{Census, RemoteTail};
use super::chunker::Hash;
use super::index::{self, Compaction};
use super::lock::{DeleteLock, WriteLock};
use super::pack::{self, BlobKind, FinishedPack, PackWriter};
use super::pack::{FOOTER_LEN, HEADER_LEN, PACK_MAGIC, TARGET_PACK_SIZE, TRAILER_ENTRY_LEN};
use super::reader::PackFiles;
use super::rebuild::{self, Meta};
use super::repository::{snapshot_hash, BlobLocation, Journal, Repository};
use super::{failpoint, io_at, snapshots, tombstone, Result, StoreError, Vault};

/// Bytes a pack needs besides its blobs: magic and footer.
const PACK_OVERHEAD: u64 = (PACK_MAGIC.len() + FOOTER_LEN) as u64;
/// Bytes each blob costs in the trailer.
const TRAILER_ENTRY: u64 = TRAILER_ENTRY_LEN as u64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneOptions {
    pub dry_run: bool,
    /// Copy at most this percentage of the vault's bytes per run.
    pub max_repack_pct: f64,
    /// Tolerate this much waste in partly used packs, as a percentage of the vault.
    pub max_unused_pct: f64,
    /// Repack every partly used pack, whatever the two limits say, so nothing of a
    /// forgotten snapshot stays in the packs (`forget ID --prune`, `prune --purge`).
    /// The waste of a pack is blobs no snapshot references, whether still indexed or
    /// dropped by an earlier prune that left the pack alone, and copies of blobs
    /// indexed in another pack.
    pub purge: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            max_repack_pct: 100.0,
            max_unused_pct: 5.0,
            purge: false,
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub packs_before: u64,
    pub bytes_before: u64,
    /// Packs with no live blob, deleted.
    pub packs_deleted: u64,
    /// Partly used packs whose live blobs were copied into new packs.
    pub packs_repacked: u64,
    /// New packs written by the repack.
    pub packs_written: u64,
    /// Live bytes copied (in a dry run: to copy).
    pub bytes_repacked: u64,
    /// Bytes removed from the vault: old packs minus new ones (a dry run estimates).
    pub bytes_freed: u64,
    pub packs_after: u64,
    pub bytes_after: u64,
    /// Blobs no longer referenced, dropped from the index.
    pub blobs_removed: u64,
    /// Waste left in partly used packs that were not worth repacking.
    pub unused_bytes_left: u64,
    pub tombstones_dropped: u64,
    /// Manifests of snapshot commits that never finished (killed, or failed) still in
    /// the packs: kept, with everything they reference (see the module docs).
    pub unfinished_snapshots: u64,
    /// Stored bytes of the blobs only those manifests reference, kept for them.
    pub unfinished_bytes: u64,
    /// vault.db compacted after the commit (not in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Compaction>,
    /// In a dry run, what crash recovery will do before the real prune (a killed run
    /// left work behind; see recovery.rs, which fills this in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_pending: Option<RecoveryPending>,
}

/// What the next writer's crash recovery will do; all zero when nothing is left.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryPending {
    /// Temporary packs a killed writer never finished, to remove.
    pub temporary_packs: u64,
    /// Packs renamed into place but never committed, to adopt.
    pub packs_to_adopt: u64,
    /// Packs a committed prune gave up, to delete.
    pub pending_deletes: u64,
    /// Snapshots a killed forget's tombstone (in a pack to adopt) will remove.
    pub snapshots_to_forget: u64,
}

impl RecoveryPending {
    pub fn is_empty(&self) -> bool {
        *self == RecoveryPending::default()
    }
}

/// What a live blob costs in a pack: header, stored bytes, trailer entry.
fn blob_bytes(b: &BlobLocation) -> u64 {
    HEADER_LEN as u64 + b.entry.header.stored_len as u64 + TRAILER_ENTRY
}

#[derive(Debug, Default)]
struct PackUse {
    id: i64,
    name: String,
    size: u64,
    live: Vec<BlobLocation>,
    dead: Vec<Hash>,
}

impl PackUse {
    fn live_bytes(&self) -> u64 {
        self.live.iter().map(blob_bytes).sum()
    }

    /// What a repack would save: the pack's size minus what its live blobs need.
    fn unused(&self) -> u64 {
        self.size.saturating_sub(PACK_OVERHEAD + self.live_bytes())
    }
}

/// Prunes the vault; see the module docs. `progress` hears of every live byte copied;
/// `also` runs inside the commit (not in a dry run), for the layers above's rows.
pub fn prune(
    vault: &Vault,
    _lock: &WriteLock,
    opts: &PruneOptions,
    progress: &dyn Fn(u64),
    also: &mut dyn FnMut(&Transaction) -> rusqlite::Result<()>,
) -> Result<PruneReport> {
    run(vault, Repository::open(vault)?, opts, progress, also)
}

/// What [`prune`] would do, reading only: no lock, and `repo` may be read-only.
pub fn dry_run(vault: &Vault, repo: Repository, opts: &PruneOptions) -> Result<PruneReport> {
    let opts = PruneOptions {
        dry_run: true,
        ..*opts
    };
    run(vault, repo, &opts, &|_| (), &mut |_| Ok(()))
}

/// The snapshot commits the index records as never finished (see the module docs).
#[derive(Debug, Default)]
struct Unfinished {
    /// Each manifest the packs hold that the index knows only as unfinished, with
    /// every blob it references (itself, its files' maps and chunks): all kept live.
    kept: Vec<(Hash, HashSet<Hash>)>,
    /// The records with nothing left to keep: no pack holds their manifest any more,
    /// or its snapshot row was committed after all. Dropped in prune's commit.
    stale: Vec<Hash>,
}

/// Refuses to go on when the packs hold a live snapshot the index does not know (see
/// census.rs): a wrong index must never make prune delete a live snapshot. A manifest
/// the index records as an unfinished commit does not stop prune, but it is not
/// proof that the commit died (an older copy of vault.db has the record too), so
/// what it references is returned to be kept.
fn check_index_knows_every_snapshot(
    vault: &Vault,
    repo: &Repository,
    census: &Census,
) -> Result<Unfinished> {
    let known: HashSet<Hash> = snapshots::list(repo.conn(), None)?
        .iter()
        .filter_map(|s| snapshot_hash(&s.id).ok())
        .collect();
    let recorded = snapshots::unfinished(repo.conn())?;
    let (kept, unknown): (Vec<_>, Vec<_>) = census
        .unknown(&known)
        .into_iter()
        .partition(|(h, _)| recorded.contains(h));
    if let Some((first, pack)) = unknown.first() {
        return Err(StoreError::Vault(format!(
            "the packs hold {} snapshot(s) the index does not know (snapshot {} in pack {pack}, \
             first): the index (vault.db) is out of date or damaged, and pruning by it \
             would delete them. Nothing was deleted; run `tt-vault rebuild-index`, then prune again",
            unknown.len(),
            index::short_hash(first)
        )));
    }
    let mut reader = PackFiles::new(vault);
    let mut out = Unfinished::default();
    for (manifest, pack) in kept {
        let blobs = unfinished_blobs(repo, &mut reader, &manifest, pack)?;
        out.kept.push((manifest, blobs));
    }
    out.stale = recorded
        .into_iter()
        .filter(|h| known.contains(h) || census.holders(h).is_empty())
        .collect();
    Ok(out)
}

/// Every blob unfinished manifest `manifest` (found in pack `pack`) references:
/// itself, and each file's map and chunks, read from the packs as the rebuild reads
/// them. Anything unreadable stops prune: what such a manifest needs cannot be told,
/// and guessing could delete it.
fn unfinished_blobs(
    repo: &Repository,
    reader: &mut PackFiles,
    manifest: &Hash,
    pack: &str,
) -> Result<HashSet<Hash>> {
    let refuse = |why: String| {
        StoreError::Vault(format!(
            "snapshot {} in pack {pack}, whose commit never finished, cannot be read: {why}. \
             Prune keeps what it references and cannot tell what that is, so nothing was \
             deleted; run `tt-vault verify`",
            index::short_hash(manifest)
        ))
    };
    let mut read = |hash: &Hash, what: &str| {
        let loc = repo.blob(hash)?.ok_or_else(|| {
            // A dry run runs no recovery: a pack a killed writer left uncommitted is
            // adopted only by the next writer (a prune without --dry-run among them).
            refuse(format!(
                "{what} {} is not in the index (if a writer was killed, a prune without \
                 --dry-run adopts the packs it left before it reads them)",
                index::short_hash(hash)
            ))
        })?;
        rebuild::read_meta(reader, &loc.pack, &loc.entry).map_err(refuse)
    };
    let Meta::Manifest(m) = read(manifest, "its manifest")? else {
        return Err(refuse("its blob is not a manifest".into()));
    };
    let mut blobs = HashSet::from([*manifest]);
    for e in &m.entries {
        let Some(map) = e.map else {
            blobs.extend(e.implied_file().into_iter().flat_map(|f| f.chunks));
            continue;
        };
        if blobs.contains(&map) {
            continue;
        }
        match read(&map, "file map")? {
            Meta::FileMap(f) if f.hash == e.hash => blobs.extend(f.chunks),
            _ => {
                return Err(refuse(format!(
                    "file map {} is not the map of {}",
                    index::short_hash(&map),
                    e.path
                )))
            }
        }
        blobs.insert(map);
    }
    Ok(blobs)
}

fn run(
    vault: &Vault,
    mut repo: Repository,
    opts: &PruneOptions,
    progress: &dyn Fn(u64),
    also: &mut dyn FnMut(&Transaction) -> rusqlite::Result<()>,
) -> Result<PruneReport> {
    let given_up: HashSet<String> = repo.pending_deletes()?.into_iter().collect();
    // With tombstones indexed, the census also keeps every blob it saw, for telling
    // below which tombstones still name a manifest in a pack.
    let with_tombstones = !repo.blobs_of_kind(BlobKind::Tombstone)?.is_empty();
    let mut census = Census::take(vault, &given_up, with_tombstones)?;
    let unfinished = check_index_knows_every_snapshot(vault, &repo, &census)?;
    let tombs = tombstone::indexed(vault, &repo)?;
    let mut live = repo.live_blobs(Journal::Include)?;
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        ..PruneReport::default()
    };
    if !tombs.is_empty() {
        let present = blobs_in_packs(vault, &repo, &mut census)?;
        for (hash, t) in &tombs {
            if t.manifests().iter().any(|m| present.contains(m)) {
                live.insert(*hash);
            } else {
                report.tombstones_dropped += 1;
            }
        }
    }

    // What only unfinished commits reference: kept, and counted as theirs.
    let only_unfinished: HashSet<Hash> = unfinished
        .kept
        .iter()
        .flat_map(|(_, blobs)| blobs)
        .filter(|h| !live.contains(*h))
        .copied()
        .collect();
    live.extend(&only_unfinished);

    let packs = pack_use(&repo, &live)?;
    report.unfinished_snapshots = unfinished.kept.len() as u64;
    report.unfinished_bytes = packs
        .iter()
        .flat_map(|p| &p.live)
        .filter(|b| only_unfinished.contains(&b.hash()))
        .map(blob_bytes)
        .sum();
    report.packs_before = packs.len() as u64;
    report.bytes_before = packs.iter().map(|p| p.size).sum();
    report.blobs_removed = packs.iter().map(|p| p.dead.len() as u64).sum();

    let (dead, partly): (Vec<&PackUse>, Vec<&PackUse>) = packs
        .iter()
        .filter(|p| p.live.is_empty() || p.unused() > 0)
        .partition(|p| p.live.is_empty());
    let to_repack = choose_repacks(&packs, &partly, opts);
    let to_repack_ids: HashSet<i64> = to_repack.iter().map(|p| p.id).collect();
    report.packs_deleted = dead.len() as u64;
    report.packs_repacked = to_repack.len() as u64;
    report.bytes_repacked = to_repack.iter().map(|p| p.live_bytes()).sum();
    report.unused_bytes_left = partly
        .iter()
        .filter(|p| !to_repack_ids.contains(&p.id))
        .map(|p| p.unused())
        .sum();
    let removed: Vec<&PackUse> = dead.iter().chain(to_repack.iter()).copied().collect();
    let removed_bytes: u64 = removed.iter().map(|p| p.size).sum();

    if opts.dry_run {
        let estimate = if to_repack.is_empty() {
            0
        } else {
            report.bytes_repacked + PACK_OVERHEAD
        };
        report.bytes_freed = removed_bytes.saturating_sub(estimate);
        report.bytes_after = report.bytes_before - report.bytes_freed;
        report.packs_after =
            report.packs_before - removed.len() as u64 + u64::from(!to_repack.is_empty());
        return Ok(report);
    }

    let written = repack(vault, &to_repack, progress)?;
    failpoint("prune-after-new-packs");
    let written_bytes: u64 = written.iter().map(|p| p.size).sum();

    let dead_blobs: Vec<(i64, Hash)> = packs
        .iter()
        .flat_map(|p| p.dead.iter().map(move |h| (p.id, *h)))
        .collect();
    let removed_packs: Vec<(i64, &str)> = removed.iter().map(|p| (p.id, p.name.as_str())).collect();
    let stale = &unfinished.stale;
    let commit = repo.commit_prune(&dead_blobs, &removed_packs, &written, stale, also);
    if let Err(e) = commit {
        // Nothing points at the new packs: remove them rather than leave strays.
        for p in &written {
            let _ = vault.delete_remote_pack(&p.id);
            let _ = fs::remove_file(vault.pack_path(&p.id));
        }
        return Err(e);
    }
    failpoint("prune-after-commit");
    finish_pending_deletes(vault, &repo)?;
    // Rewritten whenever rows went, so no stale fragment of them is left behind.
    let changed = !dead_blobs.is_empty() || !removed_packs.is_empty() || !stale.is_empty();
    report.index = Some(repo.compact(changed)?);

    report.packs_written = written.len() as u64;
    report.bytes_freed = removed_bytes.saturating_sub(written_bytes);
    report.bytes_after = report.bytes_before - report.bytes_freed;
    report.packs_after = report.packs_before - removed.len() as u64 + written.len() as u64;
    Ok(report)
}

/// Deletes the pack files a committed prune left in `pending_deletes`, then the rows.
/// Runs after every prune commit and in recovery, before stray packs are adopted.
pub fn finish_pending_deletes(vault: &Vault, repo: &Repository) -> Result<()> {
    let names = repo.pending_deletes()?;
    if names.is_empty() {
        return Ok(());
    }
    // Running readers (restore, verify) finish before a pack goes; see lock.rs.
    let _readers = DeleteLock::acquire(vault.root(), &|| ())?;
    let mut dirs = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        // A pending name that is indexed again must not lose its file.
        if !repo.pack_indexed(name)? {
            // The off-site copy first: a kill between the two leaves the name pending.
            vault.delete_remote_pack(name)?;
            let path = vault.pack_path(name);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_at(&path)(e)),
            }
            if let Some(dir) = path.parent() {
                dirs.insert(dir.to_path_buf());
            }
        }
        if i == 0 {
            failpoint("prune-mid-delete");
        }
    }
    for dir in &dirs {
        pack::sync_dir(dir)?;
    }
    repo.clear_pending_deletes(&names)
}

/// Every blob hash in the trailer of an indexed pack, whether indexed or not: those
/// the census read (taken with its blobs), and the rest read here. A pack whose
/// trailer does not read is scanned; one that cannot be read at all counts as
/// holding everything, so no tombstone is dropped on a guess. (A pack the census
/// read that the index does not hold only keeps a tombstone longer.)
///
/// An off-site pack the cache lacks is read by range (see census.rs), not fetched.
fn blobs_in_packs(vault: &Vault, repo: &Repository, census: &mut Census) -> Result<BlobsPresent> {
    let mut present = std::mem::take(&mut census.blobs);
    let mut listing = None;
    for name in repo.pack_names()? {
        if census.packs_read.contains(&name) {
            continue;
        }
        let listing = listing.get_or_insert_with(|| vault.remote_listing().ok().flatten());
        let size = listing.as_ref().and_then(|l| l.packs.get(&name).copied());
        match RemoteTail::uncached(vault, &name, size).and_then(|t| match t {
            Some(mut tail) => tail.toc(),
            None => Ok(None),
        }) {
            Ok(Some(entries)) => {
                present.extend(entries.iter().map(|e| e.header.hash));
                continue;
            }
            Ok(None) => {}
            Err(_) => return Ok(BlobsPresent::Unknown),
        }
        match vault
            .cached_pack(&name)
            .and_then(|p| Ok(pack::contents(&p, vault.keys())?))
        {
            Ok(c) => present.extend(c.entries.iter().map(|e| e.header.hash)),
            Err(_) => return Ok(BlobsPresent::Unknown),
        }
    }
    Ok(BlobsPresent::Known(present))
}

enum BlobsPresent {
    Known(HashSet<Hash>),
    Unknown,
}

impl BlobsPresent {
    fn contains(&self, h: &Hash) -> bool {
        match self {
            BlobsPresent::Known(s) => s.contains(h),
            BlobsPresent::Unknown => true,
        }
    }
}

/// Each indexed pack with its live and dead blobs.
fn pack_use(repo: &Repository, live: &HashSet<Hash>) -> Result<Vec<PackUse>> {
    let mut packs: Vec<PackUse> = repo
        .packs()?
        .into_iter()
        .map(|p| PackUse {
            id: p.id,
            name: p.name,
            size: p.size,
            ..PackUse::default()
        })
        .collect();
    let at: HashMap<i64, usize> = packs.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    for b in repo.all_blobs()? {
        let Some(&i) = at.get(&b.pack_id) else {
            continue;
        };
        if live.contains(&b.hash()) {
            packs[i].live.push(b);
        } else {
            packs[i].dead.push(b.hash());
        }
    }
    Ok(packs)
}

/// The partly used packs worth repacking, most wasteful (per byte copied) first.
fn choose_repacks<'p>(
    all: &[PackUse],
    partly: &[&'p PackUse],
    opts: &PruneOptions,
) -> Vec<&'p PackUse> {
    let total: u64 = all.iter().map(|p| p.size).sum();
    let dead: u64 = all
        .iter()
        .filter(|p| p.live.is_empty())
        .map(|p| p.size)
        .sum();
    let mut size_after = total - dead;
    let mut unused: u64 = partly.iter().map(|p| p.unused()).sum();
    let budget = (total as f64 * opts.max_repack_pct / 100.0) as u64;
    let (mut chosen, mut order): (Vec<&PackUse>, Vec<&PackUse>) =
        partly.iter().partition(|_| opts.purge);
    let mut copied: u64 = chosen.iter().map(|p| p.live_bytes()).sum();
    let purged: u64 = chosen.iter().map(|p| p.unused()).sum();
    unused -= purged;
    size_after -= purged;
    order.sort_by(|a, b| {
        let ratio = |p: &PackUse| p.unused() as f64 / (p.live_bytes() + 1) as f64;
        ratio(b).total_cmp(&ratio(a)).then(a.id.cmp(&b.id))
    });
    for p in order {
        if unused as f64 <= size_after as f64 * opts.max_unused_pct / 100.0 {
            break;
        }
        if !chosen.is_empty() && copied + p.live_bytes() > budget {
            continue;
        }
        copied += p.live_bytes();
        unused -= p.unused();
        size_after -= p.unused();
        chosen.push(p);
    }
    chosen
}

/// Copies the live blobs of `packs` into new durable packs, each re-hashed first.
fn repack(vault: &Vault, packs: &[&PackUse], progress: &dyn Fn(u64)) -> Result<Vec<FinishedPack>> {
    let mut done: Vec<FinishedPack> = Vec::new();
    let mut open: Option<PackWriter> = None;
    let mut reader = PackFiles::new(vault);
    let result = (|| -> Result<()> {
        for p in packs {
            for b in &p.live {
                let stored = copy_checked(vault, &mut reader, b)?;
                if open.is_none() {
                    open = Some(PackWriter::create(&vault.packs_dir(), vault.shared_keys())?);
                }
                let w = open.as_mut().expect("opened above");
                let h = &b.entry.header;
                w.copy(*h, &stored)?;
                progress(h.stored_len as u64);
                if w.len() >= TARGET_PACK_SIZE {
                    done.push(vault.finish_pack(open.take().expect("open"))?);
                }
            }
        }
        if let Some(w) = open.take() {
            done.push(vault.finish_pack(w)?);
        }
        Ok(())
    })();
    if let Err(e) = result {
        if let Some(w) = open.take() {
            w.abandon();
        }
        for p in &done {
            let _ = vault.delete_remote_pack(&p.id);
            let _ = fs::remove_file(vault.pack_path(&p.id));
        }
        return Err(e);
    }
    Ok(done)
}

/// A blob's stored bytes, after checking that they decode to its hash: prune must
/// never carry damage into a new pack and then delete the only other evidence.
fn copy_checked(vault: &Vault, reader: &mut PackFiles, b: &BlobLocation) -> Result<Vec<u8>> {
    let path = vault.pack_path(&b.pack);
    if let Err(pack::PackError::Io { path, source }) = reader.file(&b.pack) {
        return Err(StoreError::Io { path, source });
    }
    let stored = reader.read_stored(&b.pack, &b.entry)?;
    if pack::decode_checked(&path, &b.entry, &stored, vault.keys()).is_err() {
        return Err(StoreError::Vault(format!(
            "blob {} in pack {} does not match its hash; prune stopped without changing \
             anything. Run `tt-vault verify --read-data` to see what is damaged",
            index::short_hash(&b.hash()),
            path.display()
        )));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(id: i64, size: u64, live: &[u32]) -> PackUse {
        PackUse {
            id,
            name: format!("p{id}"),
            size,
            live: live
                .iter()
                .map(|&n| BlobLocation {
                    pack_id: id,
                    pack: format!("p{id}"),
                    entry: pack::BlobEntry {
                        header: pack::BlobHeader {
                            kind: pack::BlobKind::Data,
                            codec: crate::store::codec::Codec::Raw,
                            raw_len: n,
                            stored_len: n,
                            hash: [id as u8; 32],
                        },
                        offset: 0,
                    },
                })
                .collect(),
            dead: Vec::new(),
        }
    }

    #[test]
    fn unused_is_what_a_perfect_repack_saves() {
        let full = pack(
            1,
            PACK_OVERHEAD + 1000 + TRAILER_ENTRY + HEADER_LEN as u64,
            &[1000],
        );
        assert_eq!(full.unused(), 0);
        let half = pack(
            2,
            PACK_OVERHEAD + 2 * (1000 + TRAILER_ENTRY + HEADER_LEN as u64),
            &[1000],
        );
        assert_eq!(half.unused(), 1000 + TRAILER_ENTRY + HEADER_LEN as u64);
    }

    #[test]
    fn repacks_most_wasteful_first_within_budget_and_tolerance() {
        // Three packs of ~100 KB: one 90% waste, one 50%, one 5%.
        let all = vec![
            pack(1, 100_000, &[10_000]),
            pack(2, 100_000, &[50_000]),
            pack(3, 100_000, &[95_000]),
        ];
        let partly: Vec<&PackUse> = all.iter().collect();
        let ids = |opts: PruneOptions| -> Vec<i64> {
            choose_repacks(&all, &partly, &opts)
                .iter()
                .map(|p| p.id)
                .collect()
        };
        let everything = PruneOptions {
            dry_run: false,
            max_repack_pct: 100.0,
            max_unused_pct: 0.0,
            purge: false,
        };
        assert_eq!(ids(everything), vec![1, 2, 3]);
        // A budget of 25% of 300 KB (75 KB) copies pack 1 (10 KB) and pack 2 (50 KB).
        assert_eq!(
            ids(PruneOptions {
                max_repack_pct: 25.0,
                ..everything
            }),
            vec![1, 2]
        );
        // A budget smaller than any pack still repacks the most wasteful one.
        assert_eq!(
            ids(PruneOptions {
                max_repack_pct: 1.0,
                ..everything
            }),
            vec![1]
        );
        // Tolerating 30% waste: after pack 1 (-90 KB) the rest (~55 KB of ~210 KB) is fine.
        assert_eq!(
            ids(PruneOptions {
                max_unused_pct: 30.0,
                ..everything
            }),
            vec![1]
        );
        // Tolerating more waste than there is repacks nothing.
        assert!(ids(PruneOptions {
            max_unused_pct: 60.0,
            ..everything
        })
        .is_empty());
    }

    #[test]
    fn purge_repacks_every_partly_used_pack_whatever_the_limits() {
        // Pack 2 holds a forgotten snapshot's small blob beside a large live one.
        let all = vec![pack(1, 100_000, &[99_900]), pack(2, 100_000, &[95_000])];
        let partly: Vec<&PackUse> = all.iter().collect();
        let tight = PruneOptions {
            dry_run: false,
            max_repack_pct: 1.0,
            max_unused_pct: 50.0,
            purge: false,
        };
        let ids = |opts: PruneOptions| -> Vec<i64> {
            choose_repacks(&all, &partly, &opts)
                .iter()
                .map(|p| p.id)
                .collect()
        };
        assert!(ids(tight).is_empty());
        let mut purged = ids(PruneOptions {
            purge: true,
            ..tight
        });
        purged.sort();
        assert_eq!(purged, vec![1, 2]);
    }
}

/// Prune on real vaults: a snapshot commit that never finished.
#[cfg(test)]
mod unfinished_tests {
    use std::io::Cursor;

    use super::*;
    use crate::store::archiver::SnapshotBuilder;
    use crate::store::manifest::{decode_file_map, Manifest};
    use crate::store::names::RawPaths;
    use crate::store::reader::BlobReader;
    use crate::store::restorer::{self, RestoreOptions};
    use crate::store::testing::{flip_byte, info, noise, snapshot, vault, TestVault};

    /// A vault with one snapshot of `kept`, then a second commit (of `kept` and a new
    /// file) whose last step failed as an export's catalogue ingest can: its manifest
    /// is in a committed pack, beside the new file's blob, and no snapshot row names
    /// it. Returns the vault, the first snapshot and the orphan manifest.
    fn failed_commit(kept: &[u8]) -> (TestVault, crate::store::archiver::Committed, Hash) {
        let t = vault();
        let c1 = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("kept", kept, None)],
        );
        let lock = t.vault.lock_for_writing(false).unwrap();
        let quiet = |_| {};
        let b = SnapshotBuilder::new(&t.vault, &lock, "a", true, &quiet).unwrap();
        // "new" is an item the resume journal keeps (and prune with it) for the next run.
        for (path, bytes, item) in [
            ("kept", kept.to_vec(), None),
            ("new", noise(50_000, 42), Some("9".to_string())),
        ] {
            b.add_reader(path, &mut Cursor::new(bytes), "media", item, None)
                .unwrap();
        }
        let err = b
            .commit_with(info("a", chrono::Utc::now()), |_, _| {
                Err("cataloguing the export failed: test; nothing was committed".into())
            })
            .unwrap_err();
        assert!(err.to_string().contains("nothing was committed"), "{err}");
        drop(lock);
        let conn = t.vault.connect().unwrap();
        assert_eq!(snapshots::list(&conn, None).unwrap().len(), 1);
        let recorded: Vec<Hash> = snapshots::unfinished(&conn).unwrap().into_iter().collect();
        assert_eq!(recorded.len(), 1, "the failed commit left its record");
        let census = Census::take(&t.vault, &HashSet::new(), false).unwrap();
        assert!(census.manifests.contains_key(&recorded[0]));
        (t, c1, recorded[0])
    }

    fn prune_with(v: &Vault, opts: &PruneOptions) -> Result<PruneReport> {
        let lock = v.lock_for_writing(false).unwrap();
        prune(v, &lock, opts, &|_| (), &mut |_| Ok(()))
    }

    /// Every blob `manifest` references (itself, its files' maps and chunks), read
    /// back from the packs through the index; the file maps are checked to be there.
    fn blobs_of(v: &Vault, manifest: &Hash) -> Vec<Hash> {
        let mut reader = BlobReader::new(v).unwrap();
        let m = Manifest::decode(&reader.read(manifest).unwrap()).unwrap();
        let mut blobs = vec![*manifest];
        for e in &m.entries {
            match e.map {
                Some(map) => {
                    let f = decode_file_map(&reader.read(&map).unwrap(), map).unwrap();
                    blobs.push(map);
                    blobs.extend(f.chunks);
                }
                None => blobs.extend(e.implied_file().unwrap().chunks),
            }
        }
        for h in &blobs {
            reader.read(h).unwrap();
        }
        blobs
    }

    fn restores(v: &Vault, c: &crate::store::archiver::Committed, path: &str, bytes: &[u8]) {
        let out = tempfile::tempdir().unwrap();
        let opts = RestoreOptions {
            target: out.path().to_path_buf(),
            force: false,
            verify: true,
            raw_paths: RawPaths::new(),
        };
        let rr = restorer::restore(v, &c.manifest.entries, &opts, &|_| ()).unwrap();
        assert!(rr.failed.is_empty(), "{:?}", rr.failed);
        assert_eq!(fs::read(out.path().join(path)).unwrap(), bytes);
    }

    /// The record lets prune go on, and keeps the manifest with all it references:
    /// the commit may have finished in an index this one is an older copy of.
    #[test]
    fn a_commit_that_never_finished_is_kept_whole_and_prune_goes_on() {
        // Big enough for a file map: the maps are read from the packs too.
        let kept = noise(9 << 20, 41);
        let (t, c1, orphan) = failed_commit(&kept);
        let blobs = blobs_of(&t.vault, &orphan);
        assert!(
            blobs.len() > 4,
            "the manifest, a map, several chunks: {blobs:?}"
        );

        let repo = Repository::open_read_only(&t.vault).unwrap();
        let r = dry_run(&t.vault, repo, &PruneOptions::default()).unwrap();
        assert_eq!(r.unfinished_snapshots, 1);
        for opts in [
            PruneOptions::default(),
            PruneOptions {
                purge: true,
                ..PruneOptions::default()
            },
        ] {
            let r = prune_with(&t.vault, &opts).unwrap();
            assert_eq!(r.unfinished_snapshots, 1, "{r:?}");
            assert_eq!(r.blobs_removed, 0, "{r:?}");
            let census = Census::take(&t.vault, &HashSet::new(), false).unwrap();
            assert!(census.manifests.contains_key(&orphan));
            assert_eq!(blobs_of(&t.vault, &orphan), blobs);
            let conn = t.vault.connect().unwrap();
            assert_eq!(
                snapshots::unfinished(&conn).unwrap(),
                HashSet::from([orphan])
            );
            restores(&t.vault, &c1, "kept", &kept);
        }
    }

    /// What only the unfinished manifest references outlives the snapshot that shared
    /// it: forgotten, its pack would otherwise go.
    #[test]
    fn a_blob_only_an_unfinished_commit_references_is_kept() {
        let kept = noise(9 << 20, 44);
        let (t, c1, orphan) = failed_commit(&kept);
        let blobs = blobs_of(&t.vault, &orphan);
        assert!(c1.manifest.entries[0].map.is_some(), "a file map to keep");
        let only_c1 = snapshot_hash(&c1.id).unwrap();
        {
            let lock = t.vault.lock_for_writing(false).unwrap();
            tombstone::forget(&t.vault, &lock, std::slice::from_ref(&c1.id)).unwrap();
        }
        let r = prune_with(
            &t.vault,
            &PruneOptions {
                purge: true,
                ..PruneOptions::default()
            },
        )
        .unwrap();
        assert_eq!(r.unfinished_snapshots, 1);
        assert!(r.unfinished_bytes > kept.len() as u64 / 2, "{r:?}");
        let repo = Repository::open(&t.vault).unwrap();
        assert!(
            !repo.has_blob(&only_c1).unwrap(),
            "the forgotten manifest went"
        );
        assert_eq!(blobs_of(&t.vault, &orphan), blobs);
        // Listed as a snapshot again, it restores.
        drop(repo);
        {
            let lock = t.vault.lock_for_rebuild(false).unwrap();
            let rr = rebuild::rebuild_index(&t.vault, &lock).unwrap();
            assert_eq!(rr.snapshots, 1, "{rr:?}");
        }
        let conn = t.vault.connect().unwrap();
        let listed = snapshots::list(&conn, None).unwrap();
        assert_eq!(listed[0].id, hex::encode(orphan));
        let m =
            Manifest::decode(&BlobReader::new(&t.vault).unwrap().read(&orphan).unwrap()).unwrap();
        let again = crate::store::archiver::Committed {
            id: listed[0].id.clone(),
            manifest: m,
        };
        restores(&t.vault, &again, "kept", &kept);
        prune_with(&t.vault, &PruneOptions::default()).unwrap();
    }

    /// `forget --unfinished`: its commit adds the tombstone's pack and deletes the
    /// record at once, so the packs count the manifest as forgotten (the census does
    /// not stop prune) and prune drops it; the next prune drops the tombstone.
    #[test]
    fn a_commit_forgotten_as_unfinished_is_pruned_away() {
        let kept = noise(100_000, 45);
        let (t, c1, orphan) = failed_commit(&kept);
        {
            let lock = t.vault.lock_for_writing(false).unwrap();
            let repo = Repository::open(&t.vault).unwrap();
            let commits = tombstone::unfinished_commits(&t.vault, &repo).unwrap();
            assert_eq!(commits.len(), 1);
            assert!(commits[0].manifest == orphan && !commits[0].finished);
            tombstone::forget_unfinished(&t.vault, &lock, &commits).unwrap();
        }
        let conn = t.vault.connect().unwrap();
        assert!(snapshots::unfinished(&conn).unwrap().is_empty());
        let repo = Repository::open(&t.vault).unwrap();
        let tombs = tombstone::indexed(&t.vault, &repo).unwrap();
        assert_eq!(tombs.len(), 1, "the tombstone's pack is committed with it");
        assert_eq!(tombs[0].1.manifests(), vec![orphan]);
        let census = Census::take(&t.vault, &HashSet::new(), false).unwrap();
        assert!(census.forgotten.contains(&orphan));

        // Purged: its pack (beside the journal's file) is otherwise under --max-unused.
        let purge = PruneOptions {
            purge: true,
            ..PruneOptions::default()
        };
        let r = prune_with(&t.vault, &purge).unwrap();
        assert_eq!(r.unfinished_snapshots, 0, "{r:?}");
        assert!(!repo.has_blob(&orphan).unwrap(), "the manifest went");
        let census = Census::take(&t.vault, &HashSet::new(), false).unwrap();
        assert!(
            !census.manifests.contains_key(&orphan),
            "and its pack with it"
        );
        restores(&t.vault, &c1, "kept", &kept);
        let r = prune_with(&t.vault, &PruneOptions::default()).unwrap();
        assert_eq!(r.tombstones_dropped, 1, "{r:?}");
    }

    /// Prune's error, checked to have left every pack file as it was.
    fn refused(v: &Vault) -> String {
        let packs = || {
            let mut names = v.every_pack().unwrap();
            names.sort();
            names
        };
        let before = packs();
        let err = prune_with(v, &PruneOptions::default()).unwrap_err();
        assert_eq!(packs(), before, "prune changed the packs: {err}");
        err.to_string()
    }

    /// A manifest prune must keep and cannot read stops it, naming snapshot and pack.
    #[test]
    fn an_unreadable_unfinished_manifest_or_file_map_stops_prune() {
        for damaged in ["manifest", "map"] {
            let (t, _, orphan) = failed_commit(&noise(9 << 20, 45));
            let m = Manifest::decode(&BlobReader::new(&t.vault).unwrap().read(&orphan).unwrap())
                .unwrap();
            let target = match damaged {
                "manifest" => orphan,
                _ => m.entries.iter().find_map(|e| e.map).unwrap(),
            };
            flip_byte(&t.vault, &target);
            let pack = Repository::open(&t.vault)
                .unwrap()
                .blob(&orphan)
                .unwrap()
                .unwrap()
                .pack;
            let err = refused(&t.vault);
            assert!(
                err.contains(&index::short_hash(&orphan))
                    && err.contains(&pack)
                    && err.contains("never finished")
                    && err.contains("nothing was deleted"),
                "{damaged}: {err}"
            );
        }
    }

    #[test]
    fn a_manifest_neither_a_snapshot_nor_unfinished_still_stops_prune() {
        let (t, _, orphan) = failed_commit(&noise(10_000, 43));
        Repository::open(&t.vault)
            .unwrap()
            .conn()
            .execute("DELETE FROM unfinished_snapshots", [])
            .unwrap();
        let err = refused(&t.vault);
        assert!(
            err.contains("1 snapshot(s) the index does not know")
                && err.contains(&index::short_hash(&orphan))
                && err.contains("rebuild-index"),
            "{err}"
        );
        let census = Census::take(&t.vault, &HashSet::new(), false).unwrap();
        assert!(census.manifests.contains_key(&orphan));
    }

    /// A record whose snapshot row was committed after all (the same manifest stored
    /// again), or whose manifest no pack holds (killed before it was sent), keeps
    /// nothing alive and nothing dead: the snapshot stays, the records go.
    #[test]
    fn a_record_of_a_known_snapshot_or_of_no_manifest_is_dropped() {
        let t = vault();
        let c = snapshot(&t.vault, "a", "2026-01-01T00:00:00Z", &[("x", b"x", None)]);
        let h = snapshot_hash(&c.id).unwrap();
        let conn = t.vault.connect().unwrap();
        snapshots::begin_commit(&conn, &h).unwrap();
        snapshots::begin_commit(&conn, &[7; 32]).unwrap();
        assert_eq!(snapshots::unfinished(&conn).unwrap().len(), 2);
        let r = prune_with(&t.vault, &PruneOptions::default()).unwrap();
        assert_eq!(r.unfinished_snapshots, 0);
        let repo = Repository::open(&t.vault).unwrap();
        assert!(repo.snapshot_exists(&c.id).unwrap() && repo.has_blob(&h).unwrap());
        assert!(snapshots::unfinished(repo.conn()).unwrap().is_empty());
    }
}

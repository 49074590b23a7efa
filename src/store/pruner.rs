//! Prune: remove from the packs what no snapshot references any more.
//!
//! # What is live
//!
//! The manifests of the remaining snapshots, the file maps and chunks of every file a
//! remaining entry references, the blobs of files in the resume journal (a killed
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
//! before the manifest was sent). Such a manifest is dead: every pack holding it is
//! deleted or repacked without it, whatever the repack limits, and the record goes in
//! prune's commit once no pack left holds the manifest. Prune holds the writer lock,
//! as every snapshot does until its commit ends, so no record is of a commit still
//! running.
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

use super::census::Census;
use super::chunker::Hash;
use super::index::{self, Compaction};
use super::lock::{DeleteLock, WriteLock};
use super::pack::{self, FinishedPack, PackWriter};
use super::pack::{FOOTER_LEN, HEADER_LEN, PACK_MAGIC, TARGET_PACK_SIZE, TRAILER_ENTRY_LEN};
use super::reader::PackFiles;
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
    /// Manifests of snapshot commits that never finished (killed, or failed), removed
    /// from the packs (in a dry run: to remove).
    pub unfinished_snapshots: u64,
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

/// The manifests of snapshot commits that never finished (see the module docs).
#[derive(Debug, Default)]
struct Unfinished {
    /// The packs holding each manifest the index knows only as unfinished: all dead.
    dead: Vec<(Hash, Vec<String>)>,
    /// Each unfinished record with the packs holding its manifest (none for a record
    /// whose manifest never reached a pack, or whose snapshot row was committed after
    /// all); the record goes once none of them is left.
    records: Vec<(Hash, Vec<String>)>,
}

impl Unfinished {
    /// Every pack holding a dead manifest.
    fn packs(&self) -> HashSet<&str> {
        self.dead
            .iter()
            .flat_map(|(_, packs)| packs.iter().map(String::as_str))
            .collect()
    }

    /// The records whose manifests no pack holds once `removed` are gone.
    fn done(&self, removed: &HashSet<&str>) -> Vec<Hash> {
        self.records
            .iter()
            .filter(|(_, packs)| packs.iter().all(|p| removed.contains(p.as_str())))
            .map(|(h, _)| *h)
            .collect()
    }
}

/// Refuses to go on when the packs hold a live snapshot the index does not know (see
/// census.rs): a wrong index must never make prune delete a live snapshot. A manifest
/// the index records as an unfinished commit is not live: those are returned.
fn check_index_knows_every_snapshot(vault: &Vault, repo: &Repository) -> Result<Unfinished> {
    let given_up: HashSet<String> = repo.pending_deletes()?.into_iter().collect();
    let census = Census::take(vault, &given_up)?;
    let known: HashSet<Hash> = snapshots::list(repo.conn(), None)?
        .iter()
        .filter_map(|s| snapshot_hash(&s.id).ok())
        .collect();
    let recorded = snapshots::unfinished(repo.conn())?;
    let (dead, unknown): (Vec<_>, Vec<_>) = census
        .unknown(&known)
        .into_iter()
        .partition(|(h, _)| recorded.contains(h));
    let Some((first, pack)) = unknown.first() else {
        let holders = |h: &Hash| census.holders(h).to_vec();
        return Ok(Unfinished {
            dead: dead.iter().map(|(h, _)| (*h, holders(h))).collect(),
            records: recorded
                .iter()
                .map(|h| {
                    (
                        *h,
                        if known.contains(h) {
                            Vec::new()
                        } else {
                            holders(h)
                        },
                    )
                })
                .collect(),
        });
    };
    Err(StoreError::Vault(format!(
        "the packs hold {} snapshot(s) the index does not know (snapshot {} in pack {pack}, \
         first): the index (vault.db) is out of date or damaged, and pruning by it would delete \
         them. Nothing was deleted; run `tt-vault rebuild-index`, then prune again",
        unknown.len(),
        index::short_hash(first)
    )))
}

fn run(
    vault: &Vault,
    mut repo: Repository,
    opts: &PruneOptions,
    progress: &dyn Fn(u64),
    also: &mut dyn FnMut(&Transaction) -> rusqlite::Result<()>,
) -> Result<PruneReport> {
    let unfinished = check_index_knows_every_snapshot(vault, &repo)?;
    let tombs = tombstone::indexed(vault, &repo)?;
    let mut live = repo.live_blobs(Journal::Include)?;
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        ..PruneReport::default()
    };
    if !tombs.is_empty() {
        let present = blobs_in_packs(vault, &repo)?;
        for (hash, t) in &tombs {
            if t.manifests().iter().any(|m| present.contains(m)) {
                live.insert(*hash);
            } else {
                report.tombstones_dropped += 1;
            }
        }
    }

    let packs = pack_use(&repo, &live)?;
    report.packs_before = packs.len() as u64;
    report.bytes_before = packs.iter().map(|p| p.size).sum();
    report.blobs_removed = packs.iter().map(|p| p.dead.len() as u64).sum();

    let (dead, partly): (Vec<&PackUse>, Vec<&PackUse>) = packs
        .iter()
        .filter(|p| p.live.is_empty() || p.unused() > 0)
        .partition(|p| p.live.is_empty());
    let mut to_repack = choose_repacks(&packs, &partly, opts);
    // Whatever the limits: a manifest left behind without its record would stop the
    // next prune.
    let unfinished_packs = unfinished.packs();
    for p in &partly {
        if unfinished_packs.contains(p.name.as_str()) && !to_repack.iter().any(|c| c.id == p.id) {
            to_repack.push(p);
        }
    }
    report.unfinished_snapshots = unfinished.dead.len() as u64;
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
    let gone: HashSet<&str> = removed_packs.iter().map(|(_, name)| *name).collect();
    let finished = unfinished.done(&gone);
    let commit = repo.commit_prune(&dead_blobs, &removed_packs, &written, &finished, also);
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
    let changed = !dead_blobs.is_empty() || !removed_packs.is_empty() || !finished.is_empty();
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

/// Every blob hash in the trailer of an indexed pack, whether indexed or not. A pack
/// whose trailer does not read is scanned; one that cannot be read at all counts as
/// holding everything, so no tombstone is dropped on a guess.
fn blobs_in_packs(vault: &Vault, repo: &Repository) -> Result<BlobsPresent> {
    let mut present = HashSet::new();
    for name in repo.pack_names()? {
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
    use crate::store::journal;
    use crate::store::names::RawPaths;
    use crate::store::restorer::{self, RestoreOptions};
    use crate::store::testing::{info, noise, snapshot, vault, TestVault};

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
        let census = Census::take(&t.vault, &HashSet::new()).unwrap();
        assert!(census.manifests.contains_key(&recorded[0]));
        (t, c1, recorded[0])
    }

    fn prune_with(v: &Vault, opts: &PruneOptions) -> Result<PruneReport> {
        let lock = v.lock_for_writing(false).unwrap();
        prune(v, &lock, opts, &|_| (), &mut |_| Ok(()))
    }

    #[test]
    fn a_commit_that_never_finished_is_pruned_away_with_its_record() {
        let kept = noise(300_000, 41);
        let (t, c1, orphan) = failed_commit(&kept);
        let packs = || {
            let mut names = t.vault.every_pack().unwrap();
            names.sort();
            names
        };

        // A dry run says so and changes nothing.
        let before = packs();
        let repo = Repository::open_read_only(&t.vault).unwrap();
        let r = dry_run(&t.vault, repo, &PruneOptions::default()).unwrap();
        assert_eq!(r.unfinished_snapshots, 1);
        assert_eq!(packs(), before);
        let conn = t.vault.connect().unwrap();
        assert_eq!(snapshots::unfinished(&conn).unwrap().len(), 1);

        // Default limits: the manifest's few bytes alone would not be worth a repack.
        let r = prune_with(&t.vault, &PruneOptions::default()).unwrap();
        assert_eq!(r.unfinished_snapshots, 1);
        assert_eq!((r.packs_deleted, r.packs_repacked), (0, 1), "{r:?}");
        let census = Census::take(&t.vault, &HashSet::new()).unwrap();
        assert!(
            !census.manifests.contains_key(&orphan),
            "the orphan manifest is still in a pack"
        );
        assert_eq!(
            census.manifests.keys().copied().collect::<Vec<_>>(),
            vec![snapshot_hash(&c1.id).unwrap()]
        );
        assert!(snapshots::unfinished(&conn).unwrap().is_empty());
        let repo = Repository::open(&t.vault).unwrap();
        assert!(!repo.has_blob(&orphan).unwrap());
        let journaled = journal::committed_files(repo.conn(), "9").unwrap();
        assert_eq!(journaled.len(), 1, "the killed run's stored work stays");
        assert!(repo.has_blob(&journaled[0].1.chunks[0]).unwrap());

        // The earlier snapshot restores byte for byte; the next prune runs too.
        let out = tempfile::tempdir().unwrap();
        let opts = RestoreOptions {
            target: out.path().to_path_buf(),
            force: false,
            verify: true,
            raw_paths: RawPaths::new(),
        };
        let rr = restorer::restore(&t.vault, &c1.manifest.entries, &opts, &|_| ()).unwrap();
        assert!(rr.failed.is_empty(), "{:?}", rr.failed);
        assert_eq!(fs::read(out.path().join("kept")).unwrap(), kept);
        let again = prune_with(&t.vault, &PruneOptions::default()).unwrap();
        assert_eq!(again.unfinished_snapshots, 0);
    }

    #[test]
    fn a_manifest_neither_a_snapshot_nor_unfinished_still_stops_prune() {
        let (t, _, orphan) = failed_commit(&noise(10_000, 43));
        Repository::open(&t.vault)
            .unwrap()
            .conn()
            .execute("DELETE FROM unfinished_snapshots", [])
            .unwrap();
        let mut before = t.vault.every_pack().unwrap();
        before.sort();
        let err = prune_with(&t.vault, &PruneOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 snapshot(s) the index does not know")
                && err.contains(&index::short_hash(&orphan))
                && err.contains("rebuild-index"),
            "{err}"
        );
        let mut after = t.vault.every_pack().unwrap();
        after.sort();
        assert_eq!(after, before, "prune changed the packs");
        let census = Census::take(&t.vault, &HashSet::new()).unwrap();
        assert!(census.manifests.contains_key(&orphan));
    }

    /// A record whose snapshot row was committed after all (the same manifest stored
    /// again) keeps nothing alive and nothing dead: the snapshot stays, the record goes.
    #[test]
    fn a_record_of_a_known_snapshot_is_dropped_and_the_snapshot_kept() {
        let t = vault();
        let c = snapshot(&t.vault, "a", "2026-01-01T00:00:00Z", &[("x", b"x", None)]);
        let h = snapshot_hash(&c.id).unwrap();
        snapshots::begin_commit(&t.vault.connect().unwrap(), &h).unwrap();
        let r = prune_with(&t.vault, &PruneOptions::default()).unwrap();
        assert_eq!(r.unfinished_snapshots, 0);
        let repo = Repository::open(&t.vault).unwrap();
        assert!(repo.snapshot_exists(&c.id).unwrap() && repo.has_blob(&h).unwrap());
        assert!(snapshots::unfinished(repo.conn()).unwrap().is_empty());
    }
}

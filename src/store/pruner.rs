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
//!   live bytes copied stay within `max_repack` percent of the vault.
//!
//! So the granularity is the pack: the bytes freed are the sizes of the deleted packs
//! plus, for each repacked pack, its size minus its live blobs (and their trailer
//! entries). With `max_unused` 0 and `max_repack` 100 every byte that only forgotten
//! snapshots held is freed, up to the trailer and footer of the new packs; with the
//! defaults up to `max_unused` percent of the vault may stay in partly used packs.
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
use std::fs::{self, File};
use std::path::Path;

use rusqlite::{params, Connection};
use serde::Serialize;

use super::chunker::Hash;
use super::codec::Codec;
use super::index::{self, split_hashes};
use super::lock::WriteLock;
use super::pack::{self, BlobEntry, BlobHeader, BlobKind, FinishedPack, PackWriter};
use super::pack::{FOOTER_LEN, HEADER_LEN, PACK_MAGIC, TARGET_PACK_SIZE, TRAILER_ENTRY_LEN};
use super::{failpoint, io_at, tombstone, Result, StoreError, Vault};

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
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            max_repack_pct: 10.0,
            max_unused_pct: 5.0,
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
}

/// One indexed blob.
#[derive(Debug, Clone)]
struct Blob {
    hash: Hash,
    offset: u64,
    raw_len: u32,
    stored_len: u32,
    codec: Codec,
    kind: BlobKind,
}

impl Blob {
    fn entry(&self) -> BlobEntry {
        BlobEntry {
            header: BlobHeader {
                kind: self.kind,
                codec: self.codec,
                raw_len: self.raw_len,
                stored_len: self.stored_len,
                hash: self.hash,
            },
            offset: self.offset,
        }
    }

    fn bytes(&self) -> u64 {
        HEADER_LEN as u64 + self.stored_len as u64 + TRAILER_ENTRY
    }
}

#[derive(Debug, Default)]
struct PackUse {
    id: i64,
    name: String,
    size: u64,
    live: Vec<Blob>,
    dead: Vec<Hash>,
}

impl PackUse {
    fn live_bytes(&self) -> u64 {
        self.live.iter().map(Blob::bytes).sum()
    }

    /// What a repack would save: the pack's size minus what its live blobs need.
    fn unused(&self) -> u64 {
        self.size.saturating_sub(PACK_OVERHEAD + self.live_bytes())
    }
}

/// Prunes the vault; see the module docs. `progress` hears of every live byte copied.
pub fn prune(
    vault: &Vault,
    _lock: &WriteLock,
    opts: &PruneOptions,
    progress: &dyn Fn(u64),
) -> Result<PruneReport> {
    let mut conn = vault.connect()?;
    let tombs = tombstone::indexed(vault)?;
    let mut live = referenced(&conn)?;
    let mut report = PruneReport {
        dry_run: opts.dry_run,
        ..PruneReport::default()
    };
    if !tombs.is_empty() {
        let present = blobs_in_packs(vault, &conn)?;
        for (hash, t) in &tombs {
            if t.manifests().iter().any(|m| present.contains(m)) {
                live.insert(*hash);
            } else {
                report.tombstones_dropped += 1;
            }
        }
    }

    let packs = pack_use(&conn, &live)?;
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

    let commit = (|| -> Result<()> {
        let tx = conn.transaction()?;
        {
            let mut drop_blob =
                tx.prepare("DELETE FROM chunks WHERE hash = ?1 AND pack_id = ?2")?;
            for p in &packs {
                for h in &p.dead {
                    drop_blob.execute(params![&h[..], p.id])?;
                }
            }
            let mut drop_rows = tx.prepare("DELETE FROM chunks WHERE pack_id = ?1")?;
            let mut drop_pack = tx.prepare("DELETE FROM packs WHERE id = ?1")?;
            let mut pending =
                tx.prepare("INSERT OR IGNORE INTO pending_deletes (name) VALUES (?1)")?;
            for p in &removed {
                drop_rows.execute([p.id])?;
                drop_pack.execute([p.id])?;
                pending.execute([&p.name])?;
            }
        }
        for p in &written {
            index::insert_pack(&tx, p)?;
        }
        tx.execute(
            "DELETE FROM files WHERE hash NOT IN (SELECT file_hash FROM entries)",
            [],
        )?;
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = commit {
        // Nothing points at the new packs: remove them rather than leave strays.
        for p in &written {
            let _ = fs::remove_file(vault.pack_path(&p.id));
        }
        return Err(e);
    }
    failpoint("prune-after-commit");
    finish_pending_deletes(vault, &conn)?;

    report.packs_written = written.len() as u64;
    report.bytes_freed = removed_bytes.saturating_sub(written_bytes);
    report.bytes_after = report.bytes_before - report.bytes_freed;
    report.packs_after = report.packs_before - removed.len() as u64 + written.len() as u64;
    Ok(report)
}

/// Deletes the pack files a committed prune left in `pending_deletes`, then the rows.
/// Runs after every prune commit and in recovery, before stray packs are adopted.
pub fn finish_pending_deletes(vault: &Vault, conn: &Connection) -> Result<()> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM pending_deletes ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if names.is_empty() {
        return Ok(());
    }
    let mut still_indexed = conn.prepare("SELECT 1 FROM packs WHERE name = ?1")?;
    let mut dirs = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        // A pending name that is indexed again must not lose its file.
        if !still_indexed.exists([name])? {
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
    let mut done = conn.prepare("DELETE FROM pending_deletes WHERE name = ?1")?;
    for name in &names {
        done.execute([name])?;
    }
    Ok(())
}

/// Manifests of the snapshots, and the chunks and maps of the files their entries
/// (and the resume journal) use.
fn referenced(conn: &Connection) -> Result<HashSet<Hash>> {
    let mut live = HashSet::new();
    let mut stmt = conn.prepare("SELECT id FROM snapshots")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let hash = hex::decode(&id)
            .ok()
            .and_then(|h| Hash::try_from(h).ok())
            .ok_or_else(|| StoreError::Vault(format!("snapshot id {id} is not a hash")))?;
        live.insert(hash);
    }
    let mut stmt = conn.prepare(
        "SELECT chunks, map FROM files WHERE hash IN (SELECT DISTINCT file_hash FROM entries)
         UNION ALL SELECT chunks, map FROM journal",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        live.extend(split_hashes(&r.get::<_, Vec<u8>>(0)?));
        if let Some(m) = r
            .get::<_, Option<Vec<u8>>>(1)?
            .and_then(|m| Hash::try_from(m).ok())
        {
            live.insert(m);
        }
    }
    Ok(live)
}

/// Every blob hash in the trailer of an indexed pack, whether indexed or not. A pack
/// whose trailer does not read is scanned; one that cannot be read at all counts as
/// holding everything, so no tombstone is dropped on a guess.
fn blobs_in_packs(vault: &Vault, conn: &Connection) -> Result<BlobsPresent> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM packs")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut present = HashSet::new();
    for name in names {
        let path = vault.pack_path(&name);
        let entries = match pack::read_index(&path) {
            Ok((_, entries)) => entries,
            Err(_) => match pack::scan(&path) {
                Ok(entries) => entries,
                Err(_) => return Ok(BlobsPresent::Unknown),
            },
        };
        present.extend(entries.iter().map(|e| e.header.hash));
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
fn pack_use(conn: &Connection, live: &HashSet<Hash>) -> Result<Vec<PackUse>> {
    let mut packs: Vec<PackUse> = conn
        .prepare("SELECT id, name, size FROM packs ORDER BY id")?
        .query_map([], |r| {
            Ok(PackUse {
                id: r.get(0)?,
                name: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                ..PackUse::default()
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let at: HashMap<i64, usize> = packs.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let mut stmt = conn.prepare(
        "SELECT hash, pack_id, offset, raw_len, stored_len, codec, kind FROM chunks ORDER BY pack_id, offset",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let hash: Hash = r
            .get::<_, Vec<u8>>(0)?
            .try_into()
            .map_err(|_| StoreError::Vault("a chunk row has a hash that is not 32 bytes".into()))?;
        let Some(&i) = at.get(&r.get::<_, i64>(1)?) else {
            continue;
        };
        if !live.contains(&hash) {
            packs[i].dead.push(hash);
            continue;
        }
        let codec = r.get::<_, u8>(5)?;
        let kind = r.get::<_, u8>(6)?;
        let bad = || {
            StoreError::Vault(format!(
                "chunk {} has an unknown codec or kind; run `tt-vault verify`",
                index::short(&hash)
            ))
        };
        packs[i].live.push(Blob {
            hash,
            offset: r.get::<_, i64>(2)? as u64,
            raw_len: r.get::<_, i64>(3)? as u32,
            stored_len: r.get::<_, i64>(4)? as u32,
            codec: Codec::from_u8(codec).ok_or_else(bad)?,
            kind: BlobKind::from_u8(kind).ok_or_else(bad)?,
        });
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
    let mut copied = 0u64;
    let mut order = partly.to_vec();
    order.sort_by(|a, b| {
        let ratio = |p: &PackUse| p.unused() as f64 / (p.live_bytes() + 1) as f64;
        ratio(b).total_cmp(&ratio(a)).then(a.id.cmp(&b.id))
    });
    let mut chosen = Vec::new();
    for p in order {
        if unused as f64 <= size_after as f64 * opts.max_unused_pct / 100.0 {
            break;
        }
        if copied + p.live_bytes() > budget {
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
    let result = (|| -> Result<()> {
        for p in packs {
            let path = vault.pack_path(&p.name);
            let file = File::open(&path).map_err(io_at(&path))?;
            for b in &p.live {
                let stored = copy_checked(&file, &path, b)?;
                if open.is_none() {
                    open = Some(PackWriter::create(&vault.packs_dir())?);
                }
                let w = open.as_mut().expect("opened above");
                w.append(b.kind, b.codec, b.hash, b.raw_len as usize, &stored)?;
                progress(b.stored_len as u64);
                if w.len() >= TARGET_PACK_SIZE {
                    done.push(open.take().expect("open").finish()?);
                }
            }
        }
        if let Some(w) = open.take() {
            done.push(w.finish()?);
        }
        Ok(())
    })();
    if let Err(e) = result {
        if let Some(w) = open.take() {
            w.abandon();
        }
        for p in &done {
            let _ = fs::remove_file(vault.pack_path(&p.id));
        }
        return Err(e);
    }
    Ok(done)
}

/// A blob's stored bytes, after checking that they decode to its hash: prune must
/// never carry damage into a new pack and then delete the only other evidence.
fn copy_checked(file: &File, path: &Path, b: &Blob) -> Result<Vec<u8>> {
    let stored = pack::read_stored(file, path, &b.entry())?;
    if pack::decode_checked(path, &b.entry(), &stored).is_err() {
        return Err(StoreError::Vault(format!(
            "blob {} in pack {} does not match its hash; prune stopped without changing \
             anything. Run `tt-vault verify --read-data` to see what is damaged",
            index::short(&b.hash),
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
                .map(|&n| Blob {
                    hash: [id as u8; 32],
                    offset: 0,
                    raw_len: n,
                    stored_len: n,
                    codec: Codec::Raw,
                    kind: BlobKind::Data,
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
}

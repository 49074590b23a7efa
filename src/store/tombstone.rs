//! Tombstones: the packs' own record of forgotten snapshots.
//!
//! Forgetting a snapshot deletes its index rows at once, but its manifest blob stays
//! in a pack until prune drops it, and `rebuild-index` recreates snapshots from the
//! manifests it finds in packs. So forget first writes a tombstone blob (kind 3)
//! naming the forgotten snapshots into a small pack of its own, and commits that pack
//! in the same transaction that deletes their rows. Then:
//!
//! - `rebuild-index` skips every manifest a tombstone names;
//! - recovery (recovery.rs) that adopts a tombstone's pack left by a
//!   killed forget deletes the snapshots it names, so the index agrees with the packs.
//!
//! `forget --unfinished` names in a tombstone the manifests of snapshot commits that
//! never finished (no snapshot row; see `schema/009_unfinished_snapshots.sql`), and
//! deletes their records in the transaction that commits it: prune's census then
//! counts those manifests as forgotten and drops what only they referenced.
//!
//! # Format
//!
//! The raw bytes are JSON, stored raw (they are small):
//!
//! ```json
//! {"format": 1, "forgotten_at": "2026-10-01T08:00:00.000Z", "snapshots": ["<hex id>", ...]}
//! ```
//!
//! # Lifetime
//!
//! A tombstone stays live for as long as any manifest it names is still in the trailer
//! of any pack. Prune decides this at the start of a run, before it deletes anything,
//! so a tombstone always outlives the manifests it names: the run that drops the last
//! copy of a manifest keeps the tombstone, a later run drops it.

use rusqlite::Transaction;
use serde::{Deserialize, Serialize};

use super::chunker::Hash;
use super::codec::Codec;
use super::crypto;
use super::index;
use super::lock::WriteLock;
use super::pack::{BlobEntry, BlobKind, PackWriter};
use super::reader::PackFiles;
use super::repository::Repository;
use super::{rebuild, snapshots, Result, StoreError, Vault};

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub format: u32,
    pub forgotten_at: String,
    /// Snapshot ids (hex BLAKE3 of their manifests).
    pub snapshots: Vec<String>,
}

impl Tombstone {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("tombstone serialises")
    }

    pub fn decode(raw: &[u8]) -> std::result::Result<Tombstone, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    /// The manifest hashes it names (ids that are not hex hashes are ignored).
    pub fn manifests(&self) -> Vec<Hash> {
        self.snapshots
            .iter()
            .filter_map(|id| hex::decode(id).ok()?.try_into().ok())
            .collect()
    }
}

/// Forgets snapshots: a tombstone naming them is made durable in a new pack, then
/// one transaction commits that pack and deletes their rows (entries cascade).
pub fn forget(vault: &Vault, _lock: &WriteLock, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    commit_tombstone(vault, ids, |tx| {
        for id in ids {
            snapshots::delete(tx, id)?;
        }
        Ok(())
    })
}

/// A snapshot commit the index records as never finished (`unfinished_snapshots`,
/// see `schema/009_unfinished_snapshots.sql`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfinishedCommit {
    /// The hex hash of its manifest: the id its snapshot would have had.
    pub id: String,
    #[serde(skip)]
    pub manifest: Hash,
    /// Its snapshot row exists: the commit did finish, and the record is one a copy
    /// of vault.db taken in the commit's last seconds kept. Only the record goes.
    pub finished: bool,
    /// What its manifest says, for the user to recognise it (a copy of vault.db taken
    /// in a commit's last seconds records a finished commit the same way); None when
    /// no pack holds it (the commit died before) or it does not read.
    pub snapshot: Option<UnfinishedSnapshot>,
}

/// The snapshot an unfinished commit was making, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnfinishedSnapshot {
    pub account: String,
    pub taken_at: String,
    pub files: u64,
    pub bytes: u64,
}

/// Every commit recorded as never finished, by id, with its manifest's description.
pub fn unfinished_commits(vault: &Vault, repo: &Repository) -> Result<Vec<UnfinishedCommit>> {
    let conn = repo.conn();
    let mut reader = PackFiles::new(vault);
    let mut out = Vec::new();
    for manifest in snapshots::unfinished(conn)? {
        let id = hex::encode(manifest);
        let finished = snapshots::exists(conn, &id)?;
        let read = repo
            .blob(&manifest)?
            .map(|loc| rebuild::read_meta(&mut reader, &loc.pack, &loc.entry));
        let snapshot = match read {
            Some(Ok(rebuild::Meta::Manifest(m))) => Some(UnfinishedSnapshot {
                account: m.account,
                taken_at: m.taken_at,
                files: m.stats.files,
                bytes: m.stats.bytes,
            }),
            _ => None,
        };
        out.push(UnfinishedCommit {
            id,
            manifest,
            finished,
            snapshot,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Forgets snapshot commits that never finished (`forget --unfinished`): those without
/// a snapshot row are named in a tombstone, as [`forget`] names snapshots, so the packs
/// say they are forgotten (prune's census drops their manifests, `rebuild-index` does
/// not list them); then one transaction commits the tombstone's pack and deletes every
/// record. A record of a commit that finished is deleted without a tombstone.
///
/// Killed between the two, the next writer adopts the tombstone's pack, and
/// [`apply_adopted`] deletes the records it names.
pub fn forget_unfinished(
    vault: &Vault,
    _lock: &WriteLock,
    commits: &[UnfinishedCommit],
) -> Result<()> {
    let drop_records = |tx: &Transaction| {
        for c in commits {
            snapshots::drop_unfinished(tx, &c.manifest)?;
        }
        Ok(())
    };
    let dead: Vec<String> = commits
        .iter()
        .filter(|c| !c.finished)
        .map(|c| c.id.clone())
        .collect();
    if !dead.is_empty() {
        return commit_tombstone(vault, &dead, drop_records);
    }
    let mut conn = vault.connect()?;
    let tx = conn.transaction()?;
    drop_records(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Writes a tombstone naming `ids` into a new pack and makes it durable; only then
/// commits that pack together with what `forget_rows` deletes from the index, so
/// the packs know of the forgetting before the index does.
fn commit_tombstone(
    vault: &Vault,
    ids: &[String],
    forget_rows: impl FnOnce(&Transaction) -> Result<()>,
) -> Result<()> {
    let raw = Tombstone {
        format: FORMAT,
        forgotten_at: index::now_rfc3339(),
        snapshots: ids.to_vec(),
    }
    .encode();
    let mut w = PackWriter::create(&vault.packs_dir(), vault.shared_keys())?;
    w.append(
        BlobKind::Tombstone,
        Codec::Raw,
        crypto::id(vault.keys(), &raw),
        raw.len(),
        &raw,
    )?;
    let finished = vault.finish_pack(w)?;
    super::failpoint("forget-after-tombstone");
    let mut conn = vault.connect()?;
    let tx = conn.transaction()?;
    index::insert_pack(&tx, &finished)?;
    forget_rows(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Whether an indexed tombstone may name manifest `hash`: true when one does, and
/// when the index or a tombstone does not read (a wrong guess then costs a new
/// snapshot id, never a snapshot taken for forgotten).
pub fn may_name(vault: &Vault, hash: &Hash) -> bool {
    let Ok(repo) = Repository::open_read_only(vault) else {
        return true;
    };
    match repo.blobs_of_kind(BlobKind::Tombstone) {
        Ok(tombs) if tombs.is_empty() => false,
        Ok(_) => indexed(vault, &repo).map_or(true, |tombs| {
            tombs.iter().any(|(_, t)| t.manifests().contains(hash))
        }),
        Err(_) => true,
    }
}

/// Every tombstone the index knows, with its hash.
pub fn indexed(vault: &Vault, repo: &Repository) -> Result<Vec<(Hash, Tombstone)>> {
    let mut packs = PackFiles::new(vault);
    let hashes = repo.blobs_of_kind(BlobKind::Tombstone)?;
    let mut out = Vec::with_capacity(hashes.len());
    for h in hashes {
        let unreadable = |why: String| {
            StoreError::Vault(format!(
                "tombstone {}: {why}; run `tt-vault verify`",
                index::short_hash(&h)
            ))
        };
        let loc = repo
            .blob(&h)?
            .ok_or_else(|| unreadable("not in the index".into()))?;
        // Off-site and not cached: the tombstone alone, not its whole pack.
        let raw = match vault.read_uncached_blob(&loc.pack, &loc.entry) {
            Ok(Some(raw)) => raw,
            Ok(None) => packs.read_at(&loc).map_err(|e| unreadable(e.to_string()))?,
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let t = Tombstone::decode(&raw).map_err(|e| {
            StoreError::Vault(format!(
                "tombstone {} is unreadable: {e}",
                index::short_hash(&h)
            ))
        })?;
        out.push((h, t));
    }
    Ok(out)
}

/// Applies the tombstones of pack `pack` being adopted after a crash: the snapshots
/// they name are deleted from the index. Unreadable tombstones are left for verify.
pub fn apply_adopted(
    vault: &Vault,
    tx: &Transaction,
    pack: &str,
    entries: &[BlobEntry],
) -> Result<()> {
    let mut packs = PackFiles::new(vault);
    for e in entries
        .iter()
        .filter(|e| e.header.kind == BlobKind::Tombstone)
    {
        let Some(t) = packs
            .read(pack, e)
            .ok()
            .and_then(|raw| Tombstone::decode(&raw).ok())
        else {
            continue;
        };
        for id in &t.snapshots {
            snapshots::delete(tx, id)?;
        }
        // A killed `forget --unfinished`: the records its tombstone was to delete.
        for m in t.manifests() {
            snapshots::drop_unfinished(tx, &m)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_only_well_formed_ids() {
        let good = "ab".repeat(32);
        let t = Tombstone {
            format: FORMAT,
            forgotten_at: "2026-10-01T08:00:00.000Z".into(),
            snapshots: vec![good.clone(), "not-hex".into()],
        };
        let back = Tombstone::decode(&t.encode()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.manifests(), vec![[0xab; 32]]);
    }
}

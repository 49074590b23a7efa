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
use super::{snapshots, Result, StoreError, Vault};

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
    for id in ids {
        snapshots::delete(&tx, id)?;
    }
    tx.commit()?;
    Ok(())
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
        let raw = packs.read_at(&loc).map_err(|e| unreadable(e.to_string()))?;
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

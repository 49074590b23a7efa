//! What the packs on disk say about snapshots, without the index: the manifests their
//! trailers list and the snapshots their tombstones forget. The packs are the truth
//! and the index a cache, so prune checks the index against this before it deletes
//! anything: a snapshot the packs hold and the index does not know would otherwise
//! look dead and be deleted.

use std::collections::{BTreeMap, HashSet};

use super::chunker::Hash;
use super::pack::{self, BlobKind};
use super::reader::PackFiles;
use super::tombstone::Tombstone;
use super::{Result, Vault};

#[derive(Debug, Default)]
pub struct Census {
    /// Every manifest in a pack's trailer, with every pack holding it, in the order read.
    pub manifests: BTreeMap<Hash, Vec<String>>,
    /// Every manifest a readable tombstone names.
    pub forgotten: HashSet<Hash>,
}

impl Census {
    /// Reads the trailer (or, when damaged, scans) every pack (under packs/, or in
    /// the remote for a vault with one) except
    /// those in `skip` (packs a committed prune already gave up). A pack that does not
    /// read at all is left out: it holds nothing prune could delete by mistake that
    /// verify does not already report.
    pub fn take(vault: &Vault, skip: &HashSet<String>) -> Result<Census> {
        let mut census = Census::default();
        let mut reader = PackFiles::new(vault);
        for id in vault.every_pack()? {
            if skip.contains(&id) {
                continue;
            }
            // A pack kept off-site that cannot be fetched stops prune: a pack left
            // out could hold a live snapshot the index lost.
            let path = vault.cached_pack(&id)?;
            let Ok(contents) = pack::contents(&path, vault.keys()) else {
                continue;
            };
            for e in &contents.entries {
                match e.header.kind {
                    BlobKind::Manifest => {
                        let holders = census.manifests.entry(e.header.hash).or_default();
                        if !holders.contains(&id) {
                            holders.push(id.clone());
                        }
                    }
                    BlobKind::Tombstone => {
                        let t = reader.read(&id, e).ok();
                        if let Some(t) = t.and_then(|raw| Tombstone::decode(&raw).ok()) {
                            census.forgotten.extend(t.manifests());
                        }
                    }
                    BlobKind::Data | BlobKind::FileMap => {}
                }
            }
        }
        Ok(census)
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

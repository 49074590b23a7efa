//! Snapshot manifests and file maps: the tree of a snapshot, stored as blobs.
//!
//! A manifest is a JSON document (then compressed like any blob; kind 2 in the pack
//! header). Its BLAKE3 is the snapshot id. It carries everything the index's
//! `snapshots` and `entries` rows hold, so `rebuild-index` recovers them:
//!
//! ```json
//! { "format": 1, "account": "alice", "taken_at": "2026-10-01T08:00:00.000Z",
//!   "sources": [{"kind": "media", "path": "/home/a/Movies/tiktok", "root": "media/tiktok"}],
//!   "stats": {"files": 2, "bytes": 10, "new_bytes": 10, "stored_bytes": 96},
//!   "failed": [], "meta": {},
//!   "entries": [{"path": "media/tiktok/a.mp4", "kind": "media", "hash": "<hex>",
//!                "size": 10, "mtime_ns": 1, "inode": 2, "map": null, "item_id": null}] }
//! ```
//!
//! A file of two or more chunks also has a file map blob (kind 1), named by the
//! entry's `map`: `file hash (32) | size (u64 LE) | chunk hashes (32 each)`. A file
//! of one chunk needs none (its chunk hash is its file hash); an empty file has no
//! chunks at all.
//!
//! A forgotten snapshot's manifest stays in its pack until prune removes it; a
//! tombstone blob (kind 3, see `tombstone.rs`) names it meanwhile, so that
//! `rebuild-index` does not bring the snapshot back.

use serde::{Deserialize, Serialize};

use super::chunker::Hash;
use super::index::FileRow;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// What kind of source this was ("media", "export", "download", ...).
    pub kind: String,
    /// Where it was read from, as given (absolute where known).
    pub path: String,
    /// Where its files sit inside the snapshot tree.
    pub root: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub new_bytes: u64,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: String,
    pub kind: String,
    #[serde(with = "hex_hash")]
    pub hash: Hash,
    pub size: u64,
    /// Nanoseconds since the Unix epoch, negative before 1970. An `i128`, so that
    /// every time a filesystem can hold (seconds in an `i64` plus nanoseconds) fits;
    /// JSON numbers carry it exactly, and manifests written with `i64` read the same.
    #[serde(default)]
    pub mtime_ns: Option<i128>,
    #[serde(default)]
    pub inode: Option<u64>,
    #[serde(default, with = "opt_hex_hash")]
    pub map: Option<Hash>,
    #[serde(default)]
    pub item_id: Option<String>,
}

/// Nanoseconds since the epoch of a (seconds, nanoseconds) time as `stat` gives it.
pub fn mtime_ns(secs: i64, nanos: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nanos)
}

/// The `SystemTime` of a nanosecond timestamp; `None` when the platform cannot
/// represent it.
pub fn mtime_to_system(ns: i128) -> Option<std::time::SystemTime> {
    use std::time::{Duration, UNIX_EPOCH};
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = Duration::from_nanos(ns.rem_euclid(1_000_000_000) as u64);
    let whole = Duration::from_secs(u64::try_from(secs.unsigned_abs()).ok()?);
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    base.checked_add(nanos)
}

impl Entry {
    /// An entry for `file` at `path` (no mtime or inode: the caller adds them when
    /// the file came from disk).
    pub fn of_file(path: String, kind: String, file: &FileRow, item_id: Option<String>) -> Entry {
        Entry {
            path,
            kind,
            hash: file.hash,
            size: file.size,
            mtime_ns: None,
            inode: None,
            map: file.map,
            item_id,
        }
    }

    /// The file row of this entry's content, given its chunk list.
    pub fn file_row(&self, chunks: Vec<Hash>) -> FileRow {
        FileRow {
            hash: self.hash,
            size: self.size,
            chunks,
            map: self.map,
        }
    }

    /// The file row this entry implies, when no file map is needed to know it.
    pub fn implied_file(&self) -> Option<FileRow> {
        if self.map.is_some() {
            return None;
        }
        let chunks = if self.size == 0 {
            Vec::new()
        } else {
            vec![self.hash]
        };
        Some(self.file_row(chunks))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub account: String,
    pub taken_at: String,
    pub sources: Vec<Source>,
    pub stats: Stats,
    #[serde(default)]
    pub failed: Vec<serde_json::Value>,
    #[serde(default)]
    pub meta: serde_json::Value,
    pub entries: Vec<Entry>,
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serialises")
    }

    pub fn decode(raw: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(raw)
    }
}

pub fn encode_file_map(f: &FileRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + 32 * f.chunks.len());
    out.extend_from_slice(&f.hash);
    out.extend_from_slice(&f.size.to_le_bytes());
    for c in &f.chunks {
        out.extend_from_slice(c);
    }
    out
}

pub fn decode_file_map(raw: &[u8], map: Hash) -> Option<FileRow> {
    if raw.len() < 40 || (raw.len() - 40) % 32 != 0 {
        return None;
    }
    Some(FileRow {
        hash: raw[..32].try_into().ok()?,
        size: u64::from_le_bytes(raw[32..40].try_into().ok()?),
        chunks: super::index::split_hashes(&raw[40..]),
        map: Some(map),
    })
}

mod hex_hash {
    use super::Hash;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(D::Error::custom)?;
        v.try_into()
            .map_err(|_| D::Error::custom("hash must be 32 bytes"))
    }
}

mod opt_hex_hash {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => super::hex_hash::serialize(h, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::hex_hash")] Hash);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn times_before_1970_and_after_2262_convert_exactly() {
        for (secs, nanos) in [(-2_208_988_800, 0), (-1, 500_000_000), (10_413_792_000, 7)] {
            let ns = mtime_ns(secs, nanos);
            let t = mtime_to_system(ns).unwrap();
            let back = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i128::try_from(d.as_nanos()).unwrap(),
                Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap(),
            };
            assert_eq!(back, ns);
        }
        assert!(mtime_to_system(mtime_ns(i64::MIN, 0)).is_some());
        assert_eq!(mtime_to_system(mtime_ns(i64::MIN, 0) - 1), None);
    }

    #[test]
    fn old_manifests_with_i64_times_still_read() {
        let e: Entry = serde_json::from_str(&format!(
            r#"{{"path":"a","kind":"media","hash":"{}","size":1,"mtime_ns":-1500000000}}"#,
            "ab".repeat(32)
        ))
        .unwrap();
        assert_eq!(e.mtime_ns, Some(-1_500_000_000));
        let big = Entry {
            mtime_ns: Some(mtime_ns(i64::MAX, 999_999_999)),
            ..e
        };
        let back: Entry = serde_json::from_slice(&serde_json::to_vec(&big).unwrap()).unwrap();
        assert_eq!(back, big);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decoders_take_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Manifest::decode(&bytes);
            if let Some(f) = decode_file_map(&bytes, [0; 32]) {
                prop_assert_eq!(f.chunks.len(), (bytes.len() - 40) / 32);
            }
            let _ = crate::store::tombstone::Tombstone::decode(&bytes);
        }

        #[test]
        fn decoders_take_any_json_like_text(text in "[\\[\\]{}\",:0-9a-z_ .-]{0,300}") {
            let _ = Manifest::decode(text.as_bytes());
            let _ = crate::store::tombstone::Tombstone::decode(text.as_bytes());
            let mut doc = br#"{"format":1,"account":"a","taken_at":"x","sources":[],"stats":{"files":0,"bytes":0,"new_bytes":0,"stored_bytes":0},"entries":["#.to_vec();
            doc.extend_from_slice(text.as_bytes());
            let _ = Manifest::decode(&doc);
        }
    }
}

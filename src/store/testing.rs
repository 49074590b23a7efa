//! Helpers for the store's unit tests: real vaults in temporary directories.

use std::io::Cursor;

use super::archiver::{Committed, SnapshotBuilder, SnapshotInfo};
use super::Vault;

pub struct TestVault {
    /// Kept so the directory lives as long as the vault.
    pub _dir: tempfile::TempDir,
    pub vault: Vault,
}

pub fn vault() -> TestVault {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::init(&dir.path().join("v")).unwrap();
    TestVault { _dir: dir, vault }
}

/// Bytes that do not compress and split into several chunks when long.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Commits a snapshot of `files` (path, bytes, item id) for `account` at `at`.
pub fn snapshot(
    v: &Vault,
    account: &str,
    at: &str,
    files: &[(&str, &[u8], Option<&str>)],
) -> Committed {
    let lock = v.lock_for_writing(false).unwrap();
    let quiet = |_| {};
    let b = SnapshotBuilder::new(v, &lock, account, true, &quiet).unwrap();
    for (path, bytes, item) in files {
        b.add_reader(
            path,
            &mut Cursor::new(bytes),
            "media",
            item.map(str::to_string),
            None,
        )
        .unwrap();
    }
    b.commit(info(
        account,
        chrono::DateTime::parse_from_rfc3339(at).unwrap().into(),
    ))
    .unwrap()
}

/// A snapshot's description with no sources, failures or metadata.
pub fn info(account: &str, taken_at: chrono::DateTime<chrono::Utc>) -> SnapshotInfo {
    SnapshotInfo {
        account: account.into(),
        taken_at,
        sources: Vec::new(),
        failed: Vec::new(),
        meta: serde_json::json!({}),
    }
}

/// Damages the first stored byte of blob `hash` in its pack.
pub fn flip_byte(v: &Vault, hash: &super::Hash) {
    let repo = super::Repository::open(v).unwrap();
    let loc = repo.blob(hash).unwrap().unwrap();
    let path = v.pack_path(&loc.pack);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[loc.entry.offset as usize] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

//! The repository: the one place that runs SQL on the store's tables (packs, chunks,
//! files, entries, snapshots, journal, pending_deletes, audits). Everything above it
//! asks in types — [`BlobLocation`], [`FileRow`], [`snapshots::Snapshot`] — and never
//! sees a statement. Rows are checked as they are read: a hash of the wrong length, an
//! unknown codec or an unknown blob kind is an error, never a guess.
//!
//! - [`index`] — opening and migrating the database; packs, chunks and files rows.
//! - [`snapshots`] — snapshot and entry rows.
//! - [`journal`] — the resume journal.
//! - `blobs` — where blobs are, the live set, who uses a blob, pending deletes, prune's commit.
//! - `audits` — verify's records and the totals `stats` shows.

pub mod audits;
mod blobs;
pub mod index;
pub mod journal;
pub mod snapshots;

pub use audits::{Audit, Totals};
pub use blobs::{Journal, PackRow};
pub use index::FileRow;

use rusqlite::types::Type;
use rusqlite::{Connection, Row};

use super::chunker::Hash;
use super::codec::Codec;
use super::pack::{BlobEntry, BlobHeader, BlobKind};
use super::{Result, StoreError, Vault};

/// The typed index of one vault.
pub struct Repository {
    conn: Connection,
}

impl Vault {
    /// A connection to the index, migrated to the current schema; on a vault that
    /// cannot be written (see [`Vault::is_writable`]), a read-only connection with no
    /// migration (see [`index::open_read_only`]). Writers refuse a read-only vault
    /// before they get here, when they take the lock.
    ///
    /// A missing vault.db is an error, never a new empty index: an empty index would
    /// make the vault look empty and let prune delete every pack. Only `init` and
    /// `rebuild-index` create one.
    pub fn connect(&self) -> Result<Connection> {
        let db = self.existing_db()?;
        if self.is_writable() {
            Ok(index::open(&db, self.keys())?)
        } else {
            Ok(index::open_read_only(&db, self.keys())?)
        }
    }

    /// A read-only connection to the index (see [`index::open_read_only`]), with the
    /// same refusal as [`Vault::connect`] when vault.db is missing.
    pub fn connect_read_only(&self) -> Result<Connection> {
        Ok(index::open_read_only(&self.existing_db()?, self.keys())?)
    }

    /// vault.db's path, or the error that says to run `rebuild-index`.
    fn existing_db(&self) -> Result<std::path::PathBuf> {
        self.check_unlocked()?;
        let db = self.db_path();
        if !db.exists() {
            return Err(StoreError::Vault(format!(
                "{} is missing: the vault's index is gone but its packs are the truth; \
                 run `tt-vault rebuild-index` to recreate it from the packs",
                db.display()
            )));
        }
        Ok(db)
    }
}

impl Repository {
    /// The vault's index; see [`Vault::connect`] for why a missing one is an error.
    pub fn open(vault: &Vault) -> Result<Repository> {
        Ok(Repository {
            conn: vault.connect()?,
        })
    }

    pub fn from_connection(conn: Connection) -> Repository {
        Repository { conn }
    }

    /// The vault's index opened read-only (see [`index::open_read_only`]).
    pub fn open_read_only(vault: &Vault) -> Result<Repository> {
        Ok(Repository {
            conn: vault.connect_read_only()?,
        })
    }

    /// The connection, for the repository's free functions ([`snapshots`],
    /// [`journal`]) and for higher layers' own tables.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// See [`index::compact`].
    pub fn compact(&self, rewrite: bool) -> Result<index::Compaction> {
        Ok(index::compact(&self.conn, rewrite)?)
    }

    /// The bytes on disk of vault.db and its write-ahead log.
    pub fn index_bytes(&self) -> u64 {
        index::file_bytes(&self.conn)
    }
}

pub(crate) fn bad_column(i: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Blob, what.into())
}

/// A hash column; any length but 32 is an error.
pub(crate) fn get_hash(r: &Row, i: usize) -> rusqlite::Result<Hash> {
    let bytes: Vec<u8> = r.get(i)?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| bad_column(i, format!("a hash of {len} bytes, not 32")))
}

pub(crate) fn get_opt_hash(r: &Row, i: usize) -> rusqlite::Result<Option<Hash>> {
    match r.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => get_hash(r, i).map(Some),
    }
}

/// A column of concatenated hashes; a length that is not a multiple of 32 is an error.
pub(crate) fn get_hashes(r: &Row, i: usize) -> rusqlite::Result<Vec<Hash>> {
    let bytes: Vec<u8> = r.get(i)?;
    if bytes.len() % 32 != 0 {
        return Err(bad_column(
            i,
            format!("a hash list of {} bytes", bytes.len()),
        ));
    }
    Ok(index::split_hashes(&bytes))
}

/// A snapshot id (hex BLAKE3 of its manifest) as the manifest's hash.
pub fn snapshot_hash(id: &str) -> Result<Hash> {
    hex::decode(id)
        .ok()
        .and_then(|h| Hash::try_from(h).ok())
        .ok_or_else(|| StoreError::Vault(format!("snapshot id {id} is not a hash")))
}

/// Where one blob lives: its pack and its place there (one row of `chunks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack_id: i64,
    pub pack: String,
    pub entry: BlobEntry,
}

impl BlobLocation {
    pub fn hash(&self) -> Hash {
        self.entry.header.hash
    }

    /// Columns `hash, pack_id, p.name, offset, raw_len, stored_len, codec, kind`.
    pub(crate) const COLUMNS: &'static str =
        "c.hash, c.pack_id, p.name, c.offset, c.raw_len, c.stored_len, c.codec, c.kind";

    pub(crate) fn from_row(r: &Row) -> rusqlite::Result<BlobLocation> {
        let hash = get_hash(r, 0)?;
        let codec = r.get::<_, u8>(6)?;
        let kind = r.get::<_, u8>(7)?;
        let short = index::short_hash(&hash);
        Ok(BlobLocation {
            pack_id: r.get(1)?,
            pack: r.get(2)?,
            entry: BlobEntry {
                header: BlobHeader {
                    kind: BlobKind::from_u8(kind).ok_or_else(|| {
                        bad_column(7, format!("blob {short} has unknown kind {kind}"))
                    })?,
                    codec: Codec::from_u8(codec).ok_or_else(|| {
                        bad_column(6, format!("blob {short} has unknown codec {codec}"))
                    })?,
                    raw_len: r.get(4)?,
                    stored_len: r.get(5)?,
                    hash,
                },
                offset: r.get::<_, u64>(3)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::store::testing::{noise, snapshot, vault};
    use crate::store::{journal, manifest::Entry, snapshots};

    /// Deleted rows leave no byte in vault.db nor its log once compacted, even rows
    /// deleted by a connection without `secure_delete` (an older tt-vault).
    #[test]
    fn compacting_leaves_no_deleted_row_in_the_files() {
        let t = vault();
        let marker = "forget-me-0123456789";
        let repo = Repository::open(&t.vault).unwrap();
        let holding = || {
            let db = t.vault.db_path();
            let wal = db.with_extension("db-wal");
            [db, wal].iter().any(|p| {
                std::fs::read(p)
                    .unwrap_or_default()
                    .windows(marker.len())
                    .any(|w| w == marker.as_bytes())
            })
        };
        repo.conn()
            .execute_batch(&format!(
                "PRAGMA secure_delete = OFF;
                 CREATE TABLE scratch (t TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO scratch SELECT '{marker}' || i FROM n;
                 DELETE FROM scratch;"
            ))
            .unwrap();
        assert!(holding(), "the deleted rows are still in the files");
        let c = repo.compact(true).unwrap();
        assert!(c.vacuumed && c.wal_emptied, "{c:?}");
        assert!(c.bytes_after < c.bytes_before, "{c:?}");
        assert!(!holding());
        assert_eq!(repo.index_bytes(), c.bytes_after);
    }

    #[test]
    fn a_missing_index_is_an_error_naming_rebuild_index() {
        let t = vault();
        std::fs::remove_file(t.vault.db_path()).unwrap();
        let err = Repository::open(&t.vault).err().unwrap().to_string();
        assert!(err.contains("rebuild-index"), "{err}");
        assert!(!t.vault.db_path().exists(), "no empty index is created");
    }

    #[test]
    fn a_blob_is_found_with_its_pack_and_malformed_rows_are_errors() {
        let t = vault();
        let big = noise(3 << 20, 1);
        let c = snapshot(&t.vault, "a", "2026-01-01T00:00:00Z", &[("x", &big, None)]);
        let repo = Repository::open(&t.vault).unwrap();
        let file = repo.file(&c.manifest.entries[0].hash).unwrap().unwrap();
        assert!(file.chunks.len() > 1 && file.map.is_some());
        let loc = repo.blob(&file.chunks[0]).unwrap().unwrap();
        assert_eq!(loc.hash(), file.chunks[0]);
        assert_eq!(loc.entry.header.kind, BlobKind::Data);
        assert!(repo.pack_blobs(loc.pack_id).unwrap().contains(&loc));
        assert!(repo.blob(&[7; 32]).unwrap().is_none());

        // An unknown codec is an error, never read as raw.
        repo.conn()
            .execute(
                "UPDATE chunks SET codec = 9 WHERE hash = ?1",
                [&file.chunks[0][..]],
            )
            .unwrap();
        let err = repo.blob(&file.chunks[0]).unwrap_err().to_string();
        assert!(err.contains("unknown codec 9"), "{err}");
        assert!(repo.all_blobs().is_err());
        // So is an unknown kind.
        repo.conn()
            .execute(
                "UPDATE chunks SET codec = 0, kind = 8 WHERE hash = ?1",
                [&file.chunks[0][..]],
            )
            .unwrap();
        assert!(repo
            .blob(&file.chunks[0])
            .unwrap_err()
            .to_string()
            .contains("unknown kind 8"));
        // A file hash of the wrong length is an error, never the zero hash.
        repo.conn()
            .execute(
                "UPDATE files SET map = x'0102' WHERE hash = ?1",
                [&file.hash[..]],
            )
            .unwrap();
        assert!(repo.file(&file.hash).is_err());
        assert!(repo.live_blobs(Journal::Exclude).is_err());
    }

    #[test]
    fn the_live_set_holds_manifests_chunks_maps_and_optionally_the_journal() {
        let t = vault();
        let big = noise(3 << 20, 2);
        let c = snapshot(&t.vault, "a", "2026-01-01T00:00:00Z", &[("x", &big, None)]);
        let repo = Repository::open(&t.vault).unwrap();
        let file = repo.file(&c.manifest.entries[0].hash).unwrap().unwrap();
        let live = repo.live_blobs(Journal::Exclude).unwrap();
        let mut want: HashSet<Hash> = file.chunks.iter().copied().collect();
        want.insert(file.map.unwrap());
        want.insert(snapshot_hash(&c.id).unwrap());
        assert_eq!(live, want);

        let journaled = FileRow {
            hash: [5; 32],
            size: 1,
            chunks: vec![[6; 32]],
            map: None,
        };
        let entry = Entry::of_file("j".into(), "media".into(), &journaled, Some("42".into()));
        journal::record(repo.conn(), &entry, &journaled).unwrap();
        assert!(!repo
            .live_blobs(Journal::Exclude)
            .unwrap()
            .contains(&[6; 32]));
        assert!(repo
            .live_blobs(Journal::Include)
            .unwrap()
            .contains(&[6; 32]));
    }

    #[test]
    fn a_bad_blob_is_traced_to_the_files_and_snapshots_using_it() {
        let t = vault();
        let one = noise(1000, 3);
        let c1 = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("p/one", &one, Some("7"))],
        );
        let c2 = snapshot(
            &t.vault,
            "a",
            "2026-01-02T00:00:00Z",
            &[("q/one", &one, None)],
        );
        let repo = Repository::open(&t.vault).unwrap();
        let hash = c1.manifest.entries[0].hash;
        let users = repo.files_using(&HashSet::from([hash])).unwrap();
        assert_eq!(users[&hash], vec![hash]);
        assert_eq!(repo.entries_of_file(&hash).unwrap(), {
            let mut v = vec![
                (c1.id.clone(), "p/one".to_string()),
                (c2.id.clone(), "q/one".to_string()),
            ];
            v.sort();
            v
        });
        assert_eq!(
            repo.items_by_snapshot().unwrap(),
            vec![(c1.id.clone(), "7".to_string())]
        );
        assert!(repo.snapshot_exists(&c2.id).unwrap());
        assert!(snapshots::archived_items(repo.conn())
            .unwrap()
            .contains("7"));
    }

    #[test]
    fn snapshot_ids_must_be_hashes() {
        assert_eq!(snapshot_hash(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(snapshot_hash("abcd").is_err());
        assert!(snapshot_hash(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn prune_commit_moves_rows_and_records_pending_deletes() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("x", b"hello", None)],
        );
        let mut repo = Repository::open(&t.vault).unwrap();
        let packs = repo.packs().unwrap();
        assert_eq!(packs.len(), 1);
        let p = &packs[0];
        let blobs = repo.pack_blobs(p.id).unwrap();
        assert_eq!(blobs.len(), 2, "the file's chunk and the manifest");
        repo.commit_prune(&[], &[(p.id, p.name.as_str())], &[], &[], &mut |_| Ok(()))
            .unwrap();
        assert!(repo.packs().unwrap().is_empty());
        assert!(repo.all_blobs().unwrap().is_empty());
        assert_eq!(repo.pending_deletes().unwrap(), vec![p.name.clone()]);
        assert!(!repo.pack_indexed(&p.name).unwrap());
        repo.clear_pending_deletes(std::slice::from_ref(&p.name))
            .unwrap();
        assert!(repo.pending_deletes().unwrap().is_empty());
        // The snapshot's row stays (prune only drops blobs no snapshot uses).
        assert!(repo.snapshot_exists(&c.id).unwrap());
    }

    #[test]
    fn audits_record_start_and_finish() {
        let t = vault();
        let repo = Repository::open(&t.vault).unwrap();
        assert_eq!(repo.integrity_check().unwrap(), vec!["ok".to_string()]);
        let id = repo.start_audit("structure").unwrap();
        let open = repo.audits().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].ok, None);
        repo.finish_audit(id, 3, 100, false, "[{\"kind\":\"x\"}]")
            .unwrap();
        let done = &repo.audits().unwrap()[0];
        assert_eq!(
            (done.packs_checked, done.bytes_checked, done.ok),
            (3, 100, Some(false))
        );
        assert_eq!(done.problems[0]["kind"], "x");
    }
}

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
    /// A connection to the index, migrated to the current schema.
    ///
    /// A missing vault.db is an error, never a new empty index: an empty index would
    /// make the vault look empty and let prune delete every pack. Only `init` and
    /// `rebuild-index` create one.
    pub fn connect(&self) -> Result<Connection> {
        let db = self.db_path();
        if !db.exists() {
            return Err(StoreError::Vault(format!(
                "{} is missing: the vault's index is gone but its packs are the truth; \
                 run `tt-vault rebuild-index` to recreate it from the packs",
                db.display()
            )));
        }
        Ok(index::open(&db)?)
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

    /// The connection, for the repository's free functions ([`snapshots`],
    /// [`journal`]) and for higher layers' own tables.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn bad_column(i: usize, what: String) -> rusqlite::Error {
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
        let short = index::short(&hash);
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
                offset: r.get::<_, i64>(3)? as u64,
            },
        })
    }
}

//! The SQLite index: a cache of what the packs hold, plus the audit history.
//!
//! Schema files live in `schema/NNN_*.sql` and are applied in order by
//! [`migrate`], keyed on `PRAGMA user_version`. Higher layers may add their own
//! tables through further schema files; this module only touches the store's tables.
//!
//! An encrypted vault's index is an SQLCipher database keyed with a raw key derived
//! from the master key (see `crypto/`): every page of vault.db and of its `-wal` is
//! encrypted and authenticated, so nothing of the catalogue, paths or ids reads
//! without the passphrase. An unencrypted vault's index is plain SQLite (SQLCipher
//! without a key is SQLite). Both opens below take the vault's keys for that.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{get_hashes, get_opt_hash};
use crate::store::chunker::Hash;
use crate::store::crypto::Keys;
use crate::store::pack::FinishedPack;

/// Every schema file, in order; the position is the version it brings the database to.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_init.sql", include_str!("../../../schema/001_init.sql")),
    (
        "002_prune.sql",
        include_str!("../../../schema/002_prune.sql"),
    ),
    (
        "003_catalogue.sql",
        include_str!("../../../schema/003_catalogue.sql"),
    ),
    (
        "004_browse.sql",
        include_str!("../../../schema/004_browse.sql"),
    ),
    (
        "005_profile_watch.sql",
        include_str!("../../../schema/005_profile_watch.sql"),
    ),
    (
        "006_catalogue_compact.sql",
        include_str!("../../../schema/006_catalogue_compact.sql"),
    ),
    (
        "007_catalogue_ingest.sql",
        include_str!("../../../schema/007_catalogue_ingest.sql"),
    ),
    (
        "008_catalogue_search.sql",
        include_str!("../../../schema/008_catalogue_search.sql"),
    ),
    (
        "009_unfinished_snapshots.sql",
        include_str!("../../../schema/009_unfinished_snapshots.sql"),
    ),
];

/// The schema version this tt-vault brings an index to (readers that never
/// migrate, like `serve`, check it).
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create index database {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "index database {path} has an unfinished write-ahead log ({path}-wal) without its \
             {path}-shm, and the vault is read-only, so SQLite cannot read the log; open the \
             vault once where it can be written (any command then folds the log in)"
    )]
    UnreadableLog { path: String },
    #[error("index database {path} has schema version {found}, newer than this tt-vault knows ({known}); upgrade tt-vault")]
    TooNew {
        path: String,
        found: i64,
        known: usize,
    },
    #[error(
        "index database {path} has schema version {found}, older than this tt-vault's ({known}); \
             run `tt-vault stats` once with write access to the vault to upgrade it"
    )]
    TooOld {
        path: String,
        found: i64,
        known: usize,
    },
}

pub type Result<T> = std::result::Result<T, rusqlite::Error>;

/// Keys a new connection to an encrypted vault's index; must come before anything
/// reads the database. A wrong key shows at the first read ("file is not a database").
pub fn apply_key(conn: &Connection, keys: Option<&Keys>) -> Result<()> {
    match keys {
        Some(k) => conn.execute_batch(&k.index_key_pragma()),
        None => Ok(()),
    }
}

/// `conn` with commits that reach the WAL without an fsync each (`synchronous =
/// NORMAL`; every connection [`open`] makes is `FULL`), for rows a power cut may lose
/// because the next run redoes them: the resume journal (a lost row costs storing that
/// item again) and a local vault's pack commits (a pack renamed into place but not in
/// the index is adopted by recovery.rs). A long run's checkpoints make them durable
/// with a WAL checkpoint (`SnapshotBuilder::checkpoint`). The pack itself is durable
/// before its row is written, and the snapshot's own commit stays `FULL` on a
/// connection of its own; its fsync makes every earlier frame of the WAL durable too.
/// Measured on a cold 1.5 GB first snapshot: one fsync per stored video held each
/// worker 0.5 s.
pub fn without_fsync(conn: Connection) -> Result<Connection> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Opens (creating if asked) the database and brings its schema up to date. A new
/// file is created 0600 first: SQLite would create it 0644 less the umask, and gives
/// its `-wal` and `-shm` the database file's mode.
pub fn open(path: &Path, keys: Option<&Keys>) -> std::result::Result<Connection, IndexError> {
    let wrap = |source| IndexError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    if !path.exists() {
        crate::store::vault::create_private(path).map_err(|e| IndexError::Create {
            path: path.display().to_string(),
            source: e,
        })?;
    }
    let mut conn = Connection::open(path).map_err(wrap)?;
    apply_key(&conn, keys).map_err(wrap)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(wrap)?;
    // secure_delete: a deleted row's bytes are zeroed in its page, not left for a
    // file reader to find (forget must really forget; see pruner.rs).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;
         PRAGMA secure_delete = ON;",
    )
    .map_err(wrap)?;
    migrate(&mut conn).map_err(|e| match e {
        MigrateError::Sqlite(source) => wrap(source),
        MigrateError::TooNew(found) => IndexError::TooNew {
            path: path.display().to_string(),
            found,
            known: MIGRATIONS.len(),
        },
    })?;
    Ok(conn)
}

/// Opens the index for reading only: no migration, no journal-mode change, nothing
/// written, so it works on a read-only vault and beside a writer. The schema must be
/// exactly this tt-vault's.
///
/// In WAL mode a reader needs the `-shm` file: SQLite creates it when the folder is
/// writable and can read without creating it when `-shm` and `-wal` exist. A
/// read-only folder left by a clean close has neither; the database is then opened
/// `immutable`, which is sound there because no writer can change it. (On a writable
/// folder SQLite leaves an empty `-wal` and a `-shm` behind: nothing a writer minds.)
pub fn open_read_only(
    path: &Path,
    keys: Option<&Keys>,
) -> std::result::Result<Connection, IndexError> {
    use rusqlite::OpenFlags;
    let wrap = |source| IndexError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let open = |extra: &str| -> Result<(Connection, i64)> {
        let conn = Connection::open_with_flags(format!("{}?mode=ro{extra}", uri(path)), flags)?;
        apply_key(&conn, keys)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok((conn, version))
    };
    // Only when the files cannot be opened: a busy or locked database is a writer at
    // work, and reading it as immutable then could see a half-written page.
    let cannot_open = |e: &rusqlite::Error| {
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
        )
    };
    // Immutable would ignore a log's commits: a non-empty -wal that SQLite cannot
    // read (no -shm, none can be made) is an error, never read past.
    let side = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    let unread_log = std::fs::metadata(side("-wal")).is_ok_and(|m| m.len() > 0);
    let (conn, found) = match open("") {
        Err(e) if cannot_open(&e) && unread_log => {
            return Err(IndexError::UnreadableLog {
                path: path.display().to_string(),
            })
        }
        Err(e) if cannot_open(&e) => open("&immutable=1"),
        other => other,
    }
    .map_err(wrap)?;
    let known = MIGRATIONS.len();
    let path = path.display().to_string();
    match found.cmp(&(known as i64)) {
        std::cmp::Ordering::Equal => Ok(conn),
        std::cmp::Ordering::Less => Err(IndexError::TooOld { path, found, known }),
        std::cmp::Ordering::Greater => Err(IndexError::TooNew { path, found, known }),
    }
}

/// A `file:` URI for SQLite: every byte outside the unreserved set escaped.
fn uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

enum MigrateError {
    Sqlite(rusqlite::Error),
    TooNew(i64),
}

fn migrate(conn: &mut Connection) -> std::result::Result<(), MigrateError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(MigrateError::Sqlite)?;
    if version as usize > MIGRATIONS.len() {
        return Err(MigrateError::TooNew(version));
    }
    for (i, (_, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(MigrateError::Sqlite)?;
        tx.execute_batch(sql).map_err(MigrateError::Sqlite)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(MigrateError::Sqlite)?;
        tx.commit().map_err(MigrateError::Sqlite)?;
    }
    Ok(())
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn has_chunk(conn: &Connection, hash: &Hash) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM chunks WHERE hash = ?1")?
        .exists([&hash[..]])
}

/// Records a durable pack and its blobs. A blob already indexed elsewhere keeps
/// its first location (two runs may race to store the same chunk; both copies are
/// valid and prune reclaims the unused one).
pub fn insert_pack(tx: &Transaction, pack: &FinishedPack) -> Result<i64> {
    tx.execute(
        "INSERT INTO packs (name, size, blobs, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            pack.id,
            pack.size as i64,
            pack.entries.len() as i64,
            now_rfc3339()
        ],
    )?;
    let pack_id = tx.last_insert_rowid();
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO chunks (hash, pack_id, offset, raw_len, stored_len, codec, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in &pack.entries {
        let h = &e.header;
        stmt.execute(params![
            &h.hash[..],
            pack_id,
            e.offset as i64,
            h.raw_len as i64,
            h.stored_len as i64,
            h.codec as u8,
            h.kind as u8
        ])?;
    }
    Ok(pack_id)
}

/// A file's content as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub hash: Hash,
    pub size: u64,
    pub chunks: Vec<Hash>,
    pub map: Option<Hash>,
}

/// Splits concatenated hashes; callers check the length is a multiple of 32.
pub fn split_hashes(blob: &[u8]) -> Vec<Hash> {
    blob.chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunks"))
        .collect()
}

pub fn file(conn: &Connection, hash: &Hash) -> Result<Option<FileRow>> {
    conn.prepare_cached("SELECT size, chunks, map FROM files WHERE hash = ?1")?
        .query_row([&hash[..]], |r| {
            Ok(FileRow {
                hash: *hash,
                size: r.get::<_, u64>(0)?,
                chunks: get_hashes(r, 1)?,
                map: get_opt_hash(r, 2)?,
            })
        })
        .optional()
}

pub fn insert_file(tx: &Transaction, f: &FileRow) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO files (hash, size, chunks, map) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        &f.hash[..],
        f.size as i64,
        f.chunks.concat(),
        f.map.as_ref().map(|m| &m[..])
    ])?;
    Ok(())
}

/// What [`compact`] did to the index's files.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Compaction {
    /// Bytes of vault.db and its write-ahead log before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The database was rewritten without free pages or stale bytes (`VACUUM`).
    pub vacuumed: bool,
    /// Why the rewrite failed (it needs free disk about twice the size of vault.db).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vacuum_failed: Option<String>,
    /// The log was folded into the database and truncated; false when a reader kept
    /// part of it in use (the next prune tries again).
    pub wal_emptied: bool,
}

/// Rewrites vault.db (`VACUUM`) when `rewrite` is asked or it has free pages, then
/// folds the write-ahead log into it and truncates the log. Afterwards no deleted row
/// is left in either file: deletions zero their bytes (`secure_delete`, see [`open`]),
/// the rewrite leaves no free page nor stale fragment (an index written before
/// `secure_delete` was on may hold some), and the log keeps no old page image. A
/// failed rewrite (a full disk) changes nothing and is reported, not raised: what it
/// follows is committed. Cannot run inside a transaction.
pub fn compact(conn: &Connection, rewrite: bool) -> Result<Compaction> {
    let bytes_before = file_bytes(conn);
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let mut vacuum_failed = None;
    let mut vacuumed = false;
    if rewrite || free > 0 {
        match conn.execute_batch("VACUUM") {
            Ok(()) => vacuumed = true,
            Err(e) => vacuum_failed = Some(e.to_string()),
        }
    }
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(Compaction {
        bytes_before,
        bytes_after: file_bytes(conn),
        vacuumed,
        vacuum_failed,
        wal_emptied: busy == 0,
    })
}

/// The bytes on disk of the database file and its write-ahead log.
pub fn file_bytes(conn: &Connection) -> u64 {
    let Some(db) = conn.path().filter(|p| !p.is_empty()) else {
        return 0;
    };
    let len = |p: &str| std::fs::metadata(p).map_or(0, |m| m.len());
    len(db) + len(&format!("{db}-wal"))
}

/// The first 16 hex digits of a blob hash, for messages (snapshot ids: `snapshots::short`).
pub fn short_hash(hash: &Hash) -> String {
    hex::encode(&hash[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_open_reads_odd_paths_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a dir?#%").join("vault.db");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        drop(open(&db, None).unwrap());
        assert!(uri(&db).ends_with("a%20dir%3F%23%25/vault.db"));
        let conn = open_read_only(&db, None).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM packs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        assert!(conn.execute("DELETE FROM packs", []).is_err(), "read-only");
    }

    /// An encrypted vault's index: no text of it in the file or its log, FTS5 works,
    /// and it opens (read-write or read-only) with the vault's keys only.
    #[test]
    fn an_encrypted_index_hides_its_rows_and_opens_with_its_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vault.db");
        let keys = Keys::generate();
        let conn = open(&db, Some(&keys)).unwrap();
        // As ingest does: the row, then its text into the search index.
        conn.execute_batch(
            "INSERT INTO export_items (account, section, is_raw, key, occurrence, first_seq,
             position, username, text, fields)
             VALUES ('acct', 'messages', 0, x'00', 0, 1, 0, 'bruno_secret_user',
                     'a private loaf of rye', '{}');
             INSERT INTO export_search (rowid, text) SELECT id, text FROM export_items;",
        )
        .unwrap();
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM export_search WHERE export_search MATCH 'rye'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "FTS5 answers inside SQLCipher");
        // While the connection is open the rows are in the -wal; then in vault.db.
        let wal = dir.path().join("vault.db-wal");
        let leaks = |bytes: &[u8]| {
            [&b"bruno_secret_user"[..], b"private loaf", b"export_items"]
                .iter()
                .any(|n| bytes.windows(n.len()).any(|w| w == *n))
        };
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        assert!(!leaks(&std::fs::read(&wal).unwrap()));
        drop(conn);
        assert!(!leaks(&std::fs::read(&db).unwrap()));

        let ro = open_read_only(&db, Some(&keys)).unwrap();
        let n: i64 = ro
            .query_row("SELECT count(*) FROM export_items", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        drop(ro);
        assert!(open_read_only(&db, None).is_err());
        assert!(open(&db, Some(&Keys::generate())).is_err());
        assert!(open(&db, None).is_err());
        // A plain index is plain SQLite: its text is in the file.
        let plain = dir.path().join("plain.db");
        let c = open(&plain, None).unwrap();
        c.execute("INSERT INTO packs (name, size, blobs, created_at) VALUES ('bruno_secret_user', 1, 0, '')", [])
            .unwrap();
        drop(c);
        assert!(leaks(&std::fs::read(&plain).unwrap()));
    }
}

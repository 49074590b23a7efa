-- tt-vault index, version 1.
-- The index is a cache of what the packs hold (every row below except `audits`,
-- `journal` and the pack timestamps can be recreated by `tt-vault rebuild-index`)
-- plus the catalogue for fast queries. Hashes are 32-byte BLAKE3 digests stored as BLOBs.

CREATE TABLE packs (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,   -- random hex id; file packs/<name[0..2]>/<name>.pack
    size        INTEGER NOT NULL,          -- bytes on disk, checked by verify
    blobs       INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    verified_at TEXT                       -- last `verify --read-data` that re-hashed it
);

-- Every blob in a pack: file data, file maps and snapshot manifests.
CREATE TABLE chunks (
    hash       BLOB    PRIMARY KEY,
    pack_id    INTEGER NOT NULL REFERENCES packs(id),
    offset     INTEGER NOT NULL,           -- of the stored bytes within the pack
    raw_len    INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    codec      INTEGER NOT NULL,           -- 0 raw, 1 zstd
    kind       INTEGER NOT NULL            -- 0 data, 1 file map, 2 manifest, 3 tombstone
) WITHOUT ROWID;
CREATE INDEX chunks_by_pack ON chunks(pack_id);

-- A file's content: its whole-file BLAKE3 and its ordered chunk list.
CREATE TABLE files (
    hash   BLOB    PRIMARY KEY,
    size   INTEGER NOT NULL,
    chunks BLOB    NOT NULL,               -- concatenated 32-byte chunk hashes
    map    BLOB                            -- file-map blob, for files of 2+ chunks
) WITHOUT ROWID;

CREATE TABLE snapshots (
    id           TEXT    PRIMARY KEY,      -- hex BLAKE3 of the manifest blob
    account      TEXT    NOT NULL,
    taken_at     TEXT    NOT NULL,         -- RFC 3339, UTC
    taken_ms     INTEGER NOT NULL,         -- the same instant, ms since the epoch
    files        INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,         -- logical size
    new_bytes    INTEGER NOT NULL,         -- logical bytes not in the vault before
    stored_bytes INTEGER NOT NULL,         -- bytes added to packs
    sources      TEXT    NOT NULL,         -- JSON
    failed       TEXT    NOT NULL,         -- JSON array
    meta         TEXT    NOT NULL          -- JSON object, for the layers above the store
);
CREATE INDEX snapshots_by_account ON snapshots(account, taken_ms);

CREATE TABLE entries (
    snapshot_id TEXT    NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    path        TEXT    NOT NULL,          -- relative, '/'-separated
    kind        TEXT    NOT NULL,
    file_hash   BLOB    NOT NULL REFERENCES files(hash),
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER,
    inode       INTEGER,
    item_id     TEXT,                      -- external id (a TikTok post id)
    PRIMARY KEY (snapshot_id, path)
) WITHOUT ROWID;
CREATE INDEX entries_by_file ON entries(file_hash);
CREATE INDEX entries_by_item ON entries(item_id) WHERE item_id IS NOT NULL;

CREATE TABLE audits (
    id            INTEGER PRIMARY KEY,
    started_at    TEXT    NOT NULL,
    finished_at   TEXT,
    mode          TEXT    NOT NULL,        -- structure | read-data | sample N%
    packs_checked INTEGER NOT NULL DEFAULT 0,
    bytes_checked INTEGER NOT NULL DEFAULT 0,
    ok            INTEGER,
    problems      TEXT    NOT NULL DEFAULT '[]'  -- JSON array, as `verify --json` prints
);

-- Files a run stored for an item (a post) before the run committed: a killed
-- download resumes from here instead of fetching again. A row counts only while
-- every blob it names is in `chunks` (that is, in a committed pack); each snapshot
-- commit empties the table.
CREATE TABLE journal (
    item_id   TEXT    NOT NULL,
    path      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    file_hash BLOB    NOT NULL,
    size      INTEGER NOT NULL,
    chunks    BLOB    NOT NULL,
    map       BLOB,
    PRIMARY KEY (item_id, path)
) WITHOUT ROWID;

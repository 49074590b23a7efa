-- tt-vault index: the TikTok export catalogue.
--
-- Rebuilt by `tt-vault rebuild-index` from the export files stored in the snapshots,
-- so like the rest of the index it is a cache of what the packs hold.
--
-- Rows are not copied per snapshot. Per account, every snapshot that carried an
-- export is an "export version" with a sequence number (1, 2, 3 … in ingest order).
-- An item (one row of one section of the export) is stored once, valid over an
-- interval of versions: from `first_seq` to `last_seq` (NULL while it is still in
-- the account's newest version). Ingesting a version inserts only the items that are
-- new and closes the ones that vanished; 100 weekly snapshots of 50 000 unchanged
-- likes are 50 000 rows. The items of version `s` are those with
-- `first_seq <= s AND (last_seq IS NULL OR last_seq >= s)`.
--
-- An item's identity is `key` = BLAKE3 of its section name and its canonical content
-- (the original fields with keys normalised and sorted; for messages also the chat
-- partner), plus `occurrence` (0, 1, …) for exact duplicates within one export.
-- An item whose content changes (a post's like count) is a new row; the old one
-- is closed.

-- The per-account sequence counter: sequence numbers are never re-used, even when
-- the newest version's snapshot is forgotten, so open intervals stay meaningful.
CREATE TABLE export_accounts (
    account  TEXT    PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per snapshot that carried an export. A snapshot without an export shows
-- the newest version of its account taken at or before it.
CREATE TABLE export_versions (
    snapshot_id TEXT    PRIMARY KEY REFERENCES snapshots(id) ON DELETE CASCADE,
    account     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    taken_ms    INTEGER NOT NULL,          -- the snapshot's instant, ms since the epoch
    layout      TEXT    NOT NULL,          -- json2020 | json2024 | json2026 | txt
    username    TEXT,                      -- the export's own profile username
    export_root TEXT    NOT NULL,          -- where the export sits in the snapshot tree
    records     INTEGER NOT NULL,
    understood  TEXT    NOT NULL,          -- JSON array of section key paths
    kept_raw    TEXT    NOT NULL,          -- JSON array of section key paths kept verbatim
    UNIQUE (account, seq)
);
CREATE INDEX export_versions_by_time ON export_versions(account, taken_ms);

-- Every row of every section, raw sections included (one row per raw section,
-- its whole value under fields.value).
CREATE TABLE export_items (
    id           INTEGER PRIMARY KEY,
    account      TEXT    NOT NULL,
    section      TEXT    NOT NULL,         -- profile, posts, likes, …; for raw: the key path
    is_raw       INTEGER NOT NULL,         -- 1 for a section kept verbatim
    key          BLOB    NOT NULL,         -- BLAKE3(section, canonical content)
    occurrence   INTEGER NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER,                  -- NULL: still present in the newest version
    position     INTEGER NOT NULL,         -- order within the export when first seen
    date_raw     TEXT,                     -- the date exactly as the export wrote it
    date_utc     INTEGER,                  -- the same instant, Unix seconds UTC
    date_assumed INTEGER,                  -- 1 when the export gave no zone and UTC was assumed
    video_id     TEXT,                     -- TikTok post id from the row's link
    link         TEXT,
    username     TEXT,                     -- follows: the other user; messages: the chat partner
    text         TEXT,                     -- comment, message, search term, caption, bio
    sender       TEXT,                     -- messages: who wrote it
    fields       TEXT    NOT NULL          -- JSON object: every original key and value, verbatim
);
-- Finding an item's rows: its open row while ingesting, its row at a version in diff.
CREATE INDEX export_items_by_key ON export_items(account, key, occurrence);
-- Listing a section at a version.
CREATE INDEX export_items_by_section ON export_items(account, section, first_seq);

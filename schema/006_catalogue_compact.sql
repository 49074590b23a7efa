-- tt-vault index: a compact export catalogue (issue 14: an index no bigger than the
-- export, and `diff` as a set operation over the intervals).
--
-- What a row no longer stores twice, since the export itself is in the packs and
-- every dropped value is re-derived exactly (`catalogue::query::item_from_row`):
--
-- - `fields` is NULL when the row's original keys and values are exactly its
--   columns: `shape` then names, in `export_shapes`, the original keys in order and
--   the column each value is (`[["date","date"],["link","link"]]`). Rows with any
--   other value (numbers, placeholders, cut notes) keep `fields` as before.
-- - `link` is NULL when it is `https://www.tiktokv.com/share/video/<video_id>/`.
-- - `date_raw` is NULL when it is `date_utc` written `YYYY-MM-DD HH:MM:SS` (UTC).
-- - `video_id` is an integer when the id is one (it always is on TikTok); the
--   column has no type, so an id that is not a canonical integer stays text.
-- - `key` is the first 16 bytes of the BLAKE3 (collisions stay out of reach).
--
-- The date and video indexes run newest first, as exports list rows: an index filled
-- in its own order packs its pages full, where one filled backwards leaves them
-- half empty (45 % of their size on two million likes).
--
-- The version index by section is replaced by two small partial indexes that serve
-- `diff`: the closed rows by where they end, and the rows that began after the first
-- version by where they begin. The others are as in 003 and 004; the item index
-- loses its account column (the key is selective enough; the row holds the account).
--
-- `export_versions` learns the export's BLAKE3 and the rest of the parse report, so
-- a snapshot of an identical export re-uses the newest version without parsing.

CREATE TABLE export_shapes (
    id   INTEGER PRIMARY KEY,
    keys TEXT    NOT NULL UNIQUE           -- JSON array of [original key, column]
);

CREATE TABLE export_items_compact (
    id           INTEGER PRIMARY KEY,
    account      TEXT    NOT NULL,
    section      TEXT    NOT NULL,
    is_raw       INTEGER NOT NULL,
    key          BLOB    NOT NULL,
    occurrence   INTEGER NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER,
    position     INTEGER NOT NULL,
    date_raw     TEXT,
    date_utc     INTEGER,
    date_assumed INTEGER,
    video_id,
    link         TEXT,
    username     TEXT,
    text         TEXT,
    sender       TEXT,
    shape        INTEGER,
    fields       TEXT
);

INSERT INTO export_items_compact
    (id, account, section, is_raw, key, occurrence, first_seq, last_seq, position,
     date_raw, date_utc, date_assumed, video_id, link, username, text, sender, shape, fields)
SELECT id, account, section, is_raw, substr(key, 1, 16), occurrence, first_seq, last_seq, position,
       date_raw, date_utc, date_assumed,
       CASE WHEN CAST(CAST(video_id AS INTEGER) AS TEXT) = video_id
            THEN CAST(video_id AS INTEGER) ELSE video_id END,
       CASE WHEN CAST(CAST(video_id AS INTEGER) AS TEXT) = video_id
             AND link = 'https://www.tiktokv.com/share/video/' || video_id || '/'
            THEN NULL ELSE link END,
       username, text, sender, NULL, fields
FROM export_items;

DROP TABLE export_items;
ALTER TABLE export_items_compact RENAME TO export_items;

CREATE INDEX export_items_by_key ON export_items(key, occurrence);
CREATE INDEX export_items_by_date ON export_items(account, section, date_utc DESC);
CREATE INDEX export_items_by_chat ON export_items(account, username, date_utc)
    WHERE section = 'messages';
CREATE INDEX export_items_by_video ON export_items(video_id DESC) WHERE video_id IS NOT NULL;
CREATE INDEX export_items_closed ON export_items(account, section, last_seq)
    WHERE last_seq IS NOT NULL;
CREATE INDEX export_items_later ON export_items(account, section, first_seq)
    WHERE first_seq > 1;

CREATE TRIGGER export_search_insert AFTER INSERT ON export_items
WHEN new.text IS NOT NULL AND new.is_raw = 0
BEGIN
    INSERT INTO export_search(rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER export_search_delete AFTER DELETE ON export_items
WHEN old.text IS NOT NULL AND old.is_raw = 0
BEGIN
    INSERT INTO export_search(export_search, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER export_search_update AFTER UPDATE OF text ON export_items
BEGIN
    INSERT INTO export_search(export_search, rowid, text)
        SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL AND old.is_raw = 0;
    INSERT INTO export_search(rowid, text)
        SELECT new.id, new.text WHERE new.text IS NOT NULL AND new.is_raw = 0;
END;

ALTER TABLE export_versions ADD COLUMN export_hash BLOB;   -- BLAKE3 of the export's bytes
ALTER TABLE export_versions ADD COLUMN damage TEXT;        -- JSON: the parse's findings
ALTER TABLE export_versions ADD COLUMN capped TEXT;
CREATE INDEX export_versions_by_hash ON export_versions(export_hash)
    WHERE export_hash IS NOT NULL;

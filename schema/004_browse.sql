-- tt-vault index: what the viewer (`tt-vault serve`) needs to page and search the
-- catalogue fast on a heavy export. Derived entirely from `export_items`, so like
-- the rest of the catalogue it is rebuilt by `rebuild-index`.
--
-- The viewer is read-only (it never writes the vault and runs on a read-only one),
-- so these live in vault.db and are kept current by the writers: the triggers below
-- follow every insert and delete of `export_items`, and this migration fills them for
-- catalogues ingested before it.

-- A section's rows newest first, in keyset pages: (date_utc, id) with the rowid `id`
-- implicitly the last column.
CREATE INDEX export_items_by_date ON export_items(account, section, date_utc);
-- A conversation's messages oldest first (partial: only messages need it).
CREATE INDEX export_items_by_chat ON export_items(account, username, date_utc)
    WHERE section = 'messages';
-- A post's rows wherever it appears (posts, likes, favorites, reposts, history).
CREATE INDEX export_items_by_video ON export_items(video_id) WHERE video_id IS NOT NULL;

-- Full-text search over what people wrote: captions, comments, messages, search
-- terms and bios (`export_items.text`). An external-content FTS5 table: it stores
-- only the inverted index, the text stays in export_items (its column is named
-- `text` like the content column it mirrors, which FTS5 reads by name).
CREATE VIRTUAL TABLE export_search USING fts5(
    text,
    content = 'export_items',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

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

INSERT INTO export_search(rowid, text)
    SELECT id, text FROM export_items WHERE text IS NOT NULL AND is_raw = 0;

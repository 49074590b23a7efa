-- tt-vault index: the catalogue's item lookups follow the export's own order
-- (issue 14: a heavy export's first snapshot at a few seconds, not a minute).
--
-- `export_items_by_key (key, occurrence)` is gone. Keys are hashes, so that index was
-- filled in random order: on two million likes every insert and every lookup of
-- ingest touched a page out of cache, and its pages were left half full (the biggest
-- index of the file). The same lookups now go through the date index, which also
-- holds the key: an item's key fixes its section and its date (both are in what the
-- key hashes), so `(account, section, date_utc, key, occurrence)` finds it in one
-- seek. Exports list rows newest first, as this index runs, so ingest writes and
-- reads it front to back, and its pages fill.
--
-- So the key shrinks to 8 bytes (the first 8 of the 16 in 006): it is only ever
-- compared within one account, section and date, where 64 bits keep two different
-- rows apart. It is stored twice (the row and this index), 16 bytes a row saved.
--
-- Users: ingest (is an item open, how many of this item came earlier in the export),
-- `catalogue::diff::rows_only_in` (an item under another row), and the listings and
-- views that walk a section by date, as before.

DROP INDEX export_items_by_key;
DROP INDEX export_items_by_date;
UPDATE export_items SET key = substr(key, 1, 8);
CREATE INDEX export_items_by_date ON export_items(account, section, date_utc DESC, key, occurrence);

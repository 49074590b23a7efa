-- tt-vault index: the search index is filled by ingest, not by a trigger (issue 14:
-- a heavy export's first snapshot in seconds).
--
-- `export_search_insert` (004, 006) ran inside every insert into `export_items`,
-- which made each one a statement with nested work: SQLite opened a statement
-- journal and FTS5 a savepoint for it, about 6 % of a heavy ingest's time. Ingest,
-- the one writer of `export_items`, now adds the text of the rows each export
-- version added in a single statement after them (`catalogue::ingest`), with the same
-- rule: rows with text that are not raw. The index holds exactly what it held.
--
-- Deletes and text updates still go through their triggers: nothing rewrites a
-- row's text, and deletes come only from `forget`, which is rare (forgetting an
-- account's last snapshot removes all its rows, each through the trigger).

DROP TRIGGER IF EXISTS export_search_insert;

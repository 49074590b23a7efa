-- tt-vault index, version 9: snapshot commits that started and never finished.
--
-- A snapshot's manifest hash is recorded here, in a committed transaction of its own,
-- before its manifest is sent to a pack; the transaction that inserts the snapshot's
-- row deletes it. So a row left here is positive evidence that the packs may hold a
-- manifest the snapshot table will never name: the commit was killed (Ctrl-C during
-- an export's catalogue ingest) or its last step failed, and the user was told nothing
-- was committed. Prune (pruner.rs) treats such a manifest as dead instead of refusing
-- as it does for any other manifest the index does not know, removes it from the
-- packs, and drops the rows in its own commit (it holds the writer lock, so no commit
-- can be in flight). rebuild-index does not carry these rows over (see rebuild.rs).
CREATE TABLE unfinished_snapshots (
    manifest BLOB PRIMARY KEY              -- the manifest's blob hash, the snapshot id to be
) WITHOUT ROWID;

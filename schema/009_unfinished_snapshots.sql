-- tt-vault index, version 9: snapshot commits that started and never finished.
--
-- A snapshot's manifest hash is recorded here, in a committed transaction of its own,
-- before its manifest is sent to a pack; the transaction that inserts the snapshot's
-- row deletes it. So a row left here is positive evidence that the packs may hold a
-- manifest the snapshot table will never name: the commit was killed (Ctrl-C during
-- an export's catalogue ingest) or its last step failed, and the user was told nothing
-- was committed. It is not proof that the commit died: a copy of vault.db taken in
-- a commit's last seconds has the row and not the snapshot's, though the commit may
-- have finished. So prune (pruner.rs) goes on instead of refusing as it does for any
-- other manifest the index does not know, but keeps such a manifest and everything
-- it references; it drops a row in its own commit only once no pack holds the
-- manifest or its snapshot row exists (it holds the writer lock, so no commit can be
-- in flight). rebuild-index lists the manifest as a snapshot and does not carry these
-- rows over (see rebuild.rs).
CREATE TABLE unfinished_snapshots (
    manifest BLOB PRIMARY KEY              -- the manifest's blob hash, the snapshot id to be
) WITHOUT ROWID;

-- tt-vault index, version 2: prune.
--
-- Pack files that a committed prune no longer needs but has not yet deleted. Prune
-- drops their `packs` rows and records them here in the same transaction, then
-- deletes the files and these rows. A prune killed in between leaves the names here;
-- the next writer (`Vault::lock_for_writing`) deletes the files before it looks for
-- stray packs to adopt, so a dead pack is never taken back into the index.
CREATE TABLE pending_deletes (
    name TEXT PRIMARY KEY                  -- pack id; file packs/<name[0..2]>/<name>.pack
) WITHOUT ROWID;

-- tt-vault index: the public profile page, watched between exports
-- (`tt-vault snapshot --profile NAME`).
--
-- One row per profile page a snapshot read. The snapshot holds the truth: the fields
-- as read (`profile/NAME/profile.json`) and the avatar image (`profile/NAME/avatar.*`);
-- `rebuild-index` fills this table again from those files. A snapshot shows the newest
-- row of its account taken at or before it, as with export versions. Pages that could
-- not be read (private, missing, blocked) are in the snapshot's failures, not here.
CREATE TABLE profile_versions (
    snapshot_id TEXT    NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    account     TEXT    NOT NULL,
    username    TEXT    NOT NULL,          -- as the page wrote it
    taken_ms    INTEGER NOT NULL,          -- the snapshot's instant, ms since the epoch
    fetched_at  TEXT    NOT NULL,          -- when the page was read (RFC 3339 UTC)
    nickname    TEXT,
    bio         TEXT,
    bio_link    TEXT,
    avatar_hash TEXT,                      -- BLAKE3 (hex) of the avatar file in the snapshot
    avatar_path TEXT,                      -- where that file sits in the snapshot tree
    verified    INTEGER,                   -- NULL: the page did not say
    private     INTEGER,
    followers   INTEGER,
    following   INTEGER,
    hearts      INTEGER,
    videos      INTEGER,
    listed      INTEGER NOT NULL,          -- posts the page listed (0: listing unavailable)
    layout      TEXT    NOT NULL,          -- the page's embedded JSON layout
    PRIMARY KEY (snapshot_id, username)
) WITHOUT ROWID;
CREATE INDEX profile_versions_by_time ON profile_versions(account, taken_ms);

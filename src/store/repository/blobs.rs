//! Blobs and packs: where a blob is, what a pack holds, what is live, who uses a
//! blob, and the rows prune and recovery change.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Transaction};

use super::index::{self, FileRow};
use super::{get_hash, get_hashes, get_opt_hash, snapshot_hash, BlobLocation, Repository};
use crate::store::chunker::Hash;
use crate::store::pack::{BlobKind, FinishedPack};
use crate::store::Result;

/// One indexed pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRow {
    pub id: i64,
    pub name: String,
    pub size: u64,
}

/// Whether the resume journal's blobs count as live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    /// Prune: a killed run's stored work must survive for the next run to re-use.
    Include,
    /// Verify: the journal may name blobs that never reached a pack.
    Exclude,
}

/// No pack is near this size (they close at 32 MiB; one huge manifest makes a pack
/// of at most about 512 MiB): a larger `packs.size` is a damaged row, refused before
/// sums over many packs could overflow.
const MAX_PACK_SIZE: u64 = 1 << 40;

fn pack_row(r: &rusqlite::Row) -> rusqlite::Result<PackRow> {
    let size = r.get::<_, u64>(2)?;
    if size > MAX_PACK_SIZE {
        return Err(super::bad_column(2, format!("a pack size of {size} bytes")));
    }
    Ok(PackRow {
        id: r.get(0)?,
        name: r.get(1)?,
        size,
    })
}

impl Repository {
    pub fn has_blob(&self, hash: &Hash) -> Result<bool> {
        Ok(index::has_chunk(&self.conn, hash)?)
    }

    /// Where a blob is, if the index knows it.
    pub fn blob(&self, hash: &Hash) -> Result<Option<BlobLocation>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM chunks c JOIN packs p ON p.id = c.pack_id WHERE c.hash = ?1",
                BlobLocation::COLUMNS
            ))?
            .query_row([&hash[..]], BlobLocation::from_row)
            .optional()?)
    }

    /// The indexed blobs of one pack, in pack order.
    pub fn pack_blobs(&self, pack_id: i64) -> Result<Vec<BlobLocation>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM chunks c JOIN packs p ON p.id = c.pack_id
             WHERE c.pack_id = ?1 ORDER BY c.offset",
            BlobLocation::COLUMNS
        ))?;
        let rows = stmt.query_map([pack_id], BlobLocation::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every indexed blob, grouped by pack in pack order.
    pub fn all_blobs(&self) -> Result<Vec<BlobLocation>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM chunks c JOIN packs p ON p.id = c.pack_id ORDER BY c.pack_id, c.offset",
            BlobLocation::COLUMNS
        ))?;
        let rows = stmt.query_map([], BlobLocation::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The hashes of every indexed blob of one kind.
    pub fn blobs_of_kind(&self, kind: BlobKind) -> Result<Vec<Hash>> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash FROM chunks WHERE kind = ?1")?;
        let rows = stmt.query_map([kind as u8], |r| get_hash(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every indexed pack, by id.
    pub fn packs(&self) -> Result<Vec<PackRow>> {
        self.packs_ordered("id")
    }

    /// Every indexed pack, those verified longest ago (or never) first.
    pub fn packs_least_verified_first(&self) -> Result<Vec<PackRow>> {
        self.packs_ordered("coalesce(verified_at, ''), id")
    }

    fn packs_ordered(&self, order: &str) -> Result<Vec<PackRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, name, size FROM packs ORDER BY {order}"
        ))?;
        let rows = stmt.query_map([], pack_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn pack_names(&self) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT name FROM packs")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn total_pack_bytes(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(sum(size), 0) FROM packs", [], |r| {
                r.get::<_, u64>(0)
            })?)
    }

    /// What the snapshots need: their manifests, and the chunks and file maps of the
    /// files their entries reference (and, with [`Journal::Include`], of the files in
    /// the resume journal).
    pub fn live_blobs(&self, journal: Journal) -> Result<HashSet<Hash>> {
        let mut live = HashSet::new();
        for id in self.snapshot_ids()? {
            live.insert(snapshot_hash(&id)?);
        }
        let sql = match journal {
            Journal::Include => {
                "SELECT chunks, map FROM files WHERE hash IN (SELECT DISTINCT file_hash FROM entries)
                 UNION ALL SELECT chunks, map FROM journal"
            }
            Journal::Exclude => {
                "SELECT chunks, map FROM files WHERE hash IN (SELECT DISTINCT file_hash FROM entries)"
            }
        };
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            live.extend(get_hashes(r, 0)?);
            live.extend(get_opt_hash(r, 1)?);
        }
        Ok(live)
    }

    fn snapshot_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT id FROM snapshots")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn snapshot_exists(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM snapshots WHERE id = ?1")?
            .exists([id])?)
    }

    /// For each of `blobs`, the files (referenced by an entry) that need it as a
    /// chunk or as their file map.
    pub fn files_using(&self, blobs: &HashSet<Hash>) -> Result<HashMap<Hash, Vec<Hash>>> {
        let mut out: HashMap<Hash, Vec<Hash>> = HashMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT hash, chunks, map FROM files WHERE hash IN (SELECT DISTINCT file_hash FROM entries)",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let file = get_hash(r, 0)?;
            let mut needs = get_hashes(r, 1)?;
            needs.extend(get_opt_hash(r, 2)?);
            for b in needs.into_iter().filter(|b| blobs.contains(b)) {
                out.entry(b).or_default().push(file);
            }
        }
        Ok(out)
    }

    /// The (snapshot id, path) of every entry holding a file, ordered.
    pub fn entries_of_file(&self, file: &Hash) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT snapshot_id, path FROM entries WHERE file_hash = ?1 ORDER BY snapshot_id, path",
        )?;
        let rows = stmt.query_map([&file[..]], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every (snapshot id, item id) pair the entries hold, each once.
    pub fn items_by_snapshot(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT snapshot_id, item_id FROM entries WHERE item_id IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn file(&self, hash: &Hash) -> Result<Option<FileRow>> {
        Ok(index::file(&self.conn, hash)?)
    }

    /// Pack names a committed prune left to delete.
    pub fn pending_deletes(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pending_deletes ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn pack_indexed(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM packs WHERE name = ?1")?
            .exists([name])?)
    }

    pub fn clear_pending_deletes(&self, names: &[String]) -> Result<()> {
        let mut done = self
            .conn
            .prepare("DELETE FROM pending_deletes WHERE name = ?1")?;
        for name in names {
            done.execute([name])?;
        }
        Ok(())
    }

    /// Prune's one transaction: drops the rows of `dead` blobs, moves the blobs of the
    /// `removed` packs to the `written` ones, records the removed packs' files for
    /// deletion, drops the files no entry references, and the records of `unfinished`
    /// snapshot commits with nothing left to keep (no pack holds the manifest, or its
    /// snapshot row exists; see `schema/009_unfinished_snapshots.sql`). `also` runs
    /// last, inside the same transaction: the layers above drop their rows of
    /// forgotten snapshots there.
    pub fn commit_prune(
        &mut self,
        dead: &[(i64, Hash)],
        removed: &[(i64, &str)],
        written: &[FinishedPack],
        unfinished: &[Hash],
        also: &mut dyn FnMut(&Transaction) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            for h in unfinished {
                super::snapshots::drop_unfinished(&tx, h)?;
            }
            let mut drop_blob =
                tx.prepare("DELETE FROM chunks WHERE hash = ?1 AND pack_id = ?2")?;
            for (pack, h) in dead {
                drop_blob.execute(params![&h[..], pack])?;
            }
            let mut drop_rows = tx.prepare("DELETE FROM chunks WHERE pack_id = ?1")?;
            let mut drop_pack = tx.prepare("DELETE FROM packs WHERE id = ?1")?;
            let mut pending =
                tx.prepare("INSERT OR IGNORE INTO pending_deletes (name) VALUES (?1)")?;
            for (id, name) in removed {
                drop_rows.execute([id])?;
                drop_pack.execute([id])?;
                pending.execute([name])?;
            }
        }
        for p in written {
            index::insert_pack(&tx, p)?;
        }
        tx.execute(
            "DELETE FROM files WHERE hash NOT IN (SELECT file_hash FROM entries)",
            [],
        )?;
        also(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

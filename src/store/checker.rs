//! Verify: prove that every byte the snapshots reference is present and intact.
//!
//! The structural check reads only the index and the pack trailers: SQLite's own
//! integrity check, every indexed pack present with its recorded size and a trailer
//! that agrees with the index, every chunk, file map and manifest that a snapshot
//! references present in the index. `--read-data` (or a sample of packs, those
//! verified longest ago first) also decodes and re-hashes every blob. Each damaged
//! blob is traced to the snapshots and paths it breaks, and every run is recorded
//! in the `audits` table.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::sync::Mutex;

use rusqlite::{params, Connection};
use serde::Serialize;

use super::chunker::{self, Hash};
use super::codec::{self, Codec};
use super::index::{now_rfc3339, split_hashes};
use super::pack::{self, HEADER_LEN};
use super::{Result, Vault};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Structure,
    ReadData,
    Sample(u32),
}

impl Mode {
    pub fn name(&self) -> String {
        match self {
            Mode::Structure => "structure".into(),
            Mode::ReadData => "read-data".into(),
            Mode::Sample(p) => format!("sample {p}%"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: String,
    pub pack: Option<String>,
    pub detail: String,
    pub snapshots: Vec<String>,
    pub paths: Vec<String>,
    #[serde(skip)]
    chunks: Vec<Hash>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub mode: String,
    pub packs_checked: u64,
    pub bytes_checked: u64,
    pub problems: Vec<Problem>,
    pub audit: i64,
}

fn problem(kind: &str, pack: Option<&str>, detail: String, chunks: Vec<Hash>) -> Problem {
    Problem {
        kind: kind.into(),
        pack: pack.map(str::to_string),
        detail,
        snapshots: Vec::new(),
        paths: Vec::new(),
        chunks,
    }
}

struct PackRow {
    id: i64,
    name: String,
    size: u64,
}

struct ChunkRow {
    hash: Hash,
    offset: u64,
    raw_len: u32,
    stored_len: u32,
    codec: u8,
}

fn pack_chunks(conn: &Connection, pack_id: i64) -> Result<Vec<ChunkRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, offset, raw_len, stored_len, codec FROM chunks WHERE pack_id = ?1 ORDER BY offset",
    )?;
    let rows = stmt.query_map([pack_id], |r| {
        Ok(ChunkRow {
            hash: r.get::<_, Vec<u8>>(0)?.try_into().unwrap_or([0; 32]),
            offset: r.get::<_, i64>(1)? as u64,
            raw_len: r.get::<_, i64>(2)? as u32,
            stored_len: r.get::<_, i64>(3)? as u32,
            codec: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn verify(vault: &Vault, mode: Mode, progress: &(dyn Fn(u64) + Sync)) -> Result<Report> {
    let conn = vault.connect()?;
    conn.execute(
        "INSERT INTO audits (started_at, mode) VALUES (?1, ?2)",
        params![now_rfc3339(), mode.name()],
    )?;
    let audit = conn.last_insert_rowid();
    let mut problems = Vec::new();

    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if integrity != ["ok"] {
        problems.push(problem("index", None, integrity.join("; "), Vec::new()));
    }

    let packs: Vec<PackRow> = conn
        .prepare("SELECT id, name, size FROM packs ORDER BY coalesce(verified_at, ''), id")?
        .query_map([], |r| {
            Ok(PackRow {
                id: r.get(0)?,
                name: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;

    // Structure: each pack present, of its size, with a trailer that agrees.
    let mut readable = Vec::new();
    for p in &packs {
        let path = vault.pack_path(&p.name);
        let chunks = pack_chunks(&conn, p.id)?;
        let hashes = || chunks.iter().map(|c| c.hash).collect::<Vec<_>>();
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) => {
                problems.push(problem(
                    "missing_pack",
                    Some(&p.name),
                    format!("{}: {e}", path.display()),
                    hashes(),
                ));
                continue;
            }
        };
        if size != p.size {
            problems.push(problem(
                "pack_size",
                Some(&p.name),
                format!(
                    "{} is {size} bytes, the index says {}",
                    path.display(),
                    p.size
                ),
                hashes(),
            ));
            continue;
        }
        match pack::read_index(&path) {
            Err(e) => problems.push(problem(
                "damaged_pack",
                Some(&p.name),
                e.to_string(),
                hashes(),
            )),
            Ok((_, entries)) => {
                let in_trailer: HashMap<Hash, (u64, u32, u32, u8)> = entries
                    .iter()
                    .map(|e| {
                        let h = &e.header;
                        (h.hash, (e.offset, h.raw_len, h.stored_len, h.codec as u8))
                    })
                    .collect();
                let disagree: Vec<Hash> = chunks
                    .iter()
                    .filter(|c| {
                        in_trailer.get(&c.hash)
                            != Some(&(c.offset, c.raw_len, c.stored_len, c.codec))
                    })
                    .map(|c| c.hash)
                    .collect();
                if disagree.is_empty() {
                    readable.push(p);
                } else {
                    problems.push(problem(
                        "pack_mismatch",
                        Some(&p.name),
                        format!(
                            "{} blobs in the index disagree with the pack trailer",
                            disagree.len()
                        ),
                        disagree,
                    ));
                }
            }
        }
    }

    // Structure: everything a snapshot references is indexed.
    let mut missing = Vec::new();
    {
        let mut has = conn.prepare("SELECT 1 FROM chunks WHERE hash = ?1")?;
        let mut stmt = conn.prepare(
            "SELECT f.chunks, f.map FROM files f WHERE f.hash IN (SELECT DISTINCT file_hash FROM entries)",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut needed = split_hashes(&r.get::<_, Vec<u8>>(0)?);
            if let Some(m) = r
                .get::<_, Option<Vec<u8>>>(1)?
                .and_then(|m| Hash::try_from(m).ok())
            {
                needed.push(m);
            }
            for h in needed {
                if !has.exists([&h[..]])? {
                    missing.push(h);
                }
            }
        }
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM snapshots")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            if let Ok(h) = hex::decode(&id).map(Hash::try_from) {
                let h = h.unwrap_or([0; 32]);
                if !has.exists([&h[..]])? {
                    missing.push(h);
                }
            }
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        problems.push(problem(
            "missing_chunk",
            None,
            format!("{} referenced blobs are not in any pack", missing.len()),
            missing,
        ));
    }

    // Data: decode and re-hash.
    let selected: Vec<&PackRow> = match mode {
        Mode::Structure => Vec::new(),
        Mode::ReadData => readable.clone(),
        Mode::Sample(pct) => {
            let n = (packs.len() * pct.min(100) as usize).div_ceil(100);
            // `packs` is ordered least recently verified first.
            let chosen: HashSet<i64> = packs.iter().take(n).map(|p| p.id).collect();
            readable
                .iter()
                .copied()
                .filter(|p| chosen.contains(&p.id))
                .collect()
        }
    };
    let bytes_checked = std::sync::atomic::AtomicU64::new(0);
    let data_problems = Mutex::new(Vec::new());
    let clean = Mutex::new(Vec::new());
    let next = Mutex::new(selected.iter());
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let conn = vault.connect()?;
                    let mut buf = Vec::new();
                    loop {
                        let Some(p) = next.lock().unwrap().next().copied() else {
                            return Ok(());
                        };
                        let chunks = pack_chunks(&conn, p.id)?;
                        let bad = read_pack(vault, p, &chunks, &mut buf);
                        bytes_checked.fetch_add(p.size, std::sync::atomic::Ordering::Relaxed);
                        progress(p.size);
                        match bad {
                            Ok(bad) if bad.is_empty() => clean.lock().unwrap().push(p.id),
                            Ok(bad) => data_problems.lock().unwrap().push(problem(
                                "corrupt_chunk",
                                Some(&p.name),
                                format!("{} blobs fail to decode or re-hash", bad.len()),
                                bad,
                            )),
                            Err(e) => data_problems.lock().unwrap().push(problem(
                                "unreadable_pack",
                                Some(&p.name),
                                e,
                                chunks.iter().map(|c| c.hash).collect(),
                            )),
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("verify worker panicked")?;
        }
        Ok(())
    })?;
    problems.extend(data_problems.into_inner().unwrap());
    let now = now_rfc3339();
    for id in clean.into_inner().unwrap() {
        conn.execute(
            "UPDATE packs SET verified_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
    }

    trace_damage(&conn, &mut problems)?;
    let report = Report {
        ok: problems.is_empty(),
        mode: mode.name(),
        packs_checked: selected.len() as u64,
        bytes_checked: bytes_checked.into_inner(),
        problems,
        audit,
    };
    conn.execute(
        "UPDATE audits SET finished_at = ?1, packs_checked = ?2, bytes_checked = ?3, ok = ?4, problems = ?5 WHERE id = ?6",
        params![
            now_rfc3339(),
            report.packs_checked as i64,
            report.bytes_checked as i64,
            report.ok,
            serde_json::to_string(&report.problems).unwrap(),
            audit
        ],
    )?;
    Ok(report)
}

/// Reads a whole pack in one go and checks each indexed blob; returns the bad ones.
fn read_pack(
    vault: &Vault,
    p: &PackRow,
    chunks: &[ChunkRow],
    buf: &mut Vec<u8>,
) -> std::result::Result<Vec<Hash>, String> {
    let path = vault.pack_path(&p.name);
    buf.clear();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(buf))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bad = Vec::new();
    for c in chunks {
        let start = c.offset as usize;
        let end = start + c.stored_len as usize;
        let ok = start >= HEADER_LEN
            && end <= buf.len()
            && buf[start - HEADER_LEN + 16..start] == c.hash
            && Codec::from_u8(c.codec)
                .and_then(|codec| codec::decode(codec, &buf[start..end], c.raw_len as usize).ok())
                .is_some_and(|raw| chunker::hash(&raw) == c.hash);
        if !ok {
            bad.push(c.hash);
        }
    }
    Ok(bad)
}

/// Names, for each problem, the snapshots and paths whose content it breaks.
fn trace_damage(conn: &Connection, problems: &mut [Problem]) -> Result<()> {
    let bad: HashSet<Hash> = problems
        .iter()
        .flat_map(|p| p.chunks.iter().copied())
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    // Which files does each bad blob break? A file breaks if a chunk or its map does.
    let mut broken_files: HashMap<Hash, Vec<Hash>> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT hash, chunks, map FROM files WHERE hash IN (SELECT DISTINCT file_hash FROM entries)",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let file: Hash = r.get::<_, Vec<u8>>(0)?.try_into().unwrap_or([0; 32]);
            let mut blobs = split_hashes(&r.get::<_, Vec<u8>>(1)?);
            if let Some(m) = r
                .get::<_, Option<Vec<u8>>>(2)?
                .and_then(|m| Hash::try_from(m).ok())
            {
                blobs.push(m);
            }
            for b in blobs.into_iter().filter(|b| bad.contains(b)) {
                broken_files.entry(b).or_default().push(file);
            }
        }
    }
    let mut by_file = conn.prepare(
        "SELECT e.snapshot_id, e.path FROM entries e WHERE e.file_hash = ?1 ORDER BY e.snapshot_id, e.path",
    )?;
    let mut snapshot_exists = conn.prepare("SELECT 1 FROM snapshots WHERE id = ?1")?;
    for p in problems.iter_mut() {
        let mut snaps = std::collections::BTreeSet::new();
        let mut paths = std::collections::BTreeSet::new();
        for chunk in &p.chunks {
            let manifest_of = hex::encode(chunk);
            if snapshot_exists.exists([&manifest_of])? {
                snaps.insert(manifest_of.clone());
                paths.insert(format!(
                    "(manifest of snapshot {})",
                    super::snapshots::short(&manifest_of)
                ));
            }
            for file in broken_files.get(chunk).into_iter().flatten() {
                let rows = by_file.query_map([&file[..]], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (snap, path) = row?;
                    snaps.insert(snap);
                    paths.insert(path);
                }
            }
        }
        p.snapshots = snaps.into_iter().collect();
        p.paths = paths.into_iter().collect();
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct Audit {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub mode: String,
    pub packs_checked: i64,
    pub bytes_checked: i64,
    pub ok: Option<bool>,
    pub problems: serde_json::Value,
}

pub fn audits(conn: &Connection) -> Result<Vec<Audit>> {
    let mut stmt = conn.prepare(
        "SELECT id, started_at, finished_at, mode, packs_checked, bytes_checked, ok, problems FROM audits ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Audit {
            id: r.get(0)?,
            started_at: r.get(1)?,
            finished_at: r.get(2)?,
            mode: r.get(3)?,
            packs_checked: r.get(4)?,
            bytes_checked: r.get(5)?,
            ok: r.get(6)?,
            problems: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

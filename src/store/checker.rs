//! Verify: prove that every byte the snapshots reference is present and intact.
//!
//! In phases, as restic's checker: **index** (SQLite's own integrity check),
//! **packs** (every indexed pack present with its recorded size and a trailer that
//! agrees with the index; any file under `packs/` that is not a pack reported as a
//! stray and left alone), **snapshots** (each snapshot's rows in vault.db — the
//! snapshot, its entries, their files — agree with its manifest and file maps in the
//! packs, so a damaged index row is a problem found, not a wrong restore),
//! **structure** (every chunk, file map and manifest a
//! snapshot references is in the index), **read-data** (with `--read-data`, or a
//! sample of packs, those verified longest ago first: every blob decoded and
//! re-hashed; in an encrypted vault every blob's tag checked instead, unless
//! `decode`), **report** (each damaged blob traced to the snapshots and paths it
//! breaks, and the run recorded in the `audits` table).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::chunker::Hash;
use super::manifest::{decode_file_map, Manifest};
use super::pack;
use super::reader::{BlobReader, PackFiles};
use super::remote::Listing;
use super::repository::snapshot_hash;
pub use super::repository::Audit;
use super::repository::{BlobLocation, Journal, PackRow, Repository};
use super::snapshots::Snapshot;
use super::vault::PackFile;
use super::{snapshots, workers, Result, Vault};

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
    /// The audit row of this run; `None` on a read-only vault, where nothing can be
    /// recorded.
    pub audit: Option<i64>,
    pub audit_recorded: bool,
    /// The blobs read were checked by their tags alone (an encrypted vault without
    /// `decode`), not decoded and re-hashed.
    #[serde(skip)]
    pub tags_only: bool,
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

/// `decode`: in an encrypted vault, open, decode and re-hash each blob read, as in a
/// plain vault, rather than check its tag. The tag alone finds every altered or
/// missing byte (a blob sealed under its id cannot be changed or swapped without the
/// key); decoding adds what only a bug of ours when the blob was written could
/// break, a blob whose content disagrees with its id, at about three times the cost.
pub fn verify(
    vault: &Vault,
    mode: Mode,
    decode: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Report> {
    let repo = Repository::open(vault)?;
    let name = match (mode, decode && vault.keys().is_some()) {
        (Mode::Structure, _) | (_, false) => mode.name(),
        (_, true) => format!("{}, decoded", mode.name()),
    };
    // A read-only vault is verified all the same; only its record cannot be kept.
    let record = vault.is_writable();
    let audit = match record {
        true => Some(repo.start_audit(&name)?),
        false => None,
    };
    let mut problems = check_index(&repo)?;
    let packs = repo.packs_least_verified_first()?;
    let readable = check_packs(vault, &repo, &packs, &mut problems)?;
    problems.extend(check_strays(vault, &repo)?);
    problems.extend(check_snapshots(vault, &repo)?);
    problems.extend(check_references(&repo)?);
    let selected = select_for_reading(mode, &packs, readable);
    let read = read_data(vault, &selected, decode, progress)?;
    problems.extend(read.problems);
    if record {
        repo.mark_verified(&read.clean)?;
    }
    trace_damage(&repo, &mut problems)?;
    let report = Report {
        ok: problems.is_empty(),
        mode: name,
        packs_checked: selected.len() as u64,
        bytes_checked: read.bytes,
        problems,
        audit,
        audit_recorded: audit.is_some(),
        tags_only: vault.keys().is_some() && !decode,
    };
    if let Some(audit) = audit {
        repo.finish_audit(
            audit,
            report.packs_checked,
            report.bytes_checked,
            report.ok,
            &serde_json::to_string(&report.problems).unwrap(),
        )?;
    }
    Ok(report)
}

/// Phase index: SQLite's own integrity check.
fn check_index(repo: &Repository) -> Result<Vec<Problem>> {
    let integrity = repo.integrity_check()?;
    Ok(if integrity != ["ok"] {
        vec![problem("index", None, integrity.join("; "), Vec::new())]
    } else {
        Vec::new()
    })
}

/// Phase packs: each pack present, of its size, with a trailer that agrees with the
/// index. Returns the packs that passed.
fn check_packs<'p>(
    vault: &Vault,
    repo: &Repository,
    packs: &'p [PackRow],
    problems: &mut Vec<Problem>,
) -> Result<Vec<&'p PackRow>> {
    let mut readable = Vec::new();
    let listing = vault.remote_listing()?;
    for p in packs {
        let blobs = repo.pack_blobs(p.id)?;
        let off_site = listing
            .as_ref()
            .map(|l| check_remote_pack(vault, l, p, &blobs));
        let found = match off_site {
            Some(Some(found)) => Some(found),
            // Not cached: its trailer and blobs are read in the read-data phase.
            Some(None) if !vault.pack_path(&p.name).exists() => None,
            _ => check_pack(vault, p, &blobs),
        };
        match found {
            None => readable.push(p),
            Some(found) => problems.push(found),
        }
    }
    Ok(readable)
}

/// An indexed pack against the remote's listing: there, and of its size.
fn check_remote_pack(
    vault: &Vault,
    listing: &Listing,
    p: &PackRow,
    blobs: &[BlobLocation],
) -> Option<Problem> {
    let hashes = || blobs.iter().map(BlobLocation::hash).collect::<Vec<_>>();
    let place = vault.remote_place(&p.name);
    match listing.packs.get(&p.name) {
        None => Some(problem(
            "missing_pack",
            Some(&p.name),
            format!("{place} is not in the off-site storage"),
            hashes(),
        )),
        Some(&size) if size != p.size => Some(problem(
            "pack_size",
            Some(&p.name),
            format!("{place} is {size} bytes, the index says {}", p.size),
            hashes(),
        )),
        Some(_) => None,
    }
}

fn check_pack(vault: &Vault, p: &PackRow, blobs: &[BlobLocation]) -> Option<Problem> {
    let path = vault.pack_path(&p.name);
    let hashes = || blobs.iter().map(BlobLocation::hash).collect::<Vec<_>>();
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) => {
            let detail = format!("{}: {e}", path.display());
            return Some(problem("missing_pack", Some(&p.name), detail, hashes()));
        }
    };
    if size != p.size {
        let detail = format!(
            "{} is {size} bytes, the index says {}",
            path.display(),
            p.size
        );
        return Some(problem("pack_size", Some(&p.name), detail, hashes()));
    }
    let entries = match pack::read_index(&path, vault.keys()) {
        Ok((_, entries)) => entries,
        Err(e) => {
            return Some(problem(
                "damaged_pack",
                Some(&p.name),
                e.to_string(),
                hashes(),
            ))
        }
    };
    let in_trailer: HashMap<Hash, pack::BlobEntry> =
        entries.into_iter().map(|e| (e.header.hash, e)).collect();
    let disagree: Vec<Hash> = blobs
        .iter()
        .filter(|b| in_trailer.get(&b.hash()) != Some(&b.entry))
        .map(BlobLocation::hash)
        .collect();
    if disagree.is_empty() {
        return None;
    }
    let detail = format!(
        "{} blobs in the index disagree with the pack trailer",
        disagree.len()
    );
    Some(problem("pack_mismatch", Some(&p.name), detail, disagree))
}

/// Files under `packs/` that are no pack (a wrong name or place), and unindexed
/// packs whose trailer does not read (recovery never adopts them): reported, never
/// touched. Temporary packs and readable unindexed packs may be a running writer's.
fn check_strays(vault: &Vault, repo: &Repository) -> Result<Vec<Problem>> {
    let known = repo.pack_names()?;
    let mut found = Vec::new();
    for f in vault.pack_files()? {
        match f {
            PackFile::Other(path) => found.push(problem(
                "stray_file",
                None,
                format!(
                    "{} is not a pack of this vault; it was left alone (move it out of packs/)",
                    path.display()
                ),
                Vec::new(),
            )),
            PackFile::Pack { id, path } if !known.contains(&id) => {
                if let Err(e) = pack::read_index(&path, vault.keys()) {
                    let detail = format!("{e}; not in the index, so it was left alone");
                    found.push(problem("damaged_pack", Some(&id), detail, Vec::new()));
                }
            }
            PackFile::Pack { .. } | PackFile::Temporary(_) => {}
        }
    }
    if let Some(listing) = vault.remote_listing()? {
        found.extend(remote_strays(vault, repo, &listing, &known)?);
    }
    Ok(found)
}

/// Objects under the remote's packs/ that no index row explains: a pack neither
/// indexed, nor a running writer's (still in the local cache, uncommitted), nor
/// given up by a prune; or a key that names no pack. Reported, never touched.
fn remote_strays(
    vault: &Vault,
    repo: &Repository,
    listing: &Listing,
    known: &HashSet<String>,
) -> Result<Vec<Problem>> {
    let given_up: HashSet<String> = repo.pending_deletes()?.into_iter().collect();
    let mut found = Vec::new();
    for (id, size) in &listing.packs {
        if known.contains(id) || given_up.contains(id) || vault.pack_path(id).exists() {
            continue;
        }
        let detail = format!(
            "{} ({size} bytes) is in the off-site storage but not in the index; it was left              alone (`tt-vault rebuild-index` adopts it)",
            vault.remote_place(id)
        );
        found.push(problem("extra_pack", Some(id), detail, Vec::new()));
    }
    for key in &listing.other {
        let detail = format!("{key} in the off-site storage is not a pack; it was left alone");
        found.push(problem("stray_file", None, detail, Vec::new()));
    }
    Ok(found)
}

/// Phase snapshots: the index's rows of each snapshot against its manifest (and the
/// file maps it names). A manifest or map that does not read is left to the packs
/// and read-data phases, which report it with its pack.
fn check_snapshots(vault: &Vault, repo: &Repository) -> Result<Vec<Problem>> {
    let mut reader = BlobReader::new(vault)?;
    let mut found = Vec::new();
    let list = match snapshots::list(repo.conn(), None) {
        Ok(list) => list,
        Err(e) => {
            let detail = format!("the snapshots table of vault.db does not read: {e}");
            return Ok(vec![index_problem(detail, Vec::new())]);
        }
    };
    for s in list {
        let Ok(hash) = snapshot_hash(&s.id) else {
            let detail = format!("vault.db names a snapshot {:?}, which is no id", s.id);
            found.push(index_problem(detail, Vec::new()));
            continue;
        };
        let Some(m) = reader
            .read(&hash)
            .ok()
            .and_then(|raw| Manifest::decode(&raw).ok())
        else {
            continue;
        };
        if let Some(what) = snapshot_disagrees(&mut reader, &s, &m) {
            let detail = format!(
                "vault.db disagrees with the manifest of snapshot {}: {what}",
                snapshots::short(&s.id)
            );
            found.push(index_problem(detail, vec![hash]));
        }
    }
    Ok(found)
}

fn index_problem(detail: String, chunks: Vec<Hash>) -> Problem {
    let detail = format!("{detail}; run `tt-vault rebuild-index`");
    problem("index_mismatch", None, detail, chunks)
}

/// What in the index differs from snapshot `s`'s manifest `m`, if anything.
fn snapshot_disagrees(reader: &mut BlobReader, s: &Snapshot, m: &Manifest) -> Option<String> {
    if s.account != m.account || s.taken_at != m.taken_at {
        return Some("its snapshots row".into());
    }
    let rows = match snapshots::entries(reader.repo().conn(), &s.id) {
        Ok(rows) => rows,
        Err(e) => return Some(format!("its entries do not read ({e})")),
    };
    let mut want = m.entries.clone();
    want.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(e) = want.iter().zip(&rows).find(|(w, r)| w != r) {
        return Some(format!("the entry {:?}", e.0.path));
    }
    if want.len() != rows.len() {
        return Some(format!(
            "{} entries, the manifest has {}",
            rows.len(),
            want.len()
        ));
    }
    for e in &want {
        let file = match e.map {
            None => e.implied_file(),
            Some(map) => reader
                .read(&map)
                .ok()
                .and_then(|raw| decode_file_map(&raw, map)),
        };
        let Some(file) = file else { continue };
        match reader.repo().file(&e.hash) {
            Ok(Some(row)) if row == file => {}
            _ => return Some(format!("the file row of {:?}", e.path)),
        }
    }
    None
}

/// Phase structure: everything a snapshot references is indexed.
fn check_references(repo: &Repository) -> Result<Option<Problem>> {
    let mut missing = Vec::new();
    for h in repo.live_blobs(Journal::Exclude)? {
        if !repo.has_blob(&h)? {
            missing.push(h);
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    missing.sort();
    let detail = format!("{} referenced blobs are not in any pack", missing.len());
    Ok(Some(problem("missing_chunk", None, detail, missing)))
}

/// The packs whose data this run reads.
fn select_for_reading<'p>(
    mode: Mode,
    packs: &[PackRow],
    readable: Vec<&'p PackRow>,
) -> Vec<&'p PackRow> {
    match mode {
        Mode::Structure => Vec::new(),
        Mode::ReadData => readable,
        Mode::Sample(pct) => {
            let n = (packs.len() * pct.min(100) as usize).div_ceil(100);
            // `packs` is ordered least recently verified first.
            let chosen: HashSet<i64> = packs.iter().take(n).map(|p| p.id).collect();
            readable
                .into_iter()
                .filter(|p| chosen.contains(&p.id))
                .collect()
        }
    }
}

struct DataRead {
    problems: Vec<Problem>,
    /// Packs whose every blob re-hashed cleanly.
    clean: Vec<i64>,
    bytes: u64,
}

/// Phase read-data: every blob of the selected packs decoded and re-hashed.
fn read_data(
    vault: &Vault,
    selected: &[&PackRow],
    decode: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<DataRead> {
    let bytes = AtomicU64::new(0);
    let problems = Mutex::new(Vec::new());
    let clean = Mutex::new(Vec::new());
    workers::run(
        selected,
        || Ok((Repository::open(vault)?, PackFiles::new(vault))),
        |(repo, reader), p| -> Result<()> {
            let blobs = repo.pack_blobs(p.id)?;
            let bad = read_pack(reader, p, &blobs, decode);
            bytes.fetch_add(p.size, Ordering::Relaxed);
            progress(p.size);
            match bad {
                Ok((bad, _)) if bad.is_empty() => clean.lock().unwrap().push(p.id),
                Ok((bad, auth)) => problems.lock().unwrap().push(problem(
                    "corrupt_chunk",
                    Some(&p.name),
                    match auth {
                        0 => format!("{} blobs fail to decode or re-hash", bad.len()),
                        n if n == bad.len() => format!(
                            "{n} blobs fail authentication: altered, or sealed under another key"
                        ),
                        n => format!(
                            "{} blobs fail to decode or re-hash ({n} fail authentication: \
                             altered, or sealed under another key)",
                            bad.len()
                        ),
                    },
                    bad,
                )),
                Err(e) => problems.lock().unwrap().push(problem(
                    "unreadable_pack",
                    Some(&p.name),
                    e,
                    blobs.iter().map(BlobLocation::hash).collect(),
                )),
            }
            Ok(())
        },
    )?;
    Ok(DataRead {
        problems: problems.into_inner().unwrap(),
        clean: clean.into_inner().unwrap(),
        bytes: bytes.into_inner(),
    })
}

/// Checks each indexed blob of a pack; returns the bad ones and how many of them
/// failed authentication (sealed packs only).
fn read_pack(
    reader: &mut PackFiles,
    p: &PackRow,
    blobs: &[BlobLocation],
    decode: bool,
) -> std::result::Result<(Vec<Hash>, usize), String> {
    if let Err(e) = reader.file(&p.name) {
        return Err(match e {
            pack::PackError::Io { path, source } => format!("{}: {source}", path.display()),
            e => e.to_string(),
        });
    }
    let mut bad = Vec::new();
    let mut auth = 0;
    for b in blobs {
        match reader.check_at(b, decode) {
            Ok(_) => {}
            Err(e) => {
                auth += usize::from(matches!(e, pack::PackError::Auth { .. }));
                bad.push(b.hash());
            }
        }
    }
    Ok((bad, auth))
}

/// Phase report: names, for each problem, the snapshots and paths whose content it breaks.
fn trace_damage(repo: &Repository, problems: &mut [Problem]) -> Result<()> {
    let bad: HashSet<Hash> = problems
        .iter()
        .flat_map(|p| p.chunks.iter().copied())
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    // A file breaks if a chunk or its map does.
    let broken_files = repo.files_using(&bad)?;
    for p in problems.iter_mut() {
        let mut snaps = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for chunk in &p.chunks {
            let manifest_of = hex::encode(chunk);
            if repo.snapshot_exists(&manifest_of)? {
                paths.insert(format!(
                    "(manifest of snapshot {})",
                    snapshots::short(&manifest_of)
                ));
                snaps.insert(manifest_of);
            }
            for file in broken_files.get(chunk).into_iter().flatten() {
                for (snap, path) in repo.entries_of_file(file)? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{flip_byte, snapshot, vault};

    fn quiet(_: u64) {}

    #[test]
    fn a_sound_vault_verifies_and_records_an_audit() {
        let t = vault();
        snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("x", b"fine", None)],
        );
        let r = verify(&t.vault, Mode::ReadData, false, &quiet).unwrap();
        assert!(r.ok, "{:?}", r.problems);
        assert_eq!(r.packs_checked, 1);
        let audits = Repository::open(&t.vault).unwrap().audits().unwrap();
        assert_eq!(audits.len(), 1);
        assert_eq!(audits[0].ok, Some(true));
        // Structure alone reads no data.
        assert_eq!(
            verify(&t.vault, Mode::Structure, false, &quiet)
                .unwrap()
                .packs_checked,
            0
        );
    }

    #[test]
    fn a_flipped_byte_is_found_by_read_data_and_traced() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("dir/x", b"precious bytes", None)],
        );
        flip_byte(&t.vault, &c.manifest.entries[0].hash);
        assert!(verify(&t.vault, Mode::Structure, false, &quiet).unwrap().ok);
        let r = verify(&t.vault, Mode::ReadData, false, &quiet).unwrap();
        assert!(!r.ok);
        assert_eq!(r.problems.len(), 1);
        let p = &r.problems[0];
        assert_eq!(p.kind, "corrupt_chunk");
        assert_eq!(p.snapshots, vec![c.id.clone()]);
        assert_eq!(p.paths, vec!["dir/x".to_string()]);
    }

    #[test]
    fn a_missing_pack_names_the_snapshot_whose_manifest_it_held() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("x", b"gone", None)],
        );
        let repo = Repository::open(&t.vault).unwrap();
        let p = repo.packs().unwrap().remove(0);
        std::fs::remove_file(t.vault.pack_path(&p.name)).unwrap();
        let r = verify(&t.vault, Mode::Structure, false, &quiet).unwrap();
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].kind, "missing_pack");
        assert_eq!(r.problems[0].snapshots, vec![c.id.clone()]);
        assert!(r.problems[0].paths.contains(&"x".to_string()));
        assert!(r.problems[0]
            .paths
            .iter()
            .any(|p| p.starts_with("(manifest of snapshot")));
    }

    #[test]
    fn a_blob_missing_from_the_index_is_reported() {
        let t = vault();
        let c = snapshot(
            &t.vault,
            "a",
            "2026-01-01T00:00:00Z",
            &[("x", b"indexed?", None)],
        );
        let repo = Repository::open(&t.vault).unwrap();
        let h = c.manifest.entries[0].hash;
        repo.conn()
            .execute("DELETE FROM chunks WHERE hash = ?1", [&h[..]])
            .unwrap();
        let r = verify(&t.vault, Mode::Structure, false, &quiet).unwrap();
        assert!(r
            .problems
            .iter()
            .any(|p| p.kind == "missing_chunk" && p.chunks == vec![h]));
    }
}

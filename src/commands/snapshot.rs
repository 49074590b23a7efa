//! `tt-vault snapshot`: gather the sources into a new snapshot.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalogue::profile as catalogue_profile;
use crate::catalogue::{ingest, layout_name, query};
use crate::download::{self, DownloadFailure, ExportList};
use crate::store::archiver::{AddError, SnapshotBuilder, SnapshotInfo};
use crate::store::manifest::Source;
use crate::store::names::{self, RawPaths};
use crate::store::{workers, StoreError, Vault};
use crate::tiktok::export::{Export, Finding, ParseReport, Section};
use crate::tiktok::fetch::profile::valid_username;
use crate::tiktok::fetch::watch::profile_page as watch_profile_page;
use crate::tiktok::fetch::{FetchConfig, Target};
use crate::tiktok::saved;

use super::{watch, CommandError, Progress, Result};

#[derive(Debug, Clone, Default)]
pub struct SnapshotArgs {
    pub account: Option<String>,
    pub media: Vec<PathBuf>,
    /// A TikTok "Download your data" export: ZIP, extracted folder, or JSON file.
    pub export: Option<PathBuf>,
    /// Accept an export whose username differs from the account's previous export.
    pub force: bool,
    /// The snapshot's time; now when not given.
    pub time: Option<DateTime<Utc>>,
    pub rehash: bool,
    pub wait: bool,
    /// Post links to download (`--url`).
    pub urls: Vec<String>,
    /// The export's lists to download; `None` = the default (posts, with an export).
    pub download: Option<Vec<ExportList>>,
    /// A TikTok username whose public profile page is read (`--profile`), with its
    /// avatar and the posts it lists.
    pub profile: Option<String>,
    pub fetch: FetchConfig,
}

#[derive(Debug, Serialize)]
pub struct SnapshotOutcome {
    pub id: String,
    pub account: String,
    pub taken_at: String,
    pub files: u64,
    pub bytes: u64,
    pub new_bytes: u64,
    pub stored_bytes: u64,
    pub failed: Vec<DownloadFailure>,
    pub notes: Vec<String>,
    /// Key paths of the export's sections the catalogue understood (empty without an export).
    pub sections_understood: Vec<String>,
    /// Key paths of the export's sections kept verbatim.
    pub sections_raw: Vec<String>,
    /// Damage in the export (stored as it came, catalogued around or up to it).
    pub export_damage: Vec<Finding>,
}

impl SnapshotOutcome {
    /// True when the snapshot is complete but not everything was as it should be:
    /// posts that could not be fetched, or a damaged export (exit code 1).
    pub fn problems_found(&self) -> bool {
        !self.failed.is_empty() || !self.export_damage.is_empty()
    }
}

/// A file found in a source, and where it goes in the snapshot.
struct Planned {
    fs_path: PathBuf,
    /// The path in the snapshot, and the real bytes when it is not UTF-8.
    path: String,
    raw_path: Option<Vec<u8>>,
    kind: &'static str,
    item_id: Option<String>,
    size: u64,
}

pub fn snapshot(
    vault: &Vault,
    args: &SnapshotArgs,
    progress: &dyn Progress,
) -> Result<SnapshotOutcome> {
    if args.media.is_empty()
        && args.urls.is_empty()
        && args.export.is_none()
        && args.profile.is_none()
    {
        return Err(CommandError::Usage(
            "nothing to snapshot: give --export PATH, --media DIR, --url LINK or --profile NAME"
                .into(),
        ));
    }
    let profile = args.profile.as_deref().map(profile_name).transpose()?;
    let checkpoint = download::checkpoint_interval()?;
    let (targets, export) = targets_and_export(vault, args)?;
    let account = args
        .account
        .clone()
        .or_else(|| export.as_ref().and_then(|c| c.report.account.clone()))
        .or_else(|| profile.map(str::to_string))
        .unwrap_or_else(|| "default".into());
    if let Some(c) = &export {
        check_same_user(vault, &account, &c.export, &c.report, args.force)?;
    }
    let mut sources = Vec::new();
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    if let Some(c) = &export {
        sources.push(plan_export(&c.export, &mut planned, &mut skipped)?);
    }
    for dir in &args.media {
        let source = plan_media(dir, &sources, &mut planned, &mut skipped)?;
        sources.push(source);
    }

    let raw_paths = raw_paths(&planned)?;

    let lock = vault.lock_for_writing(args.wait)?;
    let total: u64 = planned.iter().map(|p| p.size).sum();
    progress.begin("snapshot", Some(total));
    let on_bytes = |n| progress.add(n);
    let builder = SnapshotBuilder::new(vault, &lock, &account, args.rehash, &on_bytes)?;
    add_files(&builder, &planned)?;
    progress.end();

    let mut notes = Vec::new();
    if !skipped.is_empty() {
        notes.push(format!(
            "skipped {} symlinks or special files (not followed): {}",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    let downloaded = download_all(vault, &builder, targets, args, checkpoint, progress)?;
    sources.extend(downloaded.sources);
    notes.extend(downloaded.notes);
    let failed = downloaded.failed;
    let profile_doc = downloaded.profile_doc;

    let taken_at = args.time.unwrap_or_else(Utc::now);
    let export_damage = export
        .as_ref()
        .map(|c| c.report.damage.clone())
        .unwrap_or_default();
    let mut meta = serde_json::Map::new();
    if !raw_paths.is_empty() {
        meta.insert("raw_paths".into(), names::to_meta(&raw_paths));
    }
    if !export_damage.is_empty() {
        meta.insert("export_damage".into(), serde_json::json!(export_damage));
    }
    let mut report = None;
    let committed = builder.commit_with(
        SnapshotInfo {
            account: account.clone(),
            taken_at,
            sources: sources.clone(),
            failed: failed.iter().map(DownloadFailure::to_json).collect(),
            meta: meta.into(),
        },
        |tx, id| {
            if let Some(doc) = &profile_doc {
                let taken_ms = taken_at.timestamp_millis();
                catalogue_profile::record(tx, id, &account, taken_ms, doc).map_err(|err| {
                    format!("recording the profile page failed: {err}; nothing was committed")
                })?;
            }
            let Some(c) = &export else { return Ok(()) };
            let v = ingest::NewVersion {
                snapshot_id: id,
                account: &account,
                taken_ms: taken_at.timestamp_millis(),
                export_root: &sources[0].root,
                export_hash: Some(c.hash),
            };
            let r = ingest::ingest_in(tx, &v, &c.export).map_err(|err| {
                format!("cataloguing the export failed: {err}; nothing was committed")
            })?;
            report = Some(r);
            Ok(())
        },
    )?;
    let m = committed.manifest;
    let (mut sections_understood, mut sections_raw) = (Vec::new(), Vec::new());
    if let Some(same) = export.as_ref().and_then(|c| c.same_as.as_deref()) {
        notes.push(format!(
            "the export is byte for byte the one catalogued at snapshot {}: its catalogue is \
             re-used, not read again",
            crate::store::snapshots::short(same)
        ));
    }
    if let Some(report) = report {
        notes.extend(export_notes(&report));
        sections_understood = report.understood;
        sections_raw = report.kept_raw;
    }
    drop(lock);
    Ok(SnapshotOutcome {
        id: committed.id,
        account,
        taken_at: m.taken_at,
        files: m.stats.files,
        bytes: m.stats.bytes,
        new_bytes: m.stats.new_bytes,
        stored_bytes: m.stats.stored_bytes,
        failed,
        notes,
        sections_understood,
        sections_raw,
        export_damage,
    })
}

/// What the downloads of a snapshot gave it.
#[derive(Default)]
struct Downloaded {
    sources: Vec<Source>,
    failed: Vec<DownloadFailure>,
    notes: Vec<String>,
    /// The profile document to record in the catalogue, when the page was read.
    profile_doc: Option<serde_json::Value>,
}

/// Downloads the post links, then watches the profile page (`--profile`), into the
/// snapshot being built; what failed is recorded, not returned as an error.
fn download_all(
    vault: &Vault,
    builder: &SnapshotBuilder,
    targets: Vec<Target>,
    args: &SnapshotArgs,
    checkpoint: std::time::Duration,
    progress: &dyn Progress,
) -> Result<Downloaded> {
    let mut out = Downloaded::default();
    let mut in_snapshot = std::collections::HashSet::new();
    if !targets.is_empty() {
        out.sources.push(Source {
            kind: "download".into(),
            path: format!("{} links", targets.len()),
            root: "videos".into(),
        });
        progress.begin("download", None);
        let status = |line| progress.message(line);
        let summary = download::run(vault, builder, targets, &args.fetch, checkpoint, &status)?;
        progress.end();
        out.notes.push(summary.line());
        out.failed = summary.failed;
        in_snapshot = summary.in_snapshot;
    }
    if let Some(name) = args.profile.as_deref().map(profile_name).transpose()? {
        out.sources.push(Source {
            kind: "profile".into(),
            path: watch_profile_page(name),
            root: format!("profile/{name}"),
        });
        progress.begin("profile", None);
        let watch = watch::profile(
            vault,
            builder,
            name,
            &args.fetch,
            checkpoint,
            &in_snapshot,
            progress,
        )?;
        progress.end();
        out.notes.extend(watch.notes);
        out.failed.extend(watch.failed);
        out.profile_doc = watch.document;
    }
    Ok(out)
}

/// The real names of the planned paths that are not UTF-8. Refuses two files that
/// would be stored under one path (a name shown with `\xNN` escapes beside a file
/// really named so): one of them could not be restored.
fn raw_paths(planned: &[Planned]) -> Result<RawPaths> {
    let mut seen: std::collections::HashMap<&str, &Path> = std::collections::HashMap::new();
    for p in planned {
        if let Some(other) = seen.insert(&p.path, &p.fs_path) {
            return Err(CommandError::Input(format!(
                "{} and {} would both be stored as {}, and one of them could not be restored \
                 (a name that is not UTF-8 is shown with \\xNN escapes); rename one of them",
                other.display(),
                p.fs_path.display(),
                p.path
            )));
        }
    }
    Ok(planned
        .iter()
        .filter_map(|p| Some((p.path.clone(), p.raw_path.clone()?)))
        .collect())
}

/// An export parsed in full (or found already catalogued) and what the parse found.
struct CheckedExport {
    export: Export,
    report: ParseReport,
    /// Its [`Export::fingerprint`].
    hash: [u8; 32],
    /// The snapshot whose catalogued export it is identical to, when it is.
    same_as: Option<String>,
}

/// The posts to download (links given, then the chosen lists of the export) and the
/// export itself, parsed and checked.
fn targets_and_export(
    vault: &Vault,
    args: &SnapshotArgs,
) -> Result<(Vec<Target>, Option<CheckedExport>)> {
    let mut targets = download::targets_from_urls(&args.urls);
    // The export is parsed in full before anything is written: one with nothing
    // readable fails here, with the vault untouched; a damaged one is stored as it
    // came, catalogued as far as it reads, and its damage reported.
    if args.export.is_none() && args.download.as_ref().is_some_and(|w| !w.is_empty()) {
        return Err(CommandError::Usage(
            "--download picks lists of an export: give --export too (or use --url LINK)".into(),
        ));
    }
    let lists = args
        .download
        .clone()
        .unwrap_or_else(|| vec![ExportList::Posts]);
    let export = match args
        .export
        .as_deref()
        .map(|p| check_export(vault, args.account.as_deref(), p, &lists))
        .transpose()?
    {
        Some((checked, found)) => {
            targets.extend(found);
            Some(checked)
        }
        None => None,
    };
    if !targets.is_empty() || args.profile.is_some() {
        crate::tiktok::fetch::client::parse_base(args.fetch.base.as_deref())
            .map_err(|e| CommandError::Input(e.to_string()))?;
        if let Some(cookies) = &args.fetch.cookies_file {
            // Found now, not after every local file is already read and packed.
            std::fs::File::open(cookies).map_err(|e| {
                CommandError::Input(format!(
                    "--cookies {}: {e}; check the path",
                    cookies.display()
                ))
            })?;
        }
    }
    Ok((targets, export))
}

/// Plans a folder of saved videos under `media/<name>`, every file in it.
fn plan_media(
    dir: &Path,
    sources: &[Source],
    planned: &mut Vec<Planned>,
    skipped: &mut Vec<String>,
) -> Result<Source> {
    let root = unique_root(sources, "media", dir);
    let abs = fs::canonicalize(dir).map_err(|e| {
        CommandError::Input(format!(
            "media folder {}: {e}; check the path",
            dir.display()
        ))
    })?;
    if !abs.is_dir() {
        return Err(CommandError::Input(format!(
            "media source {} is not a folder; pass the folder that holds the videos",
            dir.display()
        )));
    }
    walk(&abs, &abs, &root, "media", planned, skipped)?;
    Ok(Source {
        kind: "media".into(),
        path: abs.display().to_string(),
        root,
    })
}

/// Opens and reads an export through (see [`Export::skim`]): the check that it can
/// be catalogued, made before the vault is touched. The same pass collects the links
/// of the lists to download.
///
/// An export identical to the account's newest catalogued one (by its BLAKE3) is not
/// parsed: its report and the links to download come from the catalogue.
fn check_export(
    vault: &Vault,
    account: Option<&str>,
    path: &Path,
    lists: &[ExportList],
) -> Result<(CheckedExport, Vec<Target>)> {
    let input = |e: crate::tiktok::export::ExportError| CommandError::Input(e.to_string());
    let export = Export::open(path).map_err(input)?;
    let hash = export.fingerprint().map_err(input)?;
    let mut targets = Vec::new();
    let conn = vault.connect()?;
    if let Some((version, report)) = ingest::catalogued(&conn, account, &hash)? {
        for list in lists {
            let section = list.section();
            query::each_item(&conn, &version, section.name(), &mut |item| {
                let rec = item.into_record(section.clone());
                targets.extend(download::export_target(&rec, lists));
                Ok(())
            })?;
        }
        let same_as = Some(version.snapshot_id);
        return Ok((
            CheckedExport {
                export,
                report,
                hash,
                same_as,
            },
            targets,
        ));
    }
    drop(conn);
    // The catalogue parses the export in full inside the commit: this look builds only
    // the rows of the lists to download, unless the export needs a full parse to say
    // what is wrong with it.
    let wanted = |s: &Section| lists.iter().any(|l| l.section() == *s);
    let skimmed = export
        .skim(&wanted, &mut collect(&mut targets, lists))
        .map_err(input)?;
    let report = match skimmed {
        Some(report) => report,
        None => {
            targets.clear();
            export
                .parse_placed(&mut collect(&mut targets, lists))
                .map_err(input)?
        }
    };
    Ok((
        CheckedExport {
            export,
            report,
            hash,
            same_as: None,
        },
        targets,
    ))
}

/// A sink adding the download targets of `lists` among an export's records.
fn collect<'t>(
    targets: &'t mut Vec<Target>,
    lists: &'t [ExportList],
) -> impl FnMut(crate::tiktok::export::Record) -> std::result::Result<(), String> + 't {
    move |r| {
        targets.extend(download::export_target(&r, lists));
        Ok(())
    }
}

/// The username `--profile` names, without a leading `@`; anything but a username is
/// a usage error before the vault is touched.
fn profile_name(given: &str) -> Result<&str> {
    let name = given.trim().trim_start_matches('@');
    if valid_username(name) {
        Ok(name)
    } else {
        Err(CommandError::Usage(format!(
            "--profile {given:?} is not a TikTok username: give the name from the profile's \
             address (https://www.tiktok.com/@NAME), letters, digits, _ and . only"
        )))
    }
}

/// Refuses an export of another TikTok user under an account that had exports of
/// one user so far: mixing two people's data in one account's history is a mistake
/// more often than not.
fn check_same_user(
    vault: &Vault,
    account: &str,
    export: &Export,
    report: &ParseReport,
    force: bool,
) -> Result<()> {
    let conn = vault.connect()?;
    let previous = ingest::previous_username(&conn, account)?;
    if let (Some(prev), Some(now)) = (previous, &report.account) {
        if &prev != now && !force {
            return Err(CommandError::Input(format!(
                "{} is an export of @{now}, but account {account}'s earlier exports are of @{prev}; \
                 pass --account NAME to keep it under another account, or --force to add it to {account} anyway",
                export.path().display()
            )));
        }
    }
    Ok(())
}

/// Plans the export's files under `export/<name>`: a ZIP or JSON file as one file,
/// a folder with all its files, byte for byte as they came.
fn plan_export(
    export: &Export,
    planned: &mut Vec<Planned>,
    skipped: &mut Vec<String>,
) -> Result<Source> {
    let path = export.path();
    let abs = fs::canonicalize(path).map_err(|e| {
        CommandError::Input(format!("export {}: {e}; check the path", path.display()))
    })?;
    let root = unique_root(&[], "export", &abs);
    if abs.is_dir() {
        walk(&abs, &abs, &root, "export", planned, skipped)?;
    } else {
        let size = fs::metadata(&abs)
            .map_err(|e| CommandError::Input(format!("export {}: {e}", path.display())))?
            .len();
        planned.push(Planned {
            fs_path: abs.clone(),
            path: root.clone(),
            raw_path: None,
            kind: "export",
            item_id: None,
            size,
        });
    }
    Ok(Source {
        kind: "export".into(),
        path: abs.display().to_string(),
        root,
    })
}

fn export_notes(report: &ParseReport) -> Vec<String> {
    let mut notes = vec![format!(
        "export ({}{}): {} records; understood {} sections: {}",
        layout_name(report.layout),
        report
            .account
            .as_deref()
            .map(|a| format!(", @{a}"))
            .unwrap_or_default(),
        report.records,
        report.understood.len(),
        report.understood.join("; ")
    )];
    if !report.kept_raw.is_empty() {
        notes.push(format!(
            "kept {} sections verbatim (not understood, nothing dropped): {}",
            report.kept_raw.len(),
            report.kept_raw.join("; ")
        ));
    }
    for d in &report.damage {
        notes.push(format!("damaged export: {d}"));
    }
    for c in &report.capped {
        notes.push(format!("export: {c}"));
    }
    notes
}

/// Adds files on every core: each worker chunks and hashes its own file while the
/// packing thread writes.
fn add_files(builder: &SnapshotBuilder, planned: &[Planned]) -> Result<()> {
    let order: Vec<usize> = (0..planned.len()).collect();
    workers::run(
        &order,
        || Ok(()),
        |_, &i| {
            // Workers take files in order: the next one's first bytes arrive from
            // the disk while this one is hashed.
            if let Some(next) = planned.get(i + 1) {
                builder.prefetch_file(&next.path, &next.fs_path);
            }
            let p = &planned[i];
            builder
                .add_file(&p.path, &p.fs_path, p.kind, p.item_id.clone())
                .map(drop)
                .map_err(add_error)
        },
    )
}

pub(super) fn add_error(e: AddError) -> CommandError {
    match e {
        AddError::Source { path, source } => CommandError::Input(format!(
            "cannot read {path}: {source}; fix its permissions or move it out of the source folder"
        )),
        AddError::Store(s) => CommandError::Store(s),
    }
}

/// `media/<folder name>`, made unique when two sources share a folder name.
fn unique_root(sources: &[Source], prefix: &str, dir: &Path) -> String {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "files".into());
    let mut root = format!("{prefix}/{name}");
    let mut n = 2;
    while sources.iter().any(|s| s.root == root) {
        root = format!("{prefix}/{name}-{n}");
        n += 1;
    }
    root
}

fn walk(
    base: &Path,
    dir: &Path,
    root: &str,
    kind: &'static str,
    out: &mut Vec<Planned>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let read = |e: std::io::Error| {
        CommandError::Input(format!(
            "cannot read folder {}: {e}; fix its permissions or leave it out",
            dir.display()
        ))
    };
    let mut items: Vec<_> = fs::read_dir(dir)
        .map_err(read)?
        .collect::<std::io::Result<_>>()
        .map_err(read)?;
    items.sort_by_key(|e| e.file_name());
    for item in items {
        let path = item.path();
        let meta = fs::symlink_metadata(&path).map_err(read)?;
        if meta.is_dir() {
            walk(base, &path, root, kind, out, skipped)?;
        } else if meta.is_file() {
            let rel = path.strip_prefix(base).expect("walked under base");
            let (snapshot_path, raw_path) = names::snapshot_path(root, rel);
            let item_id = if kind != "media" || saved::is_sidecar(&path) {
                None
            } else {
                saved::post_id(&path)
            };
            out.push(Planned {
                path: snapshot_path,
                raw_path,
                fs_path: path,
                kind,
                item_id,
                size: meta.len(),
            });
        } else {
            // Symlinks and special files are not followed: a backup of a folder must
            // not wander outside it. They are named in the snapshot's notes.
            skipped.push(path.display().to_string());
        }
    }
    Ok(())
}

impl From<crate::store::lock::LockError> for CommandError {
    fn from(e: crate::store::lock::LockError) -> Self {
        CommandError::Store(StoreError::Lock(e))
    }
}

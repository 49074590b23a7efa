//! The `tt-vault` binary: parse, dispatch, print, exit code. The work is in the library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{emit, human_bytes, print_diff, print_view, Bar, Cli, Command};
use tt_vault::commands::{self, select::Selector};
use tt_vault::store::snapshots::short;

/// Exit codes: 0 ok, 1 problems found (verify, failed items), 2 usage or operational error.
const PROBLEMS: u8 = 1;
const ERROR: u8 = 2;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`tt-vault show likes | head`), as Unix tools do.
    // SAFETY: restoring the default disposition of a signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tt-vault: error: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}

fn default_vault() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("tt-vault")
}

fn run(cli: &Cli) -> Result<u8> {
    let vault_path = cli.vault.clone().unwrap_or_else(default_vault);
    let bar = Bar::new(!cli.quiet && !cli.json);
    let say = |text: String| {
        if !cli.quiet {
            println!("{text}");
        }
    };
    let open = || commands::open(&vault_path).map_err(anyhow::Error::from);
    match &cli.command {
        Command::Init => {
            let v = commands::init::init(&vault_path)?;
            emit(cli.json, &serde_json::json!({"vault": v.root()}), |_| {
                say(format!("created vault at {}", v.root().display()))
            });
            Ok(0)
        }
        Command::Snapshot {
            export,
            force,
            media,
            account,
            time,
            rehash,
            wait,
            download,
        } => {
            let vault = open()?;
            let time = time
                .as_deref()
                .map(tt_vault::dates::parse_instant)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--time: {e}"))?;
            let args = commands::snapshot::SnapshotArgs {
                account: account.clone(),
                media: media.clone(),
                export: export.clone(),
                force: *force,
                time,
                rehash: *rehash,
                wait: *wait,
                urls: download.urls.clone(),
                download: download
                    .download
                    .as_deref()
                    .map(commands::download::Which::parse_list)
                    .transpose()?,
                fetch: download.fetch_config(),
            };
            let out = commands::snapshot::snapshot(&vault, &args, &bar)
                .with_context(|| format!("snapshot into {}", vault_path.display()))?;
            emit(cli.json, &out, |o| {
                say(format!(
                    "snapshot {} of {} taken {}: {} files, {} ({} new, {} stored)",
                    short(&o.id),
                    o.account,
                    o.taken_at,
                    o.files,
                    human_bytes(o.bytes),
                    human_bytes(o.new_bytes),
                    human_bytes(o.stored_bytes)
                ));
                for n in &o.notes {
                    say(n.clone());
                }
                if cli.verbose {
                    for f in &o.failed {
                        say(format!(
                            "  failed {}: {} ({}; HTTP {}, {} attempts) {}",
                            f["id"].as_str().unwrap_or("?"),
                            f["reason_text"].as_str().unwrap_or("failed"),
                            f["detail"].as_str().unwrap_or(""),
                            f["http_status"]
                                .as_u64()
                                .map_or("-".into(), |s| s.to_string()),
                            f["attempts"],
                            f["link"].as_str().unwrap_or("")
                        ));
                    }
                } else if !o.failed.is_empty() {
                    say(format!(
                        "{} posts could not be fetched (recorded in the snapshot; -v lists them, `tt-vault show posts` too)",
                        o.failed.len()
                    ));
                }
            });
            Ok(if out.failed.is_empty() { 0 } else { PROBLEMS })
        }
        Command::Snapshots { account } => {
            let list = commands::list::snapshots(&open()?, account.as_deref())?;
            emit(cli.json, &list, |l| {
                say(format!(
                    "{:<8}  {:<24}  {:<16} {:>7} {:>11} {:>11}",
                    "id", "taken_at", "account", "files", "size", "stored"
                ));
                for s in l {
                    say(format!(
                        "{:<8}  {:<24}  {:<16} {:>7} {:>11} {:>11}",
                        s.short_id(),
                        s.taken_at,
                        s.account,
                        s.files,
                        human_bytes(s.bytes),
                        human_bytes(s.stored_bytes)
                    ));
                }
            });
            Ok(0)
        }
        Command::Ls { which, pick } => {
            let sel = match which {
                Some(w) => Selector::parse_positional(w, pick.account.clone()),
                None => pick.selector(),
            };
            let listing = commands::list::ls(&open()?, &sel)?;
            emit(cli.json, &listing, |l| {
                for e in &l.entries {
                    say(format!("{:>12}  {}", e.size, e.path));
                }
            });
            Ok(0)
        }
        Command::Show { section, pick } => {
            let shown = commands::show::show(&open()?, &pick.selector(), section)?;
            if cli.json {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                shown.write_json(&mut out)?;
                std::io::Write::flush(&mut out)?;
            } else if section == "profile" {
                print_view(&shown.profile()?);
            } else {
                let mut table = cli::Table::new(section);
                shown.each_row(&mut |row| table.push(row))?;
                table.finish();
            }
            Ok(0)
        }
        Command::Diff { a, b, account } => {
            let d = commands::diff::diff(
                &open()?,
                &Selector::parse_positional(a, account.clone()),
                &Selector::parse_positional(b, account.clone()),
            )?;
            emit(cli.json, &d, print_diff);
            Ok(0)
        }
        Command::Restore {
            pick,
            to,
            include,
            force,
            verify,
        } => {
            let vault = open()?;
            let args = commands::restore::RestoreArgs {
                select: pick.selector(),
                to: to.clone(),
                include: include.clone(),
                force: *force,
                verify: *verify,
            };
            let out = commands::restore::restore(&vault, &args, &bar)?;
            emit(cli.json, &out, |o| {
                say(format!(
                    "restored snapshot {} ({} taken {}) into {}: {} files, {} already there, {}",
                    short(&o.snapshot),
                    o.account,
                    o.taken_at,
                    o.target,
                    o.restored,
                    o.skipped,
                    human_bytes(o.bytes)
                ));
                if !o.views.is_empty() {
                    say(format!("wrote readable views: {}", o.views.join(", ")));
                }
            });
            for f in &out.failed {
                eprintln!("tt-vault: could not restore {}: {}", f.path, f.error);
            }
            Ok(if out.failed.is_empty() { 0 } else { PROBLEMS })
        }
        Command::Verify { read_data, sample } => {
            let report = commands::verify::verify(&open()?, *read_data, *sample, &bar)?;
            emit(cli.json, &report, |r| {
                for p in &r.problems {
                    println!(
                        "PROBLEM {}{}: {}",
                        p.kind,
                        p.pack
                            .as_deref()
                            .map(|n| format!(" in pack {n}"))
                            .unwrap_or_default(),
                        p.detail
                    );
                    if !p.snapshots.is_empty() {
                        let short: Vec<&str> = p.snapshots.iter().map(|s| short(s)).collect();
                        println!("  snapshots: {}", short.join(", "));
                    }
                    for path in &p.paths {
                        println!("  damaged: {path}");
                    }
                }
                let read = if r.mode == "structure" {
                    "index, pack trailers and references checked".to_string()
                } else {
                    format!(
                        "{} packs read, {} re-hashed",
                        r.packs_checked,
                        human_bytes(r.bytes_checked)
                    )
                };
                say(format!(
                    "verify ({}): {read}, {}",
                    r.mode,
                    if r.ok {
                        "no problems".to_string()
                    } else {
                        format!("{} problems", r.problems.len())
                    }
                ));
            });
            Ok(if report.ok { 0 } else { PROBLEMS })
        }
        Command::Audits => {
            let list = commands::verify::audits(&open()?)?;
            emit(cli.json, &list, |l| {
                for a in l {
                    let n = a.problems.as_array().map_or(0, |p| p.len());
                    say(format!(
                        "#{:<4} {}  {:<12} {:>5} packs {:>11}  {}",
                        a.id,
                        a.started_at,
                        a.mode,
                        a.packs_checked,
                        human_bytes(a.bytes_checked as u64),
                        match a.ok {
                            Some(true) => "ok".to_string(),
                            Some(false) => format!("{n} problems"),
                            None => "did not finish".to_string(),
                        }
                    ));
                }
            });
            Ok(0)
        }
        Command::Stats => {
            let s = commands::stats::stats(&open()?)?;
            emit(cli.json, &s, |s| {
                say(format!(
                    "{} snapshots, {} logical, {} stored in {} packs, dedup ratio {:.2}",
                    s.snapshots,
                    human_bytes(s.logical_bytes),
                    human_bytes(s.stored_bytes),
                    s.packs,
                    s.dedup_ratio
                ));
                for a in &s.accounts {
                    say(format!(
                        "  {}: {} snapshots, {} logical; when taken they added {} new, {} stored",
                        a.account,
                        a.snapshots,
                        human_bytes(a.logical_bytes),
                        human_bytes(a.new_bytes),
                        human_bytes(a.stored_bytes)
                    ));
                }
                if cli.verbose {
                    for p in &s.per_snapshot {
                        say(format!(
                            "    {} {} {}: {} logical, added {} new, {} stored",
                            short(&p.id),
                            p.account,
                            p.taken_at,
                            human_bytes(p.bytes),
                            human_bytes(p.new_bytes),
                            human_bytes(p.stored_bytes)
                        ));
                    }
                }
            });
            Ok(0)
        }
        Command::RebuildIndex { wait } => {
            let r = commands::rebuild::rebuild_index(&open()?, *wait)?;
            emit(cli.json, &r, |r| {
                say(format!(
                    "rebuilt the index from {} packs: {} blobs, {} files, {} snapshots",
                    r.store.packs, r.store.blobs, r.store.files, r.store.snapshots
                ));
                if r.exports > 0 {
                    say(format!("catalogued {} exports again", r.exports));
                }
                for p in &r.export_problems {
                    say(format!("  export not catalogued: {p}"));
                }
                for s in &r.store.salvaged {
                    say(format!("  pack {s}: trailer damaged, read blob by blob"));
                }
                for u in &r.store.unreadable {
                    say(format!("  unreadable: {u}"));
                }
            });
            Ok(
                if r.store.unreadable.is_empty() && r.export_problems.is_empty() {
                    0
                } else {
                    PROBLEMS
                },
            )
        }
        Command::Forget {
            ids,
            keep,
            account,
            dry_run,
            prune,
            limits,
            allow_video_loss,
            wait,
        } => {
            let args = commands::forget::ForgetArgs {
                ids: ids.clone(),
                policy: keep.policy(),
                account: account.clone(),
                dry_run: *dry_run,
                prune: prune.then(|| limits.options(false)),
                allow_video_loss: *allow_video_loss,
                wait: *wait,
            };
            let r = commands::forget::forget(&open()?, &args, &bar)?;
            emit(cli.json, &r, |r| {
                if let Some(p) = &r.policy {
                    say(format!("policy: {p}"));
                }
                for v in &r.snapshots {
                    say(format!(
                        "{:<6}  {}  {:<24}  {:<16}  {}",
                        if v.keep { "keep" } else { "remove" },
                        v.short_id(),
                        v.taken_at,
                        v.account,
                        v.reasons.join(", ")
                    ));
                }
                if !r.protected_videos.is_empty() {
                    say(format!(
                        "kept {} videos that no other snapshot holds (--allow-video-loss to drop them): {}",
                        r.protected_videos.len(),
                        r.protected_videos.join(", ")
                    ));
                }
                if !r.lost_videos.is_empty() {
                    say(format!(
                        "{} videos are no longer in any snapshot: {}",
                        r.lost_videos.len(),
                        r.lost_videos.join(", ")
                    ));
                }
                say(format!(
                    "{} {} snapshots, {} {}",
                    if r.dry_run { "would forget" } else { "forgot" },
                    r.removed,
                    if r.dry_run { "would keep" } else { "kept" },
                    r.kept
                ));
                if r.dry_run && *prune {
                    say("(dry run: nothing forgotten, so nothing to prune)".into());
                }
                if let Some(p) = &r.prune {
                    say(prune_summary(p));
                }
            });
            Ok(0)
        }
        Command::Serve {
            port,
            listen,
            account,
            date,
        } => {
            let args = commands::serve::ServeArgs {
                listen: listen.unwrap_or_else(|| ([127, 0, 0, 1], port.unwrap_or(0)).into()),
                select: Selector {
                    date: date.clone(),
                    account: account.clone(),
                    ..Selector::default()
                },
            };
            commands::serve::serve(&open()?, &args, &|url| {
                println!("tt-vault: serving the archive read-only at {url}");
                println!("(open it in a browser; Ctrl-C stops)");
            })?;
            Ok(0)
        }
        Command::Prune {
            dry_run,
            limits,
            wait,
        } => {
            let args = commands::prune::PruneArgs {
                options: limits.options(*dry_run),
                wait: *wait,
            };
            let r = commands::prune::prune(&open()?, &args, &bar)?;
            emit(cli.json, &r, |r| say(prune_summary(r)));
            Ok(0)
        }
    }
}

fn prune_summary(r: &tt_vault::store::pruner::PruneReport) -> String {
    let mut text = format!(
        "{}: {} packs deleted, {} repacked into {} ({} copied), {} freed; the vault is now {} in {} packs",
        if r.dry_run { "prune (dry run)" } else { "prune" },
        r.packs_deleted,
        r.packs_repacked,
        if r.dry_run { "new ones".to_string() } else { r.packs_written.to_string() },
        human_bytes(r.bytes_repacked),
        human_bytes(r.bytes_freed),
        human_bytes(r.bytes_after),
        r.packs_after
    );
    if r.unused_bytes_left > 0 {
        text.push_str(&format!(
            "\n  {} unused left in partly used packs (--max-unused / --max-repack)",
            human_bytes(r.unused_bytes_left)
        ));
    }
    text
}

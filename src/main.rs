//! The `tt-vault` binary: parse, dispatch, exit code. The work is in the library;
//! what is printed is in `output`.

mod cli;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{Bar, Cli, Command};
use output::Output;
use tt_vault::commands::{self, forget, prune, restore, snapshot};
use tt_vault::download::ExportList;
use tt_vault::selection::Selector;
use tt_vault::store::Vault;

/// Exit codes: 0 ok, 1 problems found (verify, failed items), 2 usage or operational error.
const OK: u8 = 0;
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

/// OK, or PROBLEMS when `problems` is true.
fn exit_code(problems: bool) -> u8 {
    if problems {
        PROBLEMS
    } else {
        OK
    }
}

/// What every command needs from the command line besides its own arguments.
struct Run<'a> {
    cli: &'a Cli,
    vault_path: PathBuf,
    out: Output,
    bar: Bar,
}

impl Run<'_> {
    fn open(&self) -> Result<Vault> {
        Ok(commands::open(&self.vault_path)?)
    }
}

fn run(cli: &Cli) -> Result<u8> {
    let run = Run {
        cli,
        vault_path: cli.vault.clone().unwrap_or_else(default_vault),
        out: Output {
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose,
        },
        bar: Bar::new(!cli.quiet && !cli.json),
    };
    let out = &run.out;
    match &cli.command {
        Command::Init => {
            let vault = commands::init::init(&run.vault_path)?;
            out.init(vault.root());
        }
        Command::Snapshot { .. } => return take_snapshot(&run),
        Command::Snapshots { account } => out.snapshots(&commands::list::snapshots(
            &run.open()?,
            account.as_deref(),
        )?),
        Command::Ls { which, pick } => {
            let sel = match which {
                Some(w) => Selector::parse_positional(w, pick.account.clone()),
                None => pick.selector(),
            };
            out.ls(&commands::list::ls(&run.open()?, &sel)?);
        }
        Command::Show { section, pick } => out.show(&commands::show::show(
            &run.open()?,
            &pick.selector(),
            section,
        )?)?,
        Command::Diff { a, b, account } => out.diff(&commands::diff::diff(
            &run.open()?,
            &Selector::parse_positional(a, account.clone()),
            &Selector::parse_positional(b, account.clone()),
        )?),
        Command::Restore {
            pick,
            to,
            include,
            force,
            verify,
        } => {
            let args = restore::RestoreArgs {
                select: pick.selector(),
                to: to.clone(),
                include: include.clone(),
                force: *force,
                verify: *verify,
            };
            let outcome = restore::restore(&run.open()?, &args, &run.bar)?;
            out.restore(&outcome);
            return Ok(exit_code(!outcome.failed.is_empty()));
        }
        Command::Verify { read_data, sample } => {
            let report = commands::verify::verify(&run.open()?, *read_data, *sample, &run.bar)?;
            out.verify(&report);
            return Ok(exit_code(!report.ok));
        }
        Command::Audits => out.audits(&commands::verify::audits(&run.open()?)?),
        Command::Stats => out.stats(&commands::stats::stats(&run.open()?)?),
        Command::RebuildIndex { wait } => {
            let r = commands::rebuild::rebuild_index(&run.open()?, *wait)?;
            out.rebuild_index(&r);
            return Ok(exit_code(
                !r.store.unreadable.is_empty() || !r.export_problems.is_empty(),
            ));
        }
        Command::Forget { .. } => forget_snapshots(&run)?,
        Command::Prune {
            dry_run,
            limits,
            wait,
        } => {
            let args = prune::PruneArgs {
                options: limits.options(*dry_run),
                wait: *wait,
            };
            out.prune(&prune::prune(&run.open()?, &args, &run.bar)?);
        }
    }
    Ok(OK)
}

fn take_snapshot(run: &Run) -> Result<u8> {
    let Command::Snapshot {
        export,
        force,
        media,
        account,
        time,
        rehash,
        wait,
        download,
    } = &run.cli.command
    else {
        unreachable!("called for `snapshot` only")
    };
    let vault = run.open()?;
    let time = time
        .as_deref()
        .map(tt_vault::dates::parse_instant)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--time: {e}"))?;
    let args = snapshot::SnapshotArgs {
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
            .map(ExportList::parse_list)
            .transpose()?,
        fetch: download.fetch_config(),
    };
    let outcome = snapshot::snapshot(&vault, &args, &run.bar)
        .with_context(|| format!("snapshot into {}", run.vault_path.display()))?;
    run.out.snapshot(&outcome);
    Ok(exit_code(!outcome.failed.is_empty()))
}

fn forget_snapshots(run: &Run) -> Result<()> {
    let Command::Forget {
        ids,
        keep,
        account,
        dry_run,
        prune,
        limits,
        allow_video_loss,
        wait,
    } = &run.cli.command
    else {
        unreachable!("called for `forget` only")
    };
    let args = forget::ForgetArgs {
        ids: ids.clone(),
        policy: keep.policy(),
        account: account.clone(),
        dry_run: *dry_run,
        prune: prune.then(|| limits.options(false)),
        allow_video_loss: *allow_video_loss,
        wait: *wait,
    };
    let report = forget::forget(&run.open()?, &args, &run.bar)?;
    run.out.forget(&report, *prune);
    Ok(())
}

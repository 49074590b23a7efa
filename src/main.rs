//! The `tt-vault` binary: parse, dispatch, exit code. The work is in the library;
//! what is printed is in `output`.

mod cli;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{Bar, Cli, Command, KeyAction};
use output::Output;
use tt_vault::commands::{self, forget, key, passphrase, prune, restore, snapshot};
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

fn run(cli: &Cli) -> Result<u8> {
    let vault_path = cli.vault.clone().unwrap_or_else(default_vault);
    let pass = passphrase::Source {
        file: cli.password_file.clone(),
        command: cli.password_command.clone(),
    };
    let open = || -> Result<Vault> { Ok(commands::open(&vault_path, &pass)?) };
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let bar = Bar::new(!cli.quiet && !cli.json);
    match &cli.command {
        Command::Init { encrypt } => {
            let vault = if *encrypt {
                key::init_encrypted(&vault_path, &pass)?
            } else {
                commands::init::init(&vault_path)?
            };
            out.init(vault.root());
        }
        Command::Key { action } => run_key(&open()?, action, &out)?,
        Command::Snapshot(flags) => {
            let outcome = snapshot::snapshot(&open()?, &flags.args()?, &bar)
                .with_context(|| format!("snapshot into {}", vault_path.display()))?;
            out.snapshot(&outcome);
            return Ok(exit_code(!outcome.failed.is_empty()));
        }
        Command::Snapshots { account } => {
            out.snapshots(&commands::list::snapshots(&open()?, account.as_deref())?)
        }
        Command::Ls { which, pick } => {
            let sel = match which {
                Some(w) => Selector::parse_positional(w, pick.account.clone()),
                None => pick.selector(),
            };
            out.ls(&commands::list::ls(&open()?, &sel)?);
        }
        Command::Show { section, pick } => {
            out.show(&commands::show::show(&open()?, &pick.selector(), section)?)?
        }
        Command::Diff { a, b, account } => out.diff(&commands::diff::diff(
            &open()?,
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
            let outcome = restore::restore(&open()?, &args, &bar)?;
            out.restore(&outcome);
            return Ok(exit_code(!outcome.failed.is_empty()));
        }
        Command::Verify { read_data, sample } => {
            let report = commands::verify::verify(&open()?, *read_data, *sample, &bar)?;
            out.verify(&report);
            return Ok(exit_code(!report.ok));
        }
        Command::Audits => out.audits(&commands::verify::audits(&open()?)?),
        Command::Stats => out.stats(&commands::stats::stats(&open()?)?),
        Command::RebuildIndex { wait } => {
            let r = commands::rebuild::rebuild_index(&open()?, *wait)?;
            out.rebuild_index(&r);
            return Ok(exit_code(
                !r.store.unreadable.is_empty() || !r.export_problems.is_empty(),
            ));
        }
        Command::Forget(flags) => {
            let report = forget::forget(&open()?, &flags.args(), &bar)?;
            out.forget(&report, flags.prune);
        }
        Command::Prune {
            dry_run,
            limits,
            wait,
        } => {
            let args = prune::PruneArgs {
                options: limits.options(*dry_run),
                wait: *wait,
            };
            out.prune(&prune::prune(&open()?, &args, &bar)?);
        }
    }
    Ok(OK)
}

fn run_key(vault: &Vault, action: &KeyAction, out: &Output) -> Result<()> {
    let new = |file: &Option<PathBuf>| passphrase::Source {
        file: file.clone(),
        command: None,
    };
    match action {
        KeyAction::List => out.keys(&key::list(vault)?),
        KeyAction::Add { new_password_file } => {
            out.key_changed("added", &key::add(vault, &new(new_password_file))?)
        }
        KeyAction::Remove { id } => {
            key::remove(vault, id)?;
            out.key_changed("removed", id);
        }
        KeyAction::Passwd { new_password_file } => {
            out.key_changed("added", &key::passwd(vault, &new(new_password_file))?)
        }
    }
    Ok(())
}

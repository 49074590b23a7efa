//! The `tt-vault` binary: parse, dispatch, exit code. The work is in the library;
//! what is printed is in `output`.

mod cli;
mod manual;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{Bar, Cli, Command, KeyAction};
use output::Output;
use tt_vault::commands::snapshot::SnapshotArgs;
use tt_vault::commands::{self, accounts, forget, key, passphrase, prune, restore, run, snapshot};
use tt_vault::config::Config;
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

/// This program with the global options that must stay the same when a timer
/// starts it: the vault and the config file as given now (made absolute).
fn scheduled_command(cli: &Cli) -> Result<String> {
    use tt_vault::schedule::quote;
    let exe = std::env::current_exe().context("finding this program's path for the timer")?;
    let mut parts = vec![quote(&exe.to_string_lossy())];
    let cwd = std::env::current_dir().context("the current folder")?;
    // A passphrase file given now (by flag or $TT_VAULT_PASSWORD_FILE) is named in the
    // timer's command too: the timer has no environment of ours. A passphrase command
    // belongs in the config file (`password_command`), which the timer reads.
    let paths = [
        ("--vault", &cli.vault),
        ("--config", &cli.config),
        ("--password-file", &cli.password_file),
    ];
    for (flag, path) in paths {
        if let Some(p) = path {
            parts.push(flag.to_string());
            parts.push(quote(&cwd.join(p).to_string_lossy()));
        }
    }
    Ok(parts.join(" "))
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
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    if without_vault(cli, &out)? {
        return Ok(OK);
    }
    let config = Config::load(cli.config.as_deref())?;
    let vault_path = cli
        .vault
        .clone()
        .or_else(|| config.vault.clone())
        .unwrap_or_else(default_vault);
    // The config's command is what unlocks unattended runs (`run`, the timer).
    let pass = passphrase::Source {
        file: cli.password_file.clone(),
        command: cli
            .password_command
            .clone()
            .or_else(|| config.password_command.clone()),
    };
    let open = || -> Result<Vault> { Ok(commands::open(&vault_path, &pass)?) };
    let bar = Bar::new(!cli.quiet && !cli.json);
    match &cli.command {
        Command::Init(flags) => {
            let spec = flags.remote.as_ref().map(|url| commands::init::RemoteSpec {
                url: url.clone(),
                cache_size: flags.cache_size.clone(),
                existing: flags.existing,
            });
            let outcome = commands::init::init(&vault_path, flags.encrypt, &pass, spec.as_ref())?;
            out.init(&outcome);
        }
        Command::Key { action } => run_key(&open()?, action, &out)?,
        Command::Snapshot(flags) if flags.no_sources() => {
            let config = config.only_account(flags.account())?;
            let runs = accounts::snapshot_all(&open()?, &config, &flags.args(&config)?, &bar)?;
            out.accounts(&runs);
            return Ok(runs.iter().map(|r| r.severity()).max().unwrap_or(OK));
        }
        Command::Snapshot(flags) => {
            let outcome = snapshot::snapshot(&open()?, &flags.args(&config)?, &bar)
                .with_context(|| format!("snapshot into {}", vault_path.display()))?;
            out.snapshot(&outcome);
            return Ok(exit_code(outcome.problems_found()));
        }
        Command::Run {
            sample,
            notify_cmd,
            fetch,
        } => {
            let args = run::RunArgs {
                snapshot: SnapshotArgs {
                    download: config.download.lists.clone(),
                    fetch: fetch.fetch_config(&config.download),
                    ..SnapshotArgs::default()
                },
                sample: *sample,
            };
            let notify = notify_cmd.as_ref().or(config.notify_command.as_ref());
            return Ok(run_job(&open()?, &config, &args, notify, &out, &bar));
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
        Command::Verify {
            read_data,
            sample,
            decode,
        } => {
            let report = commands::verify::verify(&open()?, *read_data, *sample, *decode, &bar)?;
            out.verify(&report);
            return Ok(exit_code(!report.ok));
        }
        Command::Audits => out.audits(&commands::verify::audits(&open()?)?),
        Command::Stats => out.stats(&commands::stats::stats(&open()?)?),
        Command::RebuildIndex { wait } => {
            let r = commands::rebuild::rebuild_index(&open()?, *wait)?;
            out.rebuild_index(&r);
            return Ok(exit_code(r.problems_found()));
        }
        Command::Forget(flags) => {
            let report = forget::forget(&open()?, &flags.args(), &bar)?;
            out.forget(&report, flags.prune);
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
            commands::serve::serve(&open()?, &args, &|url| out.serving(url))?;
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
        Command::Completions { .. } | Command::Man { .. } | Command::Schedule { .. } => {
            unreachable!("answered before the vault is looked for")
        }
    }
    Ok(OK)
}

/// The commands that need no vault and no config: true when `cli` was one of them.
fn without_vault(cli: &Cli, out: &Output) -> Result<bool> {
    match &cli.command {
        Command::Completions { shell } => {
            manual::completions(*shell, &mut std::io::stdout().lock());
        }
        Command::Man { all: None } => manual::man_page(&mut std::io::stdout().lock())?,
        Command::Man { all: Some(dir) } => out.man_pages(&manual::man_pages(dir)?),
        Command::Schedule { install, remove } => {
            let done = match install {
                Some(every) => tt_vault::schedule::install(*every, &scheduled_command(cli)?)?,
                None => {
                    debug_assert!(*remove);
                    tt_vault::schedule::remove()?
                }
            };
            out.schedule(&done, install.is_some());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `tt-vault run`: the job, its report, and the notify command when it went wrong
/// (a notify command that fails is a warning: the run's own exit code stands).
fn run_job(
    vault: &Vault,
    config: &Config,
    args: &run::RunArgs,
    notify: Option<&String>,
    out: &Output,
    bar: &Bar,
) -> u8 {
    let report = run::run(vault, config, args, bar);
    out.run(&report);
    if let (Some(cmd), true) = (notify, report.exit_code != OK) {
        if let Err(e) = run::notify(cmd, &report) {
            eprintln!("tt-vault: warning: {e}");
        }
    }
    report.exit_code
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

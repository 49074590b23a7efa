//! Command-line definitions (clap) and the progress bar drawn on a terminal. No
//! logic lives here; what is printed is in `output`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tt_vault::commands::forget::ForgetArgs;
use tt_vault::commands::snapshot::SnapshotArgs;
use tt_vault::commands::Progress;
use tt_vault::config::{Config, Download};
use tt_vault::download::ExportList;

/// The heading of the options every command takes, listed after the command's own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "tt-vault",
    version,
    about = "Automatic, complete and safe TikTok backups in a deduplicated vault"
)]
pub struct Cli {
    /// The vault directory (default: $TT_VAULT, else $XDG_DATA_HOME/tt-vault or ~/.local/share/tt-vault)
    #[arg(long, global = true, env = "TT_VAULT", value_name = "PATH", help_heading = GLOBAL)]
    pub vault: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// Say more about what is done
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,
    /// An encrypted vault's passphrase: the first line of this file
    #[arg(
        long,
        global = true,
        env = "TT_VAULT_PASSWORD_FILE",
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    pub password_file: Option<PathBuf>,
    /// An encrypted vault's passphrase: the first line this shell command prints
    #[arg(
        long,
        global = true,
        env = "TT_VAULT_PASSWORD_COMMAND",
        value_name = "CMD",
        help_heading = GLOBAL
    )]
    pub password_command: Option<String>,
    /// The configuration file (default: $XDG_CONFIG_HOME/tt-vault/config.toml, else ~/.config/tt-vault/config.toml)
    #[arg(long, global = true, env = "TT_VAULT_CONFIG", value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Pick {
    /// A snapshot id (any unique prefix)
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// The newest snapshot at or before this date (YYYY-MM-DD = end of that day, local time; or RFC 3339)
    #[arg(long, value_name = "D")]
    pub date: Option<String>,
    /// The newest snapshot (the default)
    #[arg(long, conflicts_with_all = ["snapshot", "date"])]
    pub latest: bool,
    /// The account, when the vault holds several
    #[arg(long)]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitFlags {
    /// Encrypt it (recommended): asks for a passphrase; see `key --help`
    #[arg(long)]
    pub encrypt: bool,
    /// Keep the packs (and key files) off-site: s3://BUCKET/PREFIX (credentials from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a non-AWS service from
    /// TT_VAULT_S3_ENDPOINT, AWS_REGION default us-east-1) or an absolute folder;
    /// vault.db and a pack cache stay local
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
    /// With --remote: how much the local pack cache may hold (e.g. 2GiB, 500MiB), or
    /// `all` to keep every pack locally as well [default: 2GiB]
    #[arg(long, value_name = "SIZE", requires = "remote")]
    pub cache_size: Option<String>,
    /// With --remote: adopt a bucket that already holds a vault and rebuild the index
    /// (catalogue included) from its packs alone
    #[arg(long, requires = "remote")]
    pub existing: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty vault
    Init(InitFlags),
    /// The passphrases (key files) of an encrypted vault; they never change data
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Take a new snapshot of the given sources (none given: of every configured account)
    Snapshot(SnapshotFlags),
    /// The whole configured job: snapshot every account, forget by policy, prune, verify --sample
    Run {
        /// Re-hash this percentage of packs [default: the config's, else 5]
        #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u32).range(1..=100))]
        sample: Option<u32>,
        /// When the run fails or finds problems, run CMD (with sh -c) with the JSON report on stdin
        #[arg(long, value_name = "CMD")]
        notify_cmd: Option<String>,
        #[command(flatten)]
        fetch: FetchFlags,
    },
    /// Run `tt-vault run` unattended: a systemd user timer, or a crontab line without systemd
    Schedule {
        /// How often
        #[arg(long, value_name = "EVERY", required_unless_present = "remove",
              value_parser = clap::builder::PossibleValuesParser::new(tt_vault::schedule::Every::NAMES)
                  .map(|s| s.parse::<tt_vault::schedule::Every>().expect("a listed value")))]
        install: Option<tt_vault::schedule::Every>,
        /// Stop and remove the timer
        #[arg(long, conflicts_with = "install")]
        remove: bool,
    },
    /// List snapshots
    Snapshots {
        #[arg(long)]
        account: Option<String>,
    },
    /// List the files of one snapshot (`latest`, an id prefix, or a date)
    Ls {
        /// `latest`, an id prefix or a date
        #[arg(conflicts_with_all = ["snapshot", "date", "latest"])]
        which: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
    /// Show one section of the TikTok export as it was at a snapshot
    Show {
        /// What to show
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(tt_vault::catalogue::SECTIONS))]
        section: String,
        #[command(flatten)]
        pick: Pick,
    },
    /// What changed in the TikTok export between two snapshots (ids, `latest` or dates)
    Diff {
        /// The older snapshot: an id prefix, a date, or `latest`
        a: String,
        /// The newer snapshot: an id prefix, a date, or `latest`
        b: String,
        /// The account, when the vault holds several
        #[arg(long)]
        account: Option<String>,
    },
    /// Restore a snapshot into a folder
    Restore {
        #[command(flatten)]
        pick: Pick,
        /// The folder to restore into
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Only paths matching this glob (repeatable)
        #[arg(long, value_name = "GLOB")]
        include: Vec<String>,
        /// Overwrite files that exist with other content
        #[arg(long)]
        force: bool,
        /// Re-read every restored file and check it again
        #[arg(long)]
        verify: bool,
    },
    /// Check the vault: structure always, data with --read-data or --sample
    Verify {
        /// Read every pack: each chunk decompressed and re-hashed (in an encrypted
        /// vault, its authentication tag checked)
        #[arg(long)]
        read_data: bool,
        /// Read this percentage of packs, those verified longest ago first
        #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u32).range(1..=100))]
        sample: Option<u32>,
        /// In an encrypted vault, also decrypt, decompress and re-hash what is read
        #[arg(long)]
        decode: bool,
    },
    /// The history of verify runs
    Audits,
    /// Sizes and deduplication
    Stats,
    /// Recreate the index (vault.db) from the packs alone
    RebuildIndex {
        #[arg(long)]
        wait: bool,
    },
    /// Forget snapshots: those named, or those a keep policy (applied per account) drops
    Forget(ForgetFlags),
    /// Browse the archive in a web browser, read-only (prints the address to open)
    Serve {
        /// The port on 127.0.0.1 (default: a free one)
        #[arg(long, conflicts_with = "listen")]
        port: Option<u16>,
        /// The address to listen on, e.g. 0.0.0.0:8080 (the token is still required)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Show only this account
        #[arg(long)]
        account: Option<String>,
        /// Open the archive as it was on this date (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_name = "D")]
        date: Option<String>,
    },
    /// Remove from the packs what no snapshot references
    Prune {
        /// Show what would be deleted and repacked, change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        limits: PruneLimits,
        /// Wait for another writer to finish instead of failing
        #[arg(long)]
        wait: bool,
    },
    /// Print a shell completion script (e.g. `tt-vault completions bash > ~/.local/share/bash-completion/completions/tt-vault`)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or write one page per command with --all
    Man {
        /// Write tt-vault.1 and tt-vault-COMMAND.1 for every command into this folder
        #[arg(long, value_name = "DIR")]
        all: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// List the key files
    List,
    /// Add a passphrase
    Add {
        /// The new passphrase: the first line of this file (else asked twice)
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Remove a key file (never the last one)
    Remove { id: String },
    /// Change the passphrase that opened the vault
    Passwd {
        /// The new passphrase: the first line of this file (else asked twice)
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
}

// The flags of `snapshot` (a plain comment: the variant's doc is its help).
#[derive(Debug, Args, Clone)]
pub struct SnapshotFlags {
    /// A TikTok "Download your data" export: the ZIP, its extracted folder, or user_data_tiktok.json
    #[arg(long, value_name = "PATH")]
    export: Option<PathBuf>,
    /// Accept an export of another TikTok user than the account's earlier exports
    #[arg(long)]
    force: bool,
    /// A folder of saved videos (repeatable)
    #[arg(long, value_name = "DIR")]
    media: Vec<PathBuf>,
    /// A TikTok username: its public profile page (bio, counts, avatar) and the posts it lists
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// The account this snapshot belongs to
    #[arg(long)]
    account: Option<String>,
    /// Stamp the snapshot with this time instead of now (RFC 3339, or YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    time: Option<String>,
    /// Read every file, even those unchanged since the last snapshot
    #[arg(long)]
    rehash: bool,
    /// Wait for another writer to finish instead of failing
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    download: DownloadFlags,
}

impl SnapshotFlags {
    /// True when no source is given: the configured accounts are snapshotted.
    pub fn no_sources(&self) -> bool {
        self.export.is_none()
            && self.media.is_empty()
            && self.download.urls.is_empty()
            && self.profile.is_none()
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The command's arguments, the config file filling what the flags leave out;
    /// a bad `--time` or `--download` is a usage error.
    pub fn args(&self, config: &Config) -> anyhow::Result<SnapshotArgs> {
        let time = self
            .time
            .as_deref()
            .map(tt_vault::dates::parse_instant)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--time: {e}"))?;
        Ok(SnapshotArgs {
            account: self.account.clone(),
            media: self.media.clone(),
            export: self.export.clone(),
            force: self.force,
            time,
            rehash: self.rehash,
            wait: self.wait,
            urls: self.download.urls.clone(),
            download: match self.download.download.as_deref() {
                Some(lists) => Some(ExportList::parse_list(lists)?),
                None => config.download.lists.clone(),
            },
            fetch: self.download.fetch.fetch_config(&config.download),
            profile: self.profile.clone(),
        })
    }
}

// The flags of `forget` (a plain comment: the variant's doc is its help).
#[derive(Debug, Args, Clone)]
pub struct ForgetFlags {
    /// Snapshot ids (unique prefixes) to forget, instead of a policy
    ids: Vec<String>,
    #[command(flatten)]
    keep: Keep,
    /// Only this account's snapshots
    #[arg(long)]
    account: Option<String>,
    /// Show what would be kept and removed, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Prune right after forgetting
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    limits: PruneLimits,
    /// Forget even a snapshot that is the last one holding some video
    #[arg(long)]
    allow_video_loss: bool,
    /// Wait for another writer to finish instead of failing
    #[arg(long)]
    wait: bool,
    /// Forget the snapshot commits recorded as started and not finished (killed, or
    /// failed) instead of snapshots; prune then removes what only they hold. If vault.db
    /// was restored from a copy, run rebuild-index instead
    #[arg(long, conflicts_with_all = [
        "ids", "account", "allow_video_loss", "keep_last", "keep_hourly", "keep_daily",
        "keep_weekly", "keep_monthly", "keep_yearly", "keep_within",
    ])]
    unfinished: bool,
}

impl ForgetFlags {
    pub fn args(&self) -> ForgetArgs {
        ForgetArgs {
            ids: self.ids.clone(),
            policy: self.keep.policy(),
            account: self.account.clone(),
            dry_run: self.dry_run,
            prune: self.prune.then(|| self.limits.options(false)),
            allow_video_loss: self.allow_video_loss,
            wait: self.wait,
            unfinished: self.unfinished,
        }
    }
}

/// The `--keep-*` policy of `forget` (counts: a number or `unlimited`).
#[derive(Debug, Args, Clone, Default)]
pub struct Keep {
    /// Keep the N newest snapshots
    #[arg(long, value_name = "N", value_parser = tt_vault::retention::parse_count)]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours that have one
    #[arg(long, value_name = "N", value_parser = tt_vault::retention::parse_count)]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days that have one
    #[arg(long, value_name = "N", value_parser = tt_vault::retention::parse_count)]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks that have one
    #[arg(long, value_name = "N", value_parser = tt_vault::retention::parse_count)]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months that have one
    #[arg(long, value_name = "N", value_parser = tt_vault::retention::parse_count)]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years that have one
    #[arg(long, value_name = "N", value_parser = tt_vault::retention::parse_count)]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot within this span of the newest (e.g. 90d, 1y6m)
    #[arg(long, value_name = "SPAN")]
    pub keep_within: Option<tt_vault::retention::Span>,
}

impl Keep {
    pub fn policy(&self) -> tt_vault::retention::Policy {
        tt_vault::retention::Policy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within: self.keep_within,
        }
    }
}

/// How much repacking `prune` may do.
#[derive(Debug, Args, Clone)]
pub struct PruneLimits {
    /// Copy at most this share of the vault's bytes into new packs per run (at least one pack)
    #[arg(long, value_name = "PCT", default_value = "100%", value_parser = tt_vault::commands::prune::parse_percent)]
    pub max_repack: f64,
    /// Leave partly used packs alone while their waste is under this share of the vault
    #[arg(long, value_name = "PCT", default_value = "5%", value_parser = tt_vault::commands::prune::parse_percent)]
    pub max_unused: f64,
    /// Repack every partly used pack, whatever the limits: nothing forgotten stays in
    /// the packs (always on for `forget ID --prune`)
    #[arg(long)]
    pub purge: bool,
}

impl PruneLimits {
    pub fn options(&self, dry_run: bool) -> tt_vault::store::pruner::PruneOptions {
        tt_vault::store::pruner::PruneOptions {
            dry_run,
            max_repack_pct: self.max_repack,
            max_unused_pct: self.max_unused,
            purge: self.purge,
        }
    }
}

/// The downloader's flags on `snapshot`.
#[derive(Debug, Args, Clone, Default)]
pub struct DownloadFlags {
    /// A TikTok post link to download into the snapshot (repeatable)
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Which of the export's lists to download: posts, likes, favorites (comma-separated) or none [default with --export: the config's, else posts]
    #[arg(long, value_name = "LISTS")]
    pub download: Option<String>,
    #[command(flatten)]
    pub fetch: FetchFlags,
}

/// How the downloader fetches, on `snapshot` and `run`; the config file's
/// `[download]` fills what is not given.
#[derive(Debug, Args, Clone, Default)]
pub struct FetchFlags {
    /// Posts downloaded at once (1 to 64) [default: the config's, else 4]
    #[arg(long, value_parser = numbers::jobs)]
    pub jobs: Option<usize>,
    /// Requests per second, over the whole run (0.01 to 1000) [default: the config's, else 2]
    #[arg(long, value_name = "R", value_parser = numbers::rate)]
    pub rate: Option<f64>,
    /// A Netscape cookies.txt with your TikTok session (to archive your own private posts)
    #[arg(long, value_name = "FILE")]
    pub cookies: Option<PathBuf>,
    /// Seconds before a silent request is given up (and retried; 0.1 to 3600)
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = numbers::timeout)]
    pub timeout: f64,
    /// Retries of a failing request (0 to 20)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
    /// The largest media file downloaded (e.g. 4GiB, 500MiB, bytes without a unit); a larger one is recorded as a failure and not stored
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = numbers::size)]
    pub max_video_size: u64,
}

impl FetchFlags {
    pub fn fetch_config(&self, config: &Download) -> tt_vault::tiktok::fetch::FetchConfig {
        tt_vault::tiktok::fetch::FetchConfig {
            jobs: self.jobs.or(config.jobs).unwrap_or(4),
            rate: self.rate.or(config.rate).unwrap_or(2.0),
            cookies_file: self.cookies.clone().or_else(|| config.cookies.clone()),
            timeout: std::time::Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            max_file_size: self.max_video_size,
            ..tt_vault::tiktok::fetch::FetchConfig::from_env()
        }
    }
}

/// Value parsers for the numeric flags: finite and in range, or a usage error (exit 2)
/// before any work starts.
mod numbers {
    fn finite_in(text: &str, low: f64, high: f64) -> Result<f64, String> {
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (low..=high).contains(&v) => Ok(v),
            _ => Err(format!("give a number from {low} to {high}")),
        }
    }

    pub fn jobs(text: &str) -> Result<usize, String> {
        use tt_vault::tiktok::fetch::run::MAX_JOBS;
        match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
            _ => Err(format!("give a whole number from 1 to {MAX_JOBS}")),
        }
    }

    pub fn rate(text: &str) -> Result<f64, String> {
        finite_in(text, 0.01, 1000.0)
    }

    pub fn timeout(text: &str) -> Result<f64, String> {
        finite_in(text, 0.1, 3600.0)
    }

    /// A byte count: digits, optionally with K, M, G or T (powers of 1024; `KiB`, `KB`
    /// and `K` alike), from 1 byte to 1 TiB.
    pub fn size(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let unit = t[digits..].trim().to_ascii_lowercase();
        let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
            "" => 0,
            "k" => 10,
            "m" => 20,
            "g" => 30,
            "t" => 40,
            _ => return Err("give a size such as 4GiB, 500MiB or 1048576".into()),
        };
        t[..digits]
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1 << shift))
            .filter(|n| (1..=1 << 40).contains(n))
            .ok_or_else(|| "give a size from 1 byte to 1TiB, e.g. 4GiB".into())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn numbers_outside_their_range_are_refused() {
            for bad in ["inf", "NaN", "-1", "0", "1e400", "", "x"] {
                assert!(rate(bad).is_err(), "{bad}");
                assert!(timeout(bad).is_err(), "{bad}");
                assert!(jobs(bad).is_err(), "{bad}");
                assert!(size(bad).is_err(), "{bad}");
            }
            assert!(rate("1e-300").is_err());
            assert!(jobs("100000000").is_err());
            assert_eq!(rate("2.5"), Ok(2.5));
            assert_eq!(timeout("0.5"), Ok(0.5));
            assert_eq!(jobs("8"), Ok(8));
        }

        #[test]
        fn sizes_take_binary_units() {
            assert_eq!(size("4GiB"), Ok(4 << 30));
            assert_eq!(size("500M"), Ok(500 << 20));
            assert_eq!(size("64kb"), Ok(64 << 10));
            assert_eq!(size("1048576"), Ok(1 << 20));
            assert_eq!(size("1TiB"), Ok(1 << 40));
            assert!(size("2TiB").is_err());
            assert!(size("99999999999999999999").is_err());
            assert!(size("5Q").is_err());
            assert!(size("1.5GiB").is_err());
        }
    }
}

impl Pick {
    pub fn selector(&self) -> tt_vault::selection::Selector {
        tt_vault::selection::Selector {
            snapshot: self.snapshot.clone(),
            date: self.date.clone(),
            account: self.account.clone(),
        }
    }
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
///
/// Workers report every chunk, from several threads; the bar is moved at most every
/// [`Bar::EVERY_MS`], so the hot path is one atomic add and a clock read. (Moving it
/// per chunk through indicatif's lock cost a fifth of a first snapshot on a terminal.)
pub struct Bar {
    bar: Option<ProgressBar>,
    /// Bytes reported in this phase; the bar lags it by at most `EVERY_MS`.
    done: AtomicU64,
    /// When the bar was last moved, in milliseconds after `epoch`.
    moved: AtomicU64,
    epoch: Instant,
}

impl Bar {
    const EVERY_MS: u64 = 200;

    pub fn new(enabled: bool) -> Bar {
        let enabled = enabled && std::io::stderr().is_terminal();
        Bar {
            bar: enabled.then(ProgressBar::hidden),
            done: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, total: Option<u64>) {
        let Some(b) = &self.bar else { return };
        // Styled while hidden: the first frame on the terminal is already this
        // phase's, never the default "0/0" one.
        b.set_draw_target(ProgressDrawTarget::hidden());
        b.disable_steady_tick();
        b.reset();
        self.done.store(0, Ordering::Relaxed);
        // Without a known total (a download), a spinner with bytes and rate.
        let template = match total {
            Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            None => "{spinner} {msg} {bytes} {binary_bytes_per_sec}",
        };
        b.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        b.set_length(total.unwrap_or(0));
        b.set_message(what.to_string());
        b.set_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        if total.is_none() {
            b.enable_steady_tick(Duration::from_millis(Self::EVERY_MS));
        }
        b.tick();
    }

    fn add(&self, bytes: u64) {
        let Some(b) = &self.bar else { return };
        self.done.fetch_add(bytes, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64;
        let moved = self.moved.load(Ordering::Relaxed);
        // One thread per interval moves the bar; the others only count.
        if now >= moved + Self::EVERY_MS
            && self
                .moved
                .compare_exchange(moved, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            b.set_position(self.done.load(Ordering::Relaxed));
        }
    }

    fn message(&self, text: String) {
        if let Some(b) = &self.bar {
            b.set_message(text);
        }
    }

    fn end(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

//! Command-line definitions (clap) and the progress bar drawn on a terminal. No
//! logic lives here; what is printed is in `output`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use tt_vault::commands::forget::ForgetArgs;
use tt_vault::commands::snapshot::SnapshotArgs;
use tt_vault::commands::Progress;
use tt_vault::download::ExportList;

#[derive(Debug, Parser)]
#[command(
    name = "tt-vault",
    version,
    about = "Automatic, complete and safe TikTok backups in a deduplicated vault"
)]
pub struct Cli {
    /// The vault directory (default: $TT_VAULT, else $XDG_DATA_HOME/tt-vault or ~/.local/share/tt-vault)
    #[arg(long, global = true, env = "TT_VAULT", value_name = "PATH")]
    pub vault: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Say more about what is done
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// An encrypted vault's passphrase: the first line of this file
    #[arg(
        long,
        global = true,
        env = "TT_VAULT_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pub password_file: Option<PathBuf>,
    /// An encrypted vault's passphrase: the first line this shell command prints
    #[arg(
        long,
        global = true,
        env = "TT_VAULT_PASSWORD_COMMAND",
        value_name = "CMD"
    )]
    pub password_command: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty vault
    Init {
        /// Encrypt it (recommended): asks for a passphrase; see `key --help`
        #[arg(long)]
        encrypt: bool,
    },
    /// The passphrases (key files) of an encrypted vault; they never change data
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Take a new snapshot of the given sources
    Snapshot(SnapshotFlags),
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
        /// Decompress and re-hash every chunk
        #[arg(long)]
        read_data: bool,
        /// Re-hash this percentage of packs, those verified longest ago first
        #[arg(long, value_name = "PCT")]
        sample: Option<u32>,
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
    /// The command's arguments; a bad `--time` or `--download` is a usage error.
    pub fn args(&self) -> anyhow::Result<SnapshotArgs> {
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
            download: self
                .download
                .download
                .as_deref()
                .map(ExportList::parse_list)
                .transpose()?,
            fetch: self.download.fetch_config(),
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
    /// Copy at most this share of the vault's bytes into new packs per run
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = tt_vault::commands::prune::parse_percent)]
    pub max_repack: f64,
    /// Leave partly used packs alone while their waste is under this share of the vault
    #[arg(long, value_name = "PCT", default_value = "5%", value_parser = tt_vault::commands::prune::parse_percent)]
    pub max_unused: f64,
}

impl PruneLimits {
    pub fn options(&self, dry_run: bool) -> tt_vault::store::pruner::PruneOptions {
        tt_vault::store::pruner::PruneOptions {
            dry_run,
            max_repack_pct: self.max_repack,
            max_unused_pct: self.max_unused,
        }
    }
}

/// The downloader's flags on `snapshot`.
#[derive(Debug, Args, Clone, Default)]
pub struct DownloadFlags {
    /// A TikTok post link to download into the snapshot (repeatable)
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Which of the export's lists to download: posts, likes, favorites (comma-separated) or none [default with --export: posts]
    #[arg(long, value_name = "LISTS")]
    pub download: Option<String>,
    /// Posts downloaded at once
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Requests per second, over the whole run
    #[arg(long, value_name = "R", default_value_t = 2.0)]
    pub rate: f64,
    /// A Netscape cookies.txt with your TikTok session (to archive your own private posts)
    #[arg(long, value_name = "FILE")]
    pub cookies: Option<PathBuf>,
    /// Seconds before a silent request is given up (and retried)
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Retries of a failing request
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

impl DownloadFlags {
    pub fn fetch_config(&self) -> tt_vault::tiktok::fetch::FetchConfig {
        tt_vault::tiktok::fetch::FetchConfig {
            jobs: self.jobs.max(1),
            rate: self.rate,
            cookies_file: self.cookies.clone(),
            timeout: std::time::Duration::from_secs_f64(self.timeout.max(0.1)),
            retries: self.retries,
            ..tt_vault::tiktok::fetch::FetchConfig::from_env()
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
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(enabled: bool) -> Bar {
        let enabled = enabled && std::io::stderr().is_terminal();
        Bar {
            bar: enabled.then(ProgressBar::hidden),
        }
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, total: Option<u64>) {
        if let Some(b) = &self.bar {
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b.reset();
            // Without a known total (a download), a spinner with bytes and rate.
            let template = match total {
                Some(_) => {
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
                }
                None => "{spinner} {msg} {bytes} {binary_bytes_per_sec}",
            };
            b.set_length(total.unwrap_or(0));
            b.set_style(
                ProgressStyle::with_template(template)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            if total.is_none() {
                b.enable_steady_tick(std::time::Duration::from_millis(200));
            }
            b.set_message(what.to_string());
        }
    }

    fn add(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
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

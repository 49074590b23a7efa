//! Command-line definitions and output: human text or `--json`, progress bars on a
//! terminal. No logic lives here.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use tt_vault::commands::Progress;

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
    Init,
    /// Take a new snapshot of the given sources
    Snapshot {
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
    Forget {
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
        prune: bool,
        #[command(flatten)]
        limits: PruneLimits,
        /// Forget even a snapshot that is the last one holding some video
        #[arg(long)]
        allow_video_loss: bool,
        /// Wait for another writer to finish instead of failing
        #[arg(long)]
        wait: bool,
    },
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
    pub fn selector(&self) -> tt_vault::commands::select::Selector {
        tt_vault::commands::select::Selector {
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

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Columns of the human `show` table per section: (heading, view key).
fn show_columns(section: &str) -> &'static [(&'static str, &'static str)] {
    match section {
        "posts" => &[
            ("date", "date"),
            ("id", "id"),
            ("archived", "archived"),
            ("failed", "failed"),
            ("likes", "likes"),
            ("sound", "sound"),
            ("caption", "caption"),
            ("link", "link"),
        ],
        "likes" | "favorites" | "reposts" => &[
            ("date", "date"),
            ("id", "id"),
            ("archived", "archived"),
            ("link", "link"),
        ],
        "history" => &[("date", "date"), ("id", "id"), ("link", "link")],
        "comments" => &[("date", "date"), ("comment", "comment")],
        "following" | "followers" | "blocked" => &[("date", "date"), ("username", "username")],
        "messages" => &[
            ("date", "date"),
            ("chat", "chat"),
            ("from", "from"),
            ("content", "content"),
        ],
        "searches" => &[("date", "date"), ("term", "term")],
        "raw" => &[("section", "section")],
        _ => &[("date", "date"), ("text", "text"), ("link", "link")],
    }
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.replace('\n', " "),
        other => other.to_string(),
    }
}

/// Prints an object view (the profile): its fields, then nested objects indented.
pub fn print_view(view: &serde_json::Value) {
    for (k, v) in view.as_object().into_iter().flatten() {
        match v.as_object() {
            Some(fields) => {
                for (fk, fv) in fields {
                    println!("  {fk:<22} {}", cell(fv));
                }
            }
            None => println!("{k:<24} {}", cell(v)),
        }
    }
}

/// A table printed as rows stream in: columns are sized on blocks of rows, so a
/// section of millions of rows is never held at once.
pub struct Table {
    cols: &'static [(&'static str, &'static str)],
    block: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    rows: u64,
}

const TABLE_BLOCK: usize = 1000;

impl Table {
    pub fn new(section: &str) -> Table {
        Table {
            cols: show_columns(section),
            block: Vec::new(),
            widths: None,
            rows: 0,
        }
    }

    pub fn push(&mut self, row: serde_json::Value) -> std::io::Result<()> {
        self.block
            .push(self.cols.iter().map(|(_, key)| cell(&row[*key])).collect());
        self.rows += 1;
        if self.block.len() == TABLE_BLOCK {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        let widths = self.widths.get_or_insert_with(|| {
            self.cols
                .iter()
                .enumerate()
                .map(|(i, (head, _))| {
                    self.block
                        .iter()
                        .map(|r| r[i].chars().count().min(60))
                        .chain([head.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect()
        });
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(widths.iter())
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            println!("{}", parts.join("  ").trim_end());
        };
        if self.rows <= self.block.len() as u64 {
            line(
                &self
                    .cols
                    .iter()
                    .map(|(h, _)| h.to_string())
                    .collect::<Vec<_>>(),
            );
        }
        for r in self.block.drain(..) {
            line(&r);
        }
    }

    pub fn finish(mut self) {
        self.flush();
        println!("({} rows)", self.rows);
    }
}

/// Prints a diff: one line per change.
pub fn print_diff(diff: &serde_json::Value) {
    let mut any = false;
    if let Some(changed) = diff["profile"]["changed"].as_object() {
        for (field, v) in changed {
            any = true;
            println!("profile {field}: {} -> {}", v[0], v[1]);
        }
    }
    for (section, d) in diff.as_object().into_iter().flatten() {
        for (what, sign) in [("added", "+"), ("removed", "-"), ("changed", "~")] {
            for item in d[what].as_array().into_iter().flatten() {
                any = true;
                println!("{sign} {section}: {}", item.as_str().unwrap_or_default());
            }
        }
    }
    if !any {
        println!("no changes");
    }
}

/// Prints `value` as JSON when asked, else runs `human`.
pub fn emit<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("serialisable output")
        );
    } else {
        human(value);
    }
}

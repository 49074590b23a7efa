//! What the binary prints: each command's human text on stdout, or its one `--json`
//! document. The words and layouts here are what scripts and the tests read, so a
//! change to them is a change of behaviour.

mod automatic;
mod show;

use serde::Serialize;

use tt_vault::commands::forget::ForgetReport;
use tt_vault::commands::init::InitOutcome;
use tt_vault::commands::key::KeyInfo;
use tt_vault::commands::list::Listing;
use tt_vault::commands::prune::PruneOutcome;
use tt_vault::commands::rebuild::RebuildOutcome;
use tt_vault::commands::restore::RestoreOutcome;
use tt_vault::commands::show::Showing;
use tt_vault::commands::snapshot::SnapshotOutcome;
use tt_vault::commands::stats::Stats;
use tt_vault::download::DownloadFailure;
use tt_vault::store::checker::{Audit, Report};
use tt_vault::store::pruner::RecoveryPending;
use tt_vault::store::snapshots::{short, Snapshot};
use tt_vault::store::tombstone::UnfinishedCommit;

/// Stdout for output that may run to hundreds of megabytes (`show`), buffered.
///
/// When stdout is a pipe, its capacity is raised to 1 MiB (Linux; the unprivileged
/// limit): with the default 64 KiB the writer waits on its reader every 64 KiB, and
/// `show likes --json` of 2 million rows into a pipe took 1.4–2× its time into a file.
/// A pipe already larger, or that cannot grow, stays as it was.
fn bulk_stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = std::io::stdout().as_raw_fd();
        // SAFETY: fstat fills a zeroed stat for our own open descriptor; F_GETPIPE_SZ
        // reads and F_SETPIPE_SZ resizes a pipe's buffer; a failure is ignored.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0
                && st.st_mode & libc::S_IFMT == libc::S_IFIFO
                && libc::fcntl(fd, libc::F_GETPIPE_SZ) < 1 << 20
            {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
            }
        }
    }
    std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock())
}

/// How the command line asked for output.
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
}

impl Output {
    /// A line of human text, unless `--quiet`.
    fn say(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("{}", text.as_ref());
        }
    }

    /// Prints `value` as JSON when asked, else runs `human`.
    fn emit<T: Serialize + ?Sized>(&self, value: &T, human: impl FnOnce(&T)) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("serialisable output")
            );
        } else {
            human(value);
        }
    }

    pub fn keys(&self, keys: &[KeyInfo]) {
        self.emit(keys, |keys| {
            for k in keys {
                self.say(format!(
                    "{}{} created {} argon2id m={}KiB t={} p={}",
                    if k.current { "*" } else { " " },
                    k.id,
                    k.created,
                    k.memory_kib,
                    k.iterations,
                    k.parallelism
                ));
            }
        });
    }

    pub fn key_changed(&self, what: &str, id: &str) {
        self.emit(&serde_json::json!({ what: id }), |_| {
            self.say(format!("{what} key {id}"))
        });
    }

    pub fn init(&self, o: &InitOutcome) {
        let root = o.vault.root();
        let json = serde_json::json!({ "vault": root, "remote": o.remote, "rebuilt": o.rebuilt });
        self.emit(&json, |_| {
            self.say(format!("created vault at {}", root.display()));
            if let Some(remote) = &o.remote {
                self.say(format!("packs are kept in {remote}"));
            }
            if let Some(r) = &o.rebuilt {
                self.say(format!(
                    "adopted it: {} packs, {} snapshots, {} exports catalogued",
                    r.store.packs, r.store.snapshots, r.exports
                ));
            }
        });
    }

    pub fn snapshot(&self, o: &SnapshotOutcome) {
        self.emit(o, |o| self.snapshot_text(o));
    }

    fn snapshot_text(&self, o: &SnapshotOutcome) {
        {
            self.say(format!(
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
                self.say(n);
            }
            if self.verbose {
                for f in &o.failed {
                    self.say(failure_line(f));
                }
            } else if !o.failed.is_empty() {
                self.say(format!(
                    "{} posts could not be fetched (recorded in the snapshot; -v lists them, `tt-vault show posts` too)",
                    o.failed.len()
                ));
            }
        }
    }

    pub fn snapshots(&self, list: &[Snapshot]) {
        self.emit(list, |l| {
            self.say(format!(
                "{:<8}  {:<24}  {:<16} {:>7} {:>11} {:>11}",
                "id", "taken_at", "account", "files", "size", "stored"
            ));
            for s in l {
                self.say(format!(
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
    }

    pub fn ls(&self, listing: &Listing) {
        self.emit(listing, |l| {
            for e in &l.entries {
                self.say(format!("{:>12}  {}", e.size, e.path));
            }
        });
    }

    /// A section of the export: streamed as JSON, the profile as fields, a list as a table.
    pub fn show(&self, shown: &Showing) -> anyhow::Result<()> {
        if self.json {
            let mut out = bulk_stdout();
            shown.write_json(&mut out)?;
            std::io::Write::flush(&mut out)?;
        } else if shown.section == "profile" {
            show::print_profile(&shown.profile()?);
        } else {
            let mut table = show::Table::new(&shown.section);
            shown.each_row(&mut |row| table.push(row))?;
            table.finish()?;
        }
        Ok(())
    }

    pub fn diff(&self, diff: &serde_json::Value) {
        self.emit(diff, show::print_diff);
    }

    pub fn restore(&self, o: &RestoreOutcome) {
        self.emit(o, |o| {
            self.say(format!(
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
                self.say(format!("wrote readable views: {}", o.views.join(", ")));
            }
        });
        // Always on stderr, even with --json or --quiet: these files are missing.
        for f in &o.failed {
            eprintln!("tt-vault: could not restore {}: {}", f.path, f.error);
        }
    }

    pub fn verify(&self, report: &Report) {
        self.emit(report, |r| self.verify_text(r));
    }

    fn verify_text(&self, r: &Report) {
        {
            // Problems print even with --quiet: they are the answer.
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
                    let ids: Vec<&str> = p.snapshots.iter().map(|s| short(s)).collect();
                    println!("  snapshots: {}", ids.join(", "));
                }
                for path in &p.paths {
                    println!("  damaged: {path}");
                }
            }
            let read = if r.mode == "structure" {
                "index, pack trailers and references checked".to_string()
            } else {
                format!(
                    "{} packs read, {} {}",
                    r.packs_checked,
                    human_bytes(r.bytes_checked),
                    if r.tags_only {
                        "authenticated"
                    } else {
                        "re-hashed"
                    }
                )
            };
            self.say(format!(
                "verify ({}): {read}, {}",
                r.mode,
                if r.ok {
                    "no problems".to_string()
                } else {
                    format!("{} problems", r.problems.len())
                }
            ));
            if !r.audit_recorded {
                self.say("the vault is read-only: this audit was not recorded");
            }
        }
    }

    pub fn audits(&self, list: &[Audit]) {
        self.emit(list, |l| {
            for a in l {
                let n = a.problems.as_array().map_or(0, |p| p.len());
                self.say(format!(
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
    }

    pub fn stats(&self, stats: &Stats) {
        self.emit(stats, |s| {
            self.say(format!(
                "{} snapshots, {} logical, {} stored in {} packs, dedup ratio {:.2}",
                s.snapshots,
                human_bytes(s.logical_bytes),
                human_bytes(s.stored_bytes),
                s.packs,
                s.dedup_ratio
            ));
            self.say(format!(
                "index {}, of which the export catalogue {} ({} rows in {} export versions)",
                human_bytes(s.index_bytes),
                human_bytes(s.catalogue.bytes),
                s.catalogue.items,
                s.catalogue.versions
            ));
            for a in &s.accounts {
                self.say(format!(
                    "  {}: {} snapshots, {} logical; when taken they added {} new, {} stored",
                    a.account,
                    a.snapshots,
                    human_bytes(a.logical_bytes),
                    human_bytes(a.new_bytes),
                    human_bytes(a.stored_bytes)
                ));
            }
            if self.verbose {
                for p in &s.per_snapshot {
                    self.say(format!(
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
    }

    /// Where `serve` listens. Printed even with `--quiet`: it is the one thing to know.
    pub fn serving(&self, url: &str) {
        if self.json {
            println!("{}", serde_json::json!({ "url": url }));
        } else {
            println!("tt-vault: serving the archive read-only at {url}");
            println!("(open it in a browser; Ctrl-C stops)");
        }
    }

    pub fn rebuild_index(&self, r: &RebuildOutcome) {
        self.emit(r, |r| {
            self.say(format!(
                "rebuilt the index from {} packs: {} blobs, {} files, {} snapshots",
                r.store.packs, r.store.blobs, r.store.files, r.store.snapshots
            ));
            if r.exports > 0 {
                self.say(format!("catalogued {} exports again", r.exports));
            }
            for p in &r.export_problems {
                self.say(format!("  export not catalogued: {p}"));
            }
            if r.profile_pages > 0 {
                self.say(format!("recorded {} profile pages again", r.profile_pages));
            }
            for p in &r.profile_problems {
                self.say(format!("  profile page not recorded: {p}"));
            }
            for s in &r.store.salvaged {
                self.say(format!("  pack {s}: trailer damaged, read blob by blob"));
            }
            for u in &r.store.unreadable {
                self.say(format!("  unreadable: {u}"));
            }
            if let Some(old) = &r.store.old_index {
                self.say(format!("the old index is kept as {old}"));
            }
            match &r.store.history_lost {
                Some(why) => self.say(format!(
                    "the audit history could not be carried over from the old index ({why}); \
                     `tt-vault audits` starts afresh"
                )),
                None if r.store.audits_carried > 0 => self.say(format!(
                    "carried over {} audits from the old index",
                    r.store.audits_carried
                )),
                None => {}
            }
        });
    }

    /// `prune_asked`: `--prune` was given (with `--dry-run` nothing is pruned, and
    /// the text says why).
    pub fn forget(&self, report: &ForgetReport, prune_asked: bool) {
        self.emit(report, |r| self.forget_text(r, prune_asked));
    }

    fn forget_text(&self, r: &ForgetReport, prune_asked: bool) {
        if let Some(commits) = &r.unfinished {
            return self.forget_unfinished_text(r, commits, prune_asked);
        }
        {
            if let Some(p) = &r.policy {
                self.say(format!("policy: {p}"));
            }
            for v in &r.snapshots {
                self.say(format!(
                    "{:<6}  {}  {:<24}  {:<16}  {}",
                    if v.keep { "keep" } else { "remove" },
                    v.short_id(),
                    v.taken_at,
                    v.account,
                    v.reasons.join(", ")
                ));
            }
            if !r.protected_videos.is_empty() {
                self.say(format!(
                    "kept {} videos that no other snapshot holds (--allow-video-loss to drop them): {}",
                    r.protected_videos.len(),
                    r.protected_videos.join(", ")
                ));
            }
            if !r.lost_videos.is_empty() {
                self.say(format!(
                    "{} videos are no longer in any snapshot: {}",
                    r.lost_videos.len(),
                    r.lost_videos.join(", ")
                ));
            }
            self.say(format!(
                "{} {} snapshots, {} {}",
                if r.dry_run { "would forget" } else { "forgot" },
                r.removed,
                if r.dry_run { "would keep" } else { "kept" },
                r.kept
            ));
            if let Some(p) = &r.recovery_pending {
                self.say(recovery_line(p));
            }
            if r.dry_run && prune_asked {
                self.say("(dry run: nothing forgotten, so nothing to prune)");
            }
            if let Some(p) = &r.prune {
                self.say(prune_summary(p));
            }
        }
    }

    /// `forget --unfinished`: each record, what became of it, and the prune if any.
    fn forget_unfinished_text(
        &self,
        r: &ForgetReport,
        commits: &[UnfinishedCommit],
        prune_asked: bool,
    ) {
        if let Some(p) = &r.recovery_pending {
            self.say(recovery_line(p));
        }
        if commits.is_empty() {
            self.say("no unfinished snapshot commits: nothing to forget");
        }
        for c in commits {
            let what = match (&c.snapshot, c.finished) {
                (_, true) => {
                    "its snapshot exists (the commit finished): only the stale record goes".into()
                }
                (Some(s), false) => format!(
                    "{} taken {}, {} file(s), {}: recorded as started, not finished",
                    s.account,
                    s.taken_at,
                    s.files,
                    human_bytes(s.bytes)
                ),
                (None, false) => "recorded as started; no pack holds its manifest".into(),
            };
            self.say(format!(
                "{:<6}  {}  {what}",
                if c.finished { "record" } else { "remove" },
                short(&c.id),
            ));
        }
        // Said before, not after: once forgotten, rebuild-index no longer lists them.
        if r.dry_run && r.removed > 0 {
            self.say(
                "(a copy of vault.db taken while a snapshot was committing records that commit \
                 the same way: if vault.db was restored from a copy, run `tt-vault \
                 rebuild-index` instead, which lists every snapshot the packs hold)",
            );
        }
        if !commits.is_empty() {
            let stale = commits.len() as u64 - r.removed;
            self.say(format!(
                "{} {} unfinished snapshot commit(s){}",
                if r.dry_run { "would forget" } else { "forgot" },
                r.removed,
                if stale > 0 {
                    format!(
                        ", {} {stale} stale record(s)",
                        if r.dry_run { "would drop" } else { "dropped" }
                    )
                } else {
                    String::new()
                }
            ));
            if !r.dry_run && !prune_asked && r.removed > 0 {
                self.say("`tt-vault prune` removes what only they held");
            }
        }
        if r.dry_run && prune_asked {
            self.say("(dry run: nothing forgotten, so nothing to prune)");
        }
        if let Some(p) = &r.prune {
            self.say(prune_summary(p));
        }
    }

    pub fn prune(&self, report: &PruneOutcome) {
        self.emit(report, |r| {
            if let Some(p) = &r.store.recovery_pending {
                self.say(recovery_line(p));
            }
            self.say(prune_summary(r))
        });
    }
}

/// One failed download, as `snapshot -v` lists it.
fn failure_line(f: &DownloadFailure) -> String {
    format!(
        "  failed {}: {} ({}; HTTP {}, {} attempts) {}",
        f.id.as_deref().unwrap_or("?"),
        f.reason_text,
        f.detail,
        f.http_status.map_or("-".into(), |s| s.to_string()),
        f.attempts,
        f.link
    )
}

/// What a dry run found left by a killed run, for the next writer to finish.
fn recovery_line(p: &RecoveryPending) -> String {
    format!(
        "recovery pending (the next writer does it first): {} temporary packs to remove, \
         {} packs to adopt, {} pending deletes, {} snapshots a killed forget removes",
        p.temporary_packs, p.packs_to_adopt, p.pending_deletes, p.snapshots_to_forget
    )
}

fn prune_summary(outcome: &PruneOutcome) -> String {
    let r = &outcome.store;
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
    if r.unfinished_snapshots > 0 {
        text.push_str(&format!(
            "\n  {} snapshot(s) whose commit never finished (killed, or failed) kept in the \
             packs, with {} no snapshot uses: run the same snapshot again to re-use them, \
             `tt-vault rebuild-index` to list them as snapshots (do that if vault.db was \
             restored from a copy), or `tt-vault forget --unfinished` to drop them",
            r.unfinished_snapshots,
            human_bytes(r.unfinished_bytes)
        ));
    }
    if r.unused_bytes_left > 0 {
        text.push_str(&format!(
            "\n  {} unused left in partly used packs (--max-unused / --max-repack)",
            human_bytes(r.unused_bytes_left)
        ));
    }
    let c = &outcome.catalogue;
    if c.items + c.versions > 0 {
        text.push_str(&format!(
            "\n  catalogue: {} rows no remaining snapshot shows removed",
            c.items + c.versions
        ));
    }
    if let Some(i) = &r.index {
        text.push_str(&format!(
            "\n  vault.db {} -> {}{}",
            human_bytes(i.bytes_before),
            human_bytes(i.bytes_after),
            if i.wal_emptied {
                ""
            } else {
                " (a reader kept its log busy: old pages may remain there until the next prune)"
            }
        ));
    }
    if let Some(e) = r.index.as_ref().and_then(|i| i.vacuum_failed.as_ref()) {
        text.push_str(&format!(
            "\n  warning: vault.db could not be rewritten without its free pages ({e}); \
             it needs free disk about twice its size: free some and run `tt-vault prune` again"
        ));
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn a_failure_line_names_the_post_and_why() {
        let f = DownloadFailure {
            id: None,
            link: "https://vm.tiktok.com/x/".into(),
            source: "url".into(),
            reason: "network".into(),
            reason_text: "network error".into(),
            detail: "timed out".into(),
            http_status: None,
            attempts: 4,
            retry_next_run: true,
        };
        assert_eq!(
            failure_line(&f),
            "  failed ?: network error (timed out; HTTP -, 4 attempts) https://vm.tiktok.com/x/"
        );
    }
}

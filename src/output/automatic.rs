//! What the unattended commands print: `snapshot` of the configured accounts,
//! `run`, `schedule`, `man --all`.

use std::path::PathBuf;

use tt_vault::commands::accounts::AccountRun;
use tt_vault::commands::run::{RunReport, Step};
use tt_vault::schedule::Scheduled;

use super::{prune_summary, Output};

impl Output {
    pub fn accounts(&self, runs: &[AccountRun]) {
        self.emit(runs, |runs| self.accounts_text(runs));
    }

    fn accounts_text(&self, runs: &[AccountRun]) {
        for r in runs {
            if let Some(export) = &r.export {
                self.say(format!(
                    "account {}: new export {}",
                    r.account,
                    export.display()
                ));
            }
            match (&r.snapshot, &r.skipped, &r.error) {
                (Some(s), _, _) => self.snapshot_text(s),
                (None, _, Some(e)) => eprintln!("tt-vault: account {}: error: {e}", r.account),
                (None, Some(why), None) => self.say(format!("account {}: {why}", r.account)),
                (None, None, None) => {}
            }
        }
    }

    pub fn run(&self, report: &RunReport) {
        self.emit(report, |r| {
            self.accounts_text(&r.accounts);
            if let Some(step) = &r.forget {
                self.step("forget", step, |f| self.forget_text(f, true));
            }
            if let Some(step) = &r.prune {
                self.step("prune", step, |p| self.say(prune_summary(p)));
            }
            self.step("verify", &r.verify, |v| self.verify_text(v));
            let verdict = match r.exit_code {
                0 => "run: done, no problems".to_string(),
                1 => "run: done, with problems (see above; exit code 1)".to_string(),
                _ => "run: a step failed (see above; exit code 2)".to_string(),
            };
            // The verdict prints even with --quiet: it is the answer.
            println!("{verdict}");
        });
    }

    fn step<T>(&self, name: &str, step: &Step<T>, text: impl FnOnce(&T)) {
        if let Some(r) = &step.report {
            text(r);
        }
        if let Some(e) = &step.error {
            eprintln!("tt-vault: {name}: error: {e}");
        }
    }

    pub fn schedule(&self, done: &Scheduled, installed: bool) {
        self.emit(done, |d| {
            let verb = if installed { "wrote" } else { "removed" };
            for f in &d.files {
                self.say(format!("{verb} {}", f.display()));
            }
            if !installed && d.files.is_empty() {
                self.say("no tt-vault timer was installed");
            }
            if installed && d.systemd {
                self.say("enabled and started the timer tt-vault.timer");
            }
            if let Some(note) = &d.systemd_note {
                self.say(format!("systemd: {note}"));
            }
            if let Some(line) = &d.crontab {
                self.say(format!("add this line with `crontab -e`:\n{line}"));
            }
            if let Some(logs) = &d.logs {
                self.say(format!("logs of the runs: {logs}"));
            }
        });
    }

    pub fn man_pages(&self, pages: &[PathBuf]) {
        self.emit(pages, |pages| {
            for p in pages {
                self.say(format!("wrote {}", p.display()));
            }
        });
    }
}

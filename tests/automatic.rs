//! The unattended routine through the binary: help headings, completions and man
//! pages, the configuration file, `run`, `schedule`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{write, zip_with, Env};

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sample")
        .join(rel)
}

/// The subcommands, as `tt-vault --help` lists them.
fn subcommands(env: &Env) -> Vec<String> {
    let help = env.ok(&["--help"]);
    let list = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    let names: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    names
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn help_lists_a_commands_own_options_before_the_global_ones() {
    let env = Env::new();
    for cmd in ["snapshot", "restore", "run", "verify"] {
        let help = env.ok(&[cmd, "--help"]);
        let own = help.find("Options:").expect("own options");
        let global = help.find("Global options:").expect("a global heading");
        assert!(own < global, "{cmd}: {help}");
        let globals = &help[global..];
        for flag in ["--vault", "--json", "--quiet", "--verbose", "--config"] {
            assert!(globals.contains(flag), "{cmd}: {flag} not global: {help}");
            assert!(!help[..global].contains(flag), "{cmd}: {flag} interleaved");
        }
    }
}

#[test]
fn every_shells_completion_script_names_every_command() {
    let env = Env::new();
    let names = subcommands(&env);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = env.ok(&["completions", shell]);
        assert!(script.contains("tt-vault"), "{shell}");
        for n in &names {
            assert!(script.contains(n.as_str()), "{shell} misses {n}");
        }
    }
    if have("bash") {
        let file = env.path("tt-vault.bash");
        fs::write(&file, env.ok(&["completions", "bash"])).unwrap();
        let st = Command::new("bash").arg("-n").arg(&file).status().unwrap();
        assert!(st.success(), "bash -n rejects the script");
    }
    env.expect(&["completions", "tcsh"], 2);
}

#[test]
fn man_pages_render_and_cover_every_command() {
    let env = Env::new();
    let page = env.ok(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH tt-vault"),
        "{page}"
    );
    for n in subcommands(&env) {
        // roff writes a hyphen as `\-`.
        assert!(
            page.contains(&n.replace('-', "\\-")),
            "tt-vault.1 misses {n}"
        );
    }
    let dir = env.path("man");
    let listed = env.json(&["man", "--all", dir.to_str().unwrap()]);
    let listed = listed.as_array().unwrap();
    for n in subcommands(&env) {
        let file = dir.join(format!("tt-vault-{n}.1"));
        assert!(file.is_file(), "no page for {n}");
        assert!(listed.iter().any(|p| p.as_str() == file.to_str()));
    }
    let main = env.path("tt-vault.1");
    fs::write(&main, &page).unwrap();
    if !have("groff") {
        eprintln!("groff is not installed: the man pages are not rendered (CI installs it)");
        return;
    }
    for file in [
        main,
        dir.join("tt-vault-run.1"),
        dir.join("tt-vault-snapshot.1"),
    ] {
        let out = Command::new("groff")
            .args(["-man", "-z", "-ww"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", file.display());
        assert!(
            out.stderr.is_empty(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .arg(dir.join("tt-vault-run.1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("The whole configured job"), "{text}");
}

/// An export folder where TikTok's ZIPs arrive: the June export, and the November
/// one downloaded a day later.
fn export_folder(dir: &Path) -> (PathBuf, PathBuf) {
    let june = dir.join("TikTok_Data_1780000000.zip");
    let november = dir.join("TikTok_Data_1790000000.zip");
    for (zip, src) in [(&june, "export-2026-06"), (&november, "export-2026-11")] {
        let json = fs::read(sample(&format!("{src}/user_data_tiktok.json"))).unwrap();
        zip_with(zip, &[("user_data_tiktok.json", &json)]);
    }
    let now = SystemTime::now();
    set_mtime(&june, now - Duration::from_secs(86_400));
    set_mtime(&november, now - Duration::from_secs(3600));
    (june, november)
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A config file in a temporary XDG_CONFIG_HOME naming the vault and two accounts.
fn configured(env: &Env) -> PathBuf {
    let xdg = env.path("xdg");
    let media = env.path("saved");
    common::copy_tree(&sample("saved_videos"), &media);
    let config = format!(
        r#"# two accounts, one with an export folder
vault = "{vault}"

[download]
lists = []   # offline: the sample's posts are not fetched

[retention]
keep_last = 1

[verify]
sample = 100

[[account]]
name = "alice"
exports = "{exports}"

[[account]]
name = "bob"
media = ["{media}"]
"#,
        vault = env.vault().display(),
        exports = env.path("exports").display(),
        media = media.display(),
    );
    write(&xdg.join("tt-vault/config.toml"), config.as_bytes());
    xdg
}

/// `tt-vault` with only the config file to go by (no TT_VAULT).
fn by_config(env: &Env, xdg: &Path, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env_remove("TT_VAULT")
        .env("XDG_CONFIG_HOME", xdg)
        .env("TT_VAULT_NO_SYSTEMD", "1")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &std::process::Output, code: i32) -> serde_json::Value {
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{so}\nstderr:\n{se}"
    );
    serde_json::from_str(&so).unwrap_or_else(|e| panic!("not JSON ({e}): {so}"))
}

#[test]
fn run_snapshots_every_account_from_the_config_then_forgets_prunes_and_verifies() {
    let env = Env::new();
    let xdg = configured(&env);
    let (_, november) = export_folder(&env.path("exports"));

    let report = json_of(&by_config(&env, &xdg, &["run", "--json"]), 0);
    assert_eq!(report["exit_code"], 0, "{report:#}");
    let accounts = report["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["account"], "alice");
    assert_eq!(accounts[0]["export"], november.to_str().unwrap());
    assert!(accounts[0]["snapshot"]["files"].as_u64().unwrap() >= 1);
    assert_eq!(accounts[1]["account"], "bob");
    assert!(accounts[1]["snapshot"]["files"].as_u64().unwrap() >= 3);
    assert_eq!(report["forget"]["status"], "ok");
    assert_eq!(report["verify"]["status"], "ok");
    assert_eq!(report["verify"]["report"]["mode"], "sample 100%");
    // The newer export is the one catalogued: November's bio.
    let profile = env.json(&["show", "profile", "--account", "alice"]);
    assert!(profile.to_string().contains("Rye month"), "{profile}");

    // Again: alice's newest export is in the vault, so alice is skipped; bob's new
    // snapshot replaces the old one (keep_last = 1), and prune frees nothing it needs.
    let out = by_config(&env, &xdg, &["run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("account alice: no new TikTok_Data_*.zip"),
        "{text}"
    );
    assert!(text.contains("run: done, no problems"), "{text}");
    let snaps = env.json(&["snapshots"]);
    let per = |a: &str| {
        snaps
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["account"] == a)
            .count()
    };
    assert_eq!((per("alice"), per("bob")), (1, 1), "{snaps:#}");

    // A copy of an archived export under a new name is recognised by its bytes.
    fs::copy(&november, env.path("exports/TikTok_Data_1800000000.zip")).unwrap();
    let out = json_of(
        &by_config(&env, &xdg, &["snapshot", "--account", "alice", "--json"]),
        0,
    );
    assert!(out[0]["snapshot"].is_null(), "{out:#}");
    assert!(out[0]["skipped"]
        .as_str()
        .unwrap()
        .contains("already in the vault"));

    // `snapshot` with no sources does every configured account; a third ZIP is taken.
    let newest = env.path("exports/TikTok_Data_1900000000.zip");
    let json = fs::read(sample("export-2026-06/user_data_tiktok.json")).unwrap();
    zip_with(
        &newest,
        &[("user_data_tiktok.json", &json), ("extra.txt", b"x")],
    );
    let out = json_of(&by_config(&env, &xdg, &["snapshot", "--json"]), 0);
    assert_eq!(out.as_array().unwrap().len(), 2);
    assert_eq!(out[0]["export"], newest.to_str().unwrap());
    assert!(out[1]["snapshot"]["id"].is_string());
}

#[test]
fn a_run_that_finds_problems_exits_1_and_notifies() {
    let env = Env::new();
    let xdg = configured(&env);
    export_folder(&env.path("exports"));
    json_of(&by_config(&env, &xdg, &["run", "--json"]), 0);
    // Damage a pack: verify --sample 100 (from the config) must find it.
    let pack = common::files_under(&env.vault().join("packs"))
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[40] ^= 0xff;
    fs::write(&pack, bytes).unwrap();
    let got = env.path("notified.json");
    let notify = format!("cat > '{}'", got.display());
    let report = json_of(
        &by_config(&env, &xdg, &["run", "--json", "--notify-cmd", &notify]),
        1,
    );
    assert_eq!(report["verify"]["status"], "problems");
    let sent: serde_json::Value = serde_json::from_slice(&fs::read(&got).unwrap()).unwrap();
    assert_eq!(sent["exit_code"], 1);
    assert_eq!(sent["verify"]["report"]["ok"], false);
}

#[test]
fn a_bad_config_names_its_line() {
    let env = Env::new();
    let xdg = env.path("xdg");
    let file = xdg.join("tt-vault/config.toml");
    write(
        &file,
        b"vault = \"v\"\n\n[retention]\nkeep_daily = \"often\"\n",
    );
    let out = by_config(&env, &xdg, &["snapshots"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("line 4, column 14"), "{err}");
    // An unknown key is named with its line too, and --config picks the file.
    let other = env.path("other.toml");
    write(&other, b"[[account]]\nname = \"a\"\nexport = \"x\"\n");
    let (_, err) = env.expect(&["--config", other.to_str().unwrap(), "snapshots"], 2);
    assert!(
        err.contains("line 3, column 1") && err.contains("export"),
        "{err}"
    );
    let (_, err) = env.expect(&["--config", "/nonexistent/tt.toml", "snapshots"], 2);
    assert!(err.contains("/nonexistent/tt.toml"), "{err}");
}

#[test]
fn schedule_installs_a_persistent_timer_and_removes_it() {
    let env = Env::new();
    let xdg = env.path("xdg");
    let out = by_config(
        &env,
        &xdg,
        &[
            "--vault",
            env.vault().to_str().unwrap(),
            "schedule",
            "--install",
            "daily",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let units = xdg.join("systemd/user");
    let service = fs::read_to_string(units.join("tt-vault.service")).unwrap();
    let timer = fs::read_to_string(units.join("tt-vault.timer")).unwrap();
    assert!(
        service.contains(&format!(
            "ExecStart={} --vault {} run",
            common::bin(),
            env.vault().display()
        )),
        "{service}"
    );
    assert!(service.contains("Type=oneshot"));
    for line in [
        "OnCalendar=daily",
        "Persistent=true",
        "WantedBy=timers.target",
    ] {
        assert!(timer.contains(line), "{line}: {timer}");
    }
    // Without systemd: a crontab line, and where the logs go.
    assert!(text.contains("crontab -e"), "{text}");
    assert!(
        text.contains(&format!("17 3 * * * {} --vault", common::bin())),
        "{text}"
    );
    if have("systemd-analyze") {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(units.join("tt-vault.service"))
            .arg(units.join("tt-vault.timer"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("systemd-analyze is not installed: unit contents checked only");
    }

    let out = by_config(&env, &xdg, &["schedule", "--remove"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!units.join("tt-vault.service").exists());
    assert!(!units.join("tt-vault.timer").exists());
    let text = String::from_utf8_lossy(&by_config(&env, &xdg, &["schedule", "--remove"]).stdout)
        .into_owned();
    assert!(text.contains("no tt-vault timer was installed"), "{text}");
    env.expect(&["schedule"], 2);
}

#[test]
fn run_waits_for_another_writer() {
    use std::os::fd::AsRawFd;
    let env = Env::new();
    let xdg = configured(&env);
    export_folder(&env.path("exports"));
    use std::os::unix::fs::OpenOptionsExt;
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(env.vault().join("lock"))
        .unwrap();
    // SAFETY: plain flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let child = env
        .cmd()
        .env_remove("TT_VAULT")
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["run", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "run should wait for the lock"
    );
    drop(lock);
    let report = json_of(&child.wait_with_output().unwrap(), 0);
    assert!(
        report["accounts"][0]["snapshot"]["id"].is_string(),
        "{report:#}"
    );
}

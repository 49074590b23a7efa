//! `snapshot --profile NAME` through the binary against the local TikTok-like server:
//! the public profile page becomes a profile version (both page layouts), a changed bio
//! shows in `diff` and `show profile --date`, listed posts are downloaded once, a
//! private, missing or blocked account is recorded as data, a configured account's
//! `profile` is acted on by `snapshot` and `run`, and `serve` shows the archived avatar.

mod common;
mod support;

use std::path::PathBuf;

use common::{write, Env};
use serde_json::Value;
use support::tiktok_server::{self as tt, profiles, Server};
use support::viewer::Viewer;

/// `snapshot --profile NAME --time TIME` against `server`; its JSON report.
fn watch(env: &Env, server: &Server, name: &str, time: &str, code: i32) -> Value {
    let out = env
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .args(["snapshot", "--profile", name, "--time", time, "--json"])
        .args(["--timeout", "2", "--retries", "1", "--rate", "50"])
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(code), "{so}\n{se}");
    serde_json::from_str(&so).unwrap_or_else(|e| panic!("not JSON ({e}): {so}"))
}

fn notes(report: &Value) -> String {
    report["notes"].to_string()
}

fn avatar_hash(user: &str) -> String {
    blake3::hash(&tt::media_bytes(&tt::avatar_name(user)))
        .to_hex()
        .to_string()
}

#[test]
fn a_profile_page_is_recorded_and_a_changed_bio_shows_in_diff() {
    let server = Server::start();
    let env = Env::new();
    let first = watch(&env, &server, "@alice", "2026-11-01T10:00:00Z", 0);
    assert_eq!(first["account"], "alice");
    assert!(first["failed"].as_array().unwrap().is_empty(), "{first:#}");
    assert!(notes(&first).contains("listing unavailable"), "{first:#}");
    assert!(notes(&first).contains("1200 followers"), "{first:#}");
    let paths = env.latest_paths();
    assert!(paths.contains(&"profile/alice/profile.json".to_string()));
    assert!(paths.contains(&"profile/alice/avatar.jpeg".to_string()));

    let shown = env.json(&["show", "profile", "--account", "alice"]);
    assert_eq!(shown["bio"], profiles::BIO, "{shown:#}");
    assert_eq!(shown["display_name"], "ALICE");
    assert_eq!(shown["bio_link"], "https://example.org/alice");
    assert_eq!(
        (&shown["followers"], &shown["following"]),
        (&Value::from(1200), &Value::from(80))
    );
    assert_eq!(
        (&shown["hearts"], &shown["videos"]),
        (&Value::from(50000), &Value::from(42))
    );
    assert_eq!(shown["verified"], false);
    assert_eq!(shown["avatar"]["hash"], avatar_hash("alice"));
    assert_eq!(shown["sources"]["bio"], "profile page");
    assert_eq!(
        shown["profile_page"]["layout"],
        "__UNIVERSAL_DATA_FOR_REHYDRATION__"
    );
    assert!(shown["export"].is_null());
    let text = env.ok(&["show", "profile", "--account", "alice"]);
    assert!(
        text.contains(profiles::BIO) && text.contains("(profile page"),
        "{text}"
    );

    server.set_bio("alice", "Rye now, sourdough never");
    watch(&env, &server, "alice", "2026-11-02T10:00:00Z", 0);
    let diff = env.json(&["diff", "2026-11-01", "2026-11-02", "--account", "alice"]);
    assert_eq!(
        diff["profile_page"]["changed"]["bio"],
        serde_json::json!([profiles::BIO, "Rye now, sourdough never"]),
        "{diff:#}"
    );
    assert!(diff["profile_page"]["changed"].get("followers").is_none());
    let text = env.ok(&["diff", "2026-11-01", "latest", "--account", "alice"]);
    assert!(text.contains("profile page bio:"), "{text}");
    // `show profile --date` shows the page as it was then.
    let first_day = [
        "show",
        "profile",
        "--date",
        "2026-11-01",
        "--account",
        "alice",
    ];
    let then = env.json(&first_day);
    assert_eq!(then["bio"], profiles::BIO);
    let now = env.json(&["show", "profile", "--account", "alice"]);
    assert_eq!(now["bio"], "Rye now, sourdough never");
    // The same avatar bytes are stored once.
    assert_eq!(now["avatar"]["hash"], then["avatar"]["hash"]);

    // The index is a cache: the profile versions come back from the packs.
    let seen = |env: &Env| {
        [
            env.json(&first_day),
            env.json(&["diff", "2026-11-01", "2026-11-02", "--account", "alice"]),
        ]
    };
    let before = seen(&env);
    let rebuilt = env.json(&["rebuild-index"]);
    assert_eq!(rebuilt["profile_pages"], 2, "{rebuilt:#}");
    assert_eq!(seen(&env), before);

    // Forgetting a snapshot forgets the profile page it read.
    let newest = env.json(&["snapshots"]).as_array().unwrap()[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["forget", &newest]);
    let db = rusqlite::Connection::open(env.vault().join("vault.db")).unwrap();
    let rows: i64 = db
        .query_row("SELECT count(*) FROM profile_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    let now = env.json(&["show", "profile", "--account", "alice"]);
    assert_eq!(now["bio"], profiles::BIO);
}

#[test]
fn show_profile_names_the_source_of_each_field() {
    let server = Server::start();
    let env = Env::new();
    // The page read in May, the export of June: the export is newer where both speak.
    watch(&env, &server, "alice", "2026-05-01T10:00:00Z", 0);
    let export = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sample/export-2026-06/user_data_tiktok.json");
    env.ok(&[
        "snapshot",
        "--export",
        export.to_str().unwrap(),
        "--download",
        "none",
        "--account",
        "alice",
        "--time",
        "2026-06-01T10:00:00Z",
    ]);
    let shown = env.json(&["show", "profile", "--account", "alice"]);
    assert!(
        shown["bio"].as_str().unwrap().contains("Lisbon"),
        "{shown:#}"
    );
    assert_eq!(shown["sources"]["bio"], "export");
    assert_eq!(shown["followers"], 1200);
    assert_eq!(shown["sources"]["followers"], "profile page");
    assert_eq!(shown["sources"]["avatar"], "profile page");
    assert!(shown["counts"]["posts"].as_u64().unwrap() > 0, "{shown:#}");
    let text = env.ok(&["show", "profile", "--account", "alice"]);
    assert!(
        text.contains("(export of 2026-06-01") && text.contains("(profile page, read"),
        "{text}"
    );
    // Before the export, the page alone.
    let may = env.json(&[
        "show",
        "profile",
        "--account",
        "alice",
        "--date",
        "2026-05-02",
    ]);
    assert_eq!(may["bio"], profiles::BIO);
    assert_eq!(may["sources"]["bio"], "profile page");
}

#[test]
fn the_older_layout_lists_posts_that_are_downloaded_once() {
    let server = Server::start();
    let env = Env::new();
    let first = watch(&env, &server, profiles::SIGI, "2026-11-01T10:00:00Z", 0);
    assert!(
        notes(&first).contains("2 posts listed: 2 archived"),
        "{first:#}"
    );
    let paths = env.latest_paths();
    for id in profiles::LISTED {
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("videos/") && p.contains(id)),
            "{id}: {paths:?}"
        );
    }
    let shown = env.json(&["show", "profile", "--account", "bob"]);
    assert_eq!(shown["profile_page"]["layout"], "SIGI_STATE");
    assert_eq!(shown["profile_page"]["listed"], 2);
    assert_eq!(shown["followers"], 1200);
    let pages_before = server.requests_to("/@bob/video/").len();
    assert_eq!(pages_before, 2);

    let second = watch(&env, &server, profiles::SIGI, "2026-11-02T10:00:00Z", 0);
    assert!(
        notes(&second).contains("0 archived, 2 already in the vault"),
        "{second:#}"
    );
    assert_eq!(server.requests_to("/@bob/video/").len(), pages_before);
    for id in profiles::LISTED {
        let video = tt::video_name(id);
        assert_eq!(server.requests_to(&format!("/media/{video}")).len(), 1);
    }
    // The second snapshot holds the posts all the same, linked in.
    let paths = env.latest_paths();
    assert!(profiles::LISTED
        .iter()
        .all(|id| paths.iter().any(|p| p.contains(id))));

    // A listed post also given with --url is fetched once and stored once.
    let fresh = Env::new();
    let link = format!("https://www.tiktok.com/@bob/video/{}", profiles::LISTED[0]);
    let out = fresh
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .args(["snapshot", "--profile", "bob", "--url", &link, "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(
        notes(&report).contains("1 archived, 1 already in the vault"),
        "{report:#}"
    );
    let mp4s = fresh
        .latest_paths()
        .into_iter()
        .filter(|p| p.ends_with(".mp4"));
    assert_eq!(mp4s.count(), 2);
}

#[test]
fn private_missing_and_blocked_accounts_are_recorded_not_fatal() {
    let server = Server::start();
    let env = Env::new();
    for (name, reason) in [
        (profiles::PRIVATE, "private_account"),
        (profiles::MISSING, "account_not_found"),
        (profiles::BLOCKED, "blocked"),
        (profiles::GONE, "account_not_found"),
        (profiles::WALLED_SHUT, "blocked"),
    ] {
        let report = watch(&env, &server, name, "2026-11-01T10:00:00Z", 1);
        let failed = report["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{report:#}");
        assert_eq!(failed[0]["reason"], reason, "{report:#}");
        assert_eq!(failed[0]["source"], "profile");
        assert_eq!(failed[0]["link"], format!("https://www.tiktok.com/@{name}"));
        assert!(
            report["id"].is_string(),
            "the snapshot is taken: {report:#}"
        );
        let shown = env.json(&["show", "profile", "--account", name]);
        assert_eq!(shown["profile_page_failed"]["reason"], reason, "{shown:#}");
        assert!(shown["profile_page"].is_null() && shown["bio"].is_null());
        let text = env.ok(&["show", "profile", "--account", name]);
        assert!(
            text.contains("profile page   not read at this snapshot"),
            "{text}"
        );
    }
    // A private account whose page shows its fields: the fields are recorded, and a
    // note says its posts are not public.
    let shy = watch(
        &env,
        &server,
        profiles::PRIVATE_SHOWN,
        "2026-11-01T10:00:00Z",
        0,
    );
    assert!(
        notes(&shy).contains("private account: its posts are not public"),
        "{shy:#}"
    );
    let shown = env.json(&["show", "profile", "--account", profiles::PRIVATE_SHOWN]);
    assert_eq!(shown["private"], true, "{shown:#}");
    // The bot wall is answered and the page read.
    let walled = watch(&env, &server, profiles::WALLED, "2026-11-01T10:00:00Z", 0);
    assert!(
        walled["failed"].as_array().unwrap().is_empty(),
        "{walled:#}"
    );
    // An avatar on a private address is refused, and the profile recorded without it.
    let elsewhere = Server::start_on("127.0.0.2");
    server.set_elsewhere(&elsewhere.base);
    let far = watch(
        &env,
        &server,
        profiles::AVATAR_ELSEWHERE,
        "2026-11-01T10:00:00Z",
        0,
    );
    assert!(
        notes(&far).contains("avatar not stored: address refused"),
        "{far:#}"
    );
    assert!(elsewhere.requests().is_empty());
    let shown = env.json(&["show", "profile", "--account", profiles::AVATAR_ELSEWHERE]);
    assert!(
        shown["avatar"].is_null() && shown["bio"] == profiles::BIO,
        "{shown:#}"
    );
    // Not a username: refused before anything is fetched.
    let (_, err) = env.expect(&["snapshot", "--profile", "../etc"], 2);
    assert!(err.contains("not a TikTok username"), "{err}");
}

/// A config whose only account is watched through its `profile` key (the lists to
/// download apply to exports: an account without one snapshots all the same).
fn config_with_profile(env: &Env) -> PathBuf {
    let xdg = env.path("xdg");
    let config = format!(
        "vault = \"{}\"\n[download]\nlists = [\"posts\"]\n\n[[account]]\nname = \"baker\"\nprofile = \"{}\"\n",
        env.vault().display(),
        profiles::UNIVERSAL
    );
    write(&xdg.join("tt-vault/config.toml"), config.as_bytes());
    xdg
}

#[test]
fn a_configured_profile_is_watched_by_snapshot_and_run() {
    let server = Server::start();
    let env = Env::new();
    let xdg = config_with_profile(&env);
    let by_config = |args: &[&str]| {
        let out = env
            .cmd()
            .env_remove("TT_VAULT")
            .env("XDG_CONFIG_HOME", &xdg)
            .env("TT_VAULT_TIKTOK_BASE", &server.base)
            .args(args)
            .output()
            .unwrap();
        let so = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{so}");
        serde_json::from_str::<Value>(&so).unwrap()
    };
    let runs = by_config(&["snapshot", "--json"]);
    assert_eq!(runs[0]["account"], "baker", "{runs:#}");
    assert!(
        notes(&runs[0]["snapshot"]).contains("1200 followers"),
        "{runs:#}"
    );
    let report = by_config(&["run", "--json"]);
    assert_eq!(report["exit_code"], 0, "{report:#}");
    assert!(report["accounts"][0]["snapshot"]["id"].is_string());
    let pages = server.requests_to("/@alice");
    assert_eq!(pages.iter().filter(|r| r.path == "/@alice").count(), 2);
    let shown = env.json(&["show", "profile", "--account", "baker"]);
    assert_eq!(shown["username"], "alice");
}

#[tokio::test]
async fn serve_shows_the_archived_avatar_and_the_profile_history() {
    let server = Server::start();
    let env = Env::new();
    watch(&env, &server, "alice", "2026-11-01T10:00:00Z", 0);
    server.set_bio("alice", "A new bio");
    watch(&env, &server, "alice", "2026-11-02T10:00:00Z", 0);
    let fetched = server.requests_to("/media/avatar-").len();
    let snaps = env.json(&["snapshots"]);
    let latest = snaps.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let viewer = Viewer::start(env.cmd(), &[]);
    let c = viewer.client().await;
    let get = async |path: &str| {
        let r = c
            .get(format!("{}{path}", viewer.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
        r.bytes().await.unwrap()
    };
    let page = String::from_utf8(get(&format!("/s/{latest}")).await.to_vec()).unwrap();
    let hash = avatar_hash("alice");
    let src = format!("/media/{hash}.jpeg");
    assert!(page.contains(&format!("src=\"{src}\"")), "{page}");
    assert!(
        page.contains("A new bio") && page.contains(profiles::BIO),
        "{page}"
    );
    assert!(page.contains("Followers"), "{page}");
    let bytes = get(&src).await;
    assert_eq!(&bytes[..], &tt::media_bytes(&tt::avatar_name("alice"))[..]);
    // Served from the vault: TikTok was not asked again.
    assert_eq!(server.requests_to("/media/avatar-").len(), fetched);
    drop(viewer);

    // Between two snapshots with exports, "what changed" shows the profile page's edits.
    for (month, bio) in [("06", "A June bio"), ("11", "A November bio")] {
        server.set_bio("alice", bio);
        let export = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "examples/sample/export-2026-{month}/user_data_tiktok.json"
        ));
        let out = env
            .cmd()
            .env("TT_VAULT_TIKTOK_BASE", &server.base)
            .args([
                "snapshot",
                "--profile",
                "alice",
                "--download",
                "none",
                "--export",
            ])
            .arg(export)
            .args([
                "--account",
                "alice",
                "--time",
                &format!("2026-12-{month}T10:00:00Z"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let latest = env.json(&["snapshots"]).as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let viewer = Viewer::start(env.cmd(), &[]);
    let c = viewer.client().await;
    let r = c
        .get(format!("{}/s/{latest}/diff", viewer.base))
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("Public profile page"), "{page}");
    assert!(
        page.contains("A June bio") && page.contains("A November bio"),
        "{page}"
    );
}

#[test]
fn an_encrypted_vault_records_and_rebuilds_profile_pages() {
    let server = Server::start();
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
    };
    let pass = env.path("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .env("TT_VAULT_KDF", "test")
            .env("TT_VAULT_PASSWORD_FILE", &pass)
            .env("TT_VAULT_TIKTOK_BASE", &server.base)
            .args(args)
            .output()
            .unwrap();
        let so = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {so}\n{out:?}");
        so
    };
    run(&["init", "--encrypt"]);
    run(&["snapshot", "--profile", "alice"]);
    let shown: Value = serde_json::from_str(&run(&["show", "profile", "--json"])).unwrap();
    assert_eq!(shown["bio"], profiles::BIO);
    // Ids are keyed in an encrypted vault: the avatar's is not its plain BLAKE3.
    let id = shown["avatar"]["hash"].as_str().unwrap().to_string();
    assert_ne!(id, avatar_hash("alice"));
    let rebuilt: Value = serde_json::from_str(&run(&["rebuild-index", "--json"])).unwrap();
    assert_eq!(rebuilt["profile_pages"], 1, "{rebuilt:#}");
    let again: Value = serde_json::from_str(&run(&["show", "profile", "--json"])).unwrap();
    assert_eq!(again, shown);
}

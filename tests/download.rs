//! `snapshot --url` through the binary against the local TikTok-like server: videos
//! land in the vault byte for byte, failures are recorded in the snapshot, posts
//! already archived are linked in without a request, and a killed run resumes.

mod common;
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{tree, Env};
use support::tiktok_server::{self as tt, ids, Server};

const DATE: &str = "2024-05-01";

fn link(id: &str) -> String {
    format!("https://www.tiktok.com/@someone/video/{id}")
}

fn snapshot_urls(
    env: &Env,
    server: &Server,
    ids: &[&str],
    extra: &[&str],
    code: i32,
) -> serde_json::Value {
    let extra: Vec<&str> = extra.iter().copied().chain(["--json"]).collect();
    serde_json::from_str(&snapshot_urls_text(env, server, ids, &extra, code)).unwrap()
}

/// `snapshot --url` of `ids` (`short` for the short link), its stdout.
fn snapshot_urls_text(
    env: &Env,
    server: &Server,
    ids: &[&str],
    extra: &[&str],
    code: i32,
) -> String {
    let mut args: Vec<String> = vec!["snapshot".into(), "--account".into(), "alice".into()];
    for id in ids {
        args.push("--url".into());
        args.push(if *id == "short" {
            tt::SHORT_LINK.to_string()
        } else {
            link(id)
        });
    }
    args.extend(["--timeout", "1", "--retries", "1", "--rate", "50"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = env
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .args(&args)
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{so}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    so.into_owned()
}

#[test]
fn downloads_land_in_the_vault_and_failures_are_recorded() {
    let env = Env::new();
    let server = Server::start();
    let good = [ids::CODECS, ids::SIGI, ids::WAF, ids::RATE_LIMITED];
    let bad = [
        ids::GONE,
        ids::STATUS_10216,
        ids::STATUS_10204,
        ids::NO_SCRIPT,
    ];
    let all: Vec<&str> = good
        .iter()
        .chain(bad.iter())
        .copied()
        .chain(["short", ids::PHOTO])
        .collect();
    let s = snapshot_urls(&env, &server, &all, &[], 1);

    let failed = s["failed"].as_array().unwrap();
    let reason = |id: &str| {
        failed
            .iter()
            .find(|f| f["id"] == id)
            .map(|f| f["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason(ids::GONE).as_deref(), Some("deleted"));
    assert_eq!(reason(ids::STATUS_10216).as_deref(), Some("private_post"));
    assert_eq!(reason(ids::STATUS_10204).as_deref(), Some("blocked"));
    assert_eq!(reason(ids::NO_SCRIPT).as_deref(), Some("bad_page"));
    assert_eq!(failed.len(), 4, "{failed:?}");
    assert!(
        s["notes"][0].as_str().unwrap().contains("6 archived"),
        "{s}"
    );

    // Restore and compare with what the server served.
    let out = env.path("out");
    env.ok(&["restore", "--latest", "--to", out.to_str().unwrap()]);
    let got = tree(&out);
    for id in good.iter().chain([&ids::SHORT_TARGET]) {
        let path = out.join(format!("videos/{DATE}_{id}.mp4"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            tt::media_bytes(&tt::video_name(id)),
            "{id}"
        );
        assert!(
            got.contains_key(&format!("videos/{DATE}_{id}.json")),
            "{id}: no sidecar"
        );
    }
    for n in 1..=3 {
        assert!(got.contains_key(&format!("videos/{DATE}_{}_0{n}.jpeg", ids::PHOTO)));
    }
    for id in bad {
        assert!(!got.keys().any(|k| k.contains(id)), "{id} stored");
    }
    env.ok(&["verify", "--read-data"]);

    // A second run fetches nothing new for what is archived: no media request, and
    // the videos are linked into the new snapshot.
    let before = server.requests().len();
    let again = snapshot_urls(&env, &server, &good, &[], 0);
    assert_eq!(
        server.requests().len(),
        before,
        "a second run asked the server again"
    );
    assert_eq!(again["stored_bytes"], 0);
    let ls = env.json(&["ls", "latest"]);
    let paths: Vec<&str> = ls["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for id in good {
        assert!(
            paths.contains(&format!("videos/{DATE}_{id}.mp4").as_str()),
            "{paths:?}"
        );
    }
}

#[test]
fn a_killed_download_resumes_without_refetching() {
    let env = Env::new();
    let server = Server::start();
    // The slow post keeps the run busy long enough to kill it after the fast ones.
    let mut child = env
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .env("TT_VAULT_CHECKPOINT_SECS", "0")
        .args([
            "snapshot",
            "--account",
            "alice",
            "--jobs",
            "1",
            "--rate",
            "50",
            "--timeout",
            "10",
        ])
        .args([
            "--url",
            &link(ids::CODECS),
            "--url",
            &link(ids::SIGI),
            "--url",
            &link(ids::SLOW_ALWAYS),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while server
        .requests_to(&format!("/@someone/video/{}", ids::SLOW_ALWAYS))
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never reached the slow post"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 0);
    env.ok(&["verify", "--read-data"]);

    // The rerun fetches only what is missing: the two finished posts come from the
    // killed run's journal, without a request.
    let media_before = server.requests_to("/media").len();
    let pages_before = server.requests().len();
    let s = snapshot_urls(&env, &server, &[ids::CODECS, ids::SIGI], &[], 0);
    assert_eq!(
        server.requests().len(),
        pages_before,
        "the rerun asked the server again"
    );
    assert_eq!(server.requests_to("/media").len(), media_before);
    assert!(s["stored_bytes"].as_u64().unwrap() < 10_000, "{s}");
    let restored = env.path("out");
    env.ok(&["restore", "--latest", "--to", restored.to_str().unwrap()]);
    for id in [ids::CODECS, ids::SIGI] {
        let got = std::fs::read(restored.join(format!("videos/{DATE}_{id}.mp4"))).unwrap();
        assert_eq!(got, tt::media_bytes(&tt::video_name(id)));
    }
    assert!(s["files"].as_u64().unwrap() >= 4);
}

/// An export (2024 layout) whose own posts live on the local server: the default
/// `--download posts` fetches them, `show posts` tells archived from failed.
#[test]
fn export_posts_are_downloaded_and_shown() {
    let env = Env::new();
    let server = Server::start();
    let post = |id: &str, date: &str| serde_json::json!({"Date": date, "Link": format!("https://www.tiktokv.com/share/video/{id}/"), "Likes": "3"});
    let export = serde_json::json!({
        "Profile": {"Profile Info": {"ProfileMap": {"userName": "carol", "bioDescription": "hi"}}},
        "Post": {"Posts": {"VideoList": [
            post(ids::CODECS, "2024-05-01 10:00:00"),
            post(ids::GONE, "2024-04-01 10:00:00"),
            post(ids::SIGI, "2024-03-01 10:00:00"),
        ]}},
        "Your Activity": {"Like List": {"ItemFavoriteList": [
            {"date": "2024-05-02 10:00:00", "link": format!("https://www.tiktokv.com/share/video/{}/", ids::PHOTO)}
        ]}}
    });
    let path = env.path("user_data_tiktok.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&export).unwrap()).unwrap();
    let run = |extra: &[&str], code: i32| {
        let out = env
            .cmd()
            .env("TT_VAULT_TIKTOK_BASE", &server.base)
            .args([
                "snapshot",
                "--export",
                path.to_str().unwrap(),
                "--rate",
                "50",
                "--timeout",
                "2",
                "--json",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let s = run(&[], 1);
    assert_eq!(s["account"], "carol");
    assert_eq!(s["failed"].as_array().unwrap().len(), 1, "{s}");
    // Likes are not fetched by default.
    assert!(server
        .requests_to(&format!("/@_/video/{}", ids::PHOTO))
        .is_empty());

    let posts = env.json(&["show", "posts"]);
    let by_id = |id: &str| {
        posts
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id(ids::CODECS)["archived"], true);
    assert_eq!(by_id(ids::SIGI)["archived"], true);
    assert_eq!(by_id(ids::GONE)["archived"], false);
    assert_eq!(by_id(ids::GONE)["failure"]["reason"], "deleted");

    // Asking for likes too fetches only the like; the posts are already archived.
    let before = server.requests_to("/media").len();
    run(&["--download", "posts,likes"], 1);
    let media: Vec<String> = server
        .requests_to("/media")
        .iter()
        .skip(before)
        .map(|r| r.path.clone())
        .collect();
    assert!(
        media
            .iter()
            .all(|p| p.contains(ids::PHOTO) || p.contains("avatar")),
        "{media:?}"
    );
    let likes = env.json(&["show", "likes"]);
    assert_eq!(likes[0]["archived"], true, "{likes}");
}

/// Runs `tt-vault snapshot` against the server with the small timeout flags; returns
/// (exit code, stdout, stderr).
fn run_snapshot(env: &Env, server: &Server, args: &[&str]) -> (Option<i32>, String, String) {
    let out = env
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .arg("snapshot")
        .args(args)
        .args(["--timeout", "1", "--retries", "1", "--rate", "50"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn failure_of<'a>(s: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    s["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("no failed list: {s}"))
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} not among the failures: {s}"))
}

#[test]
fn a_cookies_file_opens_the_users_private_post() {
    let server = Server::start();
    let page = format!("/@someone/video/{}", ids::NEEDS_SESSION);

    // Without the session: a private post, recorded, nothing stored for it.
    let without = Env::new();
    let s = snapshot_urls(&without, &server, &[ids::NEEDS_SESSION, ids::SIGI], &[], 1);
    let f = failure_of(&s, ids::NEEDS_SESSION);
    assert_eq!(f["reason"], "private_post", "{f}");
    assert_eq!(s["failed"].as_array().unwrap().len(), 1, "{s}");
    assert!(!without
        .latest_paths()
        .iter()
        .any(|p| p.contains(ids::NEEDS_SESSION)));
    let asked = server.requests_to(&page);
    assert!(!asked.is_empty());
    assert!(asked.iter().all(|r| r.cookie("sessionid").is_none()));

    // With a Netscape cookies.txt holding the session (a comment, an HttpOnly line
    // and an unrelated expired cookie, as browser extensions write them). The test
    // server speaks plain http, and a Secure cookie never goes over http, so this
    // session cookie is marked non-Secure; a Secure one beside it must stay home.
    let env = Env::new();
    let cookies = env.path("cookies.txt");
    std::fs::write(
        &cookies,
        format!(
            "# Netscape HTTP Cookie File\n\
             # This is a generated file! Do not edit.\n\n\
             .tiktok.com\tTRUE\t/\tFALSE\t1\told_cookie\tstale\n\
             #HttpOnly_.tiktok.com\tTRUE\t/\tFALSE\t0\tsessionid\t{}\n\
             .tiktok.com\tTRUE\t/\tTRUE\t0\tsecure_only\tnot-over-http\n",
            tt::SESSION
        ),
    )
    .unwrap();
    let s = snapshot_urls(
        &env,
        &server,
        &[ids::NEEDS_SESSION],
        &["--cookies", cookies.to_str().unwrap()],
        0,
    );
    assert_eq!(s["failed"].as_array().unwrap().len(), 0, "{s}");
    let last = server.requests_to(&page).pop().unwrap();
    assert_eq!(last.cookie("sessionid").as_deref(), Some(tt::SESSION));
    assert_eq!(
        last.cookie("old_cookie"),
        None,
        "an expired cookie was sent"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.cookie("secure_only").is_none()),
        "a Secure cookie went over plain http"
    );
    let out = env.path("out");
    env.ok(&["restore", "--latest", "--to", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join(format!("videos/{DATE}_{}.mp4", ids::NEEDS_SESSION))).unwrap(),
        tt::media_bytes(&tt::video_name(ids::NEEDS_SESSION))
    );

    // A cookies file that does not exist: a usage error naming it, nothing committed,
    // nothing asked of the server.
    let before = env.json(&["snapshots"]);
    let requests = server.requests().len();
    let missing = env.path("no-such-cookies.txt");
    let (code, _, err) = run_snapshot(
        &env,
        &server,
        &[
            "--account",
            "alice",
            "--url",
            &link(ids::CODECS),
            "--cookies",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no-such-cookies.txt"), "{err}");
    assert_eq!(env.json(&["snapshots"]), before);
    assert_eq!(server.requests().len(), requests, "the server was asked");
    env.ok(&["verify", "--read-data"]);
}

#[test]
fn repeated_blocks_stop_the_run() {
    let env = Env::new();
    let server = Server::start();
    // Ten posts of a user whose pages all answer 403, then a good post.
    let blocked: Vec<String> = (0..10)
        .map(|n| {
            format!(
                "https://www.tiktok.com/@{}/video/73100000000000000{n:02}",
                tt::BLOCKED_USER
            )
        })
        .collect();
    let mut args = vec!["--account", "alice", "--jobs", "1", "--json"];
    for l in &blocked {
        args.extend(["--url", l.as_str()]);
    }
    let good = link(ids::CODECS);
    args.extend(["--url", good.as_str()]);
    let (code, out, err) = run_snapshot(&env, &server, &args);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 11, "{s}");
    let reasons = |r: &str| failed.iter().filter(|f| f["reason"] == r).count();
    // The default max_blocked is 5.
    assert_eq!(reasons("blocked"), 5, "{s}");
    assert_eq!(reasons("stopped"), 6, "{s}");
    assert!(failed
        .iter()
        .filter(|f| f["reason"] == "blocked")
        .all(|f| f["http_status"] == 403));
    assert_eq!(failure_of(&s, ids::CODECS)["reason"], "stopped");
    // Nothing asked after the fifth block: five page requests, and that is all.
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        5,
        "{:?}",
        reqs.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert!(reqs
        .iter()
        .all(|r| r.path.starts_with(&format!("/@{}/", tt::BLOCKED_USER))));
    // The snapshot still completes, and says the run was stopped.
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
    let said = format!("{}{err}", s["notes"]);
    assert!(
        said.contains("5 blocked") && said.contains("6 not tried"),
        "the summary does not say so: {said}"
    );
    env.ok(&["verify", "--read-data"]);

    // With the default four jobs at once, posts already in flight may still be asked,
    // but never more than max_blocked + jobs - 1 pages.
    let env = Env::new();
    let server = Server::start();
    let many: Vec<String> = (0..16)
        .map(|n| {
            format!(
                "https://www.tiktok.com/@{}/video/73200000000000000{n:02}",
                tt::BLOCKED_USER
            )
        })
        .collect();
    let mut args = vec!["--account", "alice", "--json"];
    for l in &many {
        args.extend(["--url", l.as_str()]);
    }
    let (code, out, err) = run_snapshot(&env, &server, &args);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let stopped = s["failed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"] == "stopped")
        .count();
    let asked = server.requests().len();
    assert!(asked <= 8, "{asked} pages asked after the stop");
    assert_eq!(stopped, 16 - asked, "{s}");
}

/// A 2024-layout export whose own posts, likes and favourites live on the server.
fn lists_export(env: &Env) -> std::path::PathBuf {
    let share = |id: &str| format!("https://www.tiktokv.com/share/video/{id}/");
    let export = serde_json::json!({
        "Profile": {"Profile Info": {"ProfileMap": {"userName": "dana", "bioDescription": "hi"}}},
        "Post": {"Posts": {"VideoList": [
            {"Date": "2024-05-01 10:00:00", "Link": share(ids::CODECS), "Likes": "3"},
        ]}},
        "Your Activity": {
            "Like List": {"ItemFavoriteList": [
                {"date": "2024-05-02 10:00:00", "link": share(ids::SIGI)}
            ]},
            "Favorite Videos": {"FavoriteVideoList": [
                {"Date": "2024-05-03 10:00:00", "Link": share("7300000000000000021")}
            ]}
        }
    });
    let path = env.path("dl/user_data_tiktok.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&export).unwrap()).unwrap();
    path
}

#[test]
fn download_likes_fetches_only_the_likes() {
    let env = Env::new();
    let server = Server::start();
    let export = lists_export(&env);
    let export = export.to_str().unwrap();
    let (code, out, err) = run_snapshot(
        &env,
        &server,
        &["--export", export, "--download", "likes", "--json"],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["account"], "dana");
    // Only the like's page was asked for; not the own post, not the favourite.
    let pages: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.path.contains("/video/"))
        .map(|r| r.path.clone())
        .collect();
    assert!(!pages.is_empty());
    assert!(pages.iter().all(|p| p.contains(ids::SIGI)), "{pages:?}");
    let likes = env.json(&["show", "likes"]);
    assert_eq!(likes[0]["id"], ids::SIGI);
    assert_eq!(likes[0]["archived"], true, "{likes}");
    assert_eq!(env.json(&["show", "posts"])[0]["archived"], false);
    assert_eq!(env.json(&["show", "favorites"])[0]["archived"], false);
    let out = env.path("out");
    env.ok(&["restore", "--latest", "--to", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(out.join(format!("videos/2024-05-02_{}.mp4", ids::SIGI))).unwrap(),
        tt::media_bytes(&tt::video_name(ids::SIGI))
    );

    // `none` does not combine with a list; an unknown list is refused too. Neither
    // commits anything or asks the server.
    let before = env.json(&["snapshots"]);
    let requests = server.requests().len();
    for bad in ["posts,none", "none,likes", "posts,bogus"] {
        let (code, _, err) = run_snapshot(&env, &server, &["--export", export, "--download", bad]);
        assert_eq!(code, Some(2), "--download {bad}: {err}");
        assert!(
            err.contains("--download") || err.contains(bad),
            "{bad}: {err}"
        );
    }
    assert_eq!(env.json(&["snapshots"]), before);
    assert_eq!(server.requests().len(), requests);
}

#[test]
fn resets_and_short_bodies_are_network_failures_and_store_nothing() {
    let env = Env::new();
    let server = Server::start();
    let s = snapshot_urls(
        &env,
        &server,
        &[ids::RESET_ALWAYS, ids::SHORT_ALWAYS, ids::CODECS],
        &[],
        1,
    );
    assert_eq!(s["failed"].as_array().unwrap().len(), 2, "{s}");
    for id in [ids::RESET_ALWAYS, ids::SHORT_ALWAYS] {
        let f = failure_of(&s, id);
        assert_eq!(f["reason"], "network", "{id}: {f}");
        assert_eq!(f["retry_next_run"], true, "{id}: {f}");
        // --retries 1: the media was asked for twice.
        let media = server.requests_to(&format!("/media/{}", tt::video_name(id)));
        assert_eq!(media.len(), 2, "{id}");
        assert!(f["attempts"].as_u64().unwrap() >= 2, "{id}: {f}");
    }
    let paths = env.latest_paths();
    assert!(
        paths.contains(&format!("videos/{DATE}_{}.mp4", ids::CODECS)),
        "{paths:?}"
    );
    for id in [ids::RESET_ALWAYS, ids::SHORT_ALWAYS] {
        assert!(!paths.iter().any(|p| p.contains(id)), "{id}: {paths:?}");
    }
    env.ok(&["verify", "--read-data"]);
}

/// `snapshot -v` lists each failed post from its typed record: id, reason, detail,
/// HTTP status, attempts and link; without -v one line counts them.
#[test]
fn verbose_snapshot_lists_each_failure() {
    let env = Env::new();
    let server = Server::start();
    // A failed post is a problem found: exit 1.
    let run = |extra: &[&str]| snapshot_urls_text(&env, &server, &[ids::GONE], extra, 1);
    let quiet = run(&[]);
    assert!(
        quiet.contains("1 posts could not be fetched (recorded in the snapshot; -v lists them"),
        "{quiet}"
    );
    let verbose = run(&["-v"]);
    let line = verbose
        .lines()
        .find(|l| l.starts_with(&format!("  failed {}: ", ids::GONE)))
        .unwrap_or_else(|| panic!("no failure line: {verbose}"));
    assert!(line.contains("HTTP 404"), "{line}");
    assert!(line.contains(" attempts) "), "{line}");
    assert!(line.ends_with(&link(ids::GONE)), "{line}");
}

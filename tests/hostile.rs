//! Hostile servers and absurd numbers, through the binary (issue 10, findings 1–4):
//! nothing a server sends may reach another host with the user's cookies, spin the
//! bot-wall solver, fill memory or the disk; no number on the command line may panic.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::Env;
use support::tiktok_server::{self as tt, ids, Server};

fn link(id: &str) -> String {
    format!("https://www.tiktok.com/@someone/video/{id}")
}

/// `snapshot --url` for each id against `base`, with small timeouts; returns the exit
/// code and the JSON report (Null when the run printed none).
fn download(env: &Env, base: &str, ids: &[&str], extra: &[&str]) -> (i32, serde_json::Value) {
    let mut cmd = env.cmd();
    cmd.env("TT_VAULT_TIKTOK_BASE", base)
        .args(["snapshot", "--account", "a", "--json"])
        .args(["--timeout", "2", "--retries", "1", "--rate", "50"]);
    for id in ids {
        cmd.args(["--url", &link(id)]);
    }
    let out = cmd.args(extra).output().unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&so).unwrap_or(serde_json::Value::Null);
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed: {out:?}"));
    (code, report)
}

/// The recorded failure of post `id`: (reason, detail).
fn failure(report: &serde_json::Value, id: &str) -> (String, String) {
    let f = report["failed"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("{id} not among the failures: {report}"));
    (
        f["reason"].as_str().unwrap().to_string(),
        f["detail"].as_str().unwrap().to_string(),
    )
}

/// A cookies.txt with TikTok's session (non-Secure, as the base is plain http), a Secure
/// TikTok cookie, and cookies for loopback addresses and a foreign site.
fn cookies_file(env: &Env) -> String {
    let path = env.path("cookies.txt");
    std::fs::write(
        &path,
        format!(
            "# Netscape HTTP Cookie File\n\
             .tiktok.com\tTRUE\t/\tFALSE\t0\tsessionid\t{}\n\
             .tiktok.com\tTRUE\t/\tTRUE\t0\tsecure_only\ts\n\
             127.0.0.1\tFALSE\t/\tFALSE\t0\tlocal_one\tl1\n\
             127.0.0.2\tFALSE\t/\tFALSE\t0\tlocal_two\tl2\n\
             .example.com\tTRUE\t/\tFALSE\t0\tforeign\tf\n",
            tt::SESSION
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn no_request_cookie_or_referer_leaves_for_another_host() {
    let server = Server::start();
    let elsewhere = Server::start_on("127.0.0.2");
    let other_port = Server::start();
    let env = Env::new();
    let cookies = cookies_file(&env);
    let hostile = [
        ids::MEDIA_ELSEWHERE,
        ids::MEDIA_REDIRECT,
        ids::PAGE_REDIRECT,
        ids::MEDIA_LOCALHOST,
    ];
    for target in [&elsewhere, &other_port] {
        server.set_elsewhere(&target.base);
        let mut all = hostile.to_vec();
        all.push(ids::NEEDS_SESSION);
        let (code, s) = download(&env, &server.base, &all, &["--cookies", &cookies]);
        assert_eq!(code, 1, "{s}");
        for id in hostile {
            let (reason, detail) = failure(&s, id);
            assert_eq!(reason, "refused", "{id}: {detail}");
        }
        assert_eq!(s["failed"].as_array().unwrap().len(), hostile.len(), "{s}");
        assert!(
            target.requests().is_empty(),
            "{} was asked: {:?}",
            target.base,
            target.requests()
        );
    }
    let paths = env.latest_paths();
    for id in hostile {
        assert!(!paths.iter().any(|p| p.contains(id)), "{id}: {paths:?}");
    }
    // The base got TikTok's non-Secure session and nothing else from the file.
    let asked = server.requests();
    assert!(asked
        .iter()
        .any(|r| r.cookie("sessionid").as_deref() == Some(tt::SESSION)));
    for name in ["secure_only", "local_one", "local_two", "foreign"] {
        assert!(
            asked.iter().all(|r| r.cookie(name).is_none()),
            "cookie {name} was sent"
        );
    }

    // The base override may be any loopback address: then it, and only it, is asked,
    // with the session and the Referer.
    let (code, s) = download(
        &env,
        &elsewhere.base,
        &[ids::SIGI],
        &["--cookies", &cookies],
    );
    assert_eq!(code, 0, "{s}");
    let media = elsewhere.requests_to("/media/");
    assert_eq!(media.len(), 1, "{:?}", elsewhere.requests());
    assert_eq!(media[0].cookie("sessionid").as_deref(), Some(tt::SESSION));
    assert!(media[0].headers["referer"].starts_with("https://www.tiktok.com/"));
    assert!(elsewhere
        .requests()
        .iter()
        .all(|r| r.cookie("local_two").is_none()));
    env.ok(&["verify", "--read-data"]);
}

#[test]
fn impossible_bot_walls_are_blocked_within_seconds_and_the_run_goes_on() {
    let server = Server::start();
    let env = Env::new();
    let started = Instant::now();
    let walls = [ids::WAF_HUGE, ids::WAF_LONG, ids::WAF_NONE];
    let mut all = walls.to_vec();
    all.push(ids::CODECS);
    let (code, s) = download(&env, &server.base, &all, &[]);
    let took = started.elapsed();
    assert_eq!(code, 1, "{s}");
    let expect = [
        (ids::WAF_HUGE, "longer than"), // a 1 MiB prefix: its element is refused unread
        (ids::WAF_LONG, "prefix"),      // 8 KiB: read, refused before any hashing
        // A real search that finds nothing (or, on a very busy machine, its time bound).
        (ids::WAF_NONE, "no solution|not solved within"),
    ];
    for (id, why) in expect {
        let (reason, detail) = failure(&s, id);
        assert_eq!(reason, "blocked", "{id}: {detail}");
        assert!(why.split('|').any(|w| detail.contains(w)), "{id}: {detail}");
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("three impossible bot walls and a post: {took:?}");
    assert!(env
        .latest_paths()
        .iter()
        .any(|p| p.ends_with(&format!("{}.mp4", ids::CODECS))));
}

#[test]
fn oversized_bodies_are_recorded_failures_and_nothing_of_them_is_stored() {
    let server = Server::start();
    let env = Env::new();
    let started = Instant::now();
    let (code, s) = download(
        &env,
        &server.base,
        &[
            ids::ENDLESS,
            ids::DECLARED_HUGE,
            ids::HUGE_PAGE,
            ids::CODECS,
        ],
        &["--max-video-size", "1MiB"],
    );
    assert_eq!(code, 1, "{s}");
    for id in [ids::ENDLESS, ids::DECLARED_HUGE, ids::HUGE_PAGE] {
        let (reason, detail) = failure(&s, id);
        assert_eq!(reason, "too_large", "{id}: {detail}");
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    let paths = env.latest_paths();
    for id in [ids::ENDLESS, ids::DECLARED_HUGE, ids::HUGE_PAGE] {
        assert!(!paths.iter().any(|p| p.contains(id)), "{id}: {paths:?}");
    }
    assert!(paths
        .iter()
        .any(|p| p.ends_with(&format!("{}.mp4", ids::CODECS))));
    // The endless body was asked for once: a size failure is not retried.
    let endless = server.requests_to(&format!("/media/{}", tt::video_name(ids::ENDLESS)));
    assert_eq!(endless.len(), 1);
    env.ok(&["verify", "--read-data"]);
}

/// Runs `args` (with `env_var` set when given) and demands exit 2 with a message naming
/// `flag`; never a panic (101) or a signal.
fn refused(env: &Env, args: &[&str], env_var: Option<(&str, &str)>, flag: &str) {
    let mut cmd = env.cmd();
    if let Some((k, v)) = env_var {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} {env_var:?}: {err}");
    assert!(err.contains(flag), "{args:?} {env_var:?}: {err}");
}

#[test]
fn every_numeric_flag_refuses_absurd_values_before_any_work() {
    let server = Server::start();
    let env = Env::new();
    let media = env.path("media");
    common::write(&media.join("a.mp4"), &common::random_bytes(10_000, 1));
    let (media, url) = (media.to_str().unwrap().to_string(), link(ids::SIGI));
    let snapshot = |flag: &str| {
        vec![
            "snapshot".to_string(),
            "--media".into(),
            media.clone(),
            "--url".into(),
            url.clone(),
            flag.to_string(),
        ]
    };
    let absurd = ["inf", "NaN", "0", "-1", "1e400", "99999999999999999999999"];
    let mut checked = 0;
    for flag in [
        "--jobs",
        "--rate",
        "--timeout",
        "--retries",
        "--max-video-size",
    ] {
        for value in absurd {
            if flag == "--retries" && value == "0" {
                continue; // no retries: meaningful, accepted below
            }
            let args = snapshot(&format!("{flag}={value}"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = env.cmd();
            let out = cmd
                .env("TT_VAULT_TIKTOK_BASE", &server.base)
                .args(&args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{flag}={value}: {err}");
            assert!(err.contains(flag), "{flag}={value}: {err}");
            checked += 1;
        }
    }
    for flag in ["--jobs=100000000", "--rate=1e-300", "--timeout=1e300"] {
        let args = snapshot(flag);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env, &args, None, flag.split('=').next().unwrap());
    }
    let plain = snapshot("--quiet");
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    for value in ["inf", "NaN", "-1", "1e400", "99999999999999999999999"] {
        refused(
            &env,
            &plain,
            Some(("TT_VAULT_CHECKPOINT_SECS", value)),
            "TT_VAULT_CHECKPOINT_SECS",
        );
    }
    for base in ["ftp://127.0.0.1:1", "not a url"] {
        let var = ("TT_VAULT_TIKTOK_BASE", base);
        refused(&env, &plain, Some(var), "TT_VAULT_TIKTOK_BASE");
    }
    for value in absurd {
        refused(
            &env,
            &["verify", &format!("--sample={value}")],
            None,
            "--sample",
        );
        for flag in ["--max-repack", "--max-unused"] {
            if value == "0" {
                continue; // "repack nothing": meaningful
            }
            refused(
                &env,
                &["prune", "--dry-run", &format!("{flag}={value}")],
                None,
                flag,
            );
        }
        for flag in ["--keep-last", "--keep-daily", "--keep-yearly"] {
            if value == "0" {
                continue; // keep none by this rule: meaningful
            }
            refused(
                &env,
                &["forget", "--dry-run", &format!("{flag}={value}")],
                None,
                flag,
            );
        }
        refused(
            &env,
            &["forget", "--dry-run", &format!("--keep-within={value}")],
            None,
            "--keep-within",
        );
    }
    assert!(checked >= 29);
    assert!(server.requests().is_empty(), "the server was asked");
    assert!(
        env.json(&["snapshots"]).as_array().unwrap().is_empty(),
        "work was done"
    );

    // Zero where it means something: no retries, a checkpoint after every post.
    let out = env
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .env("TT_VAULT_CHECKPOINT_SECS", "0")
        .args(&plain)
        .args(["--retries=0", "--jobs=1", "--rate=0.5", "--timeout=5"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.ok(&["forget", "--dry-run", "--keep-last=0", "--keep-daily=1"]);
    env.ok(&["prune", "--dry-run", "--max-repack=0", "--max-unused=0"]);
}

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
    let mut args: Vec<String> = vec!["snapshot".into(), "--account".into(), "alice".into()];
    for id in ids {
        args.push("--url".into());
        args.push(if *id == "short" {
            tt::SHORT_LINK.to_string()
        } else {
            link(id)
        });
    }
    args.extend(["--timeout", "1", "--retries", "1", "--rate", "50", "--json"].map(String::from));
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
    serde_json::from_str(&so).unwrap()
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

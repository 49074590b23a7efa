//! The viewer in a real browser (headless Debian chromium over WebDriver): the posts
//! grid, an H.264 video that plays from the vault and seeks, a DM thread and a
//! search hit. Screenshots land in `target/browser-artifacts/`.
//!
//! Skips with a message when chromium or chromedriver is missing, unless
//! `TT_VAULT_REQUIRE_BROWSER=1` (as in CI).

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Env;
use serde_json::json;
use support::browser::{self, Browser};
use support::viewer::{snapshot_links, Viewer};

/// The post the H.264 fixture is saved as (a post of the November export).
const POST: &str = "7519900000000000021";

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("browser-artifacts")
}

#[tokio::test]
async fn the_archive_in_a_browser() {
    let browser = match Browser::start().await {
        Ok(b) => b,
        Err(reason) => {
            browser::skip(&reason);
            return;
        }
    };
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A real H.264 MP4 (4 s, 10 fps, made once with ffmpeg) saved as one of the posts.
    let media = env.path("saved");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::copy(
        root.join("tests/fixtures/h264-4s.mp4"),
        media.join(format!("2026-06-21_{POST}.mp4")),
    )
    .unwrap();
    let export = root.join("examples/sample/export-2026-11/user_data_tiktok.json");
    env.ok(&[
        "snapshot",
        "--export",
        export.to_str().unwrap(),
        "--media",
        media.to_str().unwrap(),
        "--download",
        "none",
    ]);
    let v = Viewer::start(env.cmd(), &[]);
    let out = artifacts();
    browser
        .goto(&format!("{}/?token={}", v.base, v.token))
        .await;
    assert!(
        browser
            .wait_for("document.querySelector('.hero')", Duration::from_secs(10))
            .await,
        "the token did not open the home page"
    );
    let home = browser
        .run("return document.documentElement.outerHTML;")
        .await;
    let snap = snapshot_links(home.as_str().unwrap()).remove(0);
    let at = |path: &str| format!("{}/s/{snap}{path}", v.base);

    browser.goto(&at("")).await;
    browser.screenshot(&out.join("profile.png")).await;

    browser.goto(&at("/posts")).await;
    let tiles = browser
        .run("return document.querySelectorAll('.tile').length;")
        .await;
    assert_eq!(tiles, json!(7), "posts grid");
    browser.screenshot(&out.join("posts.png")).await;

    // The video plays from the vault (through Range requests) and seeks.
    browser.goto(&at(&format!("/post/{POST}"))).await;
    let ready =
        "document.getElementById('player') && document.getElementById('player').readyState >= 2";
    assert!(
        browser.wait_for(ready, Duration::from_secs(20)).await,
        "the video never became playable: {}",
        browser
            .run("const v = document.getElementById('player'); return v && [v.readyState, v.networkState, v.error && v.error.message];")
            .await
    );
    let seek = browser
        .run_async(
            "const done = arguments[arguments.length - 1];
             const v = document.getElementById('player');
             const t = setTimeout(() => done(['timeout', v.currentTime, v.readyState]), 15000);
             v.addEventListener('seeked', () => { clearTimeout(t); done([v.currentTime, v.readyState]); }, {once: true});
             v.currentTime = 2.5;",
        )
        .await;
    let time = seek[0]
        .as_f64()
        .unwrap_or_else(|| panic!("seek failed: {seek}"));
    assert!((time - 2.5).abs() < 0.3, "seeked to {time}");
    assert!(
        browser.wait_for(ready, Duration::from_secs(10)).await,
        "not playable after seeking"
    );
    browser.screenshot(&out.join("post.png")).await;

    // A DM thread: oldest first, who wrote each line.
    browser.goto(&at("/messages/bruno_cooks")).await;
    let lines = browser
        .run("return [...document.querySelectorAll('.msg')].map(m => [m.querySelector('.time').textContent, m.querySelector('.who b').textContent]);")
        .await;
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let times: Vec<&str> = lines.iter().map(|l| l[0].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not oldest first: {times:?}"
    );
    assert_eq!(lines[0][1], json!("mila.bakes"));
    assert_eq!(lines[1][1], json!("bruno_cooks"));
    browser.screenshot(&out.join("thread.png")).await;

    // A search, then its message hit opens the thread at that message.
    browser.goto(&at("/search?q=agreed")).await;
    browser.screenshot(&out.join("search.png")).await;
    browser
        .run("document.querySelector('a.hit[href*=\"/messages/\"]').click(); return 1;")
        .await;
    assert!(
        browser
            .wait_for(
                "location.pathname.includes('/messages/') && location.hash && document.querySelector(location.hash) && document.querySelector(location.hash).textContent.includes('agreed')",
                Duration::from_secs(10)
            )
            .await,
        "the search hit did not open its message"
    );

    // Phone width.
    browser.resize(390, 844).await;
    browser.goto(&at("")).await;
    browser.screenshot(&out.join("profile-phone.png")).await;
    browser.quit().await;
}

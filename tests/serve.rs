//! `tt-vault serve` through the binary, over HTTP: every page on the demo data and on
//! a vault with downloaded videos, the token, Range requests byte for byte, 404s,
//! escaping, and a read-only vault.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::Env;
use reqwest::header;
use reqwest::StatusCode;
use support::tiktok_server::{self as tt, ids, Server};
use support::viewer::{demo, snapshot_links, Viewer};

async fn get(c: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

async fn must(c: &reqwest::Client, url: &str) -> String {
    let (status, body) = get(c, url).await;
    assert_eq!(status, StatusCode::OK, "{url}\n{body}");
    body
}

/// Every `/media/...` address in a page.
fn media_links(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html
        .split("\"/media/")
        .skip(1)
        .map(|p| format!("/media/{}", &p[..p.find('"').unwrap()]))
        .collect();
    out.dedup();
    out
}

const PAGES: &[&str] = &[
    "",
    "/posts",
    "/list/likes",
    "/list/favorites",
    "/list/reposts",
    "/messages",
    "/list/comments",
    "/list/following",
    "/list/followers",
    "/list/history",
    "/list/searches",
    "/list/logins",
    "/list/shares",
    "/list/blocked",
    "/list/settings",
    "/list/activity-summary",
    "/list/devices",
    "/diff",
    "/search?q=rye",
];

#[tokio::test]
async fn demo_pages_answer_with_the_token_only() {
    let env = Env::new();
    demo(|| env.cmd());
    let v = Viewer::start(env.cmd(), &[]);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // No token, a wrong one, a wrong cookie: 401, whatever the page.
    for path in ["/", "/s/00/posts", "/media/00.mp4", "/static/app.css"] {
        let (status, _) = get(&plain, &format!("{}{path}", v.base)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, _) = get(&plain, &format!("{}/?token=nope", v.base)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = plain
        .get(format!("{}/", v.base))
        .header(header::COOKIE, "tt_vault_1=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The token once: a cookie that scripts cannot read, and the token leaves the address.
    let r = plain
        .get(format!("{}/posts?token={}&x=1", v.base, v.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/posts?x=1");
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let c = v.client().await;
    let home = must(&c, &format!("{}/", v.base)).await;
    let snaps = snapshot_links(&home);
    assert_eq!(snaps.len(), 2, "{home}");
    for snap in &snaps {
        for page in PAGES {
            let body = must(&c, &format!("{}/s/{snap}{page}", v.base)).await;
            // Every page says which snapshot it shows.
            assert!(
                body.contains(&format!("<code>{}</code>", &snap[..8])),
                "{page}"
            );
        }
    }
    // Sections beyond the tabs have their pages too (a search hit links there).
    let settings = must(&c, &format!("{}/s/{}/list/settings", v.base, snaps[0])).await;
    assert!(
        settings.contains("Private Account") && settings.contains("Off"),
        "{settings}"
    );
    let r = c.get(format!("{}/", v.base)).send().await.unwrap();
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // The date picker lands on the snapshot of that date.
    let june = must(
        &c,
        &format!("{}/go?account=mila.bakes&date=2026-07-15", v.base),
    )
    .await;
    assert!(june.contains("taken 2026-06-01"), "{june}");
    let (status, _) = get(
        &c,
        &format!("{}/go?account=mila.bakes&date=2020-01-01", v.base),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The profile's history: the bio edit between June and November.
    let newest = &snaps[0];
    let profile = must(&c, &format!("{}/s/{newest}", v.base)).await;
    assert!(profile.contains("Sourdough every Sunday"), "{profile}");
    assert!(profile.contains("<svg"), "no chart");

    // A conversation, oldest first, who wrote each line.
    let thread = must(&c, &format!("{}/s/{newest}/messages/bruno_cooks", v.base)).await;
    let first = thread
        .find("rye week 3 is the best one")
        .expect("first message");
    let reply = thread.find("agreed").expect("reply");
    assert!(first < reply, "oldest first");
    assert!(thread.contains("class=\"msg me\""), "own messages marked");

    // Search finds captions and messages; the hit links to the message in its thread.
    let found = must(&c, &format!("{}/s/{newest}/search?q=rye", v.base)).await;
    assert!(found.contains("<mark>Rye</mark> week 3"), "{found}");
    let link = found
        .split("href=\"")
        .find(|p| p.contains("/messages/bruno_cooks?from="))
        .map(|p| p[..p.find('"').unwrap()].replace("&amp;", "&"))
        .expect("a message hit");
    let context = must(&c, &format!("{}{link}", v.base)).await;
    assert!(context.contains("agreed"), "{context}");

    // The saved video plays from the vault.
    let post = must(
        &c,
        &format!("{}/s/{newest}/post/7342000000000000101", v.base),
    )
    .await;
    assert!(post.contains("<video"), "{post}");
    let video = media_links(&post)
        .into_iter()
        .find(|m| m.ends_with(".mp4"))
        .unwrap();
    let r = c.get(format!("{}{video}", v.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sample = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/sample/saved_videos/2024-03-02_7342000000000000101.mp4"),
    )
    .unwrap();
    assert_eq!(
        blake3::hash(&r.bytes().await.unwrap()),
        blake3::hash(&sample)
    );

    // Unknown snapshots, ids, lists, conversations, files: 404.
    for path in [
        "/s/ffffffffff".to_string(),
        format!("/s/{newest}/post/7000000000000000000"),
        format!("/s/{newest}/post/abc"),
        format!("/s/{newest}/list/nothing"),
        format!("/s/{newest}/messages/nobody"),
        format!("/s/{}/posts", "0".repeat(64)),
        format!("/media/{}.mp4", "0".repeat(64)),
        "/media/zz.mp4".to_string(),
        "/nowhere".to_string(),
    ] {
        let (status, _) = get(&c, &format!("{}{path}", v.base)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn what_the_export_says_is_shown_as_text() {
    let env = Env::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample/export-2026-11");
    let text = std::fs::read_to_string(sample.join("user_data_tiktok.json")).unwrap();
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let text = text
        .replace("Rye week 3", &format!("Rye {}", evil.replace('"', "\\\"")))
        .replace("rye week 3 is the best one", &format!("dm {evil}"));
    common::write(&env.path("export/user_data_tiktok.json"), text.as_bytes());
    env.ok(&[
        "snapshot",
        "--export",
        env.path("export").to_str().unwrap(),
        "--download",
        "none",
    ]);
    let v = Viewer::start(env.cmd(), &[]);
    let c = v.client().await;
    let snap = snapshot_links(&must(&c, &format!("{}/", v.base)).await).remove(0);
    for page in [
        "/posts".to_string(),
        "/post/7519900000000000021".to_string(),
        "/messages/bruno_cooks".to_string(),
        "/search?q=alert".to_string(),
    ] {
        let body = must(&c, &format!("{}/s/{snap}{page}", v.base)).await;
        let shown = body.replace("<mark>", "").replace("</mark>", "");
        assert!(
            shown.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}: not shown as text\n{body}"
        );
        assert!(
            !body.contains("<script>alert"),
            "{page}: markup from the export"
        );
        assert!(
            !body.contains("<img src=x"),
            "{page}: markup from the export"
        );
    }
}

/// A vault with downloaded posts: a video with cover and subtitles, a photo post
/// with its sound, and a bulk post of several chunks.
fn downloaded(env: &Env, server: &Server) -> String {
    let bulk = tt::bulk_link(7);
    let out = env
        .cmd()
        .env("TT_VAULT_TIKTOK_BASE", &server.base)
        .args(["snapshot", "--account", "alice", "--rate", "50"])
        .args([
            "--url",
            &format!("https://www.tiktok.com/@a/video/{}", ids::CODECS),
        ])
        .args([
            "--url",
            &format!("https://www.tiktok.com/@a/photo/{}", ids::PHOTO),
        ])
        .args(["--url", &bulk, "--json"])
        .args([
            "--url",
            &format!("https://www.tiktok.com/@a/video/{}", ids::GONE),
        ])
        .output()
        .unwrap();
    // One post is gone: recorded, exit code 1.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bulk.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn downloaded_posts_play_and_ranges_are_exact() {
    let env = Env::new();
    let server = Server::start();
    let bulk = downloaded(&env, &server);
    let v = Viewer::start(env.cmd(), &["--account", "alice"]);
    let c = v.client().await;
    let snap = snapshot_links(&must(&c, &format!("{}/", v.base)).await).remove(0);

    // A snapshot without an export still shows its posts; the lists say there is none.
    must(&c, &format!("{}/s/{snap}", v.base)).await;
    for tab in ["posts", "diff", "list/likes", "messages"] {
        let (status, body) = get(&c, &format!("{}/s/{snap}/{tab}", v.base)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{tab}");
        assert!(
            body.contains("has no TikTok export") && body.contains("profile page"),
            "{tab}: {body}"
        );
        assert!(
            body.contains(&format!("href=\"/s/{snap}\"")),
            "{tab}: no link to the snapshot's page: {body}"
        );
        must(&c, &format!("{}/s/{snap}", v.base)).await;
    }

    let video = must(&c, &format!("{}/s/{snap}/post/{}", v.base, ids::CODECS)).await;
    assert!(
        video.contains("<video") && video.contains("<track"),
        "{video}"
    );
    assert!(video.contains("poster=\"/media/"), "cover as poster");
    // A post that could not be downloaded says why.
    let gone = must(&c, &format!("{}/s/{snap}/post/{}", v.base, ids::GONE)).await;
    assert!(
        gone.contains("The download failed") && gone.contains("deleted"),
        "{gone}"
    );
    let photo = must(&c, &format!("{}/s/{snap}/post/{}", v.base, ids::PHOTO)).await;
    assert!(
        photo.contains("data-slideshow") && photo.contains("<audio"),
        "{photo}"
    );
    assert_eq!(media_links(&photo).len(), 4, "three photos and the sound");
    for m in media_links(&photo) {
        let r = c.get(format!("{}{m}", v.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{m}");
    }

    // The bulk video: several chunks; whole and in ranges, exactly its bytes.
    let page = must(&c, &format!("{}/s/{snap}/post/{bulk}", v.base)).await;
    let url = format!("{}{}", v.base, media_links(&page)[0]);
    let original = tt::bulk_bytes(&bulk);
    let n = original.len() as u64;
    assert!(n > 2 << 20);
    let whole = c.get(&url).send().await.unwrap();
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(whole.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        blake3::hash(&whole.bytes().await.unwrap()),
        blake3::hash(&original)
    );
    let mib = 1u64 << 20;
    let ranges = [
        (0, Some(0)),
        (0, Some(99)),
        (mib - 10, Some(mib + 10)),
        (mib / 2, Some(2 * mib + 12345)),
        (n - 1, None),
        (n - 5000, Some(n + 5000)),
        (1_234_567, None),
    ];
    for (first, last) in ranges {
        let spec = match last {
            Some(l) => format!("bytes={first}-{l}"),
            None => format!("bytes={first}-"),
        };
        let r = c
            .get(&url)
            .header(header::RANGE, &spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{spec}");
        let end = last.unwrap_or(n - 1).min(n - 1);
        assert_eq!(
            r.headers()[header::CONTENT_RANGE].to_str().unwrap(),
            format!("bytes {first}-{end}/{n}"),
            "{spec}"
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(
            blake3::hash(&body),
            blake3::hash(&original[first as usize..=end as usize]),
            "{spec}"
        );
    }
    let r = c
        .get(&url)
        .header(header::RANGE, "bytes=-100")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), original[(n - 100) as usize..]);
    let r = c
        .get(&url)
        .header(header::RANGE, format!("bytes={n}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()[header::CONTENT_RANGE], format!("bytes */{n}"));
}

#[tokio::test]
async fn a_read_only_vault_is_served_and_left_untouched() {
    let env = Env::new();
    demo(|| env.cmd());
    // Readers leave -wal/-shm behind only while open; make the folder read-only.
    let vault = env.vault();
    let before = common::tree(&vault);
    let is_root = unsafe { libc::geteuid() } == 0;
    let lock_down = |mode_dir: u32, mode_file: u32| {
        for p in common::walk_all(&vault) {
            use std::os::unix::fs::PermissionsExt;
            let mode = if p.is_dir() { mode_dir } else { mode_file };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    lock_down(0o555, 0o444);
    let mut cmd = if is_root {
        // Root writes anywhere: run as nobody so the permissions bind.
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::bin(),
        ]);
        c.env("TT_VAULT", &vault).env("TZ", "UTC");
        // The temporary folder must be reachable by nobody.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        c
    } else {
        env.cmd()
    };
    cmd.env("HOME", "/nonexistent");
    let v = Viewer::start(cmd, &[]);
    let c = v.client().await;
    let snap = snapshot_links(&must(&c, &format!("{}/", v.base)).await).remove(0);
    for page in PAGES {
        must(&c, &format!("{}/s/{snap}{page}", v.base)).await;
    }
    let post = must(&c, &format!("{}/s/{snap}/post/7342000000000000101", v.base)).await;
    let video = media_links(&post)
        .into_iter()
        .find(|m| m.ends_with(".mp4"))
        .unwrap();
    let r = c
        .get(format!("{}{video}", v.base))
        .header(header::RANGE, "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 100);
    drop(v);
    lock_down(0o700, 0o600);
    assert_eq!(common::tree(&vault), before, "the viewer changed the vault");
}

#[test]
fn bad_starts_are_clear_errors() {
    let env = Env::new();
    demo(|| env.cmd());
    let (_, err) = env.expect(&["serve", "--date", "2001-01-01"], 2);
    assert!(
        err.contains("no snapshot") && err.contains("oldest"),
        "{err}"
    );
    let (_, err) = env.expect(&["serve", "--account", "nobody"], 2);
    assert!(err.contains("nobody"), "{err}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (_, err) = env.expect(&["serve", "--port", &port], 2);
    assert!(
        err.contains("cannot listen") && err.contains(&port),
        "{err}"
    );
}

/// Polls `cond` every 20 ms for at most a minute.
async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_video_streams_through_a_prune() {
    let env = Env::new();
    let src = env.path("src");
    // Large enough that most of it is still unread when prune is done: the response
    // holds a few chunks in flight, the rest comes from the repacked pack.
    let video = common::random_bytes(24 << 20, 11);
    common::write(&src.join("keep.mp4"), &video);
    common::write(&src.join("gone.mp4"), &common::random_bytes(3 << 20, 12));
    let first = env.snapshot_media(&src, "a", "2026-01-01T00:00:00Z")["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(src.join("gone.mp4")).unwrap();
    env.snapshot_media(&src, "a", "2026-01-02T00:00:00Z");
    env.ok(&["forget", &first[..12], "--allow-video-loss"]);
    let packs_before = env.packs();

    // The viewer pauses at its first blob read: the video's first chunk, located in
    // the index, its pack not opened yet, the readers' lock held.
    let pause = env.path("pause");
    std::fs::create_dir_all(&pause).unwrap();
    let mut cmd = env.cmd();
    cmd.env(
        "TT_VAULT_PAUSE",
        format!("blob-located:{}", pause.display()),
    );
    let v = Viewer::start(cmd, &["--account", "a"]);
    let url = format!(
        "{}/media/{}.mp4?token={}",
        v.base,
        blake3::hash(&video).to_hex(),
        v.token
    );
    // Not `v.client()`: its first page would be the viewer's first blob read.
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let mut r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    wait_for("the viewer to pause", || pause.join("reached").exists()).await;

    let mut prune = env
        .cmd()
        .args(["prune", "--max-unused", "0", "--max-repack", "100"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("prune to write its new pack", || {
        env.packs()
            .iter()
            .any(|p| !packs_before.contains(p) && p.extension().is_some_and(|e| e == "pack"))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        packs_before.iter().all(|p| p.exists()),
        "a pack was deleted under a reader"
    );

    // The viewer goes on; the client reads one piece and then stops reading, as a
    // paused video does. Prune must finish meanwhile: the lock is held per chunk.
    std::fs::write(pause.join("go"), b"").unwrap();
    let piece = r.chunk().await.unwrap().expect("a first piece");
    let pruned = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = prune.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > std::time::Duration::from_secs(60) {
                let _ = prune.kill();
                panic!("prune waited over a minute for an open response");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(pruned.success(), "prune failed beside the viewer");
    assert!(
        packs_before.iter().any(|p| !p.exists()),
        "prune deleted no old pack"
    );
    let mut got = piece.to_vec();
    while let Some(piece) = r.chunk().await.unwrap() {
        got.extend_from_slice(&piece);
    }
    assert_eq!(got.len(), video.len());
    assert_eq!(blake3::hash(&got), blake3::hash(&video));
    drop(v);
    env.ok(&["verify", "--read-data"]);
}

/// An export whose like list holds the likes `from..to` (newest first).
fn likes_export(from: u64, to: u64) -> String {
    let likes: Vec<String> = (from..to)
        .rev()
        .map(|i| {
            format!(
                r#"{{"date": "2026-05-{:02} 10:{:02}:{:02}", "link": "https://www.tiktokv.com/share/video/{}/"}}"#,
                1 + i / 3600 % 28,
                i / 60 % 60,
                i % 60,
                7_500_000_000_000_000_000 + i
            )
        })
        .collect();
    format!(
        r#"{{"Profile And Settings": {{"Profile Info": {{"ProfileMap": {{"userName": "pager"}}}}}},
           "Likes and Favorites": {{"Like List": {{"ItemFavoriteList": [{}]}}}}}}"#,
        likes.join(",")
    )
}

/// The "What changed" page lists what `diff` finds, a page of each list at a time,
/// with a link on to the rest; a list it does not know is a 404.
#[tokio::test]
async fn the_diff_page_pages_through_the_changes() {
    let env = Env::new();
    let export = env.path("export/user_data_tiktok.json");
    // 20 likes, then 250 more and the oldest 5 gone.
    for (text, time) in [
        (likes_export(0, 20), "2026-06-01T00:00:00Z"),
        (likes_export(5, 270), "2026-06-08T00:00:00Z"),
    ] {
        common::write(&export, text.as_bytes());
        env.ok(&[
            "snapshot",
            "--export",
            common::s(&export),
            "--download",
            "none",
            "--time",
            time,
        ]);
    }
    let id = |i: u64| (7_500_000_000_000_000_000 + i).to_string();
    let v = Viewer::start(env.cmd(), &[]);
    let c = v.client().await;
    let snaps = snapshot_links(&must(&c, &format!("{}/", v.base)).await);
    let newer = &snaps[0];
    let page = must(&c, &format!("{}/s/{newer}/diff", v.base)).await;
    for i in 0..5 {
        assert!(page.contains(&id(i)), "removed like {i} not shown");
    }
    // The newest 200 added likes are on the first page, the 50 oldest further on.
    assert!(page.contains(&id(269)) && page.contains(&id(70)));
    assert!(!page.contains(&id(69)) && !page.contains(&id(20)));
    assert!(!page.contains(&id(10)), "an unchanged like is listed");
    let more = page
        .split("href=\"")
        .skip(1)
        .map(|p| p[..p.find('"').unwrap()].replace("&amp;", "&"))
        .find(|h| h.contains("part=added"))
        .expect("a link to more added likes");
    let rest = must(&c, &format!("{}{more}", v.base)).await;
    for i in 20..70 {
        assert!(
            rest.contains(&id(i)),
            "added like {i} not on the second page"
        );
    }
    assert!(!rest.contains(&id(70)), "the second page repeats the first");
    let (status, _) = get(
        &c,
        &format!("{}/s/{newer}/diff?section=nothing&part=added", v.base),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

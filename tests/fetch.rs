//! The downloader against a local TikTok-like server (tests/support/tiktok_server.rs).
//! The sink here writes plain files into a temporary directory: these tests check the
//! downloader, not the store.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use support::tiktok_server::{self as tt, ids, Server};
use tt_vault::tiktok::fetch::{
    download_all, FailReason, FetchConfig, MediaSink, Outcome, PostResult, StoredFile, Target,
};

/// Files under a directory; a post counts as archived once its sidecar is stored.
struct DirSink {
    dir: PathBuf,
    archived: Mutex<HashSet<String>>,
}

impl DirSink {
    fn new(dir: &Path) -> DirSink {
        DirSink {
            dir: dir.to_path_buf(),
            archived: Mutex::new(HashSet::new()),
        }
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(path)).ok()
    }

    /// Every stored path, relative to the directory.
    fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        for dir in ["videos"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join(dir)) {
                out.extend(
                    entries
                        .flatten()
                        .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy())),
                );
            }
        }
        out.sort();
        out
    }
}

impl MediaSink for DirSink {
    fn store(&self, path: &str, body: &mut dyn Read) -> std::io::Result<StoredFile> {
        let dest = self.dir.join(path);
        std::fs::create_dir_all(dest.parent().unwrap())?;
        let part = dest.with_extension("part");
        let mut file = std::fs::File::create(&part)?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        let copied: std::io::Result<()> = (|| loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            size += n as u64;
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        std::fs::rename(&part, &dest)?;
        if let Some(name) = path.strip_suffix(".json") {
            let id = name.rsplit('_').next().unwrap().to_string();
            self.archived.lock().unwrap().insert(id);
        }
        Ok(StoredFile {
            hash: hasher.finalize().to_hex().to_string(),
            size,
        })
    }

    fn already_archived(&self, video_id: &str) -> bool {
        self.archived.lock().unwrap().contains(video_id)
    }
}

fn config(server: &Server) -> FetchConfig {
    FetchConfig {
        base: Some(server.base.clone()),
        jobs: 4,
        rate: 200.0,
        timeout: Duration::from_millis(1000),
        retries: 2,
        backoff: Duration::from_millis(50),
        max_blocked: 10,
        ..FetchConfig::default()
    }
}

fn target(link: &str) -> Target {
    Target {
        link: link.to_string(),
        video_id: None,
        date: None,
        source: "posts".into(),
    }
}

fn post(id: &str) -> Target {
    target(&format!("https://www.tiktok.com/@alice/video/{id}"))
}

fn run(cfg: &FetchConfig, targets: Vec<Target>, sink: &DirSink) -> HashMap<String, PostResult> {
    let seen = Mutex::new(0usize);
    let n = targets.len();
    let results = download_all(cfg, targets, sink, &|_r: &PostResult| {
        *seen.lock().unwrap() += 1
    });
    assert_eq!(*seen.lock().unwrap(), n, "progress is called once per post");
    assert_eq!(results.len(), n);
    results
        .into_iter()
        .map(|r| (r.target.link.clone(), r))
        .collect()
}

fn failed(r: &PostResult) -> &tt_vault::tiktok::fetch::Failure {
    match &r.outcome {
        Outcome::Failed(f) => f,
        other => panic!("{}: expected a failure, got {other:?}", r.target.link),
    }
}

fn archived_paths(r: &PostResult) -> Vec<String> {
    match &r.outcome {
        Outcome::Archived { files, .. } => files.iter().map(|(p, _)| p.clone()).collect(),
        other => panic!("{}: expected archived, got {other:?}", r.target.link),
    }
}

const DATE: &str = "2024-05-01"; // the catalogue's createTime

#[test]
fn every_scenario_ends_as_expected_and_a_second_run_fetches_nothing() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let sink = DirSink::new(dir.path());
    let cfg = config(&server);
    let photo_link = format!("https://www.tiktok.com/@dave/photo/{}", ids::PHOTO);
    let good = [
        ids::CODECS,
        ids::SIGI,
        ids::WAF,
        ids::RATE_LIMITED,
        ids::RESET_ONCE,
        ids::SHORT_ONCE,
        ids::SLOW_ONCE,
    ];
    let bad = [
        (ids::STATUS_10204, FailReason::Blocked),
        (ids::STATUS_10216, FailReason::PrivatePost),
        (ids::STATUS_10222, FailReason::PrivateAccount),
        (ids::GONE, FailReason::Deleted),
        (ids::RESET_ALWAYS, FailReason::Network),
        (ids::SHORT_ALWAYS, FailReason::Network),
        (ids::SLOW_ALWAYS, FailReason::Network),
        (ids::NO_SCRIPT, FailReason::BadPage),
        (ids::BROKEN_JSON, FailReason::BadPage),
        (ids::LOGIN, FailReason::LoginRequired),
    ];
    let mut targets: Vec<Target> = good.iter().map(|id| post(id)).collect();
    targets.extend(bad.iter().map(|(id, _)| post(id)));
    targets.push(target(tt::SHORT_LINK));
    targets.push(target(&photo_link));
    targets.push(target("https://example.com/not-tiktok"));
    let started = std::time::Instant::now();
    let results = run(&cfg, targets.clone(), &sink);

    // Good videos: byte-identical, sidecar next to them.
    for id in good.iter().chain([&ids::SHORT_TARGET]) {
        let link = if *id == ids::SHORT_TARGET {
            tt::SHORT_LINK.to_string()
        } else {
            post(id).link
        };
        let r = &results[&link];
        let paths = archived_paths(r);
        let video = format!("videos/{DATE}_{id}.mp4");
        assert_eq!(paths.first(), Some(&video), "{id}");
        assert_eq!(
            paths.last(),
            Some(&format!("videos/{DATE}_{id}.json")),
            "{id}"
        );
        assert!(
            sink.read(&video).unwrap() == tt::media_bytes(&tt::video_name(id)),
            "{id}: bytes differ"
        );
        assert_eq!(r.video_id.as_deref(), Some(*id));
    }

    // The codec choice: h264 taken, bytevc2 never asked for.
    let codecs = &results[&post(ids::CODECS).link];
    let Outcome::Archived { meta, files } = &codecs.outcome else {
        unreachable!()
    };
    assert_eq!(meta["video"]["codec"], "h264");
    assert_eq!(meta["video"]["watermarked"], false);
    assert_eq!(meta["author"]["uniqueId"], "alice");
    assert_eq!(meta["author"]["secUid"], "MS4wLjABAAAA-test");
    assert_eq!(meta["stats"]["playCount"], 100);
    assert!(server
        .requests_to("/media/")
        .iter()
        .all(|r| !r.path.contains("-vvc")));
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let id = ids::CODECS;
    assert_eq!(
        names,
        [
            format!("videos/{DATE}_{id}.mp4"),
            format!("videos/{DATE}_{id}.cover.jpeg"),
            format!("videos/{DATE}_{id}.eng-US.vtt"),
            format!("videos/{DATE}_{id}.json")
        ]
    );
    let sub = sink
        .read(&format!("videos/{DATE}_{id}.eng-US.vtt"))
        .unwrap();
    assert_eq!(sub, tt::media_bytes(&format!("s{id}.vtt")));
    let sidecar: serde_json::Value =
        serde_json::from_slice(&sink.read(&format!("videos/{DATE}_{id}.json")).unwrap()).unwrap();
    assert_eq!(&sidecar, meta);

    // Photo post: three images in order, then the sound.
    let photo = archived_paths(&results[&photo_link]);
    let id = ids::PHOTO;
    assert_eq!(
        photo,
        [
            format!("videos/{DATE}_{id}_01.jpeg"),
            format!("videos/{DATE}_{id}_02.jpeg"),
            format!("videos/{DATE}_{id}_03.jpeg"),
            format!("videos/{DATE}_{id}.mp3"),
            format!("videos/{DATE}_{id}.json")
        ]
    );
    for n in 1..=3 {
        let got = sink.read(&format!("videos/{DATE}_{id}_0{n}.jpeg")).unwrap();
        assert!(
            got == tt::media_bytes(&format!("p{id}-{n}.jpeg")),
            "image {n}"
        );
    }
    assert!(
        sink.read(&format!("videos/{DATE}_{id}.mp3")).unwrap()
            == tt::media_bytes(&format!("m{id}.mp3"))
    );

    // Every bad one with its reason; nothing partial stored.
    for (id, reason) in &bad {
        let f = failed(&results[&post(id).link]);
        assert_eq!(&f.reason, reason, "{id}: {}", f.detail);
        assert!(f.attempts >= 1, "{id}");
        assert!(
            !sink.paths().iter().any(|p| p.contains(id)),
            "{id}: something was stored for a failed post"
        );
    }
    assert_eq!(
        failed(&results[&post(ids::GONE).link]).http_status,
        Some(404)
    );
    assert!(failed(&results[&post(ids::STATUS_10204).link]).retry_next_run);
    assert!(!failed(&results[&post(ids::STATUS_10216).link]).retry_next_run);
    let reset = failed(&results[&post(ids::RESET_ALWAYS).link]);
    assert_eq!(
        reset.attempts,
        1 + 1 + 2,
        "one page request, then the first try and two retries"
    );
    assert!(failed(&results[&post(ids::BROKEN_JSON).link])
        .detail
        .contains("broken"));
    assert!(failed(&results[&post(ids::NO_SCRIPT).link])
        .detail
        .contains("no embedded post data"));
    assert_eq!(
        failed(&results["https://example.com/not-tiktok"]).reason,
        FailReason::BadLink
    );
    assert!(sink.paths().iter().all(|p| !p.ends_with(".part")));

    // The media requests carried the page's cookie and the page as Referer.
    for r in server.requests_to("/media/") {
        assert_eq!(
            r.cookie("tt_chain_token").as_deref(),
            Some(tt::CHAIN_TOKEN),
            "{}",
            r.path
        );
        assert!(
            r.headers["referer"].starts_with("https://www.tiktok.com/@"),
            "{}",
            r.path
        );
        assert!(r.headers["user-agent"].starts_with("Mozilla/5.0"));
    }

    // The short link was resolved with the link-preview agent, then the canonical page fetched.
    let short = server.requests_to("/t/ZTshort01");
    assert_eq!(short[0].method, "HEAD");
    assert_eq!(short[0].headers["user-agent"], "facebookexternalhit/1.1");
    assert_eq!(
        server
            .requests_to(&format!("/@carol/video/{}", ids::SHORT_TARGET))
            .len(),
        1
    );

    // The bot wall was answered: challenge first, then the page with the solution cookie.
    let waf = server.requests_to(&format!("/@alice/video/{}", ids::WAF));
    assert_eq!(waf.len(), 2);
    assert!(waf[0].cookie(tt::WAF_COOKIE).is_none());
    assert!(waf[1].cookie(tt::WAF_COOKIE).is_some());

    // 429 honoured: the retry came at least 2 s after the refusal.
    let limited = server.requests_to(&format!("/@alice/video/{}", ids::RATE_LIMITED));
    assert_eq!(limited.len(), 2);
    assert!(
        limited[1].at - limited[0].at >= Duration::from_secs(2),
        "{:?}",
        limited[1].at - limited[0].at
    );

    // Transient media failures were retried and then succeeded.
    for id in [ids::RESET_ONCE, ids::SHORT_ONCE, ids::SLOW_ONCE] {
        assert_eq!(
            server
                .requests_to(&format!("/media/{}", tt::video_name(id)))
                .len(),
            2,
            "{id}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "run took {:?}",
        started.elapsed()
    );

    // A second run: everything archived is skipped without a single request.
    let before = server.requests().len();
    let mut again: Vec<Target> = good.iter().map(|id| post(id)).collect();
    again.push(target(&photo_link));
    again.push(Target {
        video_id: Some(ids::SHORT_TARGET.into()),
        ..target(tt::SHORT_LINK)
    });
    let second = run(&cfg, again, &sink);
    assert!(
        second
            .values()
            .all(|r| r.outcome == Outcome::AlreadyArchived),
        "{second:?}"
    );
    assert_eq!(
        server.requests().len(),
        before,
        "the second run asked the server"
    );
}

#[test]
fn repeated_blocks_stop_the_run() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let sink = DirSink::new(dir.path());
    let cfg = FetchConfig {
        jobs: 1,
        max_blocked: 2,
        ..config(&server)
    };
    let targets: Vec<Target> = (1..=5)
        .map(|n| {
            target(&format!(
                "https://www.tiktok.com/@{}/video/7400000000000000{n:03}",
                tt::BLOCKED_USER
            ))
        })
        .collect();
    let results = download_all(&cfg, targets, &sink, &|_| {});
    let reasons: Vec<FailReason> = results
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Failed(f) => f.reason.clone(),
            o => panic!("{o:?}"),
        })
        .collect();
    use FailReason::{Blocked, Stopped};
    assert_eq!(reasons, [Blocked, Blocked, Stopped, Stopped, Stopped]);
    assert_eq!(
        server.requests().len(),
        2,
        "no request after the run stopped"
    );
    assert!(results
        .iter()
        .all(|r| matches!(&r.outcome, Outcome::Failed(f) if f.retry_next_run)));
}

#[test]
fn archived_ids_are_skipped_and_duplicates_fetched_once() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let sink = DirSink::new(dir.path());
    sink.archived.lock().unwrap().insert(ids::SIGI.to_string());
    let liked = Target {
        source: "likes".into(),
        date: Some("2025-01-02".into()),
        ..post(ids::SHORT_ONCE)
    };
    let own = post(ids::SHORT_ONCE);
    let results = download_all(
        &config(&server),
        vec![post(ids::SIGI), own, liked],
        &sink,
        &|_| {},
    );
    assert_eq!(results[0].outcome, Outcome::AlreadyArchived);
    assert!(server
        .requests_to(&format!("/@alice/video/{}", ids::SIGI))
        .is_empty());
    assert!(server
        .requests_to(&format!("/media/{}", tt::video_name(ids::SIGI)))
        .is_empty());
    assert_eq!(
        archived_paths(&results[1])[0],
        format!("videos/{DATE}_{}.mp4", ids::SHORT_ONCE)
    );
    assert_eq!(
        results[2].outcome, results[1].outcome,
        "a duplicate shares the first result"
    );
    assert_eq!(
        server
            .requests_to(&format!("/@alice/video/{}", ids::SHORT_ONCE))
            .len(),
        1
    );
}

#[test]
fn a_cookies_file_opens_private_posts() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cookies = dir.path().join("cookies.txt");
    std::fs::write(
        &cookies,
        format!(
            // Non-Secure: the test server is plain http, where a Secure cookie never goes.
            "# Netscape HTTP Cookie File\n#HttpOnly_.tiktok.com\tTRUE\t/\tFALSE\t0\tsessionid\t{}\n",
            tt::SESSION
        ),
    )
    .unwrap();
    let sink = DirSink::new(&dir.path().join("out"));
    let without = download_all(
        &config(&server),
        vec![post(ids::NEEDS_SESSION)],
        &sink,
        &|_| {},
    );
    assert_eq!(failed(&without[0]).reason, FailReason::PrivatePost);
    let cfg = FetchConfig {
        cookies_file: Some(cookies),
        ..config(&server)
    };
    let with = download_all(&cfg, vec![post(ids::NEEDS_SESSION)], &sink, &|_| {});
    archived_paths(&with[0]);

    let missing = FetchConfig {
        cookies_file: Some(dir.path().join("nope.txt")),
        ..config(&server)
    };
    let r = download_all(&missing, vec![post(ids::SIGI)], &sink, &|_| {});
    let f = failed(&r[0]);
    assert_eq!(f.reason, FailReason::Stopped);
    assert!(f.detail.contains("nope.txt"), "{}", f.detail);
}

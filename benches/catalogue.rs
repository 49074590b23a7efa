//! The export catalogue at a heavy user's scale, through the real binary: a
//! deterministic 2026-layout export of 500 000 watch-history rows and 2 000 000 likes,
//! and the same export a week later (1 % new rows at the top of each list, 0.5 %
//! gone). Prints every figure of issue 14's table.
//!
//! `cargo bench --bench catalogue` (env: TT_BENCH_ROWS, the watch-history rows,
//! default 500000; likes are four times as many. TT_BENCH_TIMEOUT, seconds `diff` and
//! `show` may take before they are stopped and reported as unfinished, default 120. TT_BENCH_BIN, another tt-vault binary to measure. TT_BENCH_KEEP=1 keeps the
//! vault and exports, and prints where.)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of the binary took.
struct Run {
    secs: f64,
    /// CPU time (user + system) of the process: on a machine shared with other work
    /// the wall time says as much about the neighbours as about tt-vault.
    cpu: f64,
    /// Peak resident set of the process, in MB.
    rss_mb: f64,
    finished: bool,
    stdout: Vec<u8>,
}

/// Runs `cmd` to the end (or `timeout`), with its own peak RSS from wait4.
fn run(mut cmd: Command, timeout: Duration) -> Run {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let t = Instant::now();
    let mut child = cmd.spawn().expect("start tt-vault");
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().expect("piped stdout");
    // Drained as `cat > file` would, keeping only the start (a snapshot's JSON): storing
    // `show`'s 700 MB here too made the bench's own copying part of the figure.
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match std::io::Read::read(&mut out, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = buf.len().saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        kept
    });
    let mut finished = true;
    let mut status = 0;
    // SAFETY: getrusage-style struct filled by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if t.elapsed() > timeout && finished {
            finished = false;
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = t.elapsed().as_secs_f64();
    // wait4 above reaped it; this only settles the handle's bookkeeping.
    let _ = child.wait();
    let stdout = reader.join().unwrap_or_default();
    if finished && !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 1) {
        panic!(
            "tt-vault failed ({status}): {:?}",
            String::from_utf8_lossy(&stdout)
        );
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Run {
        secs,
        cpu: t(usage.ru_utime) + t(usage.ru_stime),
        rss_mb: usage.ru_maxrss as f64 / 1024.0,
        finished,
        stdout,
    }
}

const T0: i64 = 1_780_000_000; // 2026-05-28

fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The rows of one list, newest first: `n` rows, of which those whose index is a
/// multiple of `gone_every` are left out, and `new` newer rows on top.
fn list(
    w: &mut impl Write,
    date_key: &str,
    link_key: &str,
    id_base: u64,
    n: u64,
    new: u64,
    gone_every: Option<u64>,
) -> std::io::Result<()> {
    let mut first = true;
    let rows = (0..new)
        .map(|i| (n + new - i, T0 + ((new - i) * 60) as i64))
        .chain(
            (0..n)
                .filter(|i| gone_every.is_none_or(|g| i % g != 0))
                .map(|i| (n - i, T0 - (i * 60) as i64)),
        );
    for (k, secs) in rows {
        if !first {
            w.write_all(b",\n")?;
        }
        first = false;
        write!(
            w,
            "        {{\n          \"{date_key}\": \"{}\",\n          \"{link_key}\": \"https://www.tiktokv.com/share/video/{}/\"\n        }}",
            date(secs),
            id_base + k
        )?;
    }
    Ok(())
}

const WORDS: &[&str] = &[
    "loaf",
    "crumb",
    "sourdough",
    "rye",
    "starter",
    "proof",
    "oven",
    "crust",
    "flour",
    "honey",
    "spelt",
    "knead",
    "bake",
    "steam",
    "scoring",
    "banneton",
    "levain",
    "hydration",
];

/// `n` comments of a few words each, for search to find.
fn comments(w: &mut impl Write, n: u64) -> std::io::Result<()> {
    for i in 0..n {
        let words: Vec<&str> = (0..6)
            .map(|j| WORDS[((i * 7 + j * 13 + i / 3) % WORDS.len() as u64) as usize])
            .collect();
        let sep = if i + 1 < n { "," } else { "" };
        writeln!(
            w,
            "        {{ \"date\": \"{}\", \"comment\": \"{} #{i}\" }}{sep}",
            date(T0 - (i * 3600) as i64),
            words.join(" ")
        )?;
    }
    Ok(())
}

/// Writes the heavy export; `later` is the week-later variant.
fn export(path: &Path, history: u64, later: bool) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let likes = history * 4;
    let (new_h, new_l) = if later {
        (history / 100, likes / 100)
    } else {
        (0, 0)
    };
    let gone = later.then_some(200);
    w.write_all(
        br#"{
  "Profile And Settings": {
    "Profile Info": {
      "ProfileMap": {
        "bioDescription": "Everything, every day",
        "displayName": "Heavy User",
        "likesReceived": "1200",
        "userName": "heavy.user"
      }
    },
    "Follower": {
      "FansList": [
        { "Date": "2026-05-01 11:00:00", "UserName": "a.friend" }
      ]
    }
  },
  "Comment": {
    "Comments": {
      "CommentsList": [
"#,
    )?;
    comments(&mut w, history / 20)?;
    w.write_all(
        br#"
      ]
    }
  },
  "Likes and Favorites": {
    "Like List": {
      "ItemFavoriteList": [
"#,
    )?;
    list(
        &mut w,
        "date",
        "link",
        7_400_000_000_000_000_000,
        likes,
        new_l,
        gone,
    )?;
    w.write_all(
        br#"
      ]
    }
  },
  "Your Activity": {
    "Watch History": {
      "VideoList": [
"#,
    )?;
    list(
        &mut w,
        "Date",
        "Link",
        7_300_000_000_000_000_000,
        history,
        new_h,
        gone,
    )?;
    w.write_all(b"\n      ]\n    }\n  }\n}\n")?;
    w.flush()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let history: u64 = std::env::var("TT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let timeout = Duration::from_secs(
        std::env::var("TT_BENCH_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    );
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for p in [&a, &b] {
        std::fs::create_dir(p).unwrap();
    }
    let (a, b) = (
        a.join("user_data_tiktok.json"),
        b.join("user_data_tiktok.json"),
    );
    let t = Instant::now();
    export(&a, history, false).unwrap();
    export(&b, history, true).unwrap();
    let export_bytes = std::fs::metadata(&a).unwrap().len();
    println!(
        "heavy export: {history} watch-history rows + {} likes + {} comments, {:.0} MB (generated in {:.1} s)",
        history * 4,
        history / 20,
        mb(export_bytes),
        t.elapsed().as_secs_f64()
    );
    let vault = dir.path().join("vault");
    let tt = || {
        let bin = std::env::var_os("TT_BENCH_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_tt-vault").into());
        let mut c = Command::new(bin);
        c.env("TT_VAULT", &vault).env("TZ", "UTC").arg("-q");
        c
    };
    assert!(tt().arg("init").status().unwrap().success());
    let snapshot = |export: &Path, time: &str| {
        let mut c = tt();
        c.args(["snapshot", "--json", "--time", time, "--export"])
            .arg(export);
        let r = run(c, Duration::MAX);
        let id = serde_json::from_slice::<serde_json::Value>(&r.stdout)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string));
        (r, id)
    };
    let mut rows: Vec<(&str, Run)> = Vec::new();
    println!(
        "{:<40} {:>9} {:>9} {:>12}",
        "step", "seconds", "CPU s", "peak RSS MB"
    );
    let print = |name: &str, r: &Run| {
        let secs = if r.finished {
            format!("{:.2}", r.secs)
        } else {
            format!(">{:.0} (stopped)", r.secs)
        };
        println!("{name:<40} {secs:>9} {:>9.2} {:>12.0}", r.cpu, r.rss_mb);
    };
    let (first, id1) = snapshot(&a, "2026-06-01T00:00:00Z");
    let r = first;
    print("first snapshot", &r);
    rows.push(("first snapshot", r));
    let (again, _) = snapshot(&a, "2026-06-02T00:00:00Z");
    let r = again;
    print("re-snapshot of the identical export", &r);
    rows.push(("re-snapshot of the identical export", r));
    let (week, id3) = snapshot(&b, "2026-06-09T00:00:00Z");
    let r = week;
    print("week-later snapshot", &r);
    rows.push(("week-later snapshot", r));
    let (id1, id3) = (id1.expect("first snapshot id"), id3.expect("week id"));
    let mut c = tt();
    c.args(["diff", "--json", &id1, &id3]);
    let r = run(c, timeout);
    print("diff between the two", &r);
    rows.push(("diff between the two", r));
    let mut c = tt();
    c.args(["show", "likes", "--json", "--snapshot", &id3]);
    let r = run(c, timeout);
    print("show likes --json", &r);
    rows.push(("show likes --json", r));

    let db = std::fs::metadata(vault.join("vault.db")).unwrap().len();
    let packs: u64 = walk_size(&vault.join("packs"));
    println!(
        "vault.db {:.0} MB = {:.2}x the {:.0} MB export (the packs hold both exports in {:.0} MB)",
        mb(db),
        db as f64 / export_bytes as f64,
        mb(export_bytes),
        mb(packs)
    );
    let peak = rows.iter().map(|(_, r)| r.rss_mb).fold(0.0, f64::max);
    println!("peak RSS {peak:.0} MB");
    // The newest like of the week-later export: its page lists where it appears.
    let post = 7_400_000_000_000_000_000 + history * 4 + history * 4 / 100;
    serve_pages(tt(), &id3, &post.to_string());
    if std::env::var_os("TT_BENCH_KEEP").is_some_and(|v| v == "1") {
        println!("kept: {}", dir.keep().display());
    }
}

/// Starts `tt-vault serve` and times the first byte (and the whole answer) of every
/// kind of page on the week-later snapshot.
fn serve_pages(mut cmd: Command, snap: &str, post: &str) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = cmd
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("serve prints its address");
    let (base, token) = url.split_once("/?token=").unwrap();
    let addr = base.trim_start_matches("http://").to_string();
    let get = |path: &str, cookie: &str| -> (f64, f64, String) {
        let t = Instant::now();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).unwrap();
        let ttfb = t.elapsed().as_secs_f64();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        let all = t.elapsed().as_secs_f64();
        let mut text = String::from_utf8_lossy(&first).into_owned();
        text.push_str(&String::from_utf8_lossy(&rest));
        (ttfb, all, text)
    };
    let (_, _, answer) = get(&format!("/?token={token}"), "");
    let cookie = answer
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_string())
        })
        .expect("the token gives a cookie");
    let pages = [
        "/".to_string(),
        format!("/s/{snap}"),
        format!("/s/{snap}/posts"),
        format!("/s/{snap}/post/{post}"),
        format!("/s/{snap}/list/likes"),
        format!("/s/{snap}/list/history"),
        format!("/s/{snap}/list/comments"),
        format!("/s/{snap}/messages"),
        format!("/s/{snap}/search?q=sourdough+crumb"),
        format!("/s/{snap}/search?q=zzzz"),
        format!("/s/{snap}/diff"),
    ];
    println!(
        "{:<50} {:>6} {:>13} {:>9}",
        "serve page", "status", "first byte ms", "total ms"
    );
    for page in &pages {
        let (ttfb, all, text) = get(page, &cookie);
        let status = text.split_whitespace().nth(1).unwrap_or("?").to_string();
        let shown = page.replace(snap, "ID");
        println!(
            "{shown:<50} {status:>6} {:>13.0} {:>9.0}",
            ttfb * 1000.0,
            all * 1000.0
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn walk_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

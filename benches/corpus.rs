//! The corpus bench: a deterministic corpus shaped like a TikTok account
//! (incompressible "videos" of 1–12 MB plus JSON), and the figures the README quotes.
//!
//! `cargo bench --bench corpus` (env: TT_BENCH_MB, default 1536; TT_BENCH_DIR,
//! default target/bench-corpus; TT_BENCH_ENCRYPT=1 for an encrypted vault, with the
//! default argon2id cost paid once per command, or with TT_BENCH_KDF=test a cheap one,
//! which leaves the fixed cost out and times the data path alone; the cost of opening
//! the vault is then a row of its own). Prints MB/s for the first snapshot, a no-change
//! re-snapshot, a snapshot after ~5 % new files, restore and `verify --read-data`,
//! the peak RSS of tt-vault, and — when `b3sum`, `restic` and `borg` are on PATH, unless
//! TT_BENCH_BASELINES=0 — the baselines they set on the same corpus in the same run.
//! TT_BENCH_COLD=1 (root) empties the page cache before each copy baseline and each
//! first backup, for cold figures; the copy baselines and tt-vault's first snapshot then
//! run TT_BENCH_RUNS times in turn (default 3 cold, 1 warm) and the table gives medians.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{Rng, RngCore, SeedableRng};

const MB: u64 = 1_000_000;

fn main() {
    // `cargo bench` passes --bench; anything else (a filter) is ignored here.
    let total_mb: u64 = std::env::var("TT_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1536);
    let dir = std::env::var_os("TT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-corpus"));
    let corpus = dir.join(format!("corpus-{total_mb}"));
    let bytes = generate(&corpus, total_mb * MB);
    let work = dir.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    let mbs = |secs: f64, n: u64| n as f64 / MB as f64 / secs;

    println!(
        "corpus: {} ({:.0} MB in {} files)",
        corpus.display(),
        bytes as f64 / MB as f64,
        count(&corpus)
    );
    let mut rows: Vec<(String, f64, u64)> = Vec::new();
    let baselines = std::env::var_os("TT_BENCH_BASELINES").is_none_or(|v| v != "0");
    let cold = Cold(std::env::var_os("TT_BENCH_COLD").is_some_and(|v| v == "1"));

    let files = list(&corpus);
    if baselines && which("b3sum") {
        let t = time(|| {
            run(Command::new("b3sum")
                .arg("--num-threads")
                .arg("1")
                .args(&files));
        });
        rows.push(("b3sum --num-threads 1".into(), t, bytes));
    }

    let vault = work.join("vault");
    let encrypt = std::env::var_os("TT_BENCH_ENCRYPT").is_some_and(|v| v == "1");
    let pass = work.join("passphrase");
    fs::write(&pass, "bench passphrase\n").unwrap();
    let cheap_kdf = std::env::var_os("TT_BENCH_KDF").is_some_and(|v| v == "test");
    let tt = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tt-vault"));
        c.env("TT_VAULT", &vault).arg("-q").args(args);
        if encrypt {
            c.env("TT_VAULT_PASSWORD_FILE", &pass);
        }
        if cheap_kdf {
            c.env("TT_VAULT_KDF", "test");
        }
        run(&mut c);
    };
    let src = corpus.to_str().unwrap();
    // Cold figures on a virtual disk vary by 10–20 % from one minute to the next: each
    // cold step runs `runs` times, the baselines and tt-vault in turn, and the table
    // gives the median (every run is printed too).
    let runs: usize = std::env::var("TT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cold.0 { 3 } else { 1 })
        .max(1);
    let copy = work.join("copy.bin");
    let mut timed: Vec<(String, Vec<f64>)> = Vec::new();
    let mut add = |name: &str, t: f64| match timed.iter_mut().find(|(n, _)| n == name) {
        Some((_, ts)) => ts.push(t),
        None => timed.push((name.to_string(), vec![t])),
    };
    for _ in 0..runs {
        // The baselines need no other tool: they are what a first snapshot is held to.
        let copies: [(&str, CopyWith); 2] = [
            ("read the files, write one file + fsync", write_copy),
            (
                "the same, reading and writing at once",
                write_copy_overlapped,
            ),
        ];
        for (name, copy_with) in copies.into_iter().filter(|_| baselines) {
            cold.drop_caches();
            add(name, time(|| copy_with(&files, &copy)));
            let len = fs::metadata(&copy).unwrap().len();
            assert_eq!(len, bytes, "{name}: the copy is whole");
            fs::remove_file(&copy).unwrap();
        }
        let _ = fs::remove_dir_all(&vault);
        tt(if encrypt {
            &["init", "--encrypt"]
        } else {
            &["init"]
        });
        cold.drop_caches();
        add(
            "tt-vault first snapshot",
            time(|| tt(&["snapshot", "--media", src, "--account", "bench"])),
        );
    }
    for (name, ts) in &timed {
        if ts.len() > 1 {
            let each: Vec<String> = ts.iter().map(|t| format!("{t:.2}")).collect();
            println!("{name}: {} s (median of {})", each.join(" "), ts.len());
        }
        rows.push((name.clone(), median(ts), bytes));
    }
    let t = time(|| tt(&["snapshot", "--media", src, "--account", "bench"]));
    rows.push(("tt-vault no-change re-snapshot".into(), t, bytes));
    let extra = add_new_files(&corpus, bytes / 20);
    let t = time(|| tt(&["snapshot", "--media", src, "--account", "bench"]));
    rows.push((
        "tt-vault snapshot after +5 % files".into(),
        t,
        bytes + extra,
    ));
    let out = work.join("restore");
    let t = time(|| tt(&["restore", "--latest", "--to", out.to_str().unwrap()]));
    rows.push(("tt-vault restore".into(), t, bytes + extra));
    let t = time(|| tt(&["verify", "--read-data"]));
    rows.push(("tt-vault verify --read-data".into(), t, bytes + extra));
    let t = time(|| tt(&["snapshots"]));
    rows.push(("tt-vault snapshots (open the vault)".into(), t, 0));
    let rss = peak_child_rss_mb();
    remove_new_files(&corpus);
    fs::remove_dir_all(&out).unwrap();

    if baselines && which("restic") {
        let repo = work.join("restic");
        let restic = |args: &[&str]| {
            let mut c = Command::new("restic");
            c.env("RESTIC_PASSWORD", "bench")
                .arg("-q")
                .arg("-r")
                .arg(&repo)
                .args(args);
            run(&mut c);
        };
        restic(&["init"]);
        cold.drop_caches();
        let t = time(|| restic(&["backup", src]));
        rows.push(("restic backup (defaults, one run)".into(), t, bytes));
        let t = time(|| restic(&["restore", "latest", "--target", out.to_str().unwrap()]));
        rows.push(("restic restore".into(), t, bytes));
        let t = time(|| restic(&["check", "--read-data"]));
        rows.push(("restic check --read-data".into(), t, bytes));
        fs::remove_dir_all(&out).unwrap();
    }

    if baselines && which("borg") {
        let repo = work.join("borg");
        let borg = |args: &[&str], dir: &Path| {
            let mut c = Command::new("borg");
            c.current_dir(dir)
                .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
                .args(args);
            run(&mut c);
        };
        let archive = format!("{}::first", repo.display());
        borg(
            &["init", "--encryption=none", repo.to_str().unwrap()],
            &work,
        );
        cold.drop_caches();
        let t = time(|| borg(&["create", &archive, src], &work));
        rows.push(("borg create (no encryption, one run)".into(), t, bytes));
        fs::create_dir_all(&out).unwrap();
        let t = time(|| borg(&["extract", &archive], &out));
        rows.push(("borg extract".into(), t, bytes));
        let t = time(|| borg(&["check", "--verify-data", repo.to_str().unwrap()], &work));
        rows.push(("borg check --verify-data".into(), t, bytes));
    }

    println!("{:<40} {:>9} {:>10}", "step", "seconds", "MB/s");
    for (name, secs, n) in &rows {
        println!("{name:<40} {secs:>9.2} {:>10.0}", mbs(*secs, *n));
    }
    println!("peak RSS of tt-vault: {rss:.0} MB");
    let _ = fs::remove_dir_all(&work);
}

/// With TT_BENCH_COLD=1 (as root), the copy baseline and every first backup start
/// with an empty page cache, as a first snapshot of a folder nobody read lately does.
struct Cold(bool);

impl Cold {
    fn drop_caches(&self) {
        if !self.0 {
            return;
        }
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        if let Err(e) = fs::write("/proc/sys/vm/drop_caches", "3") {
            panic!("TT_BENCH_COLD=1 needs root to drop the page cache: {e}");
        }
    }
}

fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn run(c: &mut Command) {
    c.stdout(std::process::Stdio::null());
    let status = c.status().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(status.success(), "{c:?} failed: {status}");
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Videos of 1–12 MB of random bytes and a few JSON files, the same every run.
fn generate(dir: &Path, target: u64) -> u64 {
    let marker = dir.join(".complete");
    if marker.exists() {
        return list(dir)
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
    }
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("videos")).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut total = 0;
    let mut i = 0;
    let mut buf = vec![0u8; 12 * MB as usize];
    while total < target * 98 / 100 {
        let len = rng.gen_range(MB..=12 * MB).min(target - total) as usize;
        rng.fill_bytes(&mut buf[..len]);
        fs::write(
            dir.join(format!("videos/2024-01-01_73{i:017}.mp4")),
            &buf[..len],
        )
        .unwrap();
        total += len as u64;
        i += 1;
    }
    let mut json = String::from("{\"Activity\": {\"Video Browsing History\": {\"VideoList\": [\n");
    while (json.len() as u64) < target / 50 {
        json.push_str(&format!(
            "{{\"Date\": \"2024-01-01 10:{:02}:{:02}\", \"Link\": \"https://www.tiktokv.com/share/video/73{:017}/\"}},\n",
            rng.gen_range(0..60),
            rng.gen_range(0..60),
            rng.gen_range(0..1_000_000_000u64)
        ));
    }
    json.push_str("{}]}}}\n");
    fs::write(dir.join("user_data.json"), &json).unwrap();
    total += json.len() as u64;
    fs::write(marker, b"").unwrap();
    total
}

fn add_new_files(dir: &Path, bytes: u64) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let new = dir.join("new");
    fs::create_dir_all(&new).unwrap();
    let mut total = 0;
    let mut i = 0;
    while total < bytes {
        let len = rng.gen_range(MB..=8 * MB) as usize;
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        fs::write(new.join(format!("n{i}.mp4")), &v).unwrap();
        total += len as u64;
        i += 1;
    }
    total
}

fn remove_new_files(dir: &Path) {
    let _ = fs::remove_dir_all(dir.join("new"));
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(list(&p));
        } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn count(dir: &Path) -> usize {
    list(dir).len()
}

/// A copy baseline: reads `files` and writes them to one file.
type CopyWith = fn(&[PathBuf], &Path);

/// Reads every file and writes the bytes to one file, then fsyncs: what any backup
/// must at least do.
fn write_copy(files: &[PathBuf], to: &Path) {
    let mut out = fs::File::create(to).unwrap();
    read_files(files, |buf| {
        out.write_all(&buf).unwrap();
        buf
    });
    out.sync_all().unwrap();
}

/// As [`write_copy`], with the reading on a thread of its own: the disk reads and
/// writes at once, as a snapshot's pipeline does: a plain copy of what any first
/// backup reads and writes (plain: 1 MiB reads, no read-ahead or write-behind hints).
fn write_copy_overlapped(files: &[PathBuf], to: &Path) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::scope(|s| {
        s.spawn(move || {
            read_files(files, |buf| {
                tx.send(buf).unwrap();
                Vec::new()
            })
        });
        let mut out = fs::File::create(to).unwrap();
        for buf in rx {
            out.write_all(&buf).unwrap();
        }
        out.sync_all().unwrap();
    });
}

/// Reads `files` start to end, 1 MiB a read: `each` gets every read's bytes and hands
/// back the buffer to read into next (the same one, or an empty one when it kept it).
fn read_files(files: &[PathBuf], mut each: impl FnMut(Vec<u8>) -> Vec<u8>) {
    let mut buf = Vec::new();
    for f in files {
        let mut r = fs::File::open(f).unwrap();
        loop {
            buf.resize(1 << 20, 0);
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            buf.truncate(n);
            buf = each(buf);
        }
    }
}

fn median(ts: &[f64]) -> f64 {
    let mut v = ts.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn peak_child_rss_mb() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

//! Download throughput against the local TikTok-like server: 200 videos of 2–8 MB
//! through the real binary at --jobs 1, 4 and 8, with the CPU time tt-vault used, to
//! show whether the pipeline or the server/loopback is the limit.
//!
//! `cargo bench --bench download` (env: TT_BENCH_VIDEOS, default 200).

#[allow(dead_code)]
#[path = "../tests/support/tiktok_server.rs"]
mod tiktok_server;

use std::process::Command;
use std::time::Instant;

fn child_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    let n: usize = std::env::var("TT_BENCH_VIDEOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = tiktok_server::Server::start();
    let links: Vec<String> = (0..n).map(tiktok_server::bulk_link).collect();
    let bytes: usize = links
        .iter()
        .map(|l| tiktok_server::bulk_bytes(l.rsplit('/').next().unwrap()).len())
        .sum();
    println!("{n} videos, {:.0} MB", bytes as f64 / 1e6);
    println!(
        "{:>6} {:>9} {:>8} {:>12}",
        "jobs", "seconds", "MB/s", "tt-vault CPU"
    );
    for jobs in [1, 4, 8] {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let tt = || {
            let mut c = Command::new(env!("CARGO_BIN_EXE_tt-vault"));
            c.env("TT_VAULT", &vault)
                .env("TT_VAULT_TIKTOK_BASE", &server.base)
                .arg("-q");
            c
        };
        assert!(tt().arg("init").status().unwrap().success());
        let mut c = tt();
        c.args([
            "snapshot",
            "--account",
            "bench",
            "--rate",
            "10000",
            "--jobs",
            &jobs.to_string(),
        ]);
        for l in &links {
            c.arg("--url").arg(l);
        }
        let cpu0 = child_cpu_secs();
        let t = Instant::now();
        let status = c.status().unwrap();
        let secs = t.elapsed().as_secs_f64();
        let cpu = child_cpu_secs() - cpu0;
        assert!(status.success(), "snapshot failed: {status}");
        println!(
            "{jobs:>6} {secs:>9.2} {:>8.0} {:>11.0}%",
            bytes as f64 / 1e6 / secs,
            100.0 * cpu / secs
        );
    }
}

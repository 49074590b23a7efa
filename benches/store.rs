//! Throughput of the store's hot path: chunking, hashing, the codec decision and the
//! whole archiver (chunk + hash + pack + fsync) on incompressible and JSON data.
//!
//! `cargo bench --bench store`

use std::io::Cursor;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{RngCore, SeedableRng};

use tt_vault::store::archiver::{SnapshotBuilder, SnapshotInfo};
use tt_vault::store::chunker::{self, Chunker};
use tt_vault::store::codec::Compressor;
use tt_vault::store::Vault;

const LEN: usize = 64 * 1024 * 1024;

fn incompressible() -> Vec<u8> {
    let mut v = vec![0u8; LEN];
    rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut v);
    v
}

fn json() -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN);
    let mut i = 0u64;
    while out.len() < LEN {
        out.extend_from_slice(
            format!(
                "{{\"Date\": \"2024-{:02}-{:02} 10:{:02}:{:02}\", \"Link\": \"https://www.tiktokv.com/share/video/7{:018}/\"}},\n",
                i % 12 + 1, i % 28 + 1, i % 60, (i * 7) % 60, i * 7919
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(LEN);
    out
}

fn bench(c: &mut Criterion) {
    let inputs = [("incompressible", incompressible()), ("json", json())];
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(LEN as u64));
    for (name, data) in &inputs {
        g.bench_with_input(BenchmarkId::new("chunk", name), data, |b, d| {
            b.iter(|| {
                let mut c = Chunker::new(Cursor::new(&d[..]));
                let mut n = 0;
                while let Some(ch) = c.next_chunk().unwrap() {
                    n += ch.len();
                }
                n
            })
        });
        g.bench_with_input(BenchmarkId::new("chunk+hash+codec", name), data, |b, d| {
            let mut z = Compressor::new().unwrap();
            b.iter(|| {
                let mut c = Chunker::new(Cursor::new(&d[..]));
                let mut stored = 0;
                while let Some(ch) = c.next_chunk().unwrap() {
                    let _ = chunker::hash(&ch);
                    stored += z.encode(&ch).unwrap().map_or(ch.len(), |p| p.len());
                }
                stored
            })
        });
        g.bench_with_input(BenchmarkId::new("archive", name), data, |b, d| {
            b.iter_with_setup(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let vault = Vault::init(&dir.path().join("v")).unwrap();
                    (dir, vault)
                },
                |(dir, vault)| {
                    let lock = vault.lock_for_writing(false).unwrap();
                    let quiet = |_| {};
                    let builder =
                        SnapshotBuilder::new(&vault, &lock, "bench", false, &quiet).unwrap();
                    builder
                        .add_reader("data", &mut Cursor::new(&d[..]), "media", None, None)
                        .unwrap();
                    builder
                        .commit(SnapshotInfo {
                            account: "bench".into(),
                            taken_at: chrono::Utc::now(),
                            sources: Vec::new(),
                            failed: Vec::new(),
                            meta: serde_json::json!({}),
                        })
                        .unwrap();
                    drop(dir);
                },
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

/// Why 256 KiB / 1 MiB / 4 MiB: for each candidate bound set, chunking speed on video
/// bytes, index rows per GiB, and how much of a 64 MiB "video" is stored again after a
/// re-mux-like edit (8 bytes inserted near the front, a 64 KiB block changed in the
/// middle). Printed once; criterion times the chunking.
fn bounds(c: &mut Criterion) {
    const KIB: usize = 1024;
    let sets = [
        ("64K/256K/1M", 64 * KIB, 256 * KIB, 1024 * KIB),
        ("256K/1M/4M", 256 * KIB, 1024 * KIB, 4096 * KIB),
        ("1M/4M/16M", 1024 * KIB, 4096 * KIB, 16384 * KIB),
    ];
    let data = incompressible();
    let mut edited = data.clone();
    edited.splice(1000..1000, [7u8; 8]);
    let mid = edited.len() / 2;
    edited[mid..mid + 65536].fill(1);
    let cut = |d: &[u8], (min, avg, max): (usize, usize, usize)| -> Vec<(chunker::Hash, usize)> {
        let mut c = Chunker::with_bounds(Cursor::new(d), min, avg, max);
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            out.push((chunker::hash(&ch), ch.len()));
        }
        out
    };
    let mut g = c.benchmark_group("bounds");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(LEN as u64));
    for (name, min, avg, max) in sets {
        let a = cut(&data, (min, avg, max));
        let b = cut(&edited, (min, avg, max));
        let known: std::collections::HashSet<_> = a.iter().map(|(h, _)| *h).collect();
        let again: usize = b
            .iter()
            .filter(|(h, _)| !known.contains(h))
            .map(|(_, l)| l)
            .sum();
        println!(
            "bounds {name}: {} chunks/GiB, edit stores {:.1} MiB of 64 MiB again",
            a.len() * 16,
            again as f64 / (1 << 20) as f64
        );
        g.bench_with_input(BenchmarkId::new("chunk", name), &data, |bch, d| {
            bch.iter(|| cut(d, (min, avg, max)).len())
        });
    }
    g.finish();
}

criterion_group!(bound_choice, bounds);
criterion_main!(benches, bound_choice);

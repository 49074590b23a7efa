//! The vault engine end to end, through the binary: snapshot, restore by date and id,
//! dedup, damage, crash, rebuild-index, the writer lock and bad input.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{copy_tree, random_bytes, tree, write, Env};

const MIB: usize = 1024 * 1024;

/// A folder like a saved-videos folder: binaries of several sizes (one empty, one
/// over 8 MiB), nested folders, unicode names and JSON.
fn make_source(root: &Path) {
    write(&root.join("big.mp4"), &random_bytes(9 * MIB + 17, 1));
    write(&root.join("clips/a.mp4"), &random_bytes(3 * MIB, 2));
    write(&root.join("clips/b.mp4"), &random_bytes(200_000, 3));
    write(
        &root.join("clips/deeper/still/c.mp4"),
        &random_bytes(1_500_000, 4),
    );
    write(&root.join("empty.bin"), b"");
    write(&root.join("ünïcødé 视频 🎬.mp4"), &random_bytes(70_000, 5));
    let json: String = (0..2000)
        .map(|i| format!("{{\"Date\":\"2024-01-01 10:{:02}:00\",\"Link\":\"https://www.tiktokv.com/share/video/73{i:017}/\"}},", i % 60))
        .collect();
    write(
        &root.join("meta/likes.json"),
        format!("[{}{{}}]", json).as_bytes(),
    );
}

fn snapshot_json(env: &Env, src: &Path, time: &str) -> serde_json::Value {
    env.snapshot_media(src, "alice", time)
}

/// A vault with one snapshot (2026-10-01) of a fresh source folder.
fn snapshotted_source() -> (Env, std::path::PathBuf, serde_json::Value) {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    let first = snapshot_json(&env, &src, "2026-10-01T10:00:00Z");
    (env, src, first)
}

/// The restored tree of a media source, relative to the source folder.
fn restored(dir: &Path) -> std::collections::BTreeMap<String, String> {
    tree(&dir.join("media/src"))
}

#[test]
fn round_trip_by_date_and_by_id() {
    let (env, src, first) = snapshotted_source();
    let state1 = env.path("state1");
    copy_tree(&src, &state1);
    assert_eq!(first["files"], 7);
    assert_eq!(first["account"], "alice");

    // Add, delete, modify, rename and duplicate.
    write(&src.join("new/added.mp4"), &random_bytes(2 * MIB, 10));
    fs::remove_file(src.join("clips/b.mp4")).unwrap();
    let mut a = fs::read(src.join("clips/a.mp4")).unwrap();
    a[100] ^= 0xff;
    fs::write(src.join("clips/a.mp4"), &a).unwrap();
    fs::rename(src.join("big.mp4"), src.join("renamed big.mp4")).unwrap();
    fs::copy(
        src.join("clips/deeper/still/c.mp4"),
        src.join("dup of c.mp4"),
    )
    .unwrap();
    let second = snapshot_json(&env, &src, "2026-10-05T10:00:00Z");

    let list = env.json(&["snapshots"]);
    assert_eq!(list.as_array().unwrap().len(), 2);

    let out1 = env.path("out1");
    env.ok(&[
        "restore",
        "--date",
        "2026-10-02",
        "--to",
        out1.to_str().unwrap(),
    ]);
    assert_eq!(restored(&out1), tree(&state1));

    let out2 = env.path("out2");
    let id2 = &second["id"].as_str().unwrap()[..6];
    env.ok(&["restore", "--snapshot", id2, "--to", out2.to_str().unwrap()]);
    assert_eq!(restored(&out2), tree(&src));

    let out3 = env.path("out3");
    env.ok(&["restore", "--latest", "--to", out3.to_str().unwrap()]);
    assert_eq!(restored(&out3), tree(&src));

    // A subset.
    let out4 = env.path("out4");
    env.ok(&[
        "restore",
        "--latest",
        "--include",
        "**/clips/**",
        "--to",
        out4.to_str().unwrap(),
    ]);
    let sub = restored(&out4);
    assert!(
        !sub.is_empty() && sub.keys().all(|k| k.starts_with("clips/")),
        "{sub:?}"
    );

    // Before the first snapshot: a clear error naming the oldest.
    let (_, err) = env.expect(
        &[
            "restore",
            "--date",
            "2026-09-01",
            "--to",
            out4.to_str().unwrap(),
        ],
        2,
    );
    let first_id = &first["id"].as_str().unwrap()[..8];
    assert!(
        err.contains(first_id) && err.contains("2026-10-01"),
        "{err}"
    );

    // `ls` by date and by id agree with the sources.
    let ls = env.json(&["ls", "2026-10-01"]);
    assert_eq!(ls["entries"].as_array().unwrap().len(), 7);
}

#[test]
fn restore_never_overwrites_and_resumes() {
    let (env, src, _) = snapshotted_source();
    let out = env.path("out");
    let to = out.to_str().unwrap();
    env.ok(&["restore", "--latest", "--to", to]);
    // Running again skips what is already right.
    let again = env.json(&["restore", "--latest", "--to", to]);
    assert_eq!(again["restored"], 0);
    assert_eq!(again["skipped"], 7);
    // A changed file is not overwritten without --force, and the rest still restores.
    let victim = out.join("media/src/clips/a.mp4");
    fs::write(&victim, b"local edit").unwrap();
    fs::remove_file(out.join("media/src/empty.bin")).unwrap();
    let (_, err) = env.expect(&["restore", "--latest", "--to", to], 1);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"local edit");
    assert!(out.join("media/src/empty.bin").exists());
    env.ok(&["restore", "--latest", "--force", "--verify", "--to", to]);
    assert_eq!(restored(&out), tree(&src));
}

#[test]
fn dedup_stores_only_what_is_new() {
    let (env, src, first) = snapshotted_source();
    let total: u64 = first["bytes"].as_u64().unwrap();
    assert!(first["stored_bytes"].as_u64().unwrap() <= total + 4096);

    // Unchanged: nothing new.
    let same = snapshot_json(&env, &src, "2026-10-02T10:00:00Z");
    assert_eq!(same["new_bytes"], 0);
    assert_eq!(same["stored_bytes"], 0);

    // New files: stored ≈ their size.
    let new_unique = 3 * MIB + 123;
    write(&src.join("fresh.mp4"), &random_bytes(new_unique, 77));
    let s = snapshot_json(&env, &src, "2026-10-03T10:00:00Z");
    let stored = s["stored_bytes"].as_u64().unwrap();
    assert!(
        stored as f64 <= 1.1 * new_unique as f64 + 4096.0,
        "stored {stored}"
    );
    assert!(stored >= new_unique as u64, "stored {stored}");

    // A byte-identical copy under a new name stores nothing.
    fs::copy(src.join("fresh.mp4"), src.join("copy of fresh.mp4")).unwrap();
    let s = snapshot_json(&env, &src, "2026-10-04T10:00:00Z");
    assert_eq!(s["new_bytes"], 0);
    assert_eq!(s["stored_bytes"], 0);

    // A changed first 64 KiB of a 9 MiB video stores only a chunk or two.
    let mut big = fs::read(src.join("big.mp4")).unwrap();
    big[..65536].copy_from_slice(&random_bytes(65536, 99));
    fs::write(src.join("big.mp4"), &big).unwrap();
    let s = snapshot_json(&env, &src, "2026-10-05T10:00:00Z");
    // Chunk cuts past the first one depend only on the bytes near them, so only the
    // first chunk (at most 4 MiB) can be new; it may reach a little past the edit.
    let new = s["new_bytes"].as_u64().unwrap();
    let bound = 4 * MIB as u64 + 65536;
    assert!(new >= 65536 && new <= bound, "new {new}");
    let stored = s["stored_bytes"].as_u64().unwrap();
    assert!(stored > 0 && stored <= bound + 4096, "stored {stored}");

    let stats = env.json(&["stats"]);
    assert_eq!(stats["snapshots"], 5);
    let per: Vec<u64> = stats["per_snapshot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["new_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(per.len(), 5);
    assert_eq!((per[1], per[3]), (0, 0), "{per:?}");
    assert!(stats["dedup_ratio"].as_f64().unwrap() > 3.0, "{stats}");
}

#[test]
fn unchanged_files_are_not_read_again() {
    let (env, src, _) = snapshotted_source();
    // Same size and mtime but other bytes: only --rehash can see it, which proves
    // the plain run trusted the parent snapshot instead of reading the file.
    let p = src.join("clips/a.mp4");
    let meta = fs::metadata(&p).unwrap();
    let mut data = fs::read(&p).unwrap();
    data[5] ^= 1;
    fs::write(&p, &data).unwrap();
    let f = fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(meta.modified().unwrap()).unwrap();
    drop(f);
    let plain = snapshot_json(&env, &src, "2026-10-02T10:00:00Z");
    assert_eq!(plain["new_bytes"], 0);
    let mut args = vec![
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        "alice",
        "--rehash",
    ];
    args.extend(["--time", "2026-10-03T10:00:00Z"]);
    let rehashed = env.json(&args);
    assert!(rehashed["new_bytes"].as_u64().unwrap() > 0);
}

fn largest_pack(env: &Env) -> std::path::PathBuf {
    env.packs()
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap()
}

#[test]
fn damage_is_found_and_named() {
    let (env, src, snap) = snapshotted_source();
    let id = snap["id"].as_str().unwrap();
    env.ok(&["verify", "--read-data"]);

    // Flip one byte in the middle of the big pack.
    let pack = largest_pack(&env);
    let mut bytes = fs::read(&pack).unwrap();
    let original = bytes.clone();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x40;
    fs::write(&pack, &bytes).unwrap();
    // Structure alone does not read data; read-data must find it.
    let report = env.json_code(&["verify", "--read-data"], 1);
    assert_eq!(report["ok"], false);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems[0]["kind"], "corrupt_chunk");
    assert_eq!(problems[0]["snapshots"][0], id);
    assert!(!problems[0]["paths"].as_array().unwrap().is_empty());

    // Restore: the damaged file fails loudly, the rest is restored.
    let out = env.path("out");
    let r = env.json_code(&["restore", "--latest", "--to", out.to_str().unwrap()], 1);
    let failed: Vec<&str> = r["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 1, "{r}");
    assert!(problems[0]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == failed[0]));
    let got = restored(&out);
    let want = tree(&src);
    assert_eq!(got.len(), want.len() - 1);
    for (k, v) in &got {
        assert_eq!(want.get(k), Some(v), "{k}");
    }

    // Truncated: the structural check alone finds it.
    fs::write(&pack, &original[..original.len() - 100]).unwrap();
    let report = env.json_code(&["verify"], 1);
    assert_eq!(report["problems"][0]["kind"], "pack_size");
    assert_eq!(report["problems"][0]["snapshots"][0], id);

    // Deleted: likewise.
    fs::remove_file(&pack).unwrap();
    let report = env.json_code(&["verify"], 1);
    assert_eq!(report["problems"][0]["kind"], "missing_pack");

    // Every run is in the audit history.
    let audits = env.json(&["audits"]);
    let oks: Vec<bool> = audits
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, [true, false, false, false]);
}

#[test]
fn sampled_verify_covers_the_vault_over_time() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..6 {
        write(
            &src.join(format!("v{i}.mp4")),
            &random_bytes(12 * MIB, 100 + i),
        );
    }
    snapshot_json(&env, &src, "2026-10-01T10:00:00Z");
    let packs = env.packs().len() as u64;
    assert!(packs >= 3, "{packs} packs");
    let mut seen = 0;
    for _ in 0..3 {
        let r = env.json(&["verify", "--sample", "40"]);
        seen += r["packs_checked"].as_u64().unwrap();
    }
    // Least recently verified first: three 40 % samples cover every pack.
    assert!(seen >= packs, "{seen} of {packs}");
    let out = env.run(&["verify", "--sample", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn killed_snapshot_leaves_a_valid_vault_and_resumes() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..24 {
        write(
            &src.join(format!("v{i:02}.mp4")),
            &random_bytes(16 * MIB, 200 + i),
        );
    }
    let mut child = env
        .cmd()
        .args([
            "snapshot",
            "--media",
            src.to_str().unwrap(),
            "--account",
            "alice",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once at least one pack is committed but before it is done.
    let start = Instant::now();
    while env
        .packs()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .count()
        < 2
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "snapshot finished before it could be killed"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 0);
    env.ok(&["verify", "--read-data"]);
    let total = 24 * 16 * MIB as u64;
    let s = env.json(&[
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        "alice",
    ]);
    let stored = s["stored_bytes"].as_u64().unwrap();
    assert!(
        stored < total - 16 * MIB as u64,
        "resumed run stored {stored} of {total}"
    );
    env.ok(&["verify", "--read-data"]);
    let out = env.path("out");
    env.ok(&["restore", "--latest", "--to", out.to_str().unwrap()]);
    assert_eq!(restored(&out), tree(&src));
}

#[test]
fn rebuild_index_recovers_everything_from_packs() {
    let (env, src, first) = snapshotted_source();
    let state1 = env.path("state1");
    copy_tree(&src, &state1);
    write(&src.join("later.mp4"), &random_bytes(5 * MIB, 55));
    snapshot_json(&env, &src, "2026-10-03T10:00:00Z");
    let before = env.json(&["snapshots"]);

    for f in ["vault.db", "vault.db-wal", "vault.db-shm"] {
        let _ = fs::remove_file(env.vault().join(f));
    }
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 2);
    assert_eq!(env.json(&["snapshots"]), before);
    env.ok(&["verify", "--read-data"]);
    let out1 = env.path("out1");
    env.ok(&[
        "restore",
        "--snapshot",
        first["id"].as_str().unwrap(),
        "--to",
        out1.to_str().unwrap(),
    ]);
    assert_eq!(restored(&out1), tree(&state1));
    let out2 = env.path("out2");
    env.ok(&[
        "restore",
        "--date",
        "2026-10-04",
        "--to",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(restored(&out2), tree(&src));
}

#[test]
fn a_lost_index_stops_every_command_until_rebuild() {
    let (env, src, _) = snapshotted_source();
    let packs_before = tree(&env.vault().join("packs"));
    assert!(!packs_before.is_empty());
    for f in ["vault.db", "vault.db-wal", "vault.db-shm"] {
        let _ = fs::remove_file(env.vault().join(f));
    }
    let out = env.path("out");
    for args in [
        vec!["prune"],
        vec!["prune", "--dry-run"],
        vec!["forget", "--keep-last", "1", "--prune"],
        vec!["snapshots"],
        vec!["verify"],
        vec!["restore", "--latest", "--to", out.to_str().unwrap()],
        vec![
            "snapshot",
            "--media",
            src.to_str().unwrap(),
            "--account",
            "alice",
        ],
    ] {
        let (_, err) = env.expect(&args, 2);
        assert!(
            err.contains("vault.db") && err.contains("rebuild-index"),
            "{args:?}: {err}"
        );
        assert!(
            !env.vault().join("vault.db").exists(),
            "{args:?} created an empty index"
        );
    }
    assert_eq!(tree(&env.vault().join("packs")), packs_before);
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 1);
    env.ok(&["verify", "--read-data"]);
}

#[test]
fn a_second_writer_is_refused_clearly() {
    let (env, src, _) = snapshotted_source();
    // Hold the lock from another process (flock(1) semantics via our own binary would
    // need a long run; a plain flock holder is exact).
    let lock = fs::File::open(env.vault().join("lock")).unwrap();
    use std::os::unix::io::AsRawFd;
    // SAFETY: plain flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let (_, err) = env.expect(
        &[
            "snapshot",
            "--media",
            src.to_str().unwrap(),
            "--account",
            "alice",
        ],
        2,
    );
    assert!(
        err.contains("is locked by") && err.contains("--wait"),
        "{err}"
    );
    // Readers still work beside the writer.
    env.ok(&["verify"]);
    env.ok(&["snapshots"]);
    drop(lock);
    env.ok(&[
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        "alice",
    ]);
    env.ok(&["verify", "--read-data"]);
}

#[test]
fn bad_input_gets_clear_errors() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);

    let (_, err) = env.expect(
        &["snapshot", "--media", env.path("nope").to_str().unwrap()],
        2,
    );
    assert!(err.contains("nope"), "{err}");

    // A vault path that is a file.
    let file = env.path("afile");
    fs::write(&file, b"x").unwrap();
    let out = env
        .cmd()
        .env("TT_VAULT", &file)
        .args(["snapshots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a file"));
    let out = env
        .cmd()
        .env("TT_VAULT", env.path("novault"))
        .args(["snapshots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tt-vault init"));

    // A restore target inside the source.
    snapshot_json(&env, &src, "2026-10-01T10:00:00Z");
    let inside = src.join("restored-here");
    let (_, err) = env.expect(
        &["restore", "--latest", "--to", inside.to_str().unwrap()],
        2,
    );
    assert!(err.contains("inside the snapshot's source"), "{err}");
    assert!(!inside.exists());

    // An unreadable file: the error names it and nothing is committed. Root reads
    // anything, so run as nobody when we are root.
    let secret = src.join("secret.mp4");
    write(&secret, b"private");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let is_root = unsafe { libc::geteuid() } == 0;
    let args = [
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        "alice",
    ];
    let out = if is_root {
        open_up(env.dir.path());
        common::as_nobody(&env.vault()).args(args).output().unwrap()
    } else {
        env.run(&args)
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("secret.mp4"), "{err}");
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
    env.ok(&["verify", "--read-data"]);
}

/// Lets an unprivileged user write the test's vault (for the permission test as root).
fn open_up(dir: &Path) {
    for e in common::walk_all(dir) {
        let mode = if e.is_dir() { 0o777 } else { 0o666 };
        if e.file_name()
            .is_some_and(|n| n == "secret.mp4" || n == "tt-vault")
        {
            continue;
        }
        let _ = fs::set_permissions(&e, fs::Permissions::from_mode(mode));
    }
}

#[test]
fn a_waiting_writer_goes_on_when_the_lock_is_released() {
    let (env, src, _) = snapshotted_source();
    let lock = fs::File::open(env.vault().join("lock")).unwrap();
    use std::os::unix::io::AsRawFd;
    // SAFETY: plain flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let child = env
        .cmd()
        .args([
            "snapshot",
            "--wait",
            "--media",
            src.to_str().unwrap(),
            "--account",
            "alice",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        env.json(&["snapshots"]).as_array().unwrap().len(),
        1,
        "it did not wait"
    );
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 2);
}

/// The packs (`*.pack`) of a vault, as a set of paths.
fn pack_files(env: &Env) -> std::collections::BTreeSet<std::path::PathBuf> {
    env.packs()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect()
}

fn entry_paths(listing: &serde_json::Value) -> Vec<String> {
    listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

fn failed_paths(report: &serde_json::Value) -> Vec<String> {
    report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn restore_keeps_mtimes() {
    let env = Env::new();
    let src = env.path("src");
    make_source(&src);
    // Distinct times well in the past, with sub-second parts, so that "now" at
    // restore time can never match by accident.
    let mut want = std::collections::BTreeMap::new();
    for (i, rel) in tree(&src).keys().enumerate() {
        let t = std::time::UNIX_EPOCH
            + Duration::new(
                1_500_000_000 + i as u64 * 86_437,
                123_456_789 * (i as u32 % 7),
            );
        let f = fs::File::options().write(true).open(src.join(rel)).unwrap();
        f.set_modified(t).unwrap();
        want.insert(rel.clone(), t);
    }
    snapshot_json(&env, &src, "2026-10-01T10:00:00Z");
    let out = env.path("out");
    env.ok(&["restore", "--latest", "--to", out.to_str().unwrap()]);
    let got = restored(&out);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    let secs =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for (rel, t) in &want {
        let m = fs::metadata(out.join("media/src").join(rel))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(secs(m), secs(*t), "mtime of {rel}");
        // Both trees sit on one file system: the restored time is the source's,
        // to the file system's own precision.
        let s = fs::metadata(src.join(rel)).unwrap().modified().unwrap();
        assert_eq!(secs(s), secs(*t), "the source of {rel} was touched");
        assert_eq!(m, s, "mtime of {rel} (sub-second part)");
    }
}

#[test]
fn restore_refuses_a_symlinked_directory_in_the_target() {
    let (env, src, _) = snapshotted_source();
    let out = env.path("out");
    let elsewhere = env.path("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::create_dir_all(out.join("media/src")).unwrap();
    let link = out.join("media/src/clips");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let under_clips: Vec<String> = tree(&src)
        .keys()
        .filter(|k| k.starts_with("clips/"))
        .map(|k| format!("media/src/{k}"))
        .collect();
    assert_eq!(under_clips.len(), 3);

    // Human output: exit 1, each file under the link named with a "refused" error
    // that names the symlinked directory.
    let (_, err) = env.expect(&["restore", "--latest", "--to", out.to_str().unwrap()], 1);
    for p in &under_clips {
        let line = err
            .lines()
            .find(|l| l.contains(p.as_str()))
            .unwrap_or_else(|| panic!("{p} not named in:\n{err}"));
        assert!(
            line.contains("refused") && line.contains(&link.display().to_string()),
            "{line}"
        );
    }
    // --force changes nothing about it.
    let r = env.json_code(
        &[
            "restore",
            "--latest",
            "--force",
            "--to",
            out.to_str().unwrap(),
        ],
        1,
    );
    assert_eq!(failed_paths(&r), under_clips, "{r}");
    for f in r["failed"].as_array().unwrap() {
        assert!(f["error"].as_str().unwrap().contains("refused"), "{f}");
    }
    // Nothing went through the link; the link itself is still there.
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // Everything else was restored.
    let want: std::collections::BTreeMap<_, _> = tree(&src)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("clips/"))
        .collect();
    assert_eq!(restored(&out), want);
}

#[test]
fn restore_never_follows_a_symlink_at_a_files_place() {
    let (env, src, _) = snapshotted_source();
    let out = env.path("out");
    let elsewhere = env.path("elsewhere");
    let victim = elsewhere.join("victim.txt");
    write(&victim, b"keep me");
    fs::create_dir_all(out.join("media/src")).unwrap();
    let link = out.join("media/src/big.mp4");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // A dangling one too: restoring must not create its destination.
    let ghost = elsewhere.join("ghost");
    let dangling = out.join("media/src/empty.bin");
    std::os::unix::fs::symlink(&ghost, &dangling).unwrap();

    let r = env.json_code(&["restore", "--latest", "--to", out.to_str().unwrap()], 1);
    assert_eq!(
        failed_paths(&r),
        ["media/src/big.mp4", "media/src/empty.bin"],
        "{r}"
    );
    for f in r["failed"].as_array().unwrap() {
        let e = f["error"].as_str().unwrap();
        assert!(e.contains("refused") || e.contains("--force"), "{e}");
    }
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    assert!(!ghost.exists());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // Everything else was restored.
    for rel in tree(&src).keys() {
        if rel != "big.mp4" && rel != "empty.bin" {
            let got = fs::read(out.join("media/src").join(rel)).unwrap();
            assert_eq!(got, fs::read(src.join(rel)).unwrap(), "{rel}");
        }
    }

    // With --force it may refuse or replace the link itself, but never write
    // through it.
    let out2 = env.run(&[
        "restore",
        "--latest",
        "--force",
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    assert!(!ghost.exists());
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 1);
    let is_link = fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink();
    if is_link {
        assert_eq!(out2.status.code(), Some(1));
    } else {
        assert_eq!(
            fs::read(&link).unwrap(),
            fs::read(src.join("big.mp4")).unwrap()
        );
    }
}

#[test]
fn several_accounts_must_be_told_apart() {
    let env = Env::new();
    let (a, b) = (env.path("alice_src"), env.path("bob_src"));
    write(&a.join("a1.mp4"), &random_bytes(300_000, 31));
    write(&a.join("sub/a2.mp4"), &random_bytes(40_000, 32));
    write(&b.join("b1.mp4"), &random_bytes(500_000, 33));
    for (acct, dir, time) in [
        ("alice", &a, "2026-10-01T10:00:00Z"),
        ("bob", &b, "2026-10-02T10:00:00Z"),
    ] {
        env.json(&[
            "snapshot",
            "--media",
            dir.to_str().unwrap(),
            "--account",
            acct,
            "--time",
            time,
        ]);
    }

    let x = env.path("x");
    let ambiguous = |err: &str| {
        assert!(
            err.contains("alice") && err.contains("bob") && err.contains("--account"),
            "{err}"
        );
    };
    let (_, err) = env.expect(&["restore", "--latest", "--to", x.to_str().unwrap()], 2);
    ambiguous(&err);
    assert!(!x.exists(), "a refused restore wrote {}", x.display());
    let (_, err) = env.expect(&["ls", "latest"], 2);
    ambiguous(&err);
    let (_, err) = env.expect(
        &[
            "restore",
            "--date",
            "2026-10-03",
            "--to",
            x.to_str().unwrap(),
        ],
        2,
    );
    ambiguous(&err);

    // Named, each works and sees only its own files.
    let xa = env.path("xa");
    let r = env.json(&[
        "restore",
        "--latest",
        "--account",
        "alice",
        "--to",
        xa.to_str().unwrap(),
    ]);
    assert_eq!(r["account"], "alice");
    assert_eq!(tree(&xa.join("media/alice_src")), tree(&a));
    assert!(!xa.join("media/bob_src").exists());
    let xb = env.path("xb");
    env.ok(&[
        "restore",
        "--latest",
        "--account",
        "bob",
        "--to",
        xb.to_str().unwrap(),
    ]);
    assert_eq!(tree(&xb.join("media/bob_src")), tree(&b));
    assert!(!xb.join("media/alice_src").exists());

    let ls = env.json(&["ls", "latest", "--account", "alice"]);
    assert_eq!(ls["account"], "alice");
    assert_eq!(
        entry_paths(&ls),
        ["media/alice_src/a1.mp4", "media/alice_src/sub/a2.mp4"]
    );
    let ls = env.json(&["ls", "latest", "--account", "bob"]);
    assert_eq!(ls["account"], "bob");
    assert_eq!(entry_paths(&ls), ["media/bob_src/b1.mp4"]);
}

#[test]
fn ls_by_date_and_by_id_prefix() {
    let (env, src, first) = snapshotted_source();
    write(&src.join("later.mp4"), &random_bytes(100_000, 41));
    let second = snapshot_json(&env, &src, "2026-10-05T10:00:00Z");
    let (id1, id2) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    assert_ne!(id1, id2);

    let ls = env.json(&["ls", "--date", "2026-10-04"]);
    assert_eq!(ls["snapshot"], id1);
    assert_eq!(ls["entries"].as_array().unwrap().len(), 7);
    assert!(!entry_paths(&ls).contains(&"media/src/later.mp4".to_string()));
    // A plain date means the end of that day.
    let ls = env.json(&["ls", "--date", "2026-10-05"]);
    assert_eq!(ls["snapshot"], id2);
    assert_eq!(ls["entries"].as_array().unwrap().len(), 8);
    assert!(entry_paths(&ls).contains(&"media/src/later.mp4".to_string()));

    let ls = env.json(&["ls", &id1[..6]]);
    assert_eq!(ls["snapshot"], id1);
    assert_eq!(ls["entries"].as_array().unwrap().len(), 7);
    let ls = env.json(&["ls", &id2[..6]]);
    assert_eq!(ls["snapshot"], id2);
    let ls = env.json(&["ls", "--snapshot", &id1[..6]]);
    assert_eq!(ls["snapshot"], id1);
    let ls = env.json(&["ls", "latest"]);
    assert_eq!(ls["snapshot"], id2);

    // A positional choice and a flag choice together: a usage error.
    let (out, err) = env.expect(&["ls", "latest", "--date", "2026-10-04"], 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("--date"), "{err}");
    env.expect(&["ls", &id1[..6], "--snapshot", &id2[..6]], 2);
}

#[test]
fn an_invalid_include_glob_is_a_usage_error() {
    let (env, _, _) = snapshotted_source();
    let out = env.path("out");
    let (_, err) = env.expect(
        &[
            "restore",
            "--latest",
            "--include",
            "[",
            "--to",
            out.to_str().unwrap(),
        ],
        2,
    );
    assert!(
        err.contains("--include") && (err.contains("\"[\"") || err.contains("'['")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!out.exists(), "a refused restore wrote {}", out.display());
}

#[test]
fn a_second_real_writer_is_told_who_holds_the_lock() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..24 {
        write(
            &src.join(format!("v{i:02}.mp4")),
            &random_bytes(16 * MIB, 300 + i),
        );
    }
    let args = [
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        "alice",
    ];
    let mut first = env
        .cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id();
    // The holder writes its pid into the lock file right after taking the lock.
    let needle = format!("pid {pid} ");
    let start = Instant::now();
    while !fs::read_to_string(env.vault().join("lock")).is_ok_and(|t| t.contains(&needle)) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first snapshot ended before it was seen holding the lock"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    let (_, err) = env.expect(&args, 2);
    assert!(
        err.contains(&format!("is locked by pid {pid} (")),
        "first pid {pid}:\n{err}"
    );
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first snapshot was already done: the test proves nothing"
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 1);
    // Nothing is corrupted, and the refused writer succeeds once the lock is free.
    env.ok(&["verify", "--read-data"]);
    let again = env.json(&args);
    assert_eq!(again["stored_bytes"], 0);
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 2);
    env.ok(&["verify", "--read-data"]);
}

#[test]
fn damage_names_exactly_the_file_it_touches() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("only.mp4"), &random_bytes(9 * MIB, 51));
    let first = snapshot_json(&env, &src, "2026-10-01T10:00:00Z");
    let first_packs = pack_files(&env);
    let ls = env.json(&["ls", "latest"]);
    assert_eq!(entry_paths(&ls), ["media/src/only.mp4"]);

    // Other files (and another snapshot) land in packs of their own.
    make_source(&src);
    let second = snapshot_json(&env, &src, "2026-10-02T10:00:00Z");
    assert!(pack_files(&env).len() > first_packs.len());
    env.ok(&["verify", "--read-data"]);

    let pack = first_packs
        .iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(pack, &bytes).unwrap();

    let report = env.json_code(&["verify", "--read-data"], 1);
    let problems = report["problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{report}");
    for p in problems {
        assert_eq!(p["kind"], "corrupt_chunk", "{p}");
        assert_eq!(p["paths"], serde_json::json!(["media/src/only.mp4"]), "{p}");
        let mut snaps: Vec<&str> = p["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        snaps.sort();
        let mut want = vec![
            first["id"].as_str().unwrap(),
            second["id"].as_str().unwrap(),
        ];
        want.sort();
        assert_eq!(snaps, want, "{p}");
    }
}

/// Whether `text` holds `digits/digits`: indicatif's default bar ("0/0", "0/1234"),
/// which the styled one ("0 B/12.00 MiB") never prints.
fn unstyled_counts(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    (1..b.len().saturating_sub(1))
        .find(|&i| b[i] == b'/' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit())
        .map(|i| &text[i.saturating_sub(20)..(i + 20).min(text.len())])
}

#[test]
fn a_terminal_sees_only_the_styled_bar() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        // util-linux's `script` gives the binary a terminal; .ci/run has it.
        eprintln!("skipped: no `script` on PATH");
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(6 << 20, 3));
    write(&src.join("b.bin"), &random_bytes(5 << 20, 4));
    let line = format!(
        "'{}' snapshot --media '{}' --account a",
        common::bin(),
        src.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TT_VAULT", env.vault())
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("snapshot ["),
        "no bar on a terminal: {text:?}"
    );
    assert_eq!(unstyled_counts(&text), None, "{text:?}");
    // Piped, nothing but the report.
    let piped = env.run(&[
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        "a",
    ]);
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("snapshot ["));
}

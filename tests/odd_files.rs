//! Odd files through the binary: names the filesystem allows that are not plain
//! UTF-8 paths (backslashes, bytes that are not UTF-8), and special files (FIFOs)
//! waiting in a restore target.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{exact_tree, write, Env};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn name(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

#[test]
fn odd_names_round_trip_byte_for_byte() {
    let env = Env::new();
    let src = env.path("src");
    let names: &[&[u8]] = &[
        b"x\\y.mp4",
        b"..\\..\\evil.txt",
        b"a\\b",
        b"a/b",
        b"caf\xe9.mp4",
        b"\xff\xfe dir/inner \x80.txt",
        b"plain.txt",
    ];
    for (i, n) in names.iter().enumerate() {
        write(&src.join(name(n)), format!("file {i}").as_bytes());
    }
    let before = exact_tree(&src);
    assert_eq!(before.len(), names.len());
    let out = env.json(&["snapshot", "--media", s(&src)]);
    assert_eq!(out["files"], names.len() as u64, "{out}");

    let listed = env.json(&["ls"]).to_string();
    assert!(listed.contains(r"media/src/x\\y.mp4"), "{listed}");
    assert!(listed.contains(r"media/src/caf\\xe9.mp4"), "{listed}");

    let to = env.path("out");
    env.ok(&["restore", "--to", s(&to)]);
    assert_eq!(exact_tree(&to.join("media/src")), before);

    // The real names live in the manifest, so a rebuilt index has them too.
    fs::remove_file(env.vault().join("vault.db")).unwrap();
    env.ok(&["rebuild-index"]);
    let again = env.path("again");
    env.ok(&["restore", "--to", s(&again)]);
    assert_eq!(exact_tree(&again.join("media/src")), before);
}

#[test]
fn a_name_that_cannot_be_told_apart_is_refused_at_snapshot_time() {
    let env = Env::new();
    let src = env.path("src");
    // A file really named `caf\xe9` beside one whose name has the byte 0xE9.
    write(&src.join(name(b"caf\\xe9")), b"one");
    write(&src.join(name(b"caf\xe9")), b"two");
    let (_, err) = env.expect(&["snapshot", "--media", s(&src)], 2);
    assert!(
        err.contains(r"would both be stored as media/src/caf\xe9"),
        "{err}"
    );
    assert!(err.contains("rename one"), "{err}");
    assert!(env.json(&["snapshots"]).as_array().unwrap().is_empty());
}

fn mkfifo(path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs tt-vault with `args`, killing it if it has not finished within a minute.
fn run_bounded(env: &Env, args: &[&str]) -> (i32, String) {
    let mut child = env
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            return (status.code().unwrap_or(-1), out);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("tt-vault {args:?} hung on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fifos_in_the_target_are_named_and_never_opened() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), b"alpha");
    write(&src.join("b.bin"), b"beta");
    let export = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports/json2024/user_data_tiktok.json");
    env.ok(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&export),
        "--media",
        s(&src),
    ]);
    for force in [false, true] {
        let to: PathBuf = env.path(if force { "forced" } else { "out" });
        let view = to.join("views/likes.json");
        let file = to.join("media/src/a.bin");
        mkfifo(&view);
        mkfifo(&file);
        let mut args = vec!["restore", "--to", s(&to), "--json"];
        if force {
            args.push("--force");
        }
        let (code, out) = run_bounded(&env, &args);
        assert_eq!(code, 1, "{out}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let failed: BTreeMap<String, String> = report["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().into(),
                    f["error"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            failed.keys().collect::<Vec<_>>(),
            ["media/src/a.bin", "views/likes.json"],
            "{out}"
        );
        for error in failed.values() {
            assert!(error.contains("FIFO") && error.contains(s(&to)), "{error}");
        }
        // Everything else is restored; the FIFOs are left as they were.
        assert_eq!(fs::read(to.join("media/src/b.bin")).unwrap(), b"beta");
        assert!(to.join("export/user_data_tiktok.json").is_file());
        assert!(to.join("views/posts.json").is_file());
        use std::os::unix::fs::FileTypeExt;
        for fifo in [&view, &file] {
            assert!(fs::symlink_metadata(fifo).unwrap().file_type().is_fifo());
        }
    }
}

//! A full disk in the middle of a snapshot: a clear error, nothing committed, no
//! temporary pack left, and what was stored before is intact. Needs a small tmpfs,
//! so it runs where mounting is allowed (as root, as in CI) and says so otherwise.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{random_bytes, tree, write};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs_) = Tmpfs::mount(&dir.path().join("small"), "6m") else {
        eprintln!("note: cannot mount a tmpfs here (not root?); disk-full test skipped");
        return;
    };
    let vault = fs_.0.join("vault");
    let run = |args: &[&str]| {
        Command::new(common::bin())
            .env("TT_VAULT", &vault)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["init"]).status.success());
    let small = dir.path().join("small-src");
    write(&small.join("a.mp4"), &random_bytes(1_000_000, 1));
    assert!(run(&[
        "snapshot",
        "--media",
        small.to_str().unwrap(),
        "--account",
        "a"
    ])
    .status
    .success());

    let big = dir.path().join("big-src");
    write(&big.join("b.mp4"), &random_bytes(12_000_000, 2));
    let out = run(&[
        "snapshot",
        "--media",
        big.to_str().unwrap(),
        "--account",
        "a",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left"), "{err}");

    let leftovers: Vec<_> = common::files_under(&vault.join("packs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let list = run(&["snapshots", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(run(&["verify", "--read-data"]).status.success());
    let restored = dir.path().join("out");
    assert!(
        run(&["restore", "--latest", "--to", restored.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(tree(&restored.join("media/small-src")), tree(&small));
}

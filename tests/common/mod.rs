//! Shared helpers for the end-to-end tests: run the real binary against a
//! temporary vault, make deterministic files, compare trees.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::{RngCore, SeedableRng};

/// Demands `code` of a finished `tt-vault args` run; returns (stdout, stderr), and
/// shows both when the code is another.
pub fn demand(out: Output, args: &[&str], code: i32) -> (String, String) {
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "tt-vault {args:?}\nstdout:\n{so}\nstderr:\n{se}"
    );
    (so, se)
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tt-vault")
}

/// `snapshot --download none --export export --time time`; its JSON report.
pub fn snapshot_at(env: &Env, export: &Path, time: &str) -> serde_json::Value {
    env.json(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(export),
        "--time",
        time,
    ])
}

/// The 2026 fixture snapshotted on 2026-06-01, then `edit` of it on 2026-06-03 (the
/// edit must change it): the diff between the two.
pub fn diff_after_edit(env: &Env, edit: &dyn Fn(&str) -> String) -> serde_json::Value {
    let dl = env.path("downloads/user_data_tiktok.json");
    let text = fs::read_to_string(fixture("json2026/user_data_tiktok.json")).unwrap();
    write(&dl, text.as_bytes());
    snapshot_at(env, &dl, "2026-06-01T10:00:00Z");
    let later = edit(&text);
    assert_ne!(later, text, "the edit changed nothing");
    write(&dl, later.as_bytes());
    snapshot_at(env, &dl, "2026-06-03T10:00:00Z");
    env.json(&["diff", "2026-06-01", "2026-06-03"])
}

/// A temporary vault and a scratch folder beside it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        env.ok(&["init"]);
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn vault(&self) -> PathBuf {
        self.path("vault")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.env("TT_VAULT", self.vault()).env("TZ", "UTC");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run tt-vault")
    }

    /// Runs and demands exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(args, 0).0
    }

    /// Runs and demands the exit code; returns (stdout, stderr).
    pub fn expect(&self, args: &[&str], code: i32) -> (String, String) {
        demand(self.run(args), args, code)
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Runs `tt-vault args` with failpoint `point` set, and demands that it was killed
    /// there (see `tt_vault::store::failpoint`).
    pub fn killed_at(&self, point: &str, args: &[&str]) {
        let out = self
            .cmd()
            .env("TT_VAULT_FAILPOINT", point)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.code().is_none(),
            "{args:?} should have been killed at {point}: {out:?}"
        );
    }

    pub fn json_code(&self, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (out, _) = self.expect(&all, code);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// `snapshot --media src --account account --time time`; its JSON report.
    pub fn snapshot_media(&self, src: &Path, account: &str, time: &str) -> serde_json::Value {
        self.json(&[
            "snapshot",
            "--media",
            src.to_str().unwrap(),
            "--account",
            account,
            "--time",
            time,
        ])
    }

    /// The ids `snapshots` lists, in its order (oldest first).
    pub fn snapshot_ids(&self) -> Vec<String> {
        self.json(&["snapshots"])
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The paths in the latest snapshot.
    pub fn latest_paths(&self) -> Vec<String> {
        self.json(&["ls", "latest"])["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn packs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in fs::read_dir(self.vault().join("packs")).unwrap() {
            let d = d.unwrap().path();
            if d.is_dir() {
                for f in fs::read_dir(&d).unwrap() {
                    out.push(f.unwrap().path());
                }
            }
        }
        out.sort();
        out
    }
}

/// The binary run as `nobody` (root ignores permissions; tests of them need another
/// user), on `vault`.
pub fn as_nobody(vault: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
        .env("TT_VAULT", vault)
        .env("TZ", "UTC");
    c
}

/// A file of the sample exports in tests/fixtures/exports.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports")
        .join(rel)
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

pub fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// Zips `files` (name, bytes) into `path`.
pub fn zip_with(path: &Path, files: &[(&str, &[u8])]) {
    use std::io::Write;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut z = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for (name, data) in files {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

/// Calls `visit` with the relative and full path of every regular file under `root`.
pub fn each_file(root: &Path, visit: &mut dyn FnMut(&Path, &Path)) {
    fn walk(base: &Path, dir: &Path, visit: &mut dyn FnMut(&Path, &Path)) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, visit);
            } else {
                visit(p.strip_prefix(base).unwrap(), &p);
            }
        }
    }
    if root.exists() {
        walk(root, root, visit);
    }
}

/// Every regular file under `root`, by '/'-separated relative path, with its BLAKE3.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    each_file(root, &mut |rel, full| {
        let rel = rel.to_string_lossy().replace('\\', "/");
        let hash = blake3::hash(&fs::read(full).unwrap()).to_hex().to_string();
        out.insert(rel, hash);
    });
    out
}

/// Every regular file under `root`: the exact bytes of its relative path, and its content.
pub fn exact_tree(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = BTreeMap::new();
    each_file(root, &mut |rel, full| {
        out.insert(rel.as_os_str().as_bytes().to_vec(), fs::read(full).unwrap());
    });
    out
}

/// Copies a folder (to keep a source's state at the time of a snapshot).
pub fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_tree(&p, &dest);
        } else {
            fs::create_dir_all(to).unwrap();
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Every file under `dir`, recursively (folders left out).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `dir`, and every folder and file under it.
pub fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_all(&p));
        } else {
            out.push(p);
        }
    }
    out
}

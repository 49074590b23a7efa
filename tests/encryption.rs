//! Encryption at rest, through the binary: `init --encrypt`, the three passphrase
//! sources, key rotation, sealed packs, keyed ids, tamper evidence, rebuild-index.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{random_bytes, tree, write, Env};

const MIB: usize = 1024 * 1024;
const DM_TEXT: &str = "are you selling loaves?";
const USERNAME: &str = "bruno_cooks";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn export_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exports/json2026")
}

/// An encrypted vault whose passphrase is in the file `pass`.
struct Sealed {
    env: Env,
}

impl Sealed {
    fn new() -> Sealed {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        let v = Sealed { env };
        v.set_pass("pass", "correct horse battery staple");
        let out = v.run_with("pass", &["init", "--encrypt"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        v
    }

    fn set_pass(&self, name: &str, text: &str) -> PathBuf {
        let p = self.env.path(name);
        fs::write(&p, format!("{text}\n")).unwrap();
        p
    }

    /// Runs with the passphrase file `pass` (a cheap KDF for new key files).
    fn run_with(&self, pass: &str, args: &[&str]) -> Output {
        self.env
            .cmd()
            .env("TT_VAULT_KDF", "test")
            .env("TT_VAULT_PASSWORD_FILE", self.env.path(pass))
            .args(args)
            .output()
            .unwrap()
    }

    fn code(&self, pass: &str, args: &[&str]) -> (i32, String, String) {
        let o = self.run_with(pass, args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (c, so, se) = self.code("pass", &all);
        assert_eq!(c, code, "{args:?}\n{so}\n{se}");
        serde_json::from_str(&so).unwrap()
    }

    fn all_pack_bytes(&self) -> Vec<u8> {
        self.env
            .packs()
            .iter()
            .flat_map(|p| fs::read(p).unwrap())
            .collect()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A source folder: a known random "video" and a known text file.
fn source(root: &Path) -> (Vec<u8>, Vec<u8>) {
    let video = random_bytes(3 * MIB + 77, 5);
    let text = b"KNOWN PLAINTEXT of a private note\n".repeat(50);
    write(&root.join("clip-secret-name.mp4"), &video);
    write(&root.join("note.txt"), &text);
    (video, text)
}

fn snapshot(v: &Sealed, src: &Path, time: &str) -> serde_json::Value {
    let exp = export_fixture();
    v.json(
        &[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&exp),
            "--media",
            s(src),
            "--time",
            time,
        ],
        0,
    )
}

/// An encrypted vault with one snapshot of `source`.
fn snapshotted() -> (Sealed, PathBuf, serde_json::Value) {
    let v = Sealed::new();
    let src = v.env.path("src");
    source(&src);
    let snap = snapshot(&v, &src, "2026-10-01T10:00:00Z");
    (v, src, snap)
}

#[test]
fn round_trip_leaks_nothing_and_dedups() {
    let v = Sealed::new();
    let src = v.env.path("src");
    let (video, text) = source(&src);
    let first = snapshot(&v, &src, "2026-10-01T10:00:00Z");

    // Byte for byte back.
    let out = v.env.path("out");
    v.json(&["restore", "--latest", "--to", s(&out), "--verify"], 0);
    let got = tree(&out);
    let want = tree(&src);
    for (path, hash) in &want {
        let found = got.iter().find(|(k, _)| k.ends_with(path.as_str()));
        assert_eq!(found.map(|f| f.1), Some(hash), "{path}");
    }

    // Nothing readable in the packs: file bytes, names, DM text, usernames.
    let packs = v.all_pack_bytes();
    for needle in [
        &video[MIB..MIB + 64],
        &text[..34],
        b"clip-secret-name",
        DM_TEXT.as_bytes(),
        USERNAME.as_bytes(),
        b"mila.bakes",
    ] {
        assert!(
            !contains(&packs, needle),
            "{:?} is in a pack",
            String::from_utf8_lossy(needle)
        );
    }
    for p in v.env.packs() {
        assert_eq!(&fs::read(&p).unwrap()[..8], b"TTVPACK2", "{}", p.display());
    }

    // No id is the plain BLAKE3 of what it names.
    let db = rusqlite::Connection::open(v.env.vault().join("vault.db")).unwrap();
    let ids: Vec<Vec<u8>> = db
        .prepare("SELECT hash FROM chunks UNION SELECT hash FROM files")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(ids.len() > 5);
    for plain in [blake3::hash(&video), blake3::hash(&text)] {
        assert!(!ids.iter().any(|i| i[..] == plain.as_bytes()[..]));
    }
    assert!(!ids
        .iter()
        .any(|i| i[..] == blake3::hash(&text).as_bytes()[..]));

    // Dedup: the same again stores nothing; a new file stores about its size.
    let same = snapshot(&v, &src, "2026-10-02T10:00:00Z");
    assert_eq!(same["new_bytes"], 0, "{same}");
    let fresh = random_bytes(2 * MIB, 9);
    write(&src.join("fresh.mp4"), &fresh);
    let third = snapshot(&v, &src, "2026-10-03T10:00:00Z");
    let new = third["new_bytes"].as_u64().unwrap();
    assert_eq!(new, fresh.len() as u64, "{third}");
    assert!(first["new_bytes"].as_u64().unwrap() > new);

    // The control: an unencrypted vault does show the video's bytes.
    let plain = Env::new();
    plain.ok(&["snapshot", "--download", "none", "--media", s(&src)]);
    let bytes: Vec<u8> = plain
        .packs()
        .iter()
        .flat_map(|p| fs::read(p).unwrap())
        .collect();
    assert!(contains(&bytes, &video[MIB..MIB + 64]));
}

#[test]
fn passphrase_problems_exit_2_and_change_nothing() {
    let (v, src, _) = snapshotted();
    let before: Vec<_> = v.env.packs();

    v.set_pass("wrong", "not it");
    let (c, _, err) = v.code("wrong", &["snapshot", "--media", s(&src)]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("passphrase opens none"), "{err}");

    // None at all (no terminal in a test): a clear error.
    let o = v.env.cmd().args(["snapshots"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("TT_VAULT_PASSWORD_FILE"), "{err}");

    // A failing password command, and one that works.
    let with_cmd = |cmd: &str| {
        v.env
            .cmd()
            .env("TT_VAULT_PASSWORD_COMMAND", cmd)
            .args(["snapshots"])
            .output()
            .unwrap()
    };
    let o = with_cmd("echo nope >&2; exit 3");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("password command"), "{err}");
    assert_eq!(
        with_cmd("echo 'correct horse battery staple'")
            .status
            .code(),
        Some(0)
    );

    assert_eq!(v.env.packs(), before);
}

#[test]
fn keys_rotate_without_touching_data() {
    let (v, _, _) = snapshotted();
    let packs_before: Vec<Vec<u8>> = v.env.packs().iter().map(|p| fs::read(p).unwrap()).collect();

    let keys = v.json(&["key", "list"], 0);
    let old = keys[0]["id"].as_str().unwrap().to_string();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    // The last key stays.
    let (c, _, err) = v.code("pass", &["key", "remove", &old]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("last key"), "{err}");

    let p2 = v.set_pass("pass2", "a second passphrase");
    let added = v.json(&["key", "add", "--new-password-file", s(&p2)], 0);
    let new = added["added"].as_str().unwrap().to_string();
    let (c, _, err) = v.code("pass2", &["key", "remove", &old]);
    assert_eq!(c, 0, "{err}");

    assert_eq!(v.code("pass", &["snapshots"]).0, 2);
    let (c, so, _) = v.code("pass2", &["key", "list"]);
    assert_eq!(c, 0);
    assert!(so.contains(&format!("*{new}")), "{so}");
    let out = v.env.path("out");
    assert_eq!(
        v.code("pass2", &["restore", "--latest", "--to", s(&out)]).0,
        0
    );

    // passwd replaces the key that opened the vault.
    let p3 = v.set_pass("pass3", "third");
    let (c, _, err) = v.code("pass2", &["key", "passwd", "--new-password-file", s(&p3)]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(v.code("pass2", &["snapshots"]).0, 2);
    assert_eq!(v.code("pass3", &["snapshots"]).0, 0);

    let packs_after: Vec<Vec<u8>> = v.env.packs().iter().map(|p| fs::read(p).unwrap()).collect();
    assert_eq!(packs_before, packs_after);
}

#[test]
fn a_flipped_byte_fails_authentication_and_is_named() {
    let (v, _, snap) = snapshotted();
    v.json(&["verify", "--read-data"], 0);
    let pack = v
        .env
        .packs()
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&pack).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x01;
    fs::write(&pack, &bytes).unwrap();

    let report = v.json(&["verify", "--read-data"], 1);
    let p = &report["problems"][0];
    assert_eq!(p["kind"], "corrupt_chunk", "{report}");
    let name = pack.file_stem().unwrap().to_str().unwrap();
    assert_eq!(p["pack"], name, "{report}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("fail authentication"),
        "{report}"
    );
    assert_eq!(p["snapshots"][0], snap["id"], "{report}");
    assert!(
        p["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().ends_with("clip-secret-name.mp4")),
        "{report}"
    );
}

#[test]
fn rebuild_index_needs_the_passphrase() {
    let (v, _, _) = snapshotted();
    let before = v.json(&["ls", "latest"], 0);
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(v.env.vault().join(format!("vault.db{suffix}")));
    }
    let o = v.env.cmd().args(["rebuild-index"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!v.env.vault().join("vault.db").exists());

    v.json(&["rebuild-index"], 0);
    assert_eq!(v.json(&["ls", "latest"], 0), before);
    v.json(&["verify", "--read-data"], 0);
}

#[test]
fn prune_carries_sealed_blobs_over() {
    let (v, src, _) = snapshotted();
    fs::remove_file(src.join("note.txt")).unwrap();
    write(&src.join("later.mp4"), &random_bytes(MIB, 21));
    snapshot(&v, &src, "2026-10-02T10:00:00Z");
    let report = v.json(
        &[
            "forget",
            "--keep-last",
            "1",
            "--prune",
            "--allow-video-loss",
            "--max-unused",
            "0%",
            "--max-repack",
            "100%",
        ],
        0,
    );
    // The partly used pack's live blobs were copied, still sealed, into a new pack.
    assert!(
        report["prune"]["packs_repacked"].as_u64().unwrap() >= 1,
        "{report}"
    );
    v.json(&["verify", "--read-data"], 0);
    let out = v.env.path("out");
    v.json(&["restore", "--latest", "--to", s(&out)], 0);
    let got = tree(&out);
    for (path, hash) in tree(&src) {
        let found = got.iter().find(|(k, _)| k.ends_with(path.as_str()));
        assert_eq!(found.map(|f| f.1), Some(&hash), "{path}");
    }
    for p in v.env.packs() {
        assert_eq!(&fs::read(&p).unwrap()[..8], b"TTVPACK2", "{}", p.display());
    }
}

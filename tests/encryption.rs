//! Encryption at rest, through the binary: `init --encrypt`, the three passphrase
//! sources, key rotation, sealed packs, keyed ids, tamper evidence, rebuild-index.

mod common;
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{random_bytes, tree, write, Env};
use support::viewer::{demo, snapshot_links, Viewer};

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

    /// A command with the passphrase file `pass` (a cheap KDF for new key files).
    fn cmd_with(&self, pass: &str) -> Command {
        let mut c = self.env.cmd();
        c.env("TT_VAULT_KDF", "test")
            .env("TT_VAULT_PASSWORD_FILE", self.env.path(pass));
        c
    }

    fn run_with(&self, pass: &str, args: &[&str]) -> Output {
        self.cmd_with(pass).args(args).output().unwrap()
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

/// True when vault.db does not read as SQLite without the vault's key.
fn index_is_sealed(v: &Sealed) -> bool {
    let db = rusqlite::Connection::open(v.env.vault().join("vault.db")).unwrap();
    db.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .is_err()
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

    // The index is SQLCipher: without the key it is not even a database, and no
    // content of the export, no path, no id shows in its bytes (or its log, kept
    // here by a reader holding the database open during a second snapshot).
    let db_path = v.env.vault().join("vault.db");
    assert!(index_is_sealed(&v));
    let mut vault = tt_vault::store::Vault::open(&v.env.vault()).unwrap();
    vault.unlock(b"correct horse battery staple").unwrap();
    let db = vault.connect().unwrap();
    let later = v.env.path("later");
    write(&later.join("later-secret-name.mp4"), &random_bytes(MIB, 31));
    v.json(
        &[
            "snapshot",
            "--download",
            "none",
            "--media",
            s(&later),
            "--account",
            "other",
        ],
        0,
    );
    let wal = fs::read(v.env.vault().join("vault.db-wal")).unwrap_or_default();
    assert!(!wal.is_empty(), "a reader kept the log");
    let index_bytes = [fs::read(&db_path).unwrap(), wal].concat();
    for needle in [
        DM_TEXT.as_bytes(),
        USERNAME.as_bytes(),
        b"mila.bakes",
        b"mila@example.com",
        b"203.0.113.7",
        b"that spelt loaf",
        b"clip-secret-name",
        b"later-secret-name",
        b"export_items",
    ] {
        assert!(
            !contains(&index_bytes, needle),
            "{:?} is readable in vault.db",
            String::from_utf8_lossy(needle)
        );
    }
    // No id is the plain BLAKE3 of what it names (read with the key, through the library).
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
    let mut reader = tt_vault::store::reader::BlobReader::new(&vault).unwrap();
    let mut blobs = 0;
    for id in &ids {
        let id: [u8; 32] = id[..].try_into().unwrap();
        if let Ok(raw) = reader.read(&id) {
            assert_ne!(blake3::hash(&raw).as_bytes(), &id, "a plain BLAKE3 id");
            blobs += 1;
        }
    }
    assert!(blobs > 5, "the chunks read back with the key");
    drop((reader, db));

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
    let before = tree(&v.env.vault());

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
    let o = with_cmd("echo nope >&2; exit 3 # sEcReT-tOkEn");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("password command"), "{err}");
    assert!(
        !err.contains("sEcReT-tOkEn"),
        "the command line is echoed: {err}"
    );
    assert_eq!(
        with_cmd("echo 'correct horse battery staple'")
            .status
            .code(),
        Some(0)
    );

    // Not a byte of the vault changed: packs, index, keys, marker.
    assert_eq!(tree(&v.env.vault()), before);
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
    assert!(err.contains("last readable key"), "{err}");

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

/// A key file that is garbage, too large, a FIFO or a link to something else is
/// passed over: the other keys still open the vault, and it is named only when none does.
/// It can be removed; the last key that works cannot.
#[test]
fn a_damaged_key_file_locks_no_one_out() {
    let (v, _, _) = snapshotted();
    let first = v.json(&["key", "list"], 0)[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p2 = v.set_pass("pass2", "a second passphrase");
    v.json(&["key", "add", "--new-password-file", s(&p2)], 0);
    let keys = v.env.vault().join("keys");
    // Sorted first, so unlock meets them before the working keys.
    fs::write(keys.join("0000garbage"), b"{not json").unwrap();
    fs::write(keys.join("0001huge"), vec![b' '; 4 << 20]).unwrap();
    std::os::unix::fs::symlink(v.env.path("pass2"), keys.join("0002link")).unwrap();
    // Opening a FIFO for reading would wait for a writer forever.
    let fifo = Command::new("mkfifo")
        .arg(keys.join("0003fifo"))
        .status()
        .unwrap();
    assert!(fifo.success());
    fs::write(keys.join(&first), b"{\"format\": 99}").unwrap();

    let (c, _, err) = v.code("pass2", &["snapshots"]);
    assert_eq!(c, 0, "{err}");
    let (c, _, err) = v.code("pass", &["snapshots"]);
    assert_eq!(c, 2, "{err}");
    for named in [
        "0000garbage",
        "0001huge",
        "0002link",
        "0003fifo",
        first.as_str(),
    ] {
        assert!(err.contains(named), "{named} not named: {err}");
    }
    assert!(err.contains("too large"), "{err}");
    for damaged in ["0000garbage", "0001huge", "0002link", "0003fifo"] {
        let (c, _, err) = v.code("pass2", &["key", "remove", damaged]);
        assert_eq!(c, 0, "{damaged}: {err}");
    }
    // The damaged first key and the working second one are left: the working one
    // is the last readable key.
    let second = fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| *n != first)
        .unwrap();
    let (c, _, err) = v.code("pass2", &["key", "remove", &second]);
    assert_eq!(c, 2, "{err}");
    assert!(err.contains("last readable key"), "{err}");
    let (c, _, err) = v.code("pass2", &["key", "remove", &first]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(v.code("pass2", &["snapshots"]).0, 0);
    assert!(
        v.env.path("pass2").exists(),
        "the link's target is left alone"
    );
}

#[test]
fn a_flipped_byte_fails_authentication_and_is_named() {
    let (v, _, snap) = snapshotted();
    v.json(&["verify", "--read-data"], 0);
    // The text says how the blobs were checked.
    for (args, how) in [
        (&["verify", "--read-data"][..], "authenticated"),
        (&["verify", "--read-data", "--decode"][..], "re-hashed"),
    ] {
        let (c, so, se) = v.code("pass", args);
        assert_eq!(c, 0, "{se}");
        assert!(so.contains(how), "{args:?}: {so}");
    }
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

    // The tag check (the default), the full decode and a sample all find it.
    let decoded = v.json(&["verify", "--read-data", "--decode"], 1);
    assert_eq!(decoded["mode"], "read-data, decoded", "{decoded}");
    assert_eq!(decoded["problems"][0]["kind"], "corrupt_chunk", "{decoded}");
    let sampled = v.json(&["verify", "--sample", "100"], 1);
    assert_eq!(sampled["problems"][0]["kind"], "corrupt_chunk", "{sampled}");
    let (code, _, err) = v.code("pass", &["verify", "--decode"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--read-data or --sample"), "{err}");
    let report = v.json(&["verify", "--read-data"], 1);
    assert_eq!(report["mode"], "read-data", "{report}");
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
    assert!(index_is_sealed(&v), "the rebuilt index is encrypted too");
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

#[tokio::test]
async fn serve_reads_an_encrypted_vault_given_its_passphrase() {
    let v = Sealed::new();
    demo(|| v.cmd_with("pass"));
    let o = v.env.cmd().arg("serve").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("TT_VAULT_PASSWORD_FILE"), "{err}");

    let viewer = Viewer::start(v.cmd_with("pass"), &[]);
    let c = viewer.client().await;
    let page = |path: String| {
        let c = c.clone();
        async move {
            let r = c.get(path).send().await.unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            r.bytes().await.unwrap()
        }
    };
    let home = page(format!("{}/", viewer.base)).await;
    let snap = snapshot_links(&String::from_utf8_lossy(&home)).remove(0);
    let search = page(format!("{}/s/{snap}/search?q=rye", viewer.base)).await;
    assert!(
        String::from_utf8_lossy(&search).contains("ye"),
        "search answered"
    );
    let post = page(format!("{}/s/{snap}/post/7342000000000000101", viewer.base)).await;
    let post = String::from_utf8_lossy(&post);
    let video = post
        .split("\"/media/")
        .skip(1)
        .map(|p| format!("/media/{}", &p[..p.find('"').unwrap()]))
        .find(|m| m.ends_with(".mp4"))
        .unwrap_or_else(|| panic!("no video on the post page: {post}"));
    let played = page(format!("{}{video}", viewer.base)).await;
    let saved = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sample/saved_videos/2024-03-02_7342000000000000101.mp4");
    assert_eq!(&played[..], &fs::read(saved).unwrap()[..]);
}

/// `run` and the timer have no terminal: the config's `password_command` unlocks.
#[test]
fn run_unlocks_with_the_configs_password_command() {
    let v = Sealed::new();
    let src = v.env.path("src");
    source(&src);
    let xdg = v.env.path("xdg");
    let config = |cmd: &str| {
        let text = format!(
            "vault = \"{}\"\npassword_command = \"{cmd}\"\n[download]\nlists = []\n\n\
             [[account]]\nname = \"alice\"\nmedia = [\"{}\"]\n",
            v.env.vault().display(),
            src.display()
        );
        write(&xdg.join("tt-vault/config.toml"), text.as_bytes());
    };
    let by_config = |args: &[&str]| {
        Command::new(common::bin())
            .env("TZ", "UTC")
            .env("XDG_CONFIG_HOME", &xdg)
            .env("TT_VAULT_NO_SYSTEMD", "1")
            .args(args)
            .output()
            .unwrap()
    };

    config("exit 3");
    let o = by_config(&["run", "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("password command"), "{err}");
    assert!(v.env.packs().is_empty());

    let pass = v.env.path("pass");
    config(&format!("cat '{}'", pass.display()));
    let o = by_config(&["run", "--json"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(report["accounts"][0]["snapshot"]["files"].as_u64().unwrap() >= 2);
    assert_eq!(report["verify"]["status"], "ok", "{report:#}");
    assert_eq!(v.json(&["snapshots"], 0).as_array().unwrap().len(), 1);

    // A passphrase file given to `schedule --install` is named in the timer's command.
    let o = by_config(&[
        "--password-file",
        pass.to_str().unwrap(),
        "schedule",
        "--install",
        "daily",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let service = fs::read_to_string(xdg.join("systemd/user/tt-vault.service")).unwrap();
    assert!(
        service.contains(&format!("--password-file {}", pass.display())),
        "{service}"
    );
}

/// Readers open an encrypted index read-only: on a vault this user may not write
/// (run as nobody), `ls` and `verify --read-data` work with the passphrase and a
/// snapshot is refused; nothing in the vault changes.
#[test]
fn a_read_only_encrypted_vault_reads() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: not root, cannot run as another user; test skipped");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (v, src, _) = snapshotted();
    let vault = v.env.vault();
    let set_modes = |dir: u32, file: u32| {
        for p in common::walk_all(&vault) {
            let mode = if p.is_dir() { dir } else { file };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    fs::set_permissions(v.env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let pass = v.env.path("pass");
    fs::set_permissions(&pass, fs::Permissions::from_mode(0o644)).unwrap();
    set_modes(0o555, 0o444);
    let before = tree(&vault);
    let nobody = |args: &[&str]| {
        let o = common::as_nobody(&vault)
            .env("TT_VAULT_PASSWORD_FILE", &pass)
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    };
    let (code, text) = nobody(&["ls", "latest"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("clip-secret-name.mp4"), "{text}");
    let (code, text) = nobody(&["verify", "--read-data"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = nobody(&["snapshot", "--media", s(&src)]);
    assert_eq!(code, Some(2), "{text}");
    assert_eq!(tree(&vault), before, "a reader changed the vault");
    set_modes(0o700, 0o600);
}

//! Off-site vaults (packs in S3) through the binary, against a real S3-protocol
//! server on loopback (moto's, see tests/support/s3.rs), with a proxy in front of it
//! for the faults. Without moto installed these tests skip and say so, unless
//! `TT_VAULT_REQUIRE_S3=1` (set by .ci/run) demands them.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{bin, demand, random_bytes, s, tree, write};
use support::s3::{moto_or_skip, Moto, Proxy};

const BUCKET: &str = "ttbucket";

/// A scratch folder with vaults in it, run against one endpoint.
struct Site {
    dir: tempfile::TempDir,
    endpoint: String,
    key: String,
}

impl Site {
    fn new(endpoint: String) -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
            endpoint,
            key: "test".into(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, vault: &str) -> Command {
        let mut c = Command::new(bin());
        c.env("TT_VAULT", self.path(vault))
            .env("TZ", "UTC")
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("TT_VAULT_S3_ENDPOINT", &self.endpoint)
            .env("TT_VAULT_S3_RETRIES", "3")
            .env_remove("AWS_REGION");
        c
    }

    fn run(&self, vault: &str, args: &[&str]) -> Output {
        self.cmd(vault).args(args).output().unwrap()
    }

    fn expect(&self, vault: &str, args: &[&str], code: i32) -> (String, String) {
        demand(self.run(vault, args), args, code)
    }

    fn json(&self, vault: &str, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (so, _) = self.expect(vault, &all, code);
        serde_json::from_str(&so).unwrap_or_else(|e| panic!("{args:?}: {e}: {so}"))
    }

    fn snapshot(&self, vault: &str, src: &Path, time: &str) -> String {
        self.json(vault, &snapshot_args(src, time), 0)["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Restores `snapshot` of vault into a new folder and returns its tree.
    fn restored(&self, vault: &str, snapshot: &str, to: &str) -> Tree {
        let out = self.path(to);
        self.expect(
            vault,
            &["restore", "--snapshot", snapshot, "--to", s(&out)],
            0,
        );
        tree(&out.join("media"))
    }

    /// The finished packs in the vault's local cache.
    fn cached_packs(&self, vault: &str) -> usize {
        self.cached_pack_files(vault).len()
    }

    /// The files of the finished packs in the vault's local cache.
    fn cached_pack_files(&self, vault: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        common::each_file(&self.path(vault).join("packs"), &mut |_, p| {
            if p.extension().is_some_and(|e| e == "pack") {
                found.push(p.to_path_buf());
            }
        });
        found
    }

    /// Empties the vault's local cache of packs (all of them are off-site).
    fn drop_cached_packs(&self, vault: &str) {
        for p in self.cached_pack_files(vault) {
            std::fs::remove_file(p).unwrap();
        }
    }

    /// Takes snapshot `id` out of the index, as a damaged or out-of-date vault.db
    /// would lack it (its packs still hold it).
    fn lose_from_index(&self, vault: &str, id: &str) {
        let db = rusqlite::Connection::open(self.path(vault).join("vault.db")).unwrap();
        db.execute_batch(&format!(
            "PRAGMA foreign_keys = ON; DELETE FROM snapshots WHERE id = '{id}'"
        ))
        .unwrap();
    }
}

/// `snapshot` of the media folder `src` for account `a` at `time`.
fn snapshot_args<'a>(src: &'a Path, time: &'a str) -> [&'a str; 7] {
    [
        "snapshot",
        "--media",
        s(src),
        "--account",
        "a",
        "--time",
        time,
    ]
}

type Tree = std::collections::BTreeMap<String, String>;

/// What a snapshot of `src` restores as (under the media folder's name).
fn as_restored(src: &Path) -> Tree {
    let name = src.file_name().unwrap().to_string_lossy();
    tree(src)
        .into_iter()
        .map(|(k, v)| (format!("{name}/{k}"), v))
        .collect()
}

/// Random files (one of 10 MiB) under `<site>/src<seed>`.
fn sources(site: &Site, seed: u64) -> PathBuf {
    let src = site.path(&format!("src{seed}"));
    write(&src.join("big.mp4"), &random_bytes(10 << 20, seed));
    write(&src.join("small.mp4"), &random_bytes(300_000, seed + 1));
    write(&src.join("notes.txt"), format!("seed {seed}").as_bytes());
    src
}

/// Moto with the test bucket in it, and a site that talks to it directly (None:
/// the test skips).
fn moto_site(test: &str) -> Option<(Moto, Site)> {
    let moto = moto_or_skip(test)?;
    moto.create_bucket(BUCKET);
    let site = Site::new(moto.endpoint());
    Some((moto, site))
}

/// Moto with the test bucket, a fault proxy in front of it, and a site talking
/// through the proxy with a vault `v` whose remote is `prefix` (None: skip).
fn proxied_site(test: &str, prefix: &str, extra: &[&str]) -> Option<(Moto, Proxy, Site)> {
    let moto = moto_or_skip(test)?;
    moto.create_bucket(BUCKET);
    let proxy = Proxy::start(moto.port);
    let site = Site::new(proxy.endpoint());
    init_remote(&site, "v", prefix, extra);
    Some((moto, proxy, site))
}

/// The same site behind a new, healthy proxy (the server back after a fault).
fn healed(site: Site, moto: &Moto) -> (Proxy, Site) {
    let back = Proxy::start(moto.port);
    let site = Site {
        endpoint: back.endpoint(),
        ..site
    };
    (back, site)
}

/// The ids of the packs in the bucket under `prefix`.
fn stored_packs(moto: &Moto, prefix: &str) -> Vec<String> {
    pack_keys(moto, prefix).iter().map(|k| pack_id(k)).collect()
}

fn pack_keys(moto: &Moto, prefix: &str) -> Vec<String> {
    moto.keys(BUCKET, &format!("{prefix}/packs/"))
}

fn init_remote(site: &Site, vault: &str, prefix: &str, extra: &[&str]) {
    let url = format!("s3://{BUCKET}/{prefix}");
    let mut args = vec!["init", "--remote", url.as_str()];
    args.extend_from_slice(extra);
    site.expect(vault, &args, 0);
}

#[test]
fn round_trip_with_a_tiny_cache_and_a_new_machine() {
    let Some((moto, site)) = moto_site("round_trip") else {
        return;
    };
    let src = sources(&site, 1);
    init_remote(&site, "v", "tt", &["--cache-size", "1"]);
    assert!(moto
        .keys(BUCKET, "tt/")
        .contains(&"tt/tt-vault".to_string()));
    let id = site.snapshot("v", &src, "2026-06-01T10:00:00Z");
    assert!(
        !pack_keys(&moto, "tt").is_empty(),
        "the packs are in the bucket"
    );
    assert_eq!(site.cached_packs("v"), 0, "a 1-byte cache keeps no pack");
    assert_eq!(site.restored("v", &id, "out1"), as_restored(&src));
    let report = site.json("v", &["verify", "--read-data"], 0);
    assert_eq!(report["ok"], true);
    assert!(report["packs_checked"].as_u64().unwrap() >= 1);
    assert_eq!(site.cached_packs("v"), 0, "reads leave the cache trimmed");

    // A new machine: nothing but the bucket.
    init_remote(&site, "new", "tt", &["--existing", "--cache-size", "all"]);
    let snaps = site.json("new", &["snapshots"], 0);
    assert_eq!(snaps.as_array().unwrap().len(), 1, "{snaps}");
    assert_eq!(snaps[0]["id"], id.as_str());
    assert_eq!(
        site.cached_packs("new"),
        pack_keys(&moto, "tt").len(),
        "--cache-size all keeps every pack locally"
    );
    assert_eq!(site.restored("new", &id[..12], "out2"), as_restored(&src));
    site.expect("new", &["verify", "--read-data"], 0);

    // A bucket that holds a vault is adopted, never overwritten by a new one.
    let (_, err) = site.expect(
        "other",
        &["init", "--remote", &format!("s3://{BUCKET}/tt")],
        2,
    );
    assert!(
        err.contains("already holds a vault") && err.contains("--existing"),
        "{err}"
    );
    let (_, err) = site.expect(
        "other",
        &[
            "init",
            "--remote",
            &format!("s3://{BUCKET}/empty"),
            "--existing",
        ],
        2,
    );
    assert!(err.contains("holds no tt-vault"), "{err}");
    assert!(
        !site.path("other").exists(),
        "a refused init creates nothing"
    );
}

#[test]
fn an_encrypted_vault_leaves_only_ciphertext_and_a_new_machine_needs_the_passphrase() {
    let Some((moto, site)) = moto_site("encrypted") else {
        return;
    };
    let pass = site.path("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let with_pass = |vault: &str, args: &[&str], code: i32| {
        let out = site
            .cmd(vault)
            .env("TT_VAULT_KDF", "test")
            .env("TT_VAULT_PASSWORD_FILE", &pass)
            .args(args)
            .args(["--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    let url = format!("s3://{BUCKET}/enc");
    with_pass(
        "v",
        &["init", "--encrypt", "--remote", &url, "--cache-size", "all"],
        0,
    );
    let export = common::fixture("json2026");
    let src = sources(&site, 8);
    let args = [
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&export),
        "--media",
        s(&src),
    ];
    with_pass("v", &args, 0);
    let keys = moto.keys(BUCKET, "enc/");
    assert!(
        keys.iter().any(|k| k.starts_with("enc/keys/")),
        "key files go off-site: {keys:?}"
    );
    for key in keys.iter().filter(|k| k.starts_with("enc/packs/")) {
        let (code, bytes) = moto.request_bytes("GET", &format!("/{BUCKET}/{key}"));
        assert_eq!(code, 200);
        for needle in [&b"bruno_cooks"[..], b"are you selling loaves?", b"big.mp4"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{key} holds {:?} in the clear",
                String::from_utf8_lossy(needle)
            );
        }
    }
    // A new machine: the bucket and the passphrase, nothing else.
    let adopted = with_pass("new", &["init", "--remote", &url, "--existing"], 0);
    assert_eq!(adopted["rebuilt"]["snapshots"], 1, "{adopted}");
    assert_eq!(
        adopted["rebuilt"]["exports"], 1,
        "the catalogue is rebuilt too: {adopted}"
    );
    let out = site.path("out");
    with_pass("new", &["restore", "--latest", "--to", s(&out)], 0);
    assert_eq!(tree(&out.join("media")), as_restored(&src));
    with_pass("new", &["verify", "--read-data"], 0);
    // Prune's census reads the sealed trailers of the uncached packs by range (a
    // pack whose tail did not read would be fetched whole, into the cache).
    site.drop_cached_packs("new");
    with_pass("new", &["prune", "--dry-run"], 0);
    assert_eq!(site.cached_packs("new"), 0);
    // Without the passphrase the adopted vault stays shut.
    let (_, err) = site.expect("new", &["snapshots"], 2);
    assert!(
        err.contains("encrypted") || err.contains("passphrase"),
        "{err}"
    );
}

#[test]
fn prune_deletes_remote_packs_after_its_commit_even_when_killed() {
    let Some((moto, site)) = moto_site("prune") else {
        return;
    };
    init_remote(&site, "v", "p", &[]);
    let first = sources(&site, 10);
    let old = site.snapshot("v", &first, "2026-01-01T00:00:00Z");
    let keys_after_first = pack_keys(&moto, "p");
    let src = sources(&site, 20);
    let keep = site.snapshot("v", &src, "2026-02-01T00:00:00Z");
    site.expect("v", &["forget", &old], 0);
    // Killed right after prune's commit: the old packs are pending deletes.
    let out = site
        .cmd("v")
        .env("TT_VAULT_FAILPOINT", "prune-after-commit")
        .args(["prune"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    for k in &keys_after_first {
        assert!(
            pack_keys(&moto, "p").contains(k),
            "nothing deleted before the kill"
        );
    }
    // The next writer finishes the deletes off-site.
    site.expect("v", &["prune"], 0);
    let now = pack_keys(&moto, "p");
    for k in &keys_after_first {
        assert!(!now.contains(k), "{k} was deleted from the bucket");
    }
    let report = site.json("v", &["verify", "--read-data"], 0);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(site.restored("v", &keep, "out"), as_restored(&src));
}

#[test]
fn verify_names_a_pack_deleted_in_the_bucket_and_its_snapshots() {
    let Some((moto, site)) = moto_site("verify") else {
        return;
    };
    init_remote(&site, "v", "vf", &["--cache-size", "1"]);
    let id = site.snapshot("v", &sources(&site, 3), "2026-03-01T00:00:00Z");
    let keys = pack_keys(&moto, "vf");
    let victim = &keys[0];
    let (code, body) = moto.request("DELETE", &format!("/{BUCKET}/{victim}"));
    assert_eq!(code, 204, "{body}");
    let pack = victim.rsplit('/').next().unwrap().trim_end_matches(".pack");
    let report = site.json("v", &["verify"], 1);
    let problems = report["problems"].as_array().unwrap();
    let missing = problems
        .iter()
        .find(|p| p["kind"] == "missing_pack")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(missing["pack"], pack);
    assert!(missing["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("s3://{BUCKET}/vf/")));
    assert!(
        missing["snapshots"].to_string().contains(&id[..8]),
        "{report}"
    );
    let (out, _) = site.expect("v", &["verify"], 1);
    assert!(out.contains(pack) && out.contains(&id[..8]), "{out}");
    // An object the index does not know is reported too, and left alone.
    let stray = format!("/{BUCKET}/vf/packs/ab/ab{}.pack", "0".repeat(30));
    let (code, _) = moto.request("PUT", &stray);
    assert_eq!(code, 200);
    let report = site.json("v", &["verify"], 1);
    assert!(report.to_string().contains("extra_pack"), "{report}");
}

#[test]
fn retries_ride_out_503s_and_persistent_500s_exit_2_naming_the_bucket() {
    let Some((_moto, proxy, site)) = proxied_site("faults", "f", &[]) else {
        return;
    };
    let src = sources(&site, 4);
    proxy
        .faults
        .fail_next
        .store(3, std::sync::atomic::Ordering::SeqCst);
    let first = site.snapshot("v", &src, "2026-04-01T00:00:00Z");
    assert_eq!(
        proxy
            .faults
            .fail_next
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    proxy
        .faults
        .fail_all
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let more = sources(&site, 5);
    let args = snapshot_args(&more, "2026-04-02T00:00:00Z");
    let (_, err) = site.expect("v", &args, 2);
    assert!(err.contains(&format!("s3://{BUCKET}/f/packs/")), "{err}");
    assert!(err.contains("retried"), "{err}");
    proxy
        .faults
        .fail_all
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let snaps = site.json("v", &["snapshots"], 0);
    assert_eq!(
        snaps.as_array().unwrap().len(),
        1,
        "the failed snapshot is not visible"
    );
    site.snapshot("v", &more, "2026-04-02T00:00:00Z");
    let report = site.json("v", &["verify", "--read-data"], 0);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(site.restored("v", &first, "out"), as_restored(&src));
}

#[test]
fn a_server_killed_mid_snapshot_leaves_it_uncommitted_and_the_next_run_uploads() {
    let Some((moto, proxy, site)) = proxied_site("killed", "k", &[]) else {
        return;
    };
    let src = sources(&site, 6);
    // The server goes away at the snapshot's first request: the upload of its one
    // pack (init made requests before, so this is never 0, "never").
    proxy.faults.die_after.store(
        proxy.faults.seen.load(std::sync::atomic::Ordering::SeqCst),
        std::sync::atomic::Ordering::SeqCst,
    );
    let args = snapshot_args(&src, "2026-05-01T00:00:00Z");
    let (_, err) = site.expect("v", &args, 2);
    assert!(proxy.is_dead());
    assert!(err.contains("off-site storage"), "{err}");
    assert!(site
        .json("v", &["snapshots"], 0)
        .as_array()
        .unwrap()
        .is_empty());
    // The server is back (a new address: the same bucket behind it).
    let (_back, site) = healed(site, &moto);
    let id = site.snapshot("v", &src, "2026-05-01T00:00:00Z");
    let report = site.json("v", &["verify", "--read-data"], 0);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(site.restored("v", &id, "out"), as_restored(&src));
}

/// The pack ids the index has committed.
fn indexed_packs(site: &Site, vault: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(site.path(vault).join("vault.db")).unwrap();
    let mut stmt = db.prepare("SELECT name FROM packs").unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.map(Result::unwrap).collect()
}

/// The pack id in a pack's key or request path (`…/packs/ab/<id>.pack`).
fn pack_id(key: &str) -> String {
    let file = key.rsplit('/').next().unwrap();
    file.trim_end_matches(".pack").to_string()
}

#[test]
fn a_failed_upload_among_several_at_once_commits_only_what_is_in_the_bucket() {
    let Some((moto, proxy, site)) = proxied_site("concurrent", "c", &[]) else {
        return;
    };
    // Four packs' worth (a pack closes at 32 MiB).
    let src = site.path("many");
    for i in 0..4u64 {
        write(
            &src.join(format!("v{i}.mp4")),
            &random_bytes(30 << 20, 40 + i),
        );
    }
    let f = &proxy.faults;
    let ordering = std::sync::atomic::Ordering::SeqCst;
    // Uploads held long enough to overlap; the second to arrive keeps failing.
    f.hold_pack_puts_ms.store(700, ordering);
    f.fail_pack_put.store(2, ordering);
    let args = snapshot_args(&src, "2026-07-01T00:00:00Z");
    let (_, err) = site.expect("v", &args, 2);
    let doomed = pack_id(&f.doomed().expect("the second pack upload was failed"));
    assert!(err.contains(&doomed), "the failed pack is named: {err}");
    assert!(
        f.pack_puts_most.load(ordering) >= 2,
        "pack uploads overlapped"
    );
    assert!(site
        .json("v", &["snapshots"], 0)
        .as_array()
        .unwrap()
        .is_empty());
    let stored = stored_packs(&moto, "c");
    let indexed = indexed_packs(&site, "v");
    assert!(!indexed.contains(&doomed), "{indexed:?}");
    for id in &indexed {
        assert!(
            stored.contains(id),
            "{id} is committed but not in the bucket"
        );
    }
    // A healthy server: the next run uploads what is missing and completes.
    let (_back, site) = healed(site, &moto);
    let id = site.snapshot("v", &src, "2026-07-01T00:00:00Z");
    let report = site.json("v", &["verify", "--read-data"], 0);
    assert_eq!(report["ok"], true, "{report}");
    let stored = stored_packs(&moto, "c");
    assert!(
        stored.contains(&doomed),
        "the failed pack went up on the next run"
    );
    assert_eq!(site.restored("v", &id, "out"), as_restored(&src));
}

#[test]
fn a_restore_with_a_tiny_cache_fetches_each_pack_once_and_leaves_the_cache_bounded() {
    let Some((_moto, proxy, site)) = proxied_site("read-ahead", "ra", &["--cache-size", "1"])
    else {
        return;
    };
    // Three or four packs, files spanning two of them.
    let src = site.path("media");
    for i in 0..5u64 {
        write(
            &src.join(format!("v{i}.mp4")),
            &random_bytes(21 << 20, 60 + i),
        );
    }
    let id = site.snapshot("v", &src, "2026-08-01T00:00:00Z");
    assert_eq!(site.cached_packs("v"), 0, "committed packs left the cache");
    let db = rusqlite::Connection::open(site.path("v").join("vault.db")).unwrap();
    let (total, largest): (u64, u64) = db
        .query_row("SELECT sum(size), max(size) FROM packs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let got = &proxy.faults.pack_get_bytes;
    got.store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(site.restored("v", &id, "out"), as_restored(&src));
    let got = got.load(std::sync::atomic::Ordering::SeqCst);
    // Every pack once; the one holding the manifest may come twice (read for the
    // snapshot's list of files, trimmed, then read for the files).
    assert!(
        got >= total && got <= total + largest,
        "downloaded {got} bytes of packs totalling {total}"
    );
    assert_eq!(site.cached_packs("v"), 0, "the cache is back at its bound");
}

/// A bounded cache is not fsynced (a cache, as restic's): a copy a crash left
/// damaged is fetched again on first use, and the restore is exact.
#[test]
fn a_damaged_pack_in_a_bounded_cache_is_fetched_again() {
    let Some((_moto, site)) = moto_site("cache-heal") else {
        return;
    };
    init_remote(&site, "v", "heal", &[]);
    let src = site.path("media");
    for i in 0..3u64 {
        write(
            &src.join(format!("v{i}.mp4")),
            &random_bytes(5 << 20, 80 + i),
        );
    }
    let id = site.snapshot("v", &src, "2026-08-01T00:00:00Z");
    assert!(
        site.cached_packs("v") > 0,
        "the default cache keeps the packs"
    );
    let damage = || {
        let mut damaged = 0;
        common::each_file(&site.path("v").join("packs"), &mut |_, p| {
            if p.extension().is_some_and(|e| e == "pack") {
                let mut bytes = std::fs::read(p).unwrap();
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0x10;
                std::fs::write(p, &bytes).unwrap();
                damaged += 1;
            }
        });
        assert!(damaged > 0);
    };
    // Verify reads the bucket's copy in place of a damaged cached one; so does a
    // restore.
    damage();
    site.json("v", &["verify", "--read-data"], 0);
    damage();
    assert_eq!(site.restored("v", &id, "out"), as_restored(&src));
    site.json("v", &["verify", "--read-data"], 0);
}

/// Prune's census reads an uncached remote pack's tail by range (and a tombstone by
/// its own range), not the whole pack: a prune of a vault whose cache holds nothing
/// fetches a few KiB a pack, and leaves in the cache only packs it wrote.
#[test]
fn prune_of_a_vault_whose_cache_is_empty_reads_only_pack_tails() {
    let Some((_moto, proxy, site)) = proxied_site("census", "cs", &[]) else {
        return;
    };
    let (a, b) = (sources(&site, 30), sources(&site, 31));
    let old = site.snapshot("v", &a, "2026-09-01T00:00:00Z");
    let keep = site.snapshot("v", &b, "2026-09-02T00:00:00Z");
    let got = &proxy.faults.pack_get_bytes;
    let ordering = std::sync::atomic::Ordering::SeqCst;
    let pruned = |args: &[&str]| {
        site.drop_cached_packs("v");
        let before: Vec<String> = indexed_packs(&site, "v");
        got.store(0, ordering);
        site.expect("v", args, 0);
        let fetched = got.load(ordering);
        // Whatever is cached now, prune wrote (packs are fetched whole only to be
        // rewritten; a tail read leaves nothing behind).
        for p in site.cached_pack_files("v") {
            let id = pack_id(&p.to_string_lossy());
            assert!(!before.contains(&id), "{args:?} left {id} in the cache");
        }
        eprintln!(
            "{args:?}: {fetched} bytes of packs fetched, {} packs",
            before.len()
        );
        (fetched, before.len() as u64)
    };
    // At most a 64 KiB tail a pack, and the listing of packs/ (counted too).
    let bound = |packs: u64| packs * 64 * 1024 + 16 * 1024;
    for args in [&["prune", "--dry-run"][..], &["prune"]] {
        let (fetched, packs) = pruned(args);
        assert!(packs >= 2);
        assert!(fetched <= bound(packs), "{args:?}: fetched {fetched}");
    }
    // A forgotten snapshot: its tombstone (in a pack of its own, not cached) is read
    // by range too, or the census would take the snapshot for a live one the index
    // lost, and prune would refuse.
    site.expect("v", &["forget", &old], 0);
    // Tails read once: the census's serve also to tell whether the tombstone is
    // still needed (whether a pack still holds the snapshot it forgets).
    let (fetched, packs) = pruned(&["prune"]);
    assert!(fetched <= bound(packs), "fetched {fetched}");
    assert_eq!(
        site.json("v", &["snapshots"], 0).as_array().unwrap().len(),
        1
    );
    assert_eq!(site.restored("v", &keep, "out"), as_restored(&b));
    let report = site.json("v", &["verify", "--read-data"], 0);
    assert_eq!(report["ok"], true, "{report}");
}

/// The census exists for this: a snapshot the index lost but the packs hold stops
/// prune, read by range from the bucket as it was from whole packs.
#[test]
fn a_snapshot_the_index_lost_stops_prune_of_an_uncached_vault() {
    let Some((moto, site)) = moto_site("census-lost") else {
        return;
    };
    init_remote(&site, "v", "lost", &[]);
    let lost = site.snapshot("v", &sources(&site, 32), "2026-09-01T00:00:00Z");
    site.snapshot("v", &sources(&site, 33), "2026-09-02T00:00:00Z");
    site.lose_from_index("v", &lost);
    let keys = pack_keys(&moto, "lost");
    prune_refuses_for_the_lost(&site, &lost, &|args| {
        assert_eq!(pack_keys(&moto, "lost"), keys, "{args:?} deleted packs");
        assert_eq!(site.cached_packs("v"), 0, "{args:?} downloaded packs");
    });
    site.expect("v", &["rebuild-index"], 0);
    site.expect("v", &["prune"], 0);
    assert_eq!(
        site.json("v", &["snapshots"], 0).as_array().unwrap().len(),
        2
    );
}

/// Vault `v` with a folder remote (no S3 server needed) and two snapshots, the first
/// taken out of the index (its packs still hold it): the site, the remote, its id.
fn folder_remote_that_lost_a_snapshot(seed: u64) -> (Site, PathBuf, String) {
    let site = Site::new(String::new());
    let remote = site.path("remote");
    site.expect("v", &["init", "--remote", s(&remote)], 0);
    let lost = site.snapshot("v", &sources(&site, seed), "2026-09-01T00:00:00Z");
    site.snapshot("v", &sources(&site, seed + 1), "2026-09-02T00:00:00Z");
    site.lose_from_index("v", &lost);
    (site, remote, lost)
}

/// A remote pack whose tail is damaged is fetched whole and scanned, as before the
/// census read tails: the snapshot the index lost is still found (here in a folder
/// remote, which needs no S3 server).
#[test]
fn a_damaged_pack_tail_in_the_remote_falls_back_to_a_scan() {
    let (site, remote, lost) = folder_remote_that_lost_a_snapshot(34);
    let mut damaged = 0;
    common::each_file(&remote.join("packs"), &mut |_, p| {
        let mut bytes = std::fs::read(p).unwrap();
        let n = bytes.len();
        bytes[n - 40..].fill(0xee);
        std::fs::write(p, &bytes).unwrap();
        damaged += 1;
    });
    assert!(damaged >= 2);
    let packs = tree(&remote.join("packs"));
    prune_refuses_for_the_lost(&site, &lost, &|args| {
        assert_eq!(tree(&remote.join("packs")), packs, "{args:?}");
    });
}

/// A bounded cache is not fsynced: a crash can leave a cached pack empty or cut short.
/// The census then reads the remote's copy rather than leave the pack out (or take a
/// scan of its first half for all of it), so a snapshot the index lost still stops
/// prune (a folder remote, no S3 server needed).
#[test]
fn a_cut_short_cached_pack_is_read_from_the_remote_by_prune() {
    let (site, remote, lost) = folder_remote_that_lost_a_snapshot(36);
    let packs = tree(&remote.join("packs"));
    // Emptied, then cut to half its length.
    for (args, keep) in [(&["prune", "--dry-run"][..], 0), (&["prune"], 2)] {
        // In the cache as a restore would leave them (the census drops a damaged copy).
        common::copy_tree(&remote.join("packs"), &site.path("v").join("packs"));
        let cached = site.cached_pack_files("v");
        assert!(cached.len() >= 2, "{args:?}");
        for p in cached {
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() / 2 * keep / 2]).unwrap();
        }
        let (_, err) = site.expect("v", args, 2);
        assert!(
            err.contains("does not know") && err.contains(&lost[..16]),
            "{args:?}: {err}"
        );
        assert_eq!(tree(&remote.join("packs")), packs, "{args:?}");
    }
}

/// `prune --dry-run`, then `prune`, of vault `v` (whose index lost snapshot `lost`),
/// each from an empty cache: each refuses, naming it; `unchanged` checks after each
/// that nothing was deleted.
fn prune_refuses_for_the_lost(site: &Site, lost: &str, unchanged: &dyn Fn(&[&str])) {
    for args in [&["prune", "--dry-run"][..], &["prune"]] {
        site.drop_cached_packs("v");
        let (_, err) = site.expect("v", args, 2);
        assert!(
            err.contains("does not know") && err.contains(&lost[..16]),
            "{args:?}: {err}"
        );
        unchanged(args);
    }
}

#[test]
fn wrong_credentials_and_a_missing_bucket_are_clear_errors() {
    let Some(moto) = moto_or_skip("credentials") else {
        return;
    };
    let site = Site::new(moto.endpoint());
    let (_, err) = site.expect("v", &["init", "--remote", "s3://nobucket/tt"], 2);
    assert!(
        err.contains("s3://nobucket/tt") && err.contains("NoSuchBucket"),
        "{err}"
    );
    assert!(!site.path("v").exists());
    let out = site
        .cmd("v")
        .env_remove("AWS_ACCESS_KEY_ID")
        .args(["init", "--remote", "s3://nobucket/tt"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");

    let bin = support::s3::moto_binary().unwrap();
    let strict = Moto::start(&bin, &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let site = Site {
        key: "AKIANOTAKEY".into(),
        ..Site::new(strict.endpoint())
    };
    let (_, err) = site.expect("v", &["init", "--remote", &format!("s3://{BUCKET}/tt")], 2);
    assert!(
        err.contains("InvalidAccessKeyId") && err.contains("AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(!site.path("v").exists());
}

/// Opt-in: the same round trip against any real S3 service, when
/// `TT_VAULT_TEST_S3_ENDPOINT`, `TT_VAULT_TEST_S3_BUCKET`, `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` are set (see the README's Off-site section).
#[test]
fn opt_in_round_trip_against_a_real_s3_service() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(bucket), Some(key), Some(secret)) = (
        var("TT_VAULT_TEST_S3_ENDPOINT"),
        var("TT_VAULT_TEST_S3_BUCKET"),
        var("AWS_ACCESS_KEY_ID"),
        var("AWS_SECRET_ACCESS_KEY"),
    ) else {
        eprintln!(
            "opt_in_round_trip: SKIPPED — set TT_VAULT_TEST_S3_ENDPOINT, TT_VAULT_TEST_S3_BUCKET, \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to run it"
        );
        return;
    };
    let site = Site {
        key,
        ..Site::new(endpoint)
    };
    let src = sources(&site, 7);
    let prefix = format!("tt-vault-test-{}", std::process::id());
    let url = format!("s3://{bucket}/{prefix}");
    let run = |vault: &str, args: &[&str], code: i32| {
        let out = site
            .cmd(vault)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("TT_VAULT_S3_RETRIES", "6")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    };
    run("v", &["init", "--remote", &url, "--cache-size", "1"], 0);
    let time = "2026-06-01T00:00:00Z";
    run("v", &snapshot_args(&src, time), 0);
    run("v", &["verify", "--read-data"], 0);
    run("new", &["init", "--remote", &url, "--existing"], 0);
    let out = site.path("out");
    run("new", &["restore", "--latest", "--to", s(&out)], 0);
    assert_eq!(tree(&out.join("media")), as_restored(&src));
}

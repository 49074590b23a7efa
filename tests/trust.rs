//! Issue 9 (index and concurrency) and issue 16 (dry runs): the packs are the truth
//! and the index a cache; a read-only vault reads; readers and prune don't collide;
//! the vault is private whatever the umask. Each finding as it was reproduced, now
//! with the right outcome.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{fixture, random_bytes, s, tree, write, Env};

/// A vault with two export snapshots (June with a DM, November) and a media file.
fn two_snapshots() -> (Env, Vec<String>) {
    let env = Env::new();
    let media = env.path("media");
    write(&media.join("clip.mp4"), &random_bytes(300_000, 1));
    let mut ids = Vec::new();
    for (dir, time) in [("a", "2026-06-01T10:00:00Z"), ("b", "2026-11-01T10:00:00Z")] {
        let dl = env.path("downloads/user_data_tiktok.json");
        write(
            &dl,
            &fs::read(fixture(&format!("pair/{dir}/user_data_tiktok.json"))).unwrap(),
        );
        let r = env.json(&[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&dl),
            "--media",
            s(&media),
            "--time",
            time,
        ]);
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    (env, ids)
}

/// Every file of the vault with its size and BLAKE3, SQLite's shared-memory index
/// (`vault.db-shm`, rewritten by anyone who merely reads) left out.
fn listing(vault: &Path) -> BTreeMap<String, (u64, String)> {
    tree(vault)
        .into_iter()
        .filter(|(name, _)| name != "vault.db-shm")
        .map(|(name, hash)| {
            let size = fs::metadata(vault.join(&name)).unwrap().len();
            (name, (size, hash))
        })
        .collect()
}

/// Kills a prune right after its commit: pending deletes and a `-wal` are left.
fn kill_prune_after_commit(env: &Env, ids: &[String]) {
    env.ok(&["forget", &ids[0][..12], "--allow-video-loss"]);
    env.killed_at(
        "prune-after-commit",
        &["prune", "--max-unused", "0", "--max-repack", "100"],
    );
    assert!(env.vault().join("vault.db-wal").exists());
}

fn sql(env: &Env, statement: &str) {
    let conn = rusqlite::Connection::open(env.vault().join("vault.db")).unwrap();
    conn.execute_batch(statement).unwrap();
}

#[test]
fn init_refuses_a_folder_that_holds_packs() {
    let (env, _) = two_snapshots();
    fs::remove_file(env.vault().join("VAULT")).unwrap();
    fs::remove_file(env.vault().join("vault.db")).unwrap();
    let packs = tree(&env.vault().join("packs"));
    let (_, err) = env.expect(&["init"], 2);
    assert!(
        err.contains("already holds packs") && err.contains("rebuild-index"),
        "{err}"
    );
    assert!(!env.vault().join("vault.db").exists());
    assert_eq!(tree(&env.vault().join("packs")), packs);
}

#[test]
fn a_wrong_index_cannot_make_prune_delete_a_live_snapshot() {
    let (env, ids) = two_snapshots();
    // The index loses a snapshot the packs still hold.
    sql(
        &env,
        &format!(
            "PRAGMA foreign_keys = ON; DELETE FROM snapshots WHERE id = '{}'",
            ids[0]
        ),
    );
    let packs = tree(&env.vault().join("packs"));
    for args in [
        vec!["prune", "--max-unused", "0", "--max-repack", "100"],
        vec!["prune", "--dry-run"],
        vec![
            "forget",
            "--keep-last",
            "1",
            "--prune",
            "--allow-video-loss",
        ],
    ] {
        let (_, err) = env.expect(&args, 2);
        assert!(
            err.contains("does not know")
                && err.contains("rebuild-index")
                && err.contains(&ids[0][..16]),
            "{args:?}: {err}"
        );
        assert_eq!(
            tree(&env.vault().join("packs")),
            packs,
            "{args:?} changed the packs"
        );
    }
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 2);
    env.ok(&["prune", "--max-unused", "0", "--max-repack", "100"]);
    env.ok(&["verify", "--read-data"]);
}

/// `two_snapshots`, then a third snapshot commit (of a new 200 KB file, returned) that
/// never finished: its export's cataloguing failed, as a kill there leaves it, after
/// its manifest reached a committed pack. The index knows that manifest only as
/// unfinished.
fn a_commit_that_never_finished() -> (Env, Vec<String>, Vec<u8>) {
    let (env, ids) = two_snapshots();
    let late = random_bytes(200_000, 7);
    let err = commit_late(&env, &late, true).unwrap_err();
    assert!(err.contains("nothing was committed"), "{err}");
    assert_eq!(env.snapshot_ids(), ids);
    (env, ids, late)
}

/// Commits `late` as media/late.mp4 in a snapshot of the vault's first account taken
/// 2026-12-01 10:00, through the library's builder; with `fail`, its last step fails
/// as a catalogue ingest that failed does (nothing committed, its record left).
fn commit_late(env: &Env, late: &[u8], fail: bool) -> Result<String, String> {
    use tt_vault::store::archiver::{SnapshotBuilder, SnapshotInfo};
    let account = env.json(&["snapshots"])[0]["account"]
        .as_str()
        .unwrap()
        .to_string();
    let vault = tt_vault::store::Vault::open(&env.vault()).unwrap();
    let lock = vault.lock_for_writing(false).unwrap();
    let quiet = |_| {};
    let b = SnapshotBuilder::new(&vault, &lock, &account, false, &quiet).unwrap();
    let mut reader = std::io::Cursor::new(late.to_vec());
    b.add_reader("media/late.mp4", &mut reader, "media", None, None)
        .unwrap();
    let info = SnapshotInfo {
        account,
        taken_at: "2026-12-01T10:00:00Z".parse().unwrap(),
        sources: Vec::new(),
        failed: Vec::new(),
        meta: serde_json::json!({}),
    };
    b.commit_with(info, |_, _| match fail {
        true => Err("cataloguing the export failed: test; nothing was committed".into()),
        false => Ok(()),
    })
    .map(|c| c.id)
    .map_err(|e| e.to_string())
}

/// A snapshot commit that never finished leaves a manifest the index knows only as
/// unfinished. Prune does not refuse as above, and keeps that manifest with
/// everything it references: the record is no proof the commit died (an older copy
/// of vault.db has it too). verify passes before and after; then `rebuild-index`,
/// trusting the packs, lists it as a third snapshot, and restoring it gives its
/// bytes back.
#[test]
fn prune_keeps_a_snapshot_whose_commit_never_finished() {
    let (env, ids, late) = a_commit_that_never_finished();
    env.ok(&["verify"]);
    let kept = "1 snapshot(s) whose commit never finished (killed, or failed) kept in the packs";
    for args in [
        &["prune", "--dry-run"][..],
        &["prune"],
        &["prune", "--purge"],
    ] {
        let (out, err) = env.expect(args, 0);
        assert!(
            out.contains(kept)
                && out.contains("rebuild-index")
                && out.contains("`tt-vault forget --unfinished` to drop them"),
            "{args:?}: {out}{err}"
        );
    }
    let r = env.json(&["prune"]);
    assert_eq!(r["unfinished_snapshots"], 1, "{r}");
    assert!(
        r["unfinished_bytes"].as_u64().unwrap() >= late.len() as u64,
        "{r}"
    );
    env.ok(&["verify", "--read-data"]);
    assert_eq!(env.snapshot_ids(), ids);

    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 3, "{r}");
    let listed = env.snapshot_ids();
    assert_eq!(&listed[..2], &ids[..]);
    let to = env.path("restored");
    env.ok(&["restore", "--snapshot", &listed[2], "--to", s(&to)]);
    assert_eq!(fs::read(to.join("media/late.mp4")).unwrap(), late);
    // Listed, it is a snapshot like any other: the next prune has nothing to say of it.
    let (out, _) = env.expect(&["prune"], 0);
    assert!(!out.contains("never finished"), "{out}");
    env.ok(&["verify", "--read-data"]);
}

/// A commit retried after `forget --unfinished`, identical to one the tombstone names
/// (same account, time and files, nothing new stored), gets an id of its own: under
/// the forgotten id, rebuild-index would leave it out and the prune after that drop
/// its file.
#[test]
fn a_retried_commit_that_was_forgotten_gets_an_id_of_its_own() {
    let (env, ids, late) = a_commit_that_never_finished();
    // The second attempt stores nothing new: its manifest is the one an identical
    // third attempt makes.
    commit_late(&env, &late, true).unwrap_err();
    let forgotten = unfinished_records(&env);
    assert_eq!(forgotten.len(), 2, "{forgotten:?}");
    env.ok(&["forget", "--unfinished"]);
    let id = commit_late(&env, &late, false).unwrap();
    assert!(!forgotten.contains(&id), "{id} is named by the tombstone");

    env.ok(&["prune", "--purge"]);
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 3, "{r}");
    let mut want = ids.clone();
    want.push(id.clone());
    assert_eq!(env.snapshot_ids(), want);
    env.ok(&["prune", "--purge"]);
    let to = env.path("restored");
    env.ok(&["restore", "--snapshot", &id, "--to", s(&to)]);
    assert_eq!(fs::read(to.join("media/late.mp4")).unwrap(), late);
    env.ok(&["verify", "--read-data"]);
}

/// The manifests vault.db records as commits that never finished, in hex.
fn unfinished_records(env: &Env) -> Vec<String> {
    let conn = rusqlite::Connection::open(env.vault().join("vault.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT lower(hex(manifest)) FROM unfinished_snapshots ORDER BY 1")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

fn pack_bytes(env: &Env) -> u64 {
    env.packs()
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum()
}

/// Every snapshot restored, each into `to`/its id.
fn restore_all(env: &Env, ids: &[String], to: &Path) -> BTreeMap<String, String> {
    for id in ids {
        env.ok(&["restore", "--snapshot", id, "--to", s(&to.join(id))]);
    }
    tree(to)
}

/// `forget --unfinished` drops a commit that never finished in one step: a dry run
/// changes nothing; then prune frees what only it held and has nothing left to keep,
/// the real snapshots restore as before, and `rebuild-index` (the tombstone in the
/// packs says it is forgotten) does not bring it back. Asked again, there is nothing
/// to do; a record whose snapshot row exists goes without a tombstone; flags of
/// forget's other modes with it are a usage error.
#[test]
fn forget_unfinished_drops_a_commit_that_never_finished() {
    let (env, ids, late) = a_commit_that_never_finished();
    let records = unfinished_records(&env);
    assert_eq!(records.len(), 1);
    let manifest = &records[0];
    for args in [
        &["forget", "--unfinished", "--keep-last", "1"][..],
        &["forget", "--unfinished", &ids[0][..8]],
        &["forget", "--unfinished", "--account", "someone"],
        &["forget", "--unfinished", "--allow-video-loss"],
    ] {
        let (_, err) = env.expect(args, 2);
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
    let restored_before = restore_all(&env, &ids, &env.path("before"));

    let vault_before = listing(&env.vault());
    let (out, err) = env.expect(&["forget", "--unfinished", "--dry-run", "--prune"], 0);
    assert!(
        out.contains(&format!("remove  {}", &manifest[..8]))
            && out.contains("would forget 1 unfinished snapshot commit(s)")
            && out.contains("nothing to prune"),
        "{out}{err}"
    );
    let r = env.json(&["forget", "--unfinished", "--dry-run"]);
    assert_eq!(r["removed"], 1, "{r}");
    assert_eq!(r["unfinished"][0]["id"], manifest.as_str(), "{r}");
    assert_eq!(r["unfinished"][0]["finished"], false, "{r}");
    // What its manifest says, for the user to recognise it, and the way out when
    // vault.db was restored from a copy.
    let described = &r["unfinished"][0]["snapshot"];
    assert_eq!(described["taken_at"], "2026-12-01T10:00:00.000Z", "{r}");
    assert_eq!(described["files"], 1, "{r}");
    assert_eq!(described["bytes"], late.len() as u64, "{r}");
    assert!(
        out.contains("taken 2026-12-01T10:00:00.000Z, 1 file(s)")
            && out.contains("restored from a copy, run `tt-vault rebuild-index` instead"),
        "{out}"
    );
    // A read-only SQLite connection leaves an empty log where none was, as every dry
    // run's does (prune's too): it holds nothing.
    let mut vault_after = listing(&env.vault());
    if vault_after
        .get("vault.db-wal")
        .is_some_and(|(size, _)| *size == 0)
    {
        vault_after.remove("vault.db-wal");
    }
    assert_eq!(vault_after, vault_before, "a dry run changed the vault");

    let before = pack_bytes(&env);
    let (out, err) = env.expect(&["forget", "--unfinished"], 0);
    assert!(
        out.contains(&format!("remove  {}", &manifest[..8]))
            && out.contains("forgot 1 unfinished snapshot commit(s)"),
        "{out}{err}"
    );
    assert!(unfinished_records(&env).is_empty());
    assert_eq!(env.snapshot_ids(), ids);
    let r = env.json(&["prune"]);
    assert_eq!(r["unfinished_snapshots"], 0, "{r}");
    let after = pack_bytes(&env);
    assert!(
        after + late.len() as u64 <= before,
        "packs {before} -> {after} bytes: the unfinished commit's file is still held"
    );
    assert_eq!(restore_all(&env, &ids, &env.path("after")), restored_before);
    env.ok(&["verify", "--read-data"]);

    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 2, "{r}");
    assert_eq!(env.snapshot_ids(), ids);
    let (out, _) = env.expect(&["prune"], 0);
    assert!(!out.contains("never finished"), "{out}");

    let (out, _) = env.expect(&["forget", "--unfinished"], 0);
    assert!(out.contains("no unfinished snapshot commits"), "{out}");
    let r = env.json(&["forget", "--unfinished", "--prune"]);
    assert_eq!(r["removed"], 0, "{r}");
    assert_eq!(r["unfinished"], serde_json::json!([]), "{r}");

    // A copy of vault.db from a commit's last seconds: the record of a snapshot that exists.
    sql(
        &env,
        &format!(
            "INSERT INTO unfinished_snapshots (manifest) VALUES (X'{}')",
            ids[1]
        ),
    );
    let packs = env.packs();
    let r = env.json(&["forget", "--unfinished"]);
    assert_eq!(r["removed"], 0, "{r}");
    assert_eq!(r["unfinished"][0]["id"], ids[1].as_str(), "{r}");
    assert_eq!(r["unfinished"][0]["finished"], true, "{r}");
    assert!(unfinished_records(&env).is_empty());
    assert_eq!(
        env.packs(),
        packs,
        "no tombstone for a snapshot that exists"
    );
    assert_eq!(env.snapshot_ids(), ids);
}

/// Killed once its tombstone is durable and before its commit, `forget --unfinished`
/// takes effect at the next writer: it adopts the tombstone's pack, and with it
/// deletes the record.
#[test]
fn a_forget_unfinished_killed_after_its_tombstone_takes_effect_at_the_next_writer() {
    let (env, ids, _) = a_commit_that_never_finished();
    env.killed_at("forget-after-tombstone", &["forget", "--unfinished"]);
    assert_eq!(unfinished_records(&env).len(), 1);
    let r = env.json(&["prune"]);
    assert_eq!(r["unfinished_snapshots"], 0, "{r}");
    assert!(unfinished_records(&env).is_empty());
    env.ok(&["verify", "--read-data"]);
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 2, "{r}");
    assert_eq!(env.snapshot_ids(), ids);
}

#[test]
fn rebuild_index_works_from_any_state_of_vault_db() {
    let (env, ids) = two_snapshots();
    env.ok(&["verify"]);
    let db = env.vault().join("vault.db");
    let good = fs::read(&db).unwrap();
    let check = |state: &str, r: &serde_json::Value| {
        assert_eq!(r["snapshots"], 2, "{state}: {r}");
        let listed = env.json(&["snapshots"]);
        assert_eq!(listed.as_array().unwrap().len(), 2, "{state}");
        env.ok(&["verify", "--read-data"]);
        assert!(!env.vault().join("vault.db.rebuilding").exists(), "{state}");
    };

    // Healthy, with history: the history comes over.
    let r = env.json(&["rebuild-index"]);
    check("healthy", &r);
    assert!(r["audits_carried"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["history_lost"].is_null());
    assert!(env.vault().join("vault.db.before-rebuild").exists());

    // An older schema: rebuilt, and its history still read.
    sql(&env, "PRAGMA user_version = 1");
    let r = env.json(&["rebuild-index"]);
    check("older schema", &r);
    assert!(r["audits_carried"].as_u64().unwrap() >= 1, "{r}");

    // Garbage and a truncated file: rebuilt, and the lost history is said.
    for (state, bytes) in [
        (
            "garbage",
            b"this is not a database at all, not even close".repeat(100),
        ),
        ("truncated", good[..good.len() / 3].to_vec()),
    ] {
        fs::write(&db, &bytes).unwrap();
        let (out, _) = env.expect(&["rebuild-index"], 0);
        assert!(out.contains("could not be carried over"), "{state}: {out}");
        fs::write(&db, &bytes).unwrap();
        let r = env.json(&["rebuild-index"]);
        check(state, &r);
        assert!(r["history_lost"].is_string(), "{state}: {r}");
        assert_eq!(
            fs::read(env.vault().join("vault.db.before-rebuild")).unwrap(),
            bytes
        );
    }

    // A leftover -wal (a prune killed after its commit): folded into the kept copy.
    kill_prune_after_commit(&env, &ids);
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 1, "{r}");
    assert!(!env.vault().join("vault.db.before-rebuild-wal").exists());
    let old = rusqlite::Connection::open(env.vault().join("vault.db.before-rebuild")).unwrap();
    let pending: i64 = old
        .query_row("SELECT count(*) FROM pending_deletes", [], |r| r.get(0))
        .unwrap();
    assert!(pending > 0, "the killed prune's commit is in the kept copy");
    drop(old);

    // Garbage with a -wal beside it: the log is kept beside the copy, never replayed
    // into the new index.
    let (env, ids) = two_snapshots();
    kill_prune_after_commit(&env, &ids);
    let wal = fs::read(env.vault().join("vault.db-wal")).unwrap();
    fs::write(env.vault().join("vault.db"), b"garbage".repeat(1000)).unwrap();
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["snapshots"], 1, "{r}");
    assert!(r["history_lost"].is_string());
    assert_eq!(
        fs::read(env.vault().join("vault.db.before-rebuild-wal")).unwrap(),
        wal
    );
    env.ok(&["verify", "--read-data"]);
}

#[test]
fn a_lost_index_stops_readers_too() {
    let (env, _) = two_snapshots();
    fs::remove_file(env.vault().join("vault.db")).unwrap();
    for args in [
        vec!["ls"],
        vec!["stats"],
        vec!["audits"],
        vec!["show", "messages"],
        vec!["forget", "--keep-last", "1", "--dry-run"],
    ] {
        let (_, err) = env.expect(&args, 2);
        assert!(err.contains("rebuild-index"), "{args:?}: {err}");
        assert!(!env.vault().join("vault.db").exists(), "{args:?}");
    }
}

/// Leaves what a killed run leaves: pending deletes and a -wal (a prune killed after
/// its commit), a temporary pack, and an uncommitted pack to adopt.
fn killed_run_leftovers(env: &Env, ids: &[String]) {
    kill_prune_after_commit(env, ids);
    let packs = env.packs();
    let some = packs
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let dir = env.vault().join("packs/ee");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(some, dir.join(format!("{}.pack", "ee".repeat(16)))).unwrap();
    fs::write(
        dir.join(format!("{}.pack.tmp", "ef".repeat(16))),
        b"half a pack",
    )
    .unwrap();
}

#[test]
fn dry_runs_only_read() {
    let (env, ids) = two_snapshots();
    killed_run_leftovers(&env, &ids);
    let before = listing(&env.vault());
    let dry = env.json(&["prune", "--dry-run"]);
    let p = &dry["recovery_pending"];
    assert_eq!(p["temporary_packs"], 1, "{dry}");
    assert_eq!(p["packs_to_adopt"], 1, "{dry}");
    assert!(p["pending_deletes"].as_u64().unwrap() >= 1, "{dry}");
    let (out, _) = env.expect(&["prune", "--dry-run"], 0);
    assert!(out.contains("recovery pending"), "{out}");
    let f = env.json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert_eq!(f["recovery_pending"]["packs_to_adopt"], 1, "{f}");
    assert_eq!(listing(&env.vault()), before, "a dry run changed the vault");
    // A writer then finishes the recovery.
    env.ok(&["prune"]);
    let dry = env.json(&["prune", "--dry-run"]);
    assert!(dry["recovery_pending"].is_null(), "{dry}");
    env.ok(&["verify", "--read-data"]);
}

/// Two snapshots, cleanly closed; or with a prune killed after its commit, which
/// leaves `-wal` and `-shm` and one snapshot (named twice, for `diff`).
fn vault_to_read(leftover_wal: bool) -> (Env, Vec<String>) {
    let (env, ids) = two_snapshots();
    if !leftover_wal {
        return (env, ids);
    }
    kill_prune_after_commit(&env, &ids);
    (env, vec![ids[1].clone(), ids[1].clone()])
}

fn set_mode_all(root: &Path, dir_mode: u32, file_mode: u32) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            fs::set_permissions(&p, fs::Permissions::from_mode(dir_mode)).unwrap();
        } else {
            fs::set_permissions(&p, fs::Permissions::from_mode(file_mode)).unwrap();
        }
    }
}

/// Every reader works on a vault that cannot be written, and leaves it as it was;
/// every writer says it is read-only. `run` runs the binary on the read-only vault.
fn readers_work_and_writers_refuse(
    label: &str,
    vault: &Path,
    ids: &[String],
    out_dir: &Path,
    run: &dyn Fn(&[&str]) -> Output,
) {
    let before = listing(vault);
    let ok = |args: &[&str]| -> String {
        let out = run(args);
        let (so, se) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{label} {args:?}\n{so}\n{se}");
        so.into_owned()
    };
    ok(&["snapshots"]);
    ok(&["ls"]);
    ok(&["show", "messages"]);
    ok(&["diff", &ids[0][..12], &ids[1][..12]]);
    ok(&["stats"]);
    ok(&["audits"]);
    let v = ok(&["verify", "--read-data"]);
    assert!(v.contains("not recorded"), "{label}: {v}");
    let restored = out_dir.join(label);
    ok(&["restore", "--latest", "--to", s(&restored)]);
    assert!(restored.join("views/messages.json").exists(), "{label}");
    ok(&["prune", "--dry-run"]);
    ok(&["forget", "--keep-last", "1", "--dry-run"]);
    for args in [
        vec!["prune"],
        vec!["forget", "--keep-last", "1"],
        vec!["rebuild-index"],
        vec!["snapshot", "--media", s(out_dir), "--account", "x"],
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{label} {args:?}: {err}");
        assert!(err.contains("is read-only"), "{label} {args:?}: {err}");
    }
    assert_eq!(
        listing(vault),
        before,
        "{label}: the read-only vault changed"
    );
}

#[test]
fn a_read_only_vault_reads_by_permissions() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: not root, cannot run as another user; permission test skipped");
        return;
    }
    for leftover_wal in [false, true] {
        let (env, ids) = vault_to_read(leftover_wal);
        let out_dir = env.path("restored");
        fs::create_dir_all(&out_dir).unwrap();
        fs::set_permissions(env.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&out_dir, fs::Permissions::from_mode(0o777)).unwrap();
        set_mode_all(&env.vault(), 0o555, 0o444);
        let label = if leftover_wal {
            "perm-wal"
        } else {
            "perm-clean"
        };
        readers_work_and_writers_refuse(label, &env.vault(), &ids, &out_dir, &|args| {
            common::as_nobody(&env.vault()).args(args).output().unwrap()
        });
        assert_eq!(env.vault().join("vault.db-wal").exists(), leftover_wal);
        set_mode_all(&env.vault(), 0o700, 0o600);
    }
}

struct RoMount(PathBuf);

impl RoMount {
    fn new(from: &Path, at: &Path) -> Option<RoMount> {
        fs::create_dir_all(at).unwrap();
        let run = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !run(&["--bind", s(from), s(at)]) {
            return None;
        }
        let m = RoMount(at.to_path_buf());
        run(&["-o", "remount,bind,ro", s(at)]).then_some(m)
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_vault_reads_on_a_read_only_mount() {
    for leftover_wal in [false, true] {
        let (env, ids) = vault_to_read(leftover_wal);
        let Some(mount) = RoMount::new(&env.vault(), &env.path("ro")) else {
            eprintln!("note: cannot make a read-only bind mount here (not root?); test skipped");
            return;
        };
        let out_dir = env.path("restored");
        let label = if leftover_wal {
            "mount-wal"
        } else {
            "mount-clean"
        };
        readers_work_and_writers_refuse(label, &mount.0, &ids, &out_dir, &|args| {
            Command::new(common::bin())
                .args(args)
                .env("TT_VAULT", &mount.0)
                .env("TZ", "UTC")
                .output()
                .unwrap()
        });
    }
}

#[test]
fn the_vault_is_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("vault");
    let run = |args: &[&str]| {
        let mut c = Command::new(common::bin());
        c.args(args).env("TT_VAULT", &vault).env("TZ", "UTC");
        // SAFETY: umask is async-signal-safe; called in the child before exec.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init"]);
    let dl = dir.path().join("dl/user_data_tiktok.json");
    write(
        &dl,
        &fs::read(fixture("pair/a/user_data_tiktok.json")).unwrap(),
    );
    write(
        &dir.path().join("media/clip.mp4"),
        &random_bytes(100_000, 3),
    );
    run(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&dl),
        "--media",
        s(&dir.path().join("media")),
    ]);
    run(&["verify"]);
    let out = dir.path().join("out");
    run(&["restore", "--latest", "--to", s(&out)]);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut stack = vec![vault.clone()];
    let mut files = 0;
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            files += 1;
        }
    }
    assert!(files >= 5, "VAULT, vault.db, lock, readers, a pack");
    let views: Vec<_> = fs::read_dir(out.join("views"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(views.iter().any(|v| v.ends_with("messages.json")));
    for v in views {
        assert_eq!(mode(&v), 0o600, "{}", v.display());
    }

    // A vault opened up (or made before vault files were private) is closed again by
    // the next writer.
    fs::set_permissions(&vault, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(vault.join("vault.db"), fs::Permissions::from_mode(0o644)).unwrap();
    run(&["prune"]);
    assert_eq!(mode(&vault), 0o700);
    assert_eq!(mode(&vault.join("vault.db")), 0o600);
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restore_runs_through_a_prune() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("keep.bin"), &random_bytes(3 << 20, 7));
    write(&src.join("gone.bin"), &random_bytes(3 << 20, 8));
    let snap = |t: &str| {
        env.json(&[
            "snapshot",
            "--media",
            s(&src),
            "--account",
            "a",
            "--time",
            t,
        ])["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = snap("2026-01-01T00:00:00Z");
    let expected = tree(&src);
    fs::remove_file(src.join("gone.bin")).unwrap();
    let second = snap("2026-01-02T00:00:00Z");
    let mut expected = expected;
    expected.remove("gone.bin");
    env.ok(&["forget", &first[..12], "--allow-video-loss"]);
    let packs_before = env.packs();

    // The restore reads where a chunk is, then pauses before opening its pack.
    let pause = env.path("pause");
    fs::create_dir_all(&pause).unwrap();
    let out = env.path("out");
    let restore = env
        .cmd()
        .env(
            "TT_VAULT_PAUSE",
            format!("blob-located:{}", pause.display()),
        )
        .args(["restore", "--snapshot", &second[..12], "--to", s(&out)])
        .spawn()
        .unwrap();
    wait_for("the restore to pause", || pause.join("reached").exists());

    // Prune repacks that chunk's pack, commits, and then waits for the reader before
    // deleting the old pack.
    let mut prune = env
        .cmd()
        .args([
            "prune",
            "--max-unused",
            "0",
            "--max-repack",
            "100",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("prune to write its new pack", || {
        env.packs()
            .iter()
            .any(|p| !packs_before.contains(p) && p.extension().is_some_and(|e| e == "pack"))
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        prune.try_wait().unwrap().is_none(),
        "prune must wait for the reader"
    );
    assert!(
        packs_before.iter().all(|p| p.exists()),
        "no pack deleted under a reader"
    );

    fs::write(pause.join("go"), b"").unwrap();
    let restored = restore.wait_with_output().unwrap();
    assert!(restored.status.success(), "restore failed through a prune");
    let pruned = prune.wait_with_output().unwrap();
    assert!(
        pruned.status.success(),
        "{}",
        String::from_utf8_lossy(&pruned.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&pruned.stdout).unwrap();
    assert!(
        r["packs_repacked"].as_u64().unwrap() + r["packs_deleted"].as_u64().unwrap() >= 1,
        "{r}"
    );
    let got = tree(&out.join("media/src"));
    assert_eq!(got, expected);
    env.ok(&["verify", "--read-data"]);
}

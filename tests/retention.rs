//! forget and prune end to end, through the binary: policies per account, ids, the
//! video-protection rule, what prune frees, crashes at each failpoint, and
//! rebuild-index after forget.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use common::{copy_tree, random_bytes, tree, write, Env};

const MIB: usize = 1024 * 1024;

/// Takes a snapshot of `src` (a folder named `src`) and returns its id.
fn snap(env: &Env, src: &Path, account: &str, time: &str) -> String {
    let out = env.json(&[
        "snapshot",
        "--media",
        src.to_str().unwrap(),
        "--account",
        account,
        "--time",
        time,
    ]);
    out["id"].as_str().unwrap().to_string()
}

fn snapshot_ids(env: &Env) -> BTreeSet<String> {
    env.json(&["snapshots"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn stored_bytes(env: &Env) -> u64 {
    env.json(&["stats"])["stored_bytes"].as_u64().unwrap()
}

/// The bytes of every pack file on disk (and no temporary ones).
fn pack_bytes_on_disk(env: &Env) -> u64 {
    env.packs()
        .iter()
        .inspect(|p| assert!(p.extension().unwrap() == "pack", "stray file {p:?}"))
        .map(|p| fs::metadata(p).unwrap().len())
        .sum()
}

/// id → (keep, reasons) from a forget report.
fn verdicts(report: &serde_json::Value) -> BTreeMap<String, (bool, Vec<String>)> {
    report["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let reasons = v["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (
                v["id"].as_str().unwrap().to_string(),
                (v["keep"].as_bool().unwrap(), reasons),
            )
        })
        .collect()
}

fn restores_identically(env: &Env, id: &str, expected: &BTreeMap<String, String>) {
    let to = env.path(&format!("restore-{}", &id[..12]));
    let _ = fs::remove_dir_all(&to);
    env.ok(&["restore", "--snapshot", id, "--to", to.to_str().unwrap()]);
    assert_eq!(&tree(&to.join("media/src")), expected, "snapshot {id}");
}

#[test]
fn forget_by_policy_per_account_dry_run_then_real() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(10_000, 1));
    let times = [
        "2026-01-01T10:00:00Z",
        "2026-01-01T12:00:00Z",
        "2026-01-02T10:00:00Z",
        "2026-01-05T10:00:00Z",
        "2026-02-01T10:00:00Z",
        "2026-03-01T10:00:00Z",
    ];
    let alice: Vec<String> = times.iter().map(|t| snap(&env, &src, "alice", t)).collect();
    let bob: Vec<String> = times[..2]
        .iter()
        .map(|t| snap(&env, &src, "bob", t))
        .collect();

    // Without a policy or ids, and with both, forget refuses.
    env.expect(&["forget"], 2);
    env.expect(&["forget", &alice[0][..10], "--keep-last", "1"], 2);

    let dry = env.json(&["forget", "--keep-daily", "3", "--dry-run"]);
    let v = verdicts(&dry);
    assert_eq!(v.len(), 8, "every snapshot of both accounts is decided");
    let kept: BTreeSet<&String> = v.iter().filter(|(_, d)| d.0).map(|(id, _)| id).collect();
    // alice: the three newest days with snapshots; bob has only one day: its newest
    // snapshot, and the older one as the oldest daily snapshot.
    let want: BTreeSet<&String> = [&alice[5], &alice[4], &alice[3], &bob[1], &bob[0]].into();
    assert_eq!(kept, want);
    assert_eq!(v[&alice[5]].1, vec!["daily snapshot".to_string()]);
    assert_eq!(v[&alice[0]].1, vec!["kept by no rule".to_string()]);
    assert_eq!(dry["removed"], 3);
    assert_eq!(snapshot_ids(&env).len(), 8, "a dry run changes nothing");

    // --account restricts the policy to one account.
    let real = env.json(&["forget", "--keep-last", "1", "--account", "bob"]);
    assert_eq!(verdicts(&real).len(), 2);
    let real = env.json(&["forget", "--keep-daily", "3"]);
    assert_eq!(real["removed"], 3);
    let left = snapshot_ids(&env);
    let want: BTreeSet<String> = [&alice[5], &alice[4], &alice[3], &bob[1]]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(left, want);

    // The human report names each snapshot with keep/remove and the reasons.
    let text = env.ok(&[
        "forget",
        "--keep-last",
        "2",
        "--dry-run",
        "--account",
        "alice",
    ]);
    assert!(text.contains("last snapshot"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("remove") && l.contains(&alice[3][..8])),
        "{text}"
    );
}

#[test]
fn forget_by_id_and_rebuild_index_keeps_them_forgotten() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(300_000, 2));
    let first = snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    write(&src.join("b.bin"), &random_bytes(300_000, 3));
    let second = snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    let third = snap(&env, &src, "alice", "2026-01-03T10:00:00Z");

    env.expect(&["forget", "ffffffffffff"], 2);
    env.expect(&["forget", &first[..8], "--account", "bob"], 2);
    let r = env.json(&["forget", &first[..8], &second[..10], &first[..12]]);
    assert_eq!(r["removed"], 2);
    let v = verdicts(&r);
    assert_eq!(v[&first].1, vec!["named on the command line".to_string()]);
    assert_eq!(snapshot_ids(&env), [third.clone()].into());

    // The manifests are still in packs; the tombstone keeps them forgotten.
    let r = env.json(&["rebuild-index"]);
    assert_eq!(r["forgotten"], 2);
    assert_eq!(snapshot_ids(&env), [third.clone()].into());

    // Prune twice (the second run may drop the tombstone), then rebuild again.
    env.ok(&["prune", "--max-unused", "0", "--max-repack", "100"]);
    env.ok(&["prune"]);
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(&env), [third.clone()].into());
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(&env, &third, &tree(&src));
}

#[test]
fn the_last_snapshot_of_a_video_is_protected() {
    let env = Env::new();
    let src = env.path("src");
    let video = "video_7300000000000000001.mp4";
    write(&src.join(video), &random_bytes(50_000, 4));
    write(
        &src.join("other_7300000000000000002.mp4"),
        &random_bytes(50_000, 5),
    );
    let first = snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    let second = snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    fs::remove_file(src.join(video)).unwrap();
    let third = snap(&env, &src, "alice", "2026-01-03T10:00:00Z");

    let r = env.json(&["forget", "--keep-last", "1"]);
    let v = verdicts(&r);
    // The video is in the first two; the newer of them is kept for it.
    assert_eq!(
        v[&second],
        (true, vec!["protects 1 video only it holds".to_string()])
    );
    assert!(!v[&first].0);
    assert_eq!(
        r["protected_videos"],
        serde_json::json!(["7300000000000000001"])
    );
    assert_eq!(snapshot_ids(&env), [second.clone(), third.clone()].into());

    // Naming it explicitly does not get round the rule either...
    let r = env.json(&["forget", &second[..8]]);
    assert_eq!(r["removed"], 0);
    assert_eq!(snapshot_ids(&env).len(), 2);
    // ...unless video loss is allowed, which the report then lists.
    let r = env.json(&["forget", &second[..8], "--allow-video-loss"]);
    assert_eq!(r["removed"], 1);
    assert_eq!(r["lost_videos"], serde_json::json!(["7300000000000000001"]));
    assert_eq!(snapshot_ids(&env), [third].into());
}

/// Three snapshots of a `src` folder:
/// 1. shared + gone1   (one pack: shared, gone1, manifest 1)
/// 2. shared + gone2   (one pack: gone2, manifest 2)
/// 3. shared + kept    (one pack: kept, manifest 3)
///
/// Forgetting 1 and 2 leaves pack 1 partly used (repacked), pack 2 dead (deleted).
/// Returns the id and the folder's state of snapshot 3, and the bytes only 1 and 2 held.
fn three_snapshots(env: &Env) -> (String, BTreeMap<String, String>, u64) {
    let src = env.path("src");
    write(&src.join("shared.bin"), &random_bytes(2 * MIB, 10));
    write(&src.join("gone1.bin"), &random_bytes(MIB, 11));
    snap(env, &src, "alice", "2026-01-01T10:00:00Z");
    fs::remove_file(src.join("gone1.bin")).unwrap();
    write(&src.join("gone2.bin"), &random_bytes(MIB, 12));
    snap(env, &src, "alice", "2026-01-02T10:00:00Z");
    fs::remove_file(src.join("gone2.bin")).unwrap();
    write(&src.join("sub/kept.bin"), &random_bytes(MIB / 2, 13));
    let last = snap(env, &src, "alice", "2026-01-03T10:00:00Z");
    let r = env.json(&["forget", "--keep-last", "1"]);
    assert_eq!(r["removed"], 2);
    let saved = env.path("state3");
    copy_tree(&src, &saved);
    (last, tree(&saved), 2 * MIB as u64)
}

/// Prune's slack over the forgotten data: manifests, headers, trailers, footers.
const SLACK: u64 = 64 * 1024;

#[test]
fn prune_frees_what_only_forgotten_snapshots_held() {
    let env = Env::new();
    let (last, state, only_forgotten) = three_snapshots(&env);
    let before = stored_bytes(&env);

    let dry = env.json(&[
        "prune",
        "--dry-run",
        "--max-unused",
        "0",
        "--max-repack",
        "100",
    ]);
    assert_eq!(dry["packs_deleted"], 1);
    assert_eq!(dry["packs_repacked"], 1);
    assert_eq!(stored_bytes(&env), before, "a dry run changes nothing");

    let r = env.json(&["prune", "--max-unused", "0", "--max-repack", "100"]);
    assert_eq!(r["packs_deleted"], 1);
    assert_eq!(r["packs_repacked"], 1);
    let after = stored_bytes(&env);
    let freed = before - after;
    assert_eq!(r["bytes_freed"].as_u64().unwrap(), freed);
    assert!(
        (only_forgotten..only_forgotten + SLACK).contains(&freed),
        "freed {freed}, forgotten snapshots alone held {only_forgotten}"
    );
    assert_eq!(pack_bytes_on_disk(&env), after);
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(&env, &last, &state);

    // Nothing left to do: a second run frees nothing but the spent tombstone's pack.
    let again = env.json(&["prune", "--max-unused", "0", "--max-repack", "100"]);
    assert_eq!(again["packs_repacked"], 0);
    assert_eq!(again["tombstones_dropped"], 1);
    assert!(again["bytes_freed"].as_u64().unwrap() < 4096);
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(&env, &last, &state);
}

#[test]
fn prune_with_default_limits_deletes_dead_packs_and_leaves_small_waste() {
    let env = Env::new();
    let (last, state, _) = three_snapshots(&env);
    let before = stored_bytes(&env);
    let r = env.json(&["prune"]);
    // Pack 2 is dead; pack 1 is a third waste but copying it exceeds 10% of the vault.
    assert_eq!(r["packs_deleted"], 1);
    assert_eq!(r["packs_repacked"], 0);
    assert!(r["unused_bytes_left"].as_u64().unwrap() >= MIB as u64);
    let freed = before - stored_bytes(&env);
    assert!((MIB as u64..MIB as u64 + SLACK).contains(&freed), "{freed}");
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(&env, &last, &state);
    // Manifest 1 is still in pack 1, so its tombstone must survive further runs, or
    // rebuild-index would bring snapshot 1 back.
    let again = env.json(&["prune"]);
    assert_eq!(again["tombstones_dropped"], 0);
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(&env), [last.clone()].into());
}

#[test]
fn a_prune_killed_at_any_point_loses_nothing_and_a_rerun_finishes() {
    for point in [
        "prune-after-new-packs",
        "prune-after-commit",
        "prune-mid-delete",
    ] {
        let env = Env::new();
        let (last, state, only_forgotten) = three_snapshots(&env);
        let before = stored_bytes(&env);
        let out = env
            .cmd()
            .env("TT_VAULT_FAILPOINT", point)
            .args(["prune", "--max-unused", "0", "--max-repack", "100"])
            .output()
            .unwrap();
        assert!(
            out.status.code().is_none(),
            "{point}: prune should have been killed: {out:?}"
        );

        env.expect(&["verify", "--read-data"], 0);
        restores_identically(&env, &last, &state);
        // The index rebuilt from the packs the crash left agrees too.
        env.ok(&["rebuild-index"]);
        assert_eq!(snapshot_ids(&env), [last.clone()].into(), "{point}");
        restores_identically(&env, &last, &state);

        env.ok(&["prune", "--max-unused", "0", "--max-repack", "100"]);
        let after = stored_bytes(&env);
        assert!(
            before - after >= only_forgotten && before - after < only_forgotten + SLACK,
            "{point}: freed {} of {before}",
            before - after
        );
        assert_eq!(
            pack_bytes_on_disk(&env),
            after,
            "{point}: old packs left on disk"
        );
        env.expect(&["verify", "--read-data"], 0);
        restores_identically(&env, &last, &state);
        // And the index rebuilt from the packs agrees.
        env.ok(&["rebuild-index"]);
        assert_eq!(snapshot_ids(&env), [last.clone()].into(), "{point}");
        restores_identically(&env, &last, &state);
    }
}

#[test]
fn a_forget_killed_after_its_tombstone_takes_effect_at_the_next_writer() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(100_000, 20));
    let first = snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    let second = snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    let out = env
        .cmd()
        .env("TT_VAULT_FAILPOINT", "forget-after-tombstone")
        .args(["forget", &first[..8]])
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "forget should have been killed"
    );
    // Not committed: the index still lists it, and the vault verifies.
    assert_eq!(snapshot_ids(&env).len(), 2);
    env.expect(&["verify", "--read-data"], 0);
    // The next writer adopts the tombstone's pack and with it the forget.
    env.ok(&["prune", "--dry-run"]);
    assert_eq!(snapshot_ids(&env), [second.clone()].into());
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(&env), [second].into());
}

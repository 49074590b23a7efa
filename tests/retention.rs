//! forget and prune end to end, through the binary: policies per account, ids, the
//! video-protection rule, what prune frees, crashes at each failpoint and a real
//! SIGKILL mid-repack, the writer lock, and rebuild-index after forget.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{copy_tree, random_bytes, tree, write, Env};

const MIB: usize = 1024 * 1024;

/// Takes a snapshot of `src` (a folder named `src`) and returns its id.
fn snap(env: &Env, src: &Path, account: &str, time: &str) -> String {
    let out = env.snapshot_media(src, account, time);
    out["id"].as_str().unwrap().to_string()
}

fn snapshot_ids(env: &Env) -> BTreeSet<String> {
    env.snapshot_ids().into_iter().collect()
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

/// The vault verifies, `last` restores, and the index rebuilt from the packs agrees.
fn intact_and_rebuildable(env: &Env, last: &str, state: &BTreeMap<String, String>, point: &str) {
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(env, last, state);
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(env), [last.to_string()].into(), "{point}");
    restores_identically(env, last, state);
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
fn prune_with_default_limits_frees_what_only_forgotten_snapshots_held() {
    let env = Env::new();
    let (last, state, only_forgotten) = three_snapshots(&env);
    let before = stored_bytes(&env);
    let r = env.json(&["prune"]);
    // Pack 2 is dead; pack 1 is a third waste: the default budget (no limit) repacks it.
    assert_eq!(r["packs_deleted"], 1, "{r}");
    assert_eq!(r["packs_repacked"], 1, "{r}");
    let freed = before - stored_bytes(&env);
    assert!(
        (only_forgotten..only_forgotten + SLACK).contains(&freed),
        "{freed}"
    );
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(&env, &last, &state);
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(&env), [last.clone()].into());
}

/// Issue 9, finding 9: a user deletes a third of their saved videos, forgets the old
/// snapshot and runs `forget --prune` with the defaults. Every video sits in one pack
/// with the others, so only a repack frees anything; at least the third minus 5 % of
/// the vault must go.
#[test]
fn forget_prune_with_defaults_frees_a_deleted_third() {
    let env = Env::new();
    let src = env.path("src");
    for i in 0..6 {
        write(
            &src.join(format!("video{i}.mp4")),
            &random_bytes(MIB, 90 + i),
        );
    }
    let old = snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    assert_eq!(
        env.json(&["stats"])["packs"],
        1,
        "one pack holds every video"
    );
    for i in 0..2 {
        fs::remove_file(src.join(format!("video{i}.mp4"))).unwrap();
    }
    let last = snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    let state = tree(&src);
    let before = stored_bytes(&env);
    let r = env.json(&["forget", &old, "--prune"]);
    let p = &r["prune"];
    let freed = p["bytes_freed"].as_u64().unwrap();
    let third = 2 * MIB as u64;
    assert!(
        freed + before / 20 >= third,
        "freed {freed} of {before}; the deleted videos held {third}: {p}"
    );
    assert!(before - stored_bytes(&env) + 4096 >= freed);
    assert_eq!(snapshot_ids(&env), [last.clone()].into());
    restores_identically(&env, &last, &state);
    env.expect(&["verify", "--read-data"], 0);
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
        env.killed_at(
            point,
            &["prune", "--max-unused", "0", "--max-repack", "100"],
        );

        intact_and_rebuildable(&env, &last, &state, point);

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
        intact_and_rebuildable(&env, &last, &state, point);
    }
}

#[test]
fn a_forget_killed_after_its_tombstone_takes_effect_at_the_next_writer() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.bin"), &random_bytes(100_000, 20));
    let first = snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    let second = snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    env.killed_at("forget-after-tombstone", &["forget", &first[..8]]);
    // Not committed: the index still lists it, and the vault verifies.
    assert_eq!(snapshot_ids(&env).len(), 2);
    env.expect(&["verify", "--read-data"], 0);
    // A dry run only reads: it says what recovery will do, and does none of it.
    let dry = env.json(&["prune", "--dry-run"]);
    assert_eq!(dry["recovery_pending"]["packs_to_adopt"], 1, "{dry}");
    assert_eq!(dry["recovery_pending"]["snapshots_to_forget"], 1, "{dry}");
    assert_eq!(snapshot_ids(&env).len(), 2);
    // The next writer adopts the tombstone's pack and with it the forget.
    env.ok(&["prune"]);
    assert_eq!(snapshot_ids(&env), [second.clone()].into());
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(&env), [second].into());
}

#[test]
fn forget_with_prune_in_one_go_frees_the_forgotten_packs() {
    let env = Env::new();
    let src = env.path("src");
    // Each snapshot's new file lands in a pack of its own (with its manifest), so
    // forgetting the first two leaves two packs with nothing live: the default limits
    // delete them.
    write(&src.join("one.bin"), &random_bytes(MIB, 30));
    snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    fs::remove_file(src.join("one.bin")).unwrap();
    write(&src.join("two.bin"), &random_bytes(MIB, 31));
    snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    fs::remove_file(src.join("two.bin")).unwrap();
    write(&src.join("deep/three.bin"), &random_bytes(3 * MIB / 2, 32));
    let last = snap(&env, &src, "alice", "2026-01-03T10:00:00Z");
    let state = tree(&src);
    let stats_before = env.json(&["stats"]);
    let before = stats_before["stored_bytes"].as_u64().unwrap();
    assert_eq!(stats_before["snapshots"], 3);

    let r = env.json(&["forget", "--keep-last", "1", "--prune"]);
    assert_eq!(r["removed"], 2);
    assert_eq!(r["kept"], 1);
    let p = &r["prune"];
    assert!(p.is_object(), "forget --prune reports the prune: {r}");
    assert_eq!(p["dry_run"], false);
    assert_eq!(p["packs_deleted"], 2, "{p}");
    assert_eq!(p["packs_repacked"], 0, "{p}");
    let freed = p["bytes_freed"].as_u64().unwrap();
    assert!(freed > 0, "{p}");
    // The two forgotten files and their manifests, in whole packs.
    let forgotten = 2 * MIB as u64;
    assert!(
        (forgotten..forgotten + SLACK).contains(&freed),
        "freed {freed}, the forgotten snapshots alone held {forgotten}"
    );

    // stats: one snapshot left, and the stored bytes dropped by what prune freed
    // (less the small tombstone pack forget wrote).
    let stats_after = env.json(&["stats"]);
    assert_eq!(stats_after["snapshots"], 1);
    let after = stats_after["stored_bytes"].as_u64().unwrap();
    assert_eq!(p["bytes_after"].as_u64().unwrap(), after, "{p}");
    assert!(
        after <= before - freed + 4096 && after >= before - freed,
        "before {before}, freed {freed}, after {after}"
    );
    assert_eq!(
        stats_after["packs"].as_u64().unwrap(),
        stats_before["packs"].as_u64().unwrap() - 2 + 1,
        "two packs gone, one tombstone pack added"
    );
    assert_eq!(pack_bytes_on_disk(&env), after);
    assert_eq!(snapshot_ids(&env), [last.clone()].into());

    restores_identically(&env, &last, &state);
    env.expect(&["verify", "--read-data"], 0);

    // The human report shows the prune line too.
    let text = env.ok(&["forget", "--keep-last", "1", "--prune"]);
    assert!(text.contains("prune: "), "{text}");
    assert!(text.contains("packs deleted"), "{text}");
}

/// Takes a snapshot of the same small folder at each time; returns time → id.
fn series(env: &Env, times: &[&str]) -> BTreeMap<String, String> {
    let src = env.path("src");
    write(&src.join("note.txt"), b"the same content every time");
    times
        .iter()
        .map(|t| (t.to_string(), snap(env, &src, "alice", t)))
        .collect()
}

/// The times of the snapshots a forget report keeps.
fn kept_times(report: &serde_json::Value, by_time: &BTreeMap<String, String>) -> Vec<String> {
    let v = verdicts(report);
    assert_eq!(
        v.len(),
        by_time.len(),
        "every snapshot is decided: {report}"
    );
    by_time
        .iter()
        .filter(|(_, id)| v[*id].0)
        .map(|(t, _)| t.clone())
        .collect()
}

#[test]
fn within_weekly_and_monthly_rules_on_a_three_month_series() {
    let env = Env::new();
    // Every 5 days from Thursday 1 January 2026 to Friday 27 March, at noon UTC, plus
    // an earlier snapshot on 25 February and a later one on 22 March.
    let mut times: Vec<String> = (0..18)
        .map(|i| {
            let day =
                chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(5 * i);
            format!("{day}T12:00:00Z")
        })
        .collect();
    assert_eq!(times[11], "2026-02-25T12:00:00Z");
    assert_eq!(times[17], "2026-03-27T12:00:00Z");
    times.push("2026-02-25T08:00:00Z".into());
    times.push("2026-03-22T18:00:00Z".into());
    let refs: Vec<&str> = times.iter().map(String::as_str).collect();
    let by_time = series(&env, &refs);
    assert_eq!(by_time.len(), 20);
    assert_eq!(
        by_time.values().collect::<BTreeSet<_>>().len(),
        20,
        "distinct ids"
    );
    let dry = |args: &[&str]| {
        let mut all = vec!["forget", "--dry-run"];
        all.extend_from_slice(args);
        env.json(&all)
    };

    // Within 30 days of the newest (27 March, noon): strictly after 25 February noon.
    let r = dry(&["--keep-within", "30d"]);
    assert_eq!(
        kept_times(&r, &by_time),
        [
            "2026-03-02T12:00:00Z",
            "2026-03-07T12:00:00Z",
            "2026-03-12T12:00:00Z",
            "2026-03-17T12:00:00Z",
            "2026-03-22T12:00:00Z",
            "2026-03-22T18:00:00Z",
            "2026-03-27T12:00:00Z",
        ]
    );
    assert_eq!(
        verdicts(&r)[&by_time["2026-03-02T12:00:00Z"]].1,
        ["within 30d"]
    );

    // Two ISO weeks: week 13 (Friday 27 March) and week 12 (Monday 16 to Sunday 22
    // March), whose newest is the Sunday evening one.
    let r = dry(&["--keep-weekly", "2"]);
    assert_eq!(
        kept_times(&r, &by_time),
        ["2026-03-22T18:00:00Z", "2026-03-27T12:00:00Z"]
    );

    // Two months: the newest of March and the newest of February (the noon one).
    let r = dry(&["--keep-monthly", "2"]);
    assert_eq!(
        kept_times(&r, &by_time),
        ["2026-02-25T12:00:00Z", "2026-03-27T12:00:00Z"]
    );
    assert_eq!(r["removed"], 18);

    // All three at once, for real.
    let r = env.json(&[
        "forget",
        "--keep-within",
        "30d",
        "--keep-weekly",
        "2",
        "--keep-monthly",
        "2",
    ]);
    let want = [
        "2026-02-25T12:00:00Z",
        "2026-03-02T12:00:00Z",
        "2026-03-07T12:00:00Z",
        "2026-03-12T12:00:00Z",
        "2026-03-17T12:00:00Z",
        "2026-03-22T12:00:00Z",
        "2026-03-22T18:00:00Z",
        "2026-03-27T12:00:00Z",
    ];
    assert_eq!(kept_times(&r, &by_time), want);
    assert_eq!(r["kept"], 8);
    assert_eq!(r["removed"], 12);
    let v = verdicts(&r);
    let reasons = |t: &str| v[&by_time[t]].clone();
    // Kept by two rules: listed once, with both reasons in rule order.
    assert_eq!(
        reasons("2026-03-22T18:00:00Z"),
        (true, vec!["weekly snapshot".into(), "within 30d".into()])
    );
    assert_eq!(
        reasons("2026-03-27T12:00:00Z"),
        (
            true,
            vec![
                "weekly snapshot".into(),
                "monthly snapshot".into(),
                "within 30d".into()
            ]
        )
    );
    assert_eq!(
        reasons("2026-02-25T12:00:00Z"),
        (true, vec!["monthly snapshot".into()])
    );
    assert_eq!(
        reasons("2026-03-22T12:00:00Z"),
        (true, vec!["within 30d".into()])
    );
    assert_eq!(
        reasons("2026-02-25T08:00:00Z"),
        (false, vec!["kept by no rule".into()])
    );
    let kept_ids: Vec<&str> = r["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept_ids.iter().collect::<BTreeSet<_>>().len(),
        20,
        "each snapshot listed once"
    );
    let left: BTreeSet<String> = want.iter().map(|t| by_time[*t].clone()).collect();
    assert_eq!(snapshot_ids(&env), left);

    // Applying the same policy again forgets nothing more.
    let r = env.json(&[
        "forget",
        "--keep-within",
        "30d",
        "--keep-weekly",
        "2",
        "--keep-monthly",
        "2",
    ]);
    assert_eq!(r["removed"], 0);
    assert_eq!(snapshot_ids(&env), left);
}

/// Holds the vault's writer lock (an exclusive flock) until dropped.
fn hold_lock(env: &Env) -> fs::File {
    let lock = fs::File::open(env.vault().join("lock")).unwrap();
    // SAFETY: plain flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    lock
}

/// Starts `args` with `--wait` while the lock is held, checks that it waits, releases
/// the lock and returns its output.
fn waits_for_the_lock(env: &Env, lock: fs::File, args: &[&str]) -> std::process::Output {
    let mut child = env
        .cmd()
        .args(args)
        .args(["--wait", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(400));
    assert!(
        child.try_wait().unwrap().is_none(),
        "{args:?} --wait should wait while the lock is held"
    );
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} --wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn prune_and_forget_are_refused_while_another_writer_holds_the_lock() {
    let env = Env::new();
    let (last, state, _) = three_snapshots(&env);
    let before = stored_bytes(&env);
    let packs = env.packs();

    let lock = hold_lock(&env);
    let (_, err) = env.expect(&["prune", "--max-unused", "0", "--max-repack", "100"], 2);
    assert!(
        err.contains("is locked by") && err.contains("--wait"),
        "{err}"
    );
    // Readers still work beside the writer.
    env.ok(&["verify"]);
    assert_eq!(
        stored_bytes(&env),
        before,
        "a refused prune changes nothing"
    );
    assert_eq!(env.packs(), packs);

    let out = waits_for_the_lock(
        &env,
        lock,
        &["prune", "--max-unused", "0", "--max-repack", "100"],
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["packs_deleted"], 1);
    assert_eq!(r["packs_repacked"], 1);
    assert_eq!(
        before - stored_bytes(&env),
        r["bytes_freed"].as_u64().unwrap()
    );
    restores_identically(&env, &last, &state);

    // forget: the same, once a newer snapshot gives it something to do.
    let src = env.path("src");
    write(&src.join("newer.bin"), &random_bytes(10_000, 40));
    let newest = snap(&env, &src, "alice", "2026-01-04T10:00:00Z");
    let lock = hold_lock(&env);
    let (_, err) = env.expect(&["forget", "--keep-last", "1"], 2);
    assert!(
        err.contains("is locked by") && err.contains("--wait"),
        "{err}"
    );
    let (_, err) = env.expect(&["forget", &last[..8]], 2);
    assert!(err.contains("is locked by"), "{err}");
    let (_, err) = env.expect(&["forget", "--keep-last", "1", "--prune"], 2);
    assert!(err.contains("is locked by"), "{err}");
    assert_eq!(snapshot_ids(&env), [last.clone(), newest.clone()].into());
    let dry = env.json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert_eq!(dry["removed"], 1);
    assert_eq!(
        snapshot_ids(&env).len(),
        2,
        "a refused forget changes nothing"
    );

    let out = waits_for_the_lock(&env, lock, &["forget", "--keep-last", "1"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["removed"], 1);
    assert_eq!(snapshot_ids(&env), [newest].into());
    // The lock is free again for a plain (non-waiting) writer.
    env.ok(&["prune"]);
    env.expect(&["verify", "--read-data"], 0);
}

/// A change in the packs folder: (files before the run, files now) → seen.
type Event = fn(&BTreeSet<PathBuf>, &BTreeSet<PathBuf>) -> bool;

fn is_pack(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "pack")
}

fn new_temporary_pack(before: &BTreeSet<PathBuf>, now: &BTreeSet<PathBuf>) -> bool {
    now.difference(before)
        .any(|p| p.to_string_lossy().ends_with(".tmp"))
}

fn new_pack_in_place(before: &BTreeSet<PathBuf>, now: &BTreeSet<PathBuf>) -> bool {
    now.difference(before).any(|p| is_pack(p))
}

fn old_pack_deleted(before: &BTreeSet<PathBuf>, now: &BTreeSet<PathBuf>) -> bool {
    before.difference(now).any(|p| is_pack(p))
}

/// Runs a full prune and SIGKILLs it `delay_ms` after `event` is seen in the packs
/// folder (or after 10 s). Returns false when prune finished first.
fn kill_prune_when(env: &Env, event: Event, delay_ms: u64) -> bool {
    let before = pack_files(env);
    let mut child = env
        .cmd()
        .args(["prune", "--max-unused", "0", "--max-repack", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if event(&before, &pack_files(env)) {
            sleep(Duration::from_millis(delay_ms));
            break;
        }
        sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        return false;
    }
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "prune failed on its own: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// Every file under the packs folder, temporary ones included.
fn pack_files(env: &Env) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&env.vault().join("packs"), &mut out);
    out
}

#[test]
fn a_prune_sigkilled_mid_repack_loses_nothing_and_a_rerun_finishes() {
    const FILE: usize = 16 * MIB;
    let env = Env::new();
    let src = env.path("src");
    // name → BLAKE3 of the files now in `src`.
    let mut now: BTreeMap<String, String> = BTreeMap::new();
    let add = |now: &mut BTreeMap<String, String>, i: u64| {
        let data = random_bytes(FILE, 1000 + i);
        let name = format!("f{i:02}.bin");
        write(&src.join(&name), &data);
        now.insert(name, blake3::hash(&data).to_hex().to_string());
    };
    // 0: f00..f04; 1: + f05..f09; 2: the odd ones of those + f10..f14; 3: + f15..f19.
    for i in 0..5 {
        add(&mut now, i);
    }
    snap(&env, &src, "alice", "2026-01-01T10:00:00Z");
    for i in 5..10 {
        add(&mut now, i);
    }
    snap(&env, &src, "alice", "2026-01-02T10:00:00Z");
    for i in (0..10).step_by(2) {
        let name = format!("f{i:02}.bin");
        fs::remove_file(src.join(&name)).unwrap();
        now.remove(&name);
    }
    for i in 10..15 {
        add(&mut now, i);
    }
    let s2 = snap(&env, &src, "alice", "2026-01-03T10:00:00Z");
    let state2 = now.clone();
    for i in 15..20 {
        add(&mut now, i);
    }
    let s3 = snap(&env, &src, "alice", "2026-01-04T10:00:00Z");
    let state3 = now;
    fs::remove_dir_all(&src).unwrap();

    // Forgetting the first two leaves the even files of f00..f09 dead, spread over
    // every pack of those snapshots: all of them are partly used and get repacked.
    let r = env.json(&["forget", "--keep-last", "2"]);
    assert_eq!(r["removed"], 2);
    let before = stored_bytes(&env);
    let only_forgotten = 5 * FILE as u64;
    let dry = env.json(&[
        "prune",
        "--dry-run",
        "--max-unused",
        "0",
        "--max-repack",
        "100",
    ]);
    // How many live bytes move depends on how the parallel workers laid the files
    // into packs (a pack of dead files only is deleted, not repacked): at least one
    // live file moves, which is what the kills below need.
    assert!(dry["packs_repacked"].as_u64().unwrap() >= 2, "{dry}");
    assert!(
        dry["bytes_repacked"].as_u64().unwrap() >= FILE as u64,
        "{dry}"
    );

    // SIGKILL prune at three moments, each time on what the previous kill left: while
    // it writes its first new pack, once a new pack is in place (mid-repack), and once
    // it deletes old packs. A prune that got there first is fine, and said.
    let rounds: [(&str, Event, u64); 3] = [
        ("while writing the first new pack", new_temporary_pack, 40),
        ("after a new pack is in place", new_pack_in_place, 0),
        ("while deleting old packs", old_pack_deleted, 0),
    ];
    for (moment, event, delay_ms) in rounds {
        let killed = kill_prune_when(&env, event, delay_ms);
        eprintln!(
            "{moment}: {}",
            if killed {
                "killed"
            } else {
                "note: prune finished before the SIGKILL"
            }
        );
        // Whatever the moment: the vault verifies and every kept snapshot restores.
        env.expect(&["verify", "--read-data"], 0);
        assert_eq!(
            snapshot_ids(&env),
            [s2.clone(), s3.clone()].into(),
            "{moment}"
        );
        restores_identically(&env, &s2, &state2);
        restores_identically(&env, &s3, &state3);
    }

    // A second prune finishes the job: the forgotten bytes are gone.
    env.json(&["prune", "--max-unused", "0", "--max-repack", "100"]);
    let after = stored_bytes(&env);
    let freed = before - after;
    assert!(
        (only_forgotten..only_forgotten + SLACK).contains(&freed),
        "freed {freed} of {before}; the forgotten snapshots alone held {only_forgotten}"
    );
    assert_eq!(pack_bytes_on_disk(&env), after, "stray or old packs left");
    assert!(
        fs::read_dir(env.vault().join("packs"))
            .unwrap()
            .all(|e| e.unwrap().path().is_dir()),
        "temporary packs left: {:?}",
        pack_files(&env)
    );
    env.expect(&["verify", "--read-data"], 0);
    restores_identically(&env, &s3, &state3);
    // And the index rebuilt from the packs that are left agrees.
    env.ok(&["rebuild-index"]);
    assert_eq!(snapshot_ids(&env), [s2, s3.clone()].into());
    restores_identically(&env, &s3, &state3);
}

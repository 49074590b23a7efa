//! The TikTok export end to end, through the binary: snapshot with --export in every
//! layout, `show`, `diff`, restore's views, rebuild-index, and every bad input.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::Value;
use zip::write::SimpleFileOptions;

use common::{copy_tree, diff_after_edit, fixture, s, snapshot_at, write, zip_with, Env};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn field(rows: &Value, key: &str) -> Vec<String> {
    rows.as_array()
        .unwrap_or_else(|| panic!("not an array: {rows}"))
        .iter()
        .map(|r| r[key].as_str().unwrap_or("-").to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn count(env: &Env, section: &str) -> usize {
    env.json(&["show", section]).as_array().unwrap().len()
}

#[test]
fn every_layout_snapshots_and_shows() {
    // (export path, layout, posts, likes, followers, messages, history, raw sections)
    // Favourite hashtags (2020, TXT), sounds (2024, TXT) and collections (2026) are
    // understood, not raw; so are settings, devices (Status), off-TikTok activity and
    // the activity summary.
    let cases = [
        ("json2020/user_data.json", "json2020", 3, 5, 4, 5, 6, 1),
        (
            "json2024/user_data_tiktok.json",
            "json2024",
            4,
            5,
            3,
            3,
            7,
            3,
        ),
        ("json2026", "json2026", 5, 12, 6, 4, 5, 1),
        ("txt", "txt", 3, 4, 3, 4, 5, 0),
    ];
    for (rel, layout, posts, likes, followers, messages, history, raw) in cases {
        let env = Env::new();
        let out = env.json(&[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&fixture(rel)),
        ]);
        assert_eq!(
            out["account"], "mila.bakes",
            "{rel}: account from the export"
        );
        assert_eq!(out["sections_raw"].as_array().unwrap().len(), raw, "{rel}");
        assert!(
            out["sections_understood"].as_array().unwrap().len() >= 10,
            "{rel}: {out}"
        );
        let profile = env.json(&["show", "profile"]);
        assert_eq!(profile["username"], "mila.bakes", "{rel}");
        assert!(
            profile["bio"]
                .as_str()
                .unwrap()
                .starts_with("Sourdough every Sunday"),
            "{rel}: {profile}"
        );
        assert_eq!(count(&env, "posts"), posts, "{rel}");
        assert_eq!(count(&env, "likes"), likes, "{rel}");
        assert_eq!(count(&env, "followers"), followers, "{rel}");
        assert_eq!(count(&env, "messages"), messages, "{rel}");
        assert_eq!(count(&env, "history"), history, "{rel}");
        assert_eq!(count(&env, "raw"), raw, "{rel}");
        let likes = env.json(&["show", "likes"]);
        let first = &likes[0];
        assert!(first["id"].as_str().unwrap().len() >= 19, "{rel}: {first}");
        assert!(
            first["date"].is_string() && first["link"].is_string(),
            "{rel}"
        );
        assert_eq!(first["archived"], false);
        for (section, key) in [
            ("comments", "comment"),
            ("following", "username"),
            ("messages", "from"),
            ("messages", "content"),
        ] {
            let rows = env.json(&["show", section]);
            assert!(
                rows.as_array()
                    .unwrap()
                    .iter()
                    .all(|r| r.get("date").is_some()),
                "{rel} {section}"
            );
            assert!(rows[0][key].is_string(), "{rel} {section}.{key}: {rows}");
        }
        let versions = env.json(&["ls"]);
        let paths: Vec<&str> = versions["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert!(paths.iter().all(|p| p.starts_with("export/")), "{paths:?}");
        let human = env.ok(&["show", "posts"]);
        assert!(human.contains(&format!("({posts} rows)")), "{human}");
        let _ = layout;
    }
}

#[test]
fn json_2020_values_and_media_archived() {
    let env = Env::new();
    let media = env.path("saved");
    write(
        &media.join("7200123456789012345.mp4"),
        b"not really a video",
    );
    env.ok(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&fixture("json2020/user_data.json")),
        "--media",
        s(&media),
    ]);
    let posts = env.json(&["show", "posts"]);
    assert_eq!(
        field(&posts, "id"),
        [
            "7217654321098765432",
            "7200123456789012345",
            "7168000111222333444"
        ]
    );
    let archived: Vec<bool> = posts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["archived"].as_bool().unwrap())
        .collect();
    assert_eq!(archived, [false, true, false]);
    assert_eq!(posts[0]["date"], "2023-04-02 18:11:09");
    assert_eq!(posts[0]["date_utc"], "2023-04-02T18:11:09Z");
    assert_eq!(posts[0]["date_utc_assumed"], true);
    let followers = env.json(&["show", "followers"]);
    assert!(field(&followers, "username").contains(&"oldfan_2019".to_string()));
    let blocked = env.json(&["show", "blocked"]);
    assert_eq!(field(&blocked, "username"), ["spam.bread.deals"]);
    let searches = env.json(&["show", "searches"]);
    assert!(field(&searches, "term").contains(&"banneton".to_string()));
}

/// `show` into a pipe widens the pipe (the default 64 KiB made it wait on its reader
/// every 64 KiB) and still writes every row, as JSON and as a table.
#[cfg(target_os = "linux")]
#[test]
fn show_into_a_pipe_widens_it_and_writes_every_row() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::process::Stdio;

    let (env, _) = vault_with_one_snapshot();
    let into_pipe = |args: &[&str]| {
        let mut child = env.cmd().args(args).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        assert!(child.wait().unwrap().success(), "{args:?}");
        // SAFETY: F_GETPIPE_SZ only reads the size of the pipe we still hold open.
        let size = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_GETPIPE_SZ) };
        (text, size)
    };
    let max: i32 = fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (json, size) = into_pipe(&["show", "likes", "--json"]);
    assert_eq!(
        size,
        max.min(1 << 20),
        "the pipe's capacity after show --json"
    );
    let rows: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows, env.json(&["show", "likes"]));
    let (table, size) = into_pipe(&["show", "likes"]);
    assert_eq!(size, max.min(1 << 20), "the pipe's capacity after show");
    assert_eq!(table, env.ok(&["show", "likes"]));
    assert!(rows.as_array().is_some_and(|r| !r.is_empty()));
}

/// Catalogue rows in the vault's index.
fn item_rows(env: &Env) -> i64 {
    let conn = rusqlite::Connection::open(env.vault().join("vault.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM export_items", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn pair_show_diff_restore_and_rebuild() {
    let env = Env::new();
    let dl = env.path("downloads/user_data_tiktok.json");
    let a_bytes = fs::read(fixture("pair/a/user_data_tiktok.json")).unwrap();
    let b_bytes = fs::read(fixture("pair/b/user_data_tiktok.json")).unwrap();
    write(&dl, &a_bytes);
    let a = snapshot_at(&env, &dl, "2026-06-01T10:00:00Z");
    let rows_a = item_rows(&env);
    write(&dl, &b_bytes);
    let b = snapshot_at(&env, &dl, "2026-11-01T10:00:00Z");
    let rows_b = item_rows(&env);
    // B adds only its new or changed rows: 3 posts, 10 likes, 3 messages, the
    // profile, and the raw sections that differ; nothing is copied per snapshot.
    assert!(
        rows_b - rows_a < 25,
        "{rows_a} rows after A, {rows_b} after B"
    );
    assert_eq!(a["account"], "mila.bakes");
    assert_eq!(b["account"], "mila.bakes");
    assert!(
        b["stored_bytes"].as_u64().unwrap() < 2 * b_bytes.len() as u64,
        "second snapshot stored {} for a {}-byte export",
        b["stored_bytes"],
        b_bytes.len()
    );
    // The same export again costs nothing but its manifest.
    let c = snapshot_at(&env, &dl, "2026-11-02T10:00:00Z");
    assert_eq!(c["new_bytes"], 0, "{c}");
    assert_eq!(
        item_rows(&env),
        rows_b,
        "an unchanged export adds no catalogue rows"
    );

    let old = env.json(&["show", "profile", "--date", "2026-06-01"]);
    let new = env.json(&["show", "profile"]);
    assert_eq!(old["bio"], "Sourdough every Sunday 🍞 | Lisbon");
    assert_eq!(new["bio"], "Rye month 🌾 then back to sourdough | Lisbon");
    // Counts as they were then.
    let n = |v: &Value, k: &str| v["counts"][k].as_i64().unwrap();
    assert_eq!((n(&old, "posts"), n(&new, "posts")), (5, 7));
    assert_eq!(n(&old, "followers") - n(&new, "followers"), 2);
    assert_eq!(n(&new, "likes") - n(&old, "likes"), 10);
    assert_eq!(count(&env, "posts"), 7);
    assert_eq!(
        env.json(&["show", "posts", "--date", "2026-06-01"])
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let a_id = a["id"].as_str().unwrap();
    let by_id = env.json(&["show", "likes", "--snapshot", &a_id[..10]]);
    assert_eq!(by_id.as_array().unwrap().len(), 12);

    let diff = env.json(&["diff", "2026-06-01", "2026-11-01"]);
    check_pair_diff(&diff);
    // The unchanged re-snapshot shows no change at all.
    let none = env.json(&["diff", "2026-11-01", "latest"]);
    for (section, d) in none.as_object().unwrap() {
        for (k, v) in d.as_object().unwrap() {
            let empty = match v {
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            assert!(empty, "{section}.{k}: {v}");
        }
    }

    let out = env.path("out");
    let restored = env.json(&["restore", "--date", "2026-06-01", "--to", s(&out)]);
    assert_eq!(
        fs::read(out.join("export/user_data_tiktok.json")).unwrap(),
        a_bytes,
        "the export comes back exactly as it came"
    );
    assert!(strings(&restored["views"]).contains(&"views/profile.json".to_string()));
    let view = |name: &str| -> Value {
        serde_json::from_slice(&fs::read(out.join("views").join(name)).unwrap()).unwrap()
    };
    assert_eq!(
        view("profile.json")["bio"],
        "Sourdough every Sunday 🍞 | Lisbon"
    );
    assert_eq!(view("posts.json").as_array().unwrap().len(), 5);
    assert_eq!(view("likes.json").as_array().unwrap().len(), 12);
    assert_eq!(view("followers.json").as_array().unwrap().len(), 6);
    // Restoring again is a no-op, views included.
    env.ok(&["restore", "--date", "2026-06-01", "--to", s(&out)]);

    let before: Vec<Value> = [
        env.json(&["show", "profile", "--date", "2026-06-01"]),
        env.json(&["show", "messages"]),
        env.json(&["show", "likes", "--date", "2026-06-01"]),
        env.json(&["diff", "2026-06-01", "2026-11-01"]),
    ]
    .into();
    let rebuilt = env.json(&["rebuild-index"]);
    assert_eq!(rebuilt["exports"], 3, "{rebuilt}");
    let after: Vec<Value> = [
        env.json(&["show", "profile", "--date", "2026-06-01"]),
        env.json(&["show", "messages"]),
        env.json(&["show", "likes", "--date", "2026-06-01"]),
        env.json(&["diff", "2026-06-01", "2026-11-01"]),
    ]
    .into();
    assert_eq!(before, after);
}

/// `show` prints exactly the bytes it printed when each row was built as a JSON
/// value first (tests/fixtures/show): key order, indentation, escaping, dates, and
/// rows of one instant in order across the two versions, in JSON and as a table.
#[test]
fn show_prints_the_pair_byte_for_byte() {
    let env = Env::new();
    snapshot_at(
        &env,
        &fixture("pair/a/user_data_tiktok.json"),
        "2026-06-01T00:00:00Z",
    );
    snapshot_at(
        &env,
        &fixture("pair/b/user_data_tiktok.json"),
        "2026-06-03T00:00:00Z",
    );
    let expected = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/show")
            .join(name);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    for section in ["likes", "posts", "messages", "raw"] {
        let shown = env.ok(&["show", section, "--json"]);
        assert_eq!(
            shown,
            expected(&format!("pair-{section}.json")),
            "show {section} --json"
        );
    }
    assert_eq!(
        env.ok(&["show", "likes"]),
        expected("pair-likes.txt"),
        "show likes"
    );
}

fn check_pair_diff(diff: &Value) {
    let changed = diff["profile"]["changed"].as_object().unwrap();
    assert_eq!(changed.keys().collect::<Vec<_>>(), ["bio"], "{diff}");
    assert_eq!(
        changed["bio"],
        serde_json::json!([
            "Sourdough every Sunday 🍞 | Lisbon",
            "Rye month 🌾 then back to sourdough | Lisbon"
        ])
    );
    let of = |section: &str, what: &str| -> BTreeSet<String> {
        strings(&diff[section][what]).into_iter().collect()
    };
    assert_eq!(
        of("posts", "added"),
        set(&[
            "7519900000000000021",
            "7517300000000000022",
            "7514700000000000023"
        ])
    );
    assert_eq!(of("posts", "removed"), set(&["7500100000000000014"]));
    let likes: Vec<String> = (200..210).map(|i| format!("7518000000000000{i}")).collect();
    assert_eq!(of("likes", "added"), likes.into_iter().collect());
    assert_eq!(of("followers", "removed"), set(&["loafer_lou", "rye.guy"]));
    let messages = strings(&diff["messages"]["added"]);
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("what flour do you use?") && m.contains("rye.fan")));
    assert!(messages.iter().any(|m| m.contains("agreed, 100% rye next")));
    let expected = [
        ("posts", "added"),
        ("posts", "removed"),
        ("likes", "added"),
        ("followers", "removed"),
        ("messages", "added"),
    ];
    for (section, d) in diff.as_object().unwrap() {
        if section == "profile" {
            continue;
        }
        for (what, v) in d.as_object().unwrap() {
            if !expected.contains(&(section.as_str(), what.as_str())) {
                assert_eq!(
                    v,
                    &serde_json::json!([]),
                    "unexpected change in {section}.{what}"
                );
            }
        }
    }
}

#[test]
fn a_zip_export_is_stored_whole_and_catalogued() {
    let env = Env::new();
    let data = fs::read(fixture("json2026/user_data_tiktok.json")).unwrap();
    let zip = env.path("dl/TikTok_Data_1780000000.zip");
    zip_with(&zip, &[("user_data_tiktok.json", &data)]);
    let out = env.json(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&zip),
        "--account",
        "mila",
    ]);
    assert_eq!(out["account"], "mila");
    assert_eq!(count(&env, "likes"), 12);
    let ls = env.json(&["ls"]);
    assert_eq!(
        ls["entries"][0]["path"],
        "export/TikTok_Data_1780000000.zip"
    );
    let restored = env.path("r");
    env.ok(&["restore", "--to", s(&restored)]);
    assert_eq!(
        fs::read(restored.join("export/TikTok_Data_1780000000.zip")).unwrap(),
        fs::read(&zip).unwrap()
    );
    assert!(restored.join("views/likes.json").is_file());
    // A later snapshot without an export shows the newest export before it.
    let media = env.path("saved");
    write(&media.join("clip.mp4"), b"video");
    env.ok(&[
        "snapshot",
        "--download",
        "none",
        "--media",
        s(&media),
        "--account",
        "mila",
    ]);
    assert_eq!(count(&env, "likes"), 12);
}

#[test]
fn a_bom_crlf_txt_export_reads_like_the_original() {
    let env = Env::new();
    let copy = env.path("dl/TikTok");
    copy_tree(&fixture("txt"), &copy);
    fn convert(dir: &Path) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                convert(&p);
            } else {
                let text = fs::read_to_string(&p).unwrap();
                let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n");
                fs::write(&p, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
            }
        }
    }
    convert(&copy);
    env.ok(&["snapshot", "--download", "none", "--export", s(&copy)]);
    let crlf = [
        env.json(&["show", "likes"]),
        env.json(&["show", "messages"]),
    ];
    let plain = Env::new();
    plain.ok(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&fixture("txt")),
    ]);
    let want = [
        plain.json(&["show", "likes"]),
        plain.json(&["show", "messages"]),
    ];
    for (c, w) in crlf.iter().zip(&want) {
        assert_eq!(field(c, "id"), field(w, "id"));
        assert_eq!(field(c, "date"), field(w, "date"));
        assert_eq!(field(c, "content"), field(w, "content"));
    }
    assert_eq!(env.json(&["show", "profile"])["username"], "mila.bakes");
}

/// A vault with one good snapshot, for the bad inputs to bounce off.
fn vault_with_one_snapshot() -> (Env, Value) {
    let env = Env::new();
    env.ok(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&fixture("json2024/user_data_tiktok.json")),
    ]);
    let before = env.json(&["snapshots"]);
    (env, before)
}

fn assert_refused(env: &Env, before: &Value, args: &[&str], needles: &[&str]) {
    let (_, err) = env.expect(args, 2);
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
    }
    assert_eq!(
        &env.json(&["snapshots"]),
        before,
        "{args:?} changed the vault"
    );
    env.ok(&["verify", "--read-data"]);
    assert_eq!(count(env, "posts"), 4);
}

/// Snapshots `export` (exit 1: damaged), checks the damage report names `file` at
/// `offset`, then restores the snapshot and checks the export comes back byte for byte.
fn damaged_snapshot(env: &Env, export: &Path, offset: usize) -> Value {
    let args = ["snapshot", "--download", "none", "--export", s(export)];
    let out = env.json_code(&args, 1);
    let damage = &out["export_damage"][0];
    let file = damage["file"].as_str().unwrap();
    assert!(
        file.ends_with(export.file_name().unwrap().to_str().unwrap()),
        "{out}"
    );
    assert_eq!(damage["offset"], offset as u64, "{out}");
    let at = format!(
        "byte {offset} (line {}, column {})",
        damage["line"], damage["column"]
    );
    let notes = strings(&out["notes"]);
    assert!(
        notes.iter().any(|n| n.contains(&at)),
        "{at} not in {notes:?}"
    );

    let restored = env.path("restored");
    let _ = fs::remove_dir_all(&restored);
    env.ok(&["restore", "--to", s(&restored)]);
    let name = export.file_name().unwrap().to_str().unwrap();
    let back = fs::read(restored.join("export").join(name)).unwrap();
    assert!(
        back == fs::read(export).unwrap(),
        "the damaged export is restored byte for byte"
    );
    env.ok(&["verify", "--read-data"]);
    damage.clone()
}

#[test]
fn an_export_with_a_trailing_comma_is_kept_and_catalogued_around_it() {
    let env = Env::new();
    let good = fs::read_to_string(fixture("json2024/user_data_tiktok.json")).unwrap();
    // As a hand-cleaned export has it: a comma after the last like, before the `]`.
    let list = good.find("\"ItemFavoriteList\"").unwrap();
    let close = list + good[list..].find(']').unwrap();
    let last = good[..close].rfind('}').unwrap() + 1;
    let bad = format!("{},{}", &good[..last], &good[last..]);
    let export = env.path("edited/user_data_tiktok.json");
    write(&export, bad.as_bytes());

    let damage = damaged_snapshot(&env, &export, last);
    let line = good[..last].matches('\n').count() + 1;
    let column = good[..last].rsplit('\n').next().unwrap().chars().count() + 1;
    assert_eq!(
        (damage["line"].as_u64(), damage["column"].as_u64()),
        (Some(line as u64), Some(column as u64))
    );
    let what = damage["what"].as_str().unwrap();
    assert!(
        what.contains("trailing comma") && !what.contains("truncated"),
        "{what}"
    );

    // Everything around the comma is catalogued, as from the clean file.
    let clean = Env::new();
    clean.ok(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&fixture("json2024/user_data_tiktok.json")),
    ]);
    for section in ["likes", "posts", "followers", "messages", "history"] {
        assert_eq!(
            env.json(&["show", section]),
            clean.json(&["show", section]),
            "{section}"
        );
    }

    // People read it too: the human output names the place.
    let (stdout, _) = env.expect(
        &["snapshot", "--download", "none", "--export", s(&export)],
        1,
    );
    assert!(
        stdout.contains(&format!("line {line}, column {column}")),
        "{stdout}"
    );
}

#[test]
fn a_truncated_export_is_kept_and_catalogued_to_its_last_complete_record() {
    let env = Env::new();
    let good = fs::read(fixture("json2026/user_data_tiktok.json")).unwrap();
    let text = std::str::from_utf8(&good).unwrap();
    // Cut in the middle of the fourth like.
    let list = text.find("\"ItemFavoriteList\"").unwrap();
    let rows: Vec<usize> = text[list..]
        .match_indices('{')
        .map(|(i, _)| list + i)
        .take(4)
        .collect();
    let cut = rows[3] + 10;
    let export = env.path("cut/user_data_tiktok.json");
    write(&export, &good[..cut]);

    let damage = damaged_snapshot(&env, &export, cut);
    let what = damage["what"].as_str().unwrap();
    assert!(
        what.contains("truncated") && what.contains("Like List"),
        "{what}"
    );
    assert_eq!(
        count(&env, "likes"),
        3,
        "the three complete likes before the cut"
    );
    assert_eq!(
        count(&env, "messages"),
        4,
        "sections before the cut are all there"
    );
    assert_eq!(count(&env, "posts"), 0, "nothing after the cut");

    // Damage that is not an early end is not called truncated.
    let mut bad = good.clone();
    let at = good.len() / 3;
    bad.splice(at..at, b"}}]]:,".iter().copied());
    let malformed = env.path("bad/user_data_tiktok.json");
    write(&malformed, &bad);
    let out = env.json_code(
        &[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&malformed),
            "--account",
            "mila.bakes",
        ],
        1,
    );
    // (The comma it inserts is read as a trailing one before the first `}`.)
    let found: Vec<&str> = out["export_damage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["what"].as_str().unwrap())
        .collect();
    assert!(
        found.iter().any(|w| w.contains("malformed JSON")),
        "{found:?}"
    );
    assert!(!found.iter().any(|w| w.contains("truncated")), "{found:?}");
}

#[test]
fn a_huge_verbatim_section_is_stored_whole_and_catalogued_in_part() {
    let env = Env::new();
    let row =
        serde_json::json!({"Source": "shop.example", "Event": "PURCHASE", "Note": "x".repeat(400)});
    let rows = vec![row.to_string(); 120_000].join(",\n");
    let export = env.path("big/user_data_tiktok.json");
    let text = format!(
        "{{\"Profile\": {{\"Profile Info\": {{\"ProfileMap\": {{\"userName\": \"big.one\"}}}}}},\n\
         \"Ads and data\": {{\"Ads Visit History\": {{\"AdsVisitHistoryList\": [{rows}]}}}}}}"
    );
    assert!(text.len() > 45 << 20);
    write(&export, text.as_bytes());
    let out = env.json(&["snapshot", "--download", "none", "--export", s(&export)]);
    assert!(
        strings(&out["notes"])
            .iter()
            .any(|n| n.contains("Ads Visit History") && n.contains("larger than")),
        "{out}"
    );
    let raw = env.json(&["show", "raw"]);
    let kept = raw.to_string().len();
    assert!(
        kept < 12 << 20,
        "the catalogue holds {kept} bytes of a {}-byte section",
        text.len()
    );
    let restored = env.path("restored");
    env.ok(&["restore", "--to", s(&restored)]);
    assert!(fs::read(restored.join("export/user_data_tiktok.json")).unwrap() == text.as_bytes());
}

#[test]
fn hostile_zips_are_refused_and_the_vault_is_unchanged() {
    let (env, before) = vault_with_one_snapshot();
    let good = fs::read(fixture("json2026/user_data_tiktok.json")).unwrap();
    let evil = env.path("evil.zip");
    zip_with(
        &evil,
        &[("user_data_tiktok.json", &good), ("../evil", b"x")],
    );
    assert_refused(
        &env,
        &before,
        &["snapshot", "--download", "none", "--export", s(&evil)],
        &["evil.zip", "../evil"],
    );
    let abs = env.path("abs.zip");
    zip_with(
        &abs,
        &[("/tmp/evil", b"x"), ("user_data_tiktok.json", &good)],
    );
    assert_refused(
        &env,
        &before,
        &["snapshot", "--download", "none", "--export", s(&abs)],
        &["abs.zip", "/tmp/evil"],
    );
    let zeros = vec![0u8; 20 << 20];
    let bomb = env.path("bomb.zip");
    zip_with(
        &bomb,
        &[("user_data_tiktok.json", &good), ("video/bomb.bin", &zeros)],
    );
    assert_refused(
        &env,
        &before,
        &["snapshot", "--download", "none", "--export", s(&bomb)],
        &["bomb.zip", "video/bomb.bin", "zip bomb"],
    );
    assert!(!env.path("evil").exists() && !Path::new("/tmp/evil").exists());
}

#[test]
fn another_users_export_needs_force() {
    let (env, before) = vault_with_one_snapshot();
    let text = fs::read_to_string(fixture("json2026/user_data_tiktok.json")).unwrap();
    let other = env.path("other/user_data_tiktok.json");
    write(
        &other,
        text.replace(
            "\"userName\": \"mila.bakes\"",
            "\"userName\": \"someone.else\"",
        )
        .as_bytes(),
    );
    let args = [
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&other),
        "--account",
        "mila.bakes",
    ];
    assert_refused(
        &env,
        &before,
        &args,
        &["someone.else", "mila.bakes", "--force"],
    );
    // Without --account it simply becomes its own account.
    let own = env.json(&["snapshot", "--download", "none", "--export", s(&other)]);
    assert_eq!(own["account"], "someone.else");
    let mut forced = args.to_vec();
    forced.push("--force");
    env.ok(&forced);
    assert_eq!(
        env.json(&["show", "profile", "--account", "mila.bakes"])["username"],
        "someone.else"
    );
}

#[test]
fn a_zip_with_a_symlink_entry_is_refused() {
    let (env, before) = vault_with_one_snapshot();
    let good = fs::read(fixture("json2026/user_data_tiktok.json")).unwrap();
    let link = env.path("link.zip");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&link).unwrap());
        z.start_file("user_data_tiktok.json", SimpleFileOptions::default())
            .unwrap();
        z.write_all(&good).unwrap();
        // A symlink entry: unix mode 0o120777, the target as its content.
        z.add_symlink(
            "Activity/escape.txt",
            "/etc/passwd",
            SimpleFileOptions::default(),
        )
        .unwrap();
        z.finish().unwrap();
    }
    // The archive really carries a symlink entry (the test would prove nothing otherwise).
    let mut check = zip::ZipArchive::new(fs::File::open(&link).unwrap()).unwrap();
    let mode = check
        .by_name("Activity/escape.txt")
        .unwrap()
        .unix_mode()
        .unwrap();
    assert_eq!(mode & 0o170000, 0o120000, "mode {mode:o}");
    assert_refused(
        &env,
        &before,
        &["snapshot", "--download", "none", "--export", s(&link)],
        &["link.zip", "Activity/escape.txt", "symbolic link"],
    );
    assert!(!env.path("Activity").exists());
}

/// Overwrites the declared uncompressed size of the only entry of a ZIP, in its local
/// header and in its central directory record.
fn lie_about_size(zip: &mut [u8], size: u32) {
    assert_eq!(&zip[..4], b"PK\x03\x04");
    zip[22..26].copy_from_slice(&size.to_le_bytes());
    let central = zip
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("a central directory record");
    zip[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
}

/// Declared sizes can lie: an entry that declares 4 KB but inflates to 24 MB of JSON
/// whitespace is stopped while it is read, by the bytes actually inflated.
///
/// The total-size limit (8 GiB, `Limits::max_total_uncompressed`) has no CLI or
/// environment knob, so reaching it would take gigabytes of inflation; this test covers
/// the per-entry ratio guard on lying sizes instead.
#[test]
fn a_zip_whose_declared_sizes_lie_is_stopped_while_inflating() {
    let (env, before) = vault_with_one_snapshot();
    let good = fs::read(fixture("json2026/user_data_tiktok.json")).unwrap();
    assert_eq!(good.iter().position(|b| !b.is_ascii_whitespace()), Some(0));
    let mut padded = Vec::with_capacity(good.len() + (24 << 20));
    padded.push(good[0]);
    padded.resize(1 + (24 << 20), b' ');
    padded.extend_from_slice(&good[1..]);
    assert!(serde_json::from_slice::<Value>(&padded).is_ok());
    let liar = env.path("liar.zip");
    zip_with(&liar, &[("user_data_tiktok.json", &padded)]);
    let mut bytes = fs::read(&liar).unwrap();
    assert!(bytes.len() < 1 << 20, "deflate should shrink the padding");
    lie_about_size(&mut bytes, 4096);
    fs::write(&liar, &bytes).unwrap();
    {
        let mut z = zip::ZipArchive::new(fs::File::open(&liar).unwrap()).unwrap();
        assert_eq!(
            z.by_index_raw(0).unwrap().size(),
            4096,
            "the lie is in place"
        );
    }
    assert_refused(
        &env,
        &before,
        &["snapshot", "--download", "none", "--export", s(&liar)],
        &["liar.zip", "user_data_tiktok.json", "zip bomb"],
    );
}

#[test]
fn a_bare_json_export_with_a_bom_is_read() {
    let env = Env::new();
    let good = fs::read(fixture("json2024/user_data_tiktok.json")).unwrap();
    assert!(!good.starts_with(b"\xEF\xBB\xBF"));
    let bom = env.path("dl/user_data_tiktok.json");
    write(&bom, &[b"\xEF\xBB\xBF".as_slice(), &good].concat());
    let out = env.json(&["snapshot", "--download", "none", "--export", s(&bom)]);
    assert_eq!(out["account"], "mila.bakes", "{out}");
    assert_eq!(env.json(&["show", "profile"])["username"], "mila.bakes");
    assert_eq!(count(&env, "posts"), 4);
    assert_eq!(count(&env, "likes"), 5);
    // Stored as it came, BOM included.
    let restored = env.path("r");
    env.ok(&["restore", "--to", s(&restored)]);
    assert_eq!(
        fs::read(restored.join("export/user_data_tiktok.json")).unwrap(),
        fs::read(&bom).unwrap()
    );
}

#[test]
fn favorites_and_history_rows_carry_id_link_and_date() {
    let env = Env::new();
    env.ok(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        s(&fixture("json2024/user_data_tiktok.json")),
    ]);
    let row = |section: &str, id: &str| -> Value {
        let rows = env.json(&["show", section]);
        let all = rows
            .as_array()
            .unwrap_or_else(|| panic!("{section}: {rows}"));
        for r in all {
            for key in ["id", "link", "date"] {
                assert!(r[key].is_string(), "{section}: {key} missing in {r}");
            }
        }
        all.iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{section}: no row {id} in {rows}"))
    };
    let fav = row("favorites", "7415600000000000201");
    assert_eq!(
        fav["link"],
        "https://www.tiktokv.com/share/video/7415600000000000201/"
    );
    assert_eq!(fav["date"], "2024-09-19 10:00:00");
    assert_eq!(fav["archived"], false);
    assert_eq!(count(&env, "favorites"), 2);
    let seen = row("history", "7417400000000000301");
    assert_eq!(
        seen["link"],
        "https://www.tiktokv.com/share/video/7417400000000000301/"
    );
    assert_eq!(seen["date"], "2024-09-22 23:00:00");
    // Newest first, as in the export.
    let history = env.json(&["show", "history"]);
    assert_eq!(history[0]["id"], "7417400000000000301");
}

/// The same export again is recognised by its BLAKE3 and its catalogue re-used:
/// nothing is read again, and every view shows what the first one did. Only the
/// account's newest export is re-used: after another export came in between, the
/// first one is read again (its rows are no longer the open ones).
#[test]
fn an_identical_export_is_reused_and_shows_the_same() {
    let env = Env::new();
    let dl = env.path("downloads/user_data_tiktok.json");
    let a_bytes = fs::read(fixture("pair/a/user_data_tiktok.json")).unwrap();
    let b_bytes = fs::read(fixture("pair/b/user_data_tiktok.json")).unwrap();
    write(&dl, &a_bytes);
    let reused = |outcome: &Value| {
        outcome["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("re-used"))
    };
    // Rows as sets: rows that came back carry a later version, which orders
    // undated rows differently.
    let views = |date: &str| -> Vec<Vec<String>> {
        ["profile", "likes", "posts", "messages", "raw"]
            .iter()
            .map(|s| {
                let mut v = env.json(&["show", s, "--date", date]);
                // The profile names the snapshot its export came from: each its own.
                if let Some(o) = v.as_object_mut() {
                    o.remove("export");
                }
                let mut rows: Vec<String> = match v.as_array() {
                    Some(a) => a.iter().map(Value::to_string).collect(),
                    None => vec![v.to_string()],
                };
                rows.sort();
                rows
            })
            .collect()
    };
    let first = snapshot_at(&env, &dl, "2026-06-01T10:00:00Z");
    assert!(!reused(&first), "{first}");
    let rows = item_rows(&env);
    let again = snapshot_at(&env, &dl, "2026-06-02T10:00:00Z");
    assert!(reused(&again), "{again}");
    for k in ["sections_understood", "sections_raw", "export_damage"] {
        assert_eq!(again[k], first[k], "{k}");
    }
    assert_eq!(item_rows(&env), rows);
    assert_eq!(views("2026-06-02"), views("2026-06-01"));
    let none = env.json(&["diff", "2026-06-01", "2026-06-02"]);
    assert!(
        !none.to_string().contains("\"added\":[\""),
        "no change: {none}"
    );

    write(&dl, &b_bytes);
    assert!(!reused(&snapshot_at(&env, &dl, "2026-11-01T10:00:00Z")));
    write(&dl, &a_bytes);
    let back = snapshot_at(&env, &dl, "2026-11-02T10:00:00Z");
    assert!(!reused(&back), "B came in between: {back}");
    assert_eq!(views("2026-11-02"), views("2026-06-01"));
}

/// `show logins` gives the IP, device, system, network and carrier as columns in
/// every layout that carries logins (placeholders such as `N/A` are null), in the
/// JSON view and in the human table.
#[test]
fn logins_show_ip_device_system_network_and_carrier() {
    let cases = [
        ("json2020/user_data.json", "iPhone14,2", "iOS 16.4"),
        ("json2024/user_data_tiktok.json", "iPhone15,3", "iOS 17.6"),
        ("json2026/user_data_tiktok.json", "iPhone17,1", "iOS 19.4"),
        ("txt", "SM-G991B", "Android 12"),
    ];
    for (path, device, system) in cases {
        let env = Env::new();
        env.ok(&[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&fixture(path)),
        ]);
        let logins = env.json(&["show", "logins"]);
        let first = &logins[0];
        assert_eq!(first["ip"], "203.0.113.7", "{path}: {first}");
        assert_eq!(first["device"], device, "{path}");
        assert_eq!(first["system"], system, "{path}");
        assert_eq!(first["network"], "Wi-Fi", "{path}");
        assert_eq!(first["carrier"], Value::Null, "{path}: N/A is no carrier");
        let human = env.ok(&["show", "logins"]);
        for heading in ["ip", "device", "system", "network", "carrier"] {
            assert!(human.contains(heading), "{path}: {human}");
        }
        assert!(
            human.contains(device) && human.contains("203.0.113.7"),
            "{path}: {human}"
        );
    }
}

/// A new login shows in `diff` by where and on what it was made.
#[test]
fn a_new_login_shows_in_diff_with_its_ip_and_device() {
    let env = Env::new();
    let login = r#""LoginHistoryList": [
        { "Date": "2026-06-02 08:00:00", "IP": "198.51.100.9", "DeviceModel": "Pixel 9",
          "DeviceSystem": "Android 16", "NetworkType": "5G", "Carrier": "Vodafone" },"#;
    let diff = diff_after_edit(&env, &|text| {
        text.replacen(r#""LoginHistoryList": ["#, login, 1)
    });
    assert_eq!(
        diff["logins"]["added"],
        serde_json::json!(["2026-06-02 08:00:00: 198.51.100.9, Pixel 9, Android 16, 5G, Vodafone"]),
        "{diff}"
    );
    assert_eq!(diff["logins"]["removed"], serde_json::json!([]));
}

/// Favourite sounds and hashtags and the collections of favourites are understood
/// (no longer kept only verbatim) in every layout that carries them, and shown.
#[test]
fn favourite_sounds_hashtags_and_collections_are_shown() {
    let cases = [
        (
            "json2020/user_data.json",
            "hashtags",
            "link",
            "https://www.tiktok.com/tag/sourdough",
        ),
        (
            "json2024/user_data_tiktok.json",
            "sounds",
            "link",
            "https://www.tiktok.com/music/original-sound-7390000000000000001",
        ),
        ("json2026", "collections", "name", "Bread ideas"),
        (
            "txt",
            "hashtags",
            "link",
            "https://www.tiktok.com/tag/sourdough",
        ),
    ];
    for (path, section, key, want) in cases {
        let env = Env::new();
        let out = env.json(&[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&fixture(path)),
        ]);
        let rows = env.json(&["show", section]);
        assert_eq!(
            rows.as_array().unwrap().len(),
            1,
            "{path} {section}: {rows}"
        );
        assert_eq!(rows[0][key], want, "{path}");
        assert!(rows[0]["date"].is_string(), "{path}: {rows}");
        assert!(
            !out["sections_raw"].to_string().contains("Favorite"),
            "{path}: {out}"
        );
        let human = env.ok(&["show", section]);
        assert!(human.contains(want), "{path}: {human}");
    }
}

#[test]
fn a_re_dated_favourite_sound_is_changed_not_added_and_removed() {
    let env = Env::new();
    let original = fixture("json2024/user_data_tiktok.json");
    let link = "https://www.tiktok.com/music/original-sound-7390000000000000001";
    let text = fs::read_to_string(&original).unwrap();
    let before = format!("\"Date\": \"2024-07-07 07:07:07\",\n          \"Link\": \"{link}\"");
    assert!(
        text.contains(&before),
        "the fixture's favourite sound moved"
    );
    let later = env.path("later/user_data_tiktok.json");
    write(
        &later,
        text.replace(&before, &before.replace("07:07:07", "08:08:08"))
            .as_bytes(),
    );
    for (export, time) in [
        (original, "2026-06-01T00:00:00Z"),
        (later, "2026-07-01T00:00:00Z"),
    ] {
        env.json(&[
            "snapshot",
            "--download",
            "none",
            "--export",
            s(&export),
            "--time",
            time,
        ]);
    }
    let diff = env.json(&["diff", "2026-06-01", "2026-07-01"]);
    let sounds = &diff["sounds"];
    assert_eq!(sounds["changed"], serde_json::json!([link]), "{diff}");
    assert_eq!(sounds["added"], serde_json::json!([]), "{diff}");
    assert_eq!(sounds["removed"], serde_json::json!([]), "{diff}");
}

/// A vault whose index is at schema 6 (16-byte item keys, found by a key index)
/// upgrades to 7 (8-byte keys, found by the date index) and shows and diffs exactly
/// as before; the next export finds its open rows under the shortened keys.
#[test]
fn a_catalogue_at_schema_6_upgrades_and_reads_the_same() {
    let env = Env::new();
    let dl = env.path("downloads/user_data_tiktok.json");
    let a_bytes = fs::read(fixture("pair/a/user_data_tiktok.json")).unwrap();
    write(&dl, &a_bytes);
    snapshot_at(&env, &dl, "2026-06-01T10:00:00Z");
    write(
        &dl,
        &fs::read(fixture("pair/b/user_data_tiktok.json")).unwrap(),
    );
    snapshot_at(&env, &dl, "2026-11-01T10:00:00Z");
    let views = |env: &Env| -> Vec<Value> {
        [
            env.json(&["show", "profile", "--date", "2026-06-01"]),
            env.json(&["show", "messages"]),
            env.json(&["show", "likes", "--date", "2026-06-01"]),
            env.json(&["show", "likes"]),
            env.json(&["diff", "2026-06-01", "2026-11-01"]),
        ]
        .into()
    };
    let before = views(&env);
    let db = env.vault().join("vault.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(SCHEMA_7_SEARCH_TRIGGER).unwrap();
    conn.execute_batch(
        "DROP TABLE unfinished_snapshots;
         DROP INDEX export_items_by_date;
         UPDATE export_items SET key = unhex(hex(key) || hex(randomblob(8)));
         CREATE INDEX export_items_by_key ON export_items(key, occurrence);
         CREATE INDEX export_items_by_date ON export_items(account, section, date_utc DESC);
         PRAGMA user_version = 6;",
    )
    .unwrap();
    drop(conn);
    env.ok(&["stats"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let number = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let version = number("PRAGMA user_version");
    let key_index = number("SELECT count(*) FROM sqlite_master WHERE name = 'export_items_by_key'");
    let long_keys = number("SELECT count(*) FROM export_items WHERE length(key) != 8");
    drop(conn);
    let current = tt_vault::store::index::SCHEMA_VERSION as i64;
    assert_eq!((version, key_index, long_keys), (current, 0, 0));
    assert_eq!(views(&env), before);
    check_pair_diff(&before[4]);

    // Back to A: what B added is removed again, and what it removed comes back.
    write(&dl, &a_bytes);
    snapshot_at(&env, &dl, "2026-12-01T10:00:00Z");
    let back = env.json(&["diff", "2026-11-01", "2026-12-01"]);
    for section in ["posts", "likes", "followers", "messages"] {
        assert_eq!(
            back[section]["added"], before[4][section]["removed"],
            "{section}"
        );
        assert_eq!(
            back[section]["removed"], before[4][section]["added"],
            "{section}"
        );
    }
    assert_eq!(
        env.json(&["show", "likes"]),
        before[2],
        "the likes are A's again"
    );
}

/// A vault at schema 7 (the search index fed by a trigger at every item insert)
/// upgrades to 8 (ingest feeds it once a version): the trigger is gone, and search
/// finds the rows catalogued before the upgrade and after, the index holding exactly
/// what the trigger would have put in it.
#[test]
fn a_catalogue_at_schema_7_upgrades_and_searches_old_and_new_rows() {
    let env = Env::new();
    let dl = env.path("downloads/user_data_tiktok.json");
    let a_bytes = fs::read(fixture("pair/a/user_data_tiktok.json")).unwrap();
    write(&dl, &a_bytes);
    snapshot_at(&env, &dl, "2026-06-01T10:00:00Z");
    let db = env.vault().join("vault.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Schema 7: its trigger, and every row written again through it.
    conn.execute_batch(SCHEMA_7_SEARCH_TRIGGER).unwrap();
    conn.execute_batch(
        "DROP TABLE unfinished_snapshots;
         CREATE TEMP TABLE old_items AS SELECT * FROM export_items;
         DELETE FROM export_items;
         INSERT INTO export_items SELECT * FROM old_items;
         DROP TABLE old_items;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    drop(conn);
    env.ok(&["stats"]);
    let number = |sql: &str| -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert_eq!(
        number("PRAGMA user_version"),
        tt_vault::store::index::SCHEMA_VERSION as i64
    );
    assert_eq!(
        number("SELECT count(*) FROM sqlite_master WHERE name = 'export_search_insert'"),
        0
    );
    write(
        &dl,
        &fs::read(fixture("pair/b/user_data_tiktok.json")).unwrap(),
    );
    snapshot_at(&env, &dl, "2026-11-01T10:00:00Z");
    let found = |word: &str| -> Vec<String> {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT i.text FROM export_search JOIN export_items i ON i.id = export_search.rowid
                 WHERE export_search MATCH ?1 ORDER BY i.id",
            )
            .unwrap();
        stmt.query_map([word], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    // Old: A's caption and comments, catalogued before the upgrade; new: B's
    // message, after.
    let spelt = [
        "that spelt loaf 😍",
        "Spelt & honey #sourdough",
        "spelt loaf",
    ];
    assert_eq!(found("spelt"), spelt);
    assert_eq!(found("flour"), ["what flour do you use?"]);
    assert_search_index_exact(&db);
    // Back to A: what B removed comes back as new items, indexed once each.
    write(&dl, &a_bytes);
    snapshot_at(&env, &dl, "2026-12-01T10:00:00Z");
    // The bio B replaced, and its return as a new row.
    let bio = "Sourdough every Sunday 🍞 | Lisbon";
    assert_eq!(found("sunday"), [bio, bio]);
    assert_eq!(
        found("spelt"),
        spelt,
        "rows still open are not indexed twice"
    );
    assert_search_index_exact(&db);
}

/// What schemas 4 to 7 fed the search index with (dropped by 008).
const SCHEMA_7_SEARCH_TRIGGER: &str = "
    CREATE TRIGGER export_search_insert AFTER INSERT ON export_items
    WHEN new.text IS NOT NULL AND new.is_raw = 0
    BEGIN
        INSERT INTO export_search(rowid, text) VALUES (new.id, new.text);
    END;";

/// The search index holds every word of every item with text that is not raw, once:
/// term by term, what a fresh index of those rows holds.
fn assert_search_index_exact(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE temp.fresh USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
         INSERT INTO fresh (rowid, text)
             SELECT id, text FROM export_items WHERE text IS NOT NULL AND is_raw = 0;
         CREATE VIRTUAL TABLE temp.kept USING fts5vocab(main, export_search, 'instance');
         CREATE VIRTUAL TABLE temp.want USING fts5vocab(temp, fresh, 'instance');",
    )
    .unwrap();
    let words = |table: &str| -> Vec<(String, i64, i64)> {
        conn.prepare(&format!(
            "SELECT term, doc, offset FROM {table} ORDER BY doc, offset, term"
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    };
    let (kept, want) = (words("kept"), words("want"));
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(kept, want);
}

//! The export sections issue 14 asked to understand beyond posts, likes and the
//! rest: off-TikTok activity, settings, devices (Status), the activity summary, the
//! most recent location, profile views, and which collection each favourite is in.
//! Through the binary, on the fixtures of every layout that carries each section:
//! `show` (JSON and table), `diff`, restore's views, and bad input.

mod common;

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use common::{copy_tree, diff_after_edit, fixture, s, write, Env};

/// The sections this file is about, as `show` names them.
const SECTIONS: &[&str] = &[
    "off-tiktok",
    "settings",
    "devices",
    "activity-summary",
    "location",
    "profile-views",
];

/// A vault with one snapshot of `export`.
fn snapshot_of(export: &Path) -> Env {
    let env = Env::new();
    env.ok(&["snapshot", "--download", "none", "--export", s(export)]);
    env
}

fn rows(env: &Env, section: &str) -> Vec<Value> {
    env.json(&["show", section])
        .as_array()
        .unwrap_or_else(|| panic!("show {section}: not a list"))
        .clone()
}

/// The row whose `key` is `value`.
fn row_with<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}: {rows:?}"))
}

/// Every layout that carries Off TikTok Activity: the 2020 and 2024 JSON under `Ads
/// and data`, 2026 under `Your Activity`, and TXT's `Off TikTok Activity.txt`.
#[test]
fn off_tiktok_activity_is_shown_in_every_layout() {
    let cases = [
        (
            "json2020/user_data.json",
            "2023-04-11 12:00:00",
            "flourshop.example",
            "Purchase",
        ),
        (
            "json2024/user_data_tiktok.json",
            "2024-09-01 08:00:00",
            "flourshop.example",
            "Add to cart",
        ),
        (
            "json2026/user_data_tiktok.json",
            "2026-05-02 09:00:00",
            "flourshop.example",
            "Purchase",
        ),
        (
            "txt",
            "2022-02-11 12:00:00",
            "flourshop.example",
            "Purchase",
        ),
    ];
    for (path, date, source, event) in cases {
        let env = snapshot_of(&fixture(path));
        let off = rows(&env, "off-tiktok");
        let first = &off[0];
        assert_eq!(first["date"], date, "{path}: {first}");
        assert_eq!(first["source"], source, "{path}");
        assert_eq!(first["event"], event, "{path}");
        assert!(first["date_utc"].is_string(), "{path}: {first}");
        let human = env.ok(&["show", "off-tiktok"]);
        for want in ["source", "event", source, event, date] {
            assert!(human.contains(want), "{path}: {want} in {human}");
        }
        assert!(
            !env.json(&["show", "raw"])
                .to_string()
                .contains("Off TikTok"),
            "{path}: no longer kept only verbatim"
        );
    }
}

/// Settings, one row per setting, in every JSON layout (2020 and 2024 under `App
/// Settings`, 2026 under `Profile And Settings`); a nested value stays as it is. TXT
/// exports seen so far carry no settings file; one named `Settings.txt` is read with
/// the TXT layout's `Key: value` rule.
#[test]
fn settings_are_shown_one_per_row() {
    let txt = tempfile::tempdir().unwrap();
    copy_tree(&fixture("txt"), txt.path());
    write(
        &txt.path().join("TikTok/App Settings/Settings.txt"),
        b"Private Account: On\nAllow DownLoad: Off\n",
    );
    let cases: [(&Path, usize, &str, Value); 4] = [
        (
            &fixture("json2020/user_data.json"),
            3,
            "Interests",
            json!(["Food", "DIY"]),
        ),
        (
            &fixture("json2024/user_data_tiktok.json"),
            1,
            "Private Account",
            json!("Off"),
        ),
        (
            &fixture("json2026/user_data_tiktok.json"),
            2,
            "Allow DownLoad",
            json!("On"),
        ),
        (txt.path(), 2, "Allow DownLoad", json!("Off")),
    ];
    for (path, n, name, value) in cases {
        let env = snapshot_of(path);
        let settings = rows(&env, "settings");
        assert_eq!(settings.len(), n, "{path:?}: {settings:?}");
        assert_eq!(
            row_with(&settings, "name", name)["value"],
            value,
            "{path:?}"
        );
        let human = env.ok(&["show", "settings"]);
        assert!(
            human.contains(name) && human.contains("name") && human.contains("value"),
            "{path:?}: {human}"
        );
    }
}

/// Devices from `Status › Status List` (2020 under `Activity`, 2024 and 2026 under
/// `Your Activity`); the TXT layout has no such file.
#[test]
fn devices_are_shown_with_their_columns() {
    let cases = [
        ("json2020/user_data.json", "1170*2532", "29.3.0"),
        ("json2024/user_data_tiktok.json", "1179*2556", "36.5.0"),
        ("json2026/user_data_tiktok.json", "1206*2622", "44.1.0"),
    ];
    for (path, resolution, version) in cases {
        let env = snapshot_of(&fixture(path));
        let devices = rows(&env, "devices");
        assert_eq!(devices.len(), 1, "{path}: {devices:?}");
        assert_eq!(devices[0]["resolution"], resolution, "{path}");
        assert_eq!(devices[0]["app_version"], version, "{path}");
        assert_eq!(devices[0]["idfa"], Value::Null, "{path}: N/A is nothing");
        let human = env.ok(&["show", "devices"]);
        assert!(
            human.contains("app version") && human.contains(version),
            "{path}: {human}"
        );
    }
    let env = snapshot_of(&fixture("json2026/user_data_tiktok.json"));
    let device = &rows(&env, "devices")[0];
    assert_eq!(device["did"], "7300000000000000999");
    assert_eq!(device["idfv"], "5C2B7A9E-0000-4000-8000-000000000001");
}

/// The activity summary (a count per row), the most recent location and profile
/// views: the 2026 layout carries all three.
#[test]
fn activity_summary_location_and_profile_views_are_shown() {
    let env = snapshot_of(&fixture("json2026/user_data_tiktok.json"));
    let summary = rows(&env, "activity-summary");
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!(
        row_with(
            &summary,
            "name",
            "videosWatchedToTheEndSinceAccountRegistration"
        )["value"],
        40211
    );
    assert_eq!(
        row_with(&summary, "name", "videosSharedSinceAccountRegistration")["value"],
        "97"
    );
    let location = rows(&env, "location");
    assert_eq!(location.len(), 1);
    assert_eq!(location[0]["region"], "PT");
    assert_eq!(location[0]["gps"], Value::Null, "N/A is no position");
    assert_eq!(location[0]["date"], "2026-05-31 07:00:00");
    let views = rows(&env, "profile-views");
    assert_eq!(views[0]["username"], "crumb.shots");
    for (section, want) in [
        ("activity-summary", "40211"),
        ("location", "PT"),
        ("profile-views", "crumb.shots"),
    ] {
        let human = env.ok(&["show", section]);
        assert!(human.contains(want), "{section}: {human}");
    }
}

/// A favourite's collection: from a collection that lists its videos, or from the
/// favourite's own row; null when the export does not say (as in TikTok's exports
/// seen so far, which name each collection and nothing more). Only the 2026 layout
/// carries collections.
#[test]
fn favourites_show_their_collection() {
    let text = fs::read_to_string(fixture("json2026/user_data_tiktok.json")).unwrap();
    let env = snapshot_of(&fixture("json2026/user_data_tiktok.json"));
    let favs = rows(&env, "favorites");
    assert!(
        favs.iter().all(|f| f["collection"].is_null()),
        "the fixture says no collection: {favs:?}"
    );

    // A collection that lists its videos (links, or rows with a link).
    let listed = text.replacen(
        r#""FavoriteCollection": "Bread ideas""#,
        r#""FavoriteCollection": "Bread ideas",
          "Videos": [
            "https://www.tiktokv.com/share/video/7505000000000000201/",
            {"Date": "2026-04-02 10:00:00", "Link": "https://www.tiktokv.com/share/video/7488000000000000203/"}
          ]"#,
        1,
    );
    assert_ne!(listed, text);
    // A favourite that names its collection itself.
    let named = text.replacen(
        r#""Link": "https://www.tiktokv.com/share/video/7502000000000000202/""#,
        r#""Link": "https://www.tiktokv.com/share/video/7502000000000000202/",
          "Collection": "Rye""#,
        1,
    );
    assert_ne!(named, text);
    // A hostile name: kept once, and shown cut to 200 characters.
    let long = "N".repeat(300_000);
    let huge = listed.replacen("Bread ideas", &long, 1);
    let cut = "N".repeat(200);
    for (variant, want) in [
        (listed, [Some("Bread ideas"), None, Some("Bread ideas")]),
        (named, [None, Some("Rye"), None]),
        (huge, [Some(cut.as_str()), None, Some(cut.as_str())]),
    ] {
        let env = Env::new();
        let export = env.path("dl/user_data_tiktok.json");
        write(&export, variant.as_bytes());
        env.ok(&["snapshot", "--download", "none", "--export", s(&export)]);
        let favs = rows(&env, "favorites");
        let got: Vec<Option<&str>> = favs.iter().map(|f| f["collection"].as_str()).collect();
        assert_eq!(got, want, "{favs:?}");
        let human = env.ok(&["show", "favorites"]);
        let name = want.iter().flatten().next().unwrap();
        assert!(
            human.contains("collection") && human.contains(name),
            "{human}"
        );
    }
}

/// A week later: a setting changed, an off-TikTok event and a device came, a profile
/// view went. `diff` names each, settings by name (changed, not added and removed).
#[test]
fn diff_names_changed_settings_and_new_events_devices_and_views() {
    let env = Env::new();
    let diff = diff_after_edit(&env, &|text| {
        text.replacen(r#""Private Account": "Off""#, r#""Private Account": "On""#, 1)
            .replacen(
                r#""OffTikTokActivityDataList": ["#,
                r#""OffTikTokActivityDataList": [
              {"TimeStamp": "2026-06-02 09:00:00", "Source": "millco.example", "Event": "Search"},"#,
                1,
            )
            .replacen(
                r#""Status List": ["#,
                r#""Status List": [{"Resolution": "1080*2400", "App Version": "44.2.0"},"#,
                1,
            )
            .replacen(
                r#"{
          "Date": "2026-05-29 12:00:00",
          "UserName": "crumb.shots"
        }"#,
                "",
                1,
            )
    });
    assert_eq!(
        diff["settings"],
        json!({"added": [], "removed": [], "changed": ["Private Account"]}),
        "{diff}"
    );
    assert_eq!(
        diff["off-tiktok"]["added"],
        json!(["2026-06-02 09:00:00 Search: millco.example"]),
        "{diff}"
    );
    assert_eq!(diff["off-tiktok"]["removed"], json!([]));
    assert_eq!(
        diff["devices"]["added"],
        json!(["1080*2400, 44.2.0"]),
        "{diff}"
    );
    assert_eq!(
        diff["profile-views"]["removed"],
        json!(["2026-05-29 12:00:00: crumb.shots"]),
        "{diff}"
    );
    assert_eq!(diff["activity-summary"]["changed"], json!([]));
    let human = env.ok(&["diff", "2026-06-01", "2026-06-03"]);
    assert!(human.contains("~ settings: Private Account"), "{human}");
    assert!(human.contains("+ devices: 1080*2400, 44.2.0"), "{human}");
    // The older snapshot still shows the setting as it was.
    let before = env.json(&["show", "settings", "--date", "2026-06-01"]);
    let before = before.as_array().unwrap();
    assert_eq!(row_with(before, "name", "Private Account")["value"], "Off");
    assert_eq!(
        row_with(&rows(&env, "settings"), "name", "Private Account")["value"],
        "On"
    );
}

/// Restore writes a view of each new section beside the others.
#[test]
fn restore_writes_views_of_the_new_sections() {
    let env = snapshot_of(&fixture("json2026/user_data_tiktok.json"));
    let out = env.path("out");
    let restored = env.json(&["restore", "--to", s(&out)]);
    let view = |section: &str| -> Value {
        let path = out.join(format!("views/{section}.json"));
        serde_json::from_slice(&fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
            .unwrap()
    };
    for &section in SECTIONS {
        assert!(
            restored["views"]
                .to_string()
                .contains(&format!("views/{section}.json")),
            "{section}: {restored}"
        );
        assert_eq!(view(section), env.json(&["show", section]), "{section}");
    }
    assert_eq!(view("off-tiktok").as_array().unwrap().len(), 2);
    assert_eq!(view("settings")[0]["fields"].as_object().unwrap().len(), 1);
    assert!(view("favorites")[0]
        .as_object()
        .unwrap()
        .contains_key("collection"));
}

/// Wrong types, missing fields, placeholders and huge values in these sections: the
/// snapshot succeeds, each row is shown with what it has and keeps its original
/// fields verbatim; nothing panics.
#[test]
fn odd_values_in_the_new_sections_are_kept_verbatim() {
    let env = Env::new();
    let big = "z".repeat(2 << 20);
    let export = json!({
        "Profile And Settings": {
            "Profile Info": {"ProfileMap": {"userName": "odd.one"}},
            "Settings": {"App": 7, "SettingsMap": {
                "Private Account": 1,
                "Push Notification": {"New Fans": "On", "Desktop notification": null},
                "Content Preferences": [],
                "Huge": big,
                "": "empty name"
            }},
            "ProfileViews": {"ProfileViewList": [{"Date": 17, "UserName": ["x"]}, "stray"]}
        },
        "Your Activity": {
            "Off TikTok Activity": {"OffTikTokActivityDataList": [
                {"TimeStamp": 1714636800, "Source": {"name": "shop"}, "Event": null},
                {"TimeStamp": "not a date", "Source": "N/A"},
                {}
            ]},
            "Status": {"Status List": [{"Resolution": 1080, "App Version": ["1"]}, 5]},
            "Activity Summary": {"ActivitySummaryMap": {"note": "delays", "n": 1e308}},
            "Most Recent Location Data": {"LocationData": ["not", "a", "map"]}
        }
    });
    let dl = env.path("dl/user_data_tiktok.json");
    write(&dl, export.to_string().as_bytes());
    let out = env.json(&["snapshot", "--download", "none", "--export", s(&dl)]);
    assert!(
        out["notes"]
            .to_string()
            .contains("catalogue keeps its first"),
        "the huge setting is cut in the catalogue, and said so: {out}"
    );

    let settings = rows(&env, "settings");
    assert_eq!(settings.len(), 5, "{settings:?}");
    assert_eq!(row_with(&settings, "name", "Private Account")["value"], 1);
    assert_eq!(
        row_with(&settings, "name", "Push Notification")["value"]["New Fans"],
        "On"
    );
    let huge = row_with(&settings, "name", "Huge")["value"]
        .as_str()
        .unwrap();
    assert!(
        huge.starts_with("zzz") && huge.len() < big.len(),
        "{}",
        huge.len()
    );
    let off = rows(&env, "off-tiktok");
    assert_eq!(off.len(), 3, "{off:?}");
    assert!(off.iter().all(|r| r["source"].is_null()), "{off:?}");
    assert_eq!(
        off.iter()
            .find(|r| r["fields"]["TimeStamp"] == 1714636800)
            .unwrap()["fields"]["Source"],
        json!({"name": "shop"})
    );
    let devices = rows(&env, "devices");
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["resolution"], "1080", "a number is its text");
    assert_eq!(devices[0]["fields"]["App Version"], json!(["1"]));
    assert_eq!(rows(&env, "activity-summary").len(), 2);
    assert_eq!(rows(&env, "profile-views")[0]["username"], Value::Null);
    // What is not a row (a stray string, a list where a map was) stays verbatim.
    let raw = env.json(&["show", "raw"]);
    let kept = |end: &str| -> Vec<Value> {
        raw.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["section"].as_str().unwrap().ends_with(end))
            .map(|r| r["value"].clone())
            .collect()
    };
    assert_eq!(kept("ProfileViewList"), [json!("stray")], "{raw}");
    assert_eq!(
        kept("LocationData"),
        [json!("not"), json!("a"), json!("map")],
        "{raw}"
    );
    for section in SECTIONS {
        env.ok(&["show", section]);
    }
    env.ok(&["show", "favorites"]);
}

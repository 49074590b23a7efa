//! Parses every fixture in `tests/fixtures/exports/` and the bad inputs the issue lists.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use zip::write::SimpleFileOptions;

use super::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports")
        .join(rel)
}

/// Parses `path` as [`Export::parse`] does, after checking that reading it through
/// the exact reader alone gives the same records and findings.
fn parse_all(path: &Path) -> (ParseReport, Vec<Record>) {
    let (report, records) = both_ways(path);
    let (report, records) = report
        .map(|r| (r, records))
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    assert_eq!(report.records, records.len() as u64);
    (report, records)
}

/// The parse of `path`, fast (and exact where a finding needs it) and exact alone,
/// checked to agree: records, report, or error message.
fn both_ways(path: &Path) -> (Result<ParseReport, String>, Vec<Record>) {
    let export = Export::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let runs = [true, false].map(|fast| {
        let mut records = Vec::new();
        let mut sink = |r| {
            records.push(r);
            Ok(())
        };
        let report = if fast {
            export.parse(&mut sink)
        } else {
            export.parse_placed(&mut sink)
        };
        (report.map_err(|e| e.to_string()), records)
    });
    assert!(
        runs[0].1 == runs[1].1,
        "{}: fast and exact records differ",
        path.display()
    );
    assert_eq!(runs[0].0, runs[1].0, "{}: fast and exact", path.display());
    let [fast, _] = runs;
    check_skim(&export, &fast);
    fast
}

/// [`Export::skim`] agrees with the full parse `full`: when it answers, the same
/// report (but the count) and the same records of the sections asked for; and it
/// answers for no export with findings.
fn check_skim(export: &Export, full: &(Result<ParseReport, String>, Vec<Record>)) {
    let wanted = |s: &Section| matches!(s, Section::Posts | Section::Favorites);
    let mut records = Vec::new();
    let skimmed = export.skim(&wanted, &mut |r| {
        records.push(r);
        Ok(())
    });
    let Some(mut report) = skimmed.unwrap() else {
        return;
    };
    let want: Vec<&Record> = (full.1.iter())
        .filter(|r| r.section == Section::Profile || wanted(&r.section))
        .collect();
    assert_eq!(records.iter().collect::<Vec<_>>(), want);
    assert_eq!(report.records, want.len() as u64);
    let full = full
        .0
        .as_ref()
        .expect("a skim answers only for a readable export");
    assert!(full.damage.is_empty() && full.capped.is_empty(), "{full:?}");
    report.records = full.records;
    assert_eq!(&report, full);
}

fn of<'a>(records: &'a [Record], section: &Section) -> Vec<&'a Record> {
    records.iter().filter(|r| &r.section == section).collect()
}

/// Records per catalogue section, raw sections excluded.
fn counts(records: &[Record]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in records
        .iter()
        .filter(|r| !matches!(r.section, Section::Raw(_)))
    {
        match out.iter_mut().find(|(n, _)| n == r.section.name()) {
            Some((_, c)) => *c += 1,
            None => out.push((r.section.name().to_string(), 1)),
        }
    }
    out.sort();
    out
}

fn expect_counts(records: &[Record], want: &[(&str, usize)]) {
    let mut want: Vec<(String, usize)> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    want.sort();
    assert_eq!(counts(records), want);
}

fn ids(records: &[&Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.video_id.clone().unwrap_or_default())
        .collect()
}

#[test]
fn json_2020_layout() {
    let (report, records) = parse_all(&fixture("json2020/user_data.json"));
    assert_eq!(report.layout, Layout::Json2020);
    assert_eq!(report.account.as_deref(), Some("mila.bakes"));
    expect_counts(
        &records,
        &[
            ("profile", 1),
            ("posts", 3),
            ("likes", 5),
            ("favorites", 3),
            ("comments", 2),
            ("following", 3),
            ("followers", 4),
            ("messages", 5),
            ("history", 6),
            ("searches", 3),
            ("logins", 2),
            ("shares", 1),
            ("blocked", 1),
            ("hashtags", 1),
            ("devices", 1),
            ("settings", 3),
            ("off-tiktok", 1),
        ],
    );
    assert_eq!(report.kept_raw, ["Ads and data › Ad Interests"]);
    assert!(report
        .understood
        .contains(&"Activity › Video Browsing History".to_string()));

    let profile = of(&records, &Section::Profile)[0];
    assert_eq!(profile.username.as_deref(), Some("mila.bakes"));
    assert_eq!(profile.text.as_deref(), Some("Sourdough every Sunday 🍞"));
    assert_eq!(profile.fields["likesReceived"], json!("1523"));
    assert_eq!(profile.fields["profileVideo"], json!("None"));

    let posts = of(&records, &Section::Posts);
    assert_eq!(
        ids(&posts),
        [
            "7217654321098765432",
            "7200123456789012345",
            "7168000111222333444"
        ]
    );
    let first = posts[0].date.as_ref().unwrap();
    assert_eq!(first.raw, "2023-04-02 18:11:09");
    assert_eq!(first.utc, 1_680_459_069);
    assert!(first.assumed_utc);
    assert_eq!(posts[2].fields["Likes"], json!("N/A"));

    let followers = of(&records, &Section::Followers);
    assert_eq!(followers[3].username.as_deref(), Some("oldfan_2019"));
    assert_eq!(followers[3].date, None, "N/A is no date");

    let messages = of(&records, &Section::Messages);
    assert_eq!(messages[0].username.as_deref(), Some("bruno_cooks"));
    assert_eq!(messages[0].from.as_deref(), Some("bruno_cooks"));
    assert_eq!(messages[1].text.as_deref(), Some("78%, long cold proof"));
    assert_eq!(messages[2].video_id.as_deref(), Some("7226500000000000102"));
    assert_eq!(messages[3].username.as_deref(), Some("tara.k"));

    let searches = of(&records, &Section::Searches);
    assert_eq!(searches[0].text.as_deref(), Some("banneton"));
    let comments = of(&records, &Section::Comments);
    assert_eq!(
        comments[0].text.as_deref(),
        Some("That oven spring though!")
    );
    assert_eq!(
        of(&records, &Section::Blocked)[0].username.as_deref(),
        Some("spam.bread.deals")
    );

    let off = of(&records, &Section::OffTikTok)[0];
    assert_eq!(off.text.as_deref(), Some("flourshop.example"));
    assert_eq!(off.from.as_deref(), Some("Purchase"));
    assert_eq!(off.date.as_ref().unwrap().raw, "2023-04-11 12:00:00");
    // One row per setting, the nested list kept as it is.
    let settings = of(&records, &Section::Settings);
    let interests = settings
        .iter()
        .find(|r| r.text.as_deref() == Some("Interests"))
        .unwrap();
    assert_eq!(interests.fields["Interests"], json!(["Food", "DIY"]));
    assert_eq!(interests.fields.len(), 1);
}

#[test]
fn json_2024_layout() {
    let (report, records) = parse_all(&fixture("json2024/user_data_tiktok.json"));
    assert_eq!(report.layout, Layout::Json2024);
    assert_eq!(report.account.as_deref(), Some("mila.bakes"));
    expect_counts(
        &records,
        &[
            ("profile", 1),
            ("posts", 4),
            ("likes", 5),
            ("favorites", 2),
            ("comments", 3),
            ("following", 2),
            ("followers", 3),
            ("messages", 3),
            ("history", 7),
            ("searches", 2),
            ("logins", 1),
            ("shares", 1),
            ("blocked", 1),
            ("sounds", 1),
            ("off-tiktok", 1),
            ("settings", 1),
            ("devices", 1),
        ],
    );
    assert_eq!(
        report.kept_raw,
        [
            "Ads and data › Ad Interests",
            "Profile › Autofill",
            "Your Activity › Hashtag",
        ]
    );

    let profile = of(&records, &Section::Profile)[0];
    assert_eq!(
        profile.text.as_deref(),
        Some("Sourdough every Sunday 🍞 | Lisbon")
    );
    assert_eq!(profile.fields["displayName"], json!("Mila Bakes"));

    let likes = of(&records, &Section::Likes);
    assert_eq!(
        ids(&likes),
        [
            "7416000000000000401",
            "7415900000000000402",
            "7415500000000000403",
            "7414800000000000404",
            ""
        ]
    );
    assert_eq!(likes[0].date.as_ref().unwrap().raw, "2024-09-21 22:00:00");
    assert_eq!(likes[4].link, None);
    assert_eq!(likes[4].fields["link"], json!("N/A"));
    // Container siblings are metadata, not rows or sections.
    assert!(likes.iter().all(|r| !r.fields.contains_key("App")));

    let posts = of(&records, &Section::Posts);
    assert_eq!(posts[0].text.as_deref(), Some("Sunday bake #sourdough"));
    assert_eq!(posts[1].fields["Likes"], json!(1204));
    assert_eq!(posts[2].text, None, "N/A caption");
    assert_eq!(posts[3].video_id.as_deref(), Some("7406900000000000014"));

    let comments = of(&records, &Section::Comments);
    assert_eq!(
        comments[1].text.as_deref(),
        Some("@bruno_cooks try 2% salt")
    );
    assert_eq!(comments[1].date.as_ref().unwrap().utc, 1_725_955_500);

    let messages = of(&records, &Section::Messages);
    assert_eq!(messages[2].username.as_deref(), Some("crumb.shots"));
    assert_eq!(messages[1].video_id.as_deref(), Some("7416000000000000401"));
}

#[test]
fn json_2026_layout() {
    let (report, records) = parse_all(&fixture("json2026/user_data_tiktok.json"));
    assert_eq!(report.layout, Layout::Json2026);
    assert_eq!(report.account.as_deref(), Some("mila.bakes"));
    expect_counts(
        &records,
        &[
            ("profile", 1),
            ("posts", 5),
            ("likes", 12),
            ("favorites", 3),
            ("comments", 2),
            ("following", 3),
            ("followers", 6),
            ("messages", 4),
            ("history", 5),
            ("searches", 3),
            ("logins", 1),
            ("shares", 1),
            ("reposts", 1),
            ("blocked", 1),
            ("collections", 1),
            ("settings", 2),
            ("activity-summary", 3),
            ("off-tiktok", 2),
            ("devices", 1),
            ("location", 1),
            ("profile-views", 1),
        ],
    );
    assert_eq!(report.kept_raw, ["Profile And Settings › Autofill"]);
    let summary = of(&records, &Section::Summary);
    let shared = summary
        .iter()
        .find(|r| r.text.as_deref() == Some("videosSharedSinceAccountRegistration"))
        .unwrap();
    assert_eq!(
        shared.fields["videosSharedSinceAccountRegistration"],
        json!("97")
    );
    let location = of(&records, &Section::Location)[0];
    assert_eq!(location.fields["LastRegion"], json!("PT"));
    assert_eq!(location.date.as_ref().unwrap().raw, "2026-05-31 07:00:00");
    let followers = of(&records, &Section::Followers);
    assert_eq!(followers[0].username.as_deref(), Some("bruno_cooks"));
    assert_eq!(followers[5].username.as_deref(), Some("rye.guy"));
    let reposts = of(&records, &Section::Reposts);
    assert_eq!(reposts[0].video_id.as_deref(), Some("7503000000000000601"));
    let searches = of(&records, &Section::Searches);
    assert_eq!(searches[2].text, None, "N/A search term");
    assert_eq!(searches[2].fields["SearchTerm"], json!("N/A"));
}

#[test]
fn txt_layout() {
    let (report, records) = parse_all(&fixture("txt"));
    assert_eq!(report.layout, Layout::Txt);
    assert_eq!(report.account.as_deref(), Some("mila.bakes"));
    expect_counts(
        &records,
        &[
            ("profile", 1),
            ("posts", 3),
            ("likes", 4),
            ("favorites", 2),
            ("comments", 2),
            ("following", 2),
            ("followers", 3),
            ("messages", 4),
            ("history", 5),
            ("searches", 2),
            ("logins", 1),
            ("hashtags", 1),
            ("off-tiktok", 1),
        ],
    );
    assert!(report.kept_raw.is_empty(), "{:?}", report.kept_raw);
    // Like List.txt has a BOM and CRLF: the first key must still be `Date`.
    let likes = of(&records, &Section::Likes);
    assert!(likes[0].fields.contains_key("Date"));
    assert_eq!(likes[0].date.as_ref().unwrap().raw, "2022-03-04 21:10:00");
    assert_eq!(likes[0].video_id.as_deref(), Some("7071000000000000101"));
    assert_eq!(
        likes[3].link.as_deref(),
        Some("https://www.tiktokv.com/share/video/7069100000000000104/")
    );

    let history = of(&records, &Section::WatchHistory);
    assert_eq!(
        history[4].video_id.as_deref(),
        Some("7071000000000000305"),
        "old `Video Link:` key"
    );

    let profile = of(&records, &Section::Profile)[0];
    assert_eq!(profile.text.as_deref(), Some("Sourdough every Sunday 🍞"));
    assert_eq!(profile.fields["Likes Received"], json!("311"));

    let comments = of(&records, &Section::Comments);
    assert_eq!(
        comments[0].text.as_deref(),
        Some("that ear!!\nit's perfect")
    );

    let messages = of(&records, &Section::Messages);
    assert_eq!(messages[1].from.as_deref(), Some("mila.bakes"));
    assert_eq!(messages[1].text.as_deref(), Some("78%: long cold proof"));
    assert!(!messages[1].date.as_ref().unwrap().assumed_utc);
    assert_eq!(messages[2].video_id.as_deref(), Some("7069900000000000103"));
    assert_eq!(messages[3].username.as_deref(), Some("tara.k"));
    assert_eq!(
        messages[3].text.as_deref(),
        Some("happy valentine's loaf day\nthe heart shaped one?")
    );

    // `HashTag Link::` is the hashtag's link, however the TXT layout spells it.
    let hashtags = of(&records, &Section::Hashtags);
    assert_eq!(
        hashtags[0].link.as_deref(),
        Some("https://www.tiktok.com/tag/sourdough")
    );
    assert_eq!(
        of(&records, &Section::Searches)[1].text.as_deref(),
        Some("starter smells like acetone")
    );
}

fn set(
    records: &[Record],
    section: &Section,
    key: fn(&Record) -> Option<String>,
) -> BTreeSet<String> {
    of(records, section).into_iter().filter_map(key).collect()
}

#[test]
fn pair_differs_exactly_as_documented() {
    let (_, a) = parse_all(&fixture("pair/a/user_data_tiktok.json"));
    let (_, b) = parse_all(&fixture("pair/b/user_data_tiktok.json"));
    let vid = |r: &Record| r.video_id.clone();
    let user = |r: &Record| r.username.clone();
    let diff = |s: &Section, k: fn(&Record) -> Option<String>| {
        let (sa, sb) = (set(&a, s, k), set(&b, s, k));
        let added: Vec<String> = sb.difference(&sa).cloned().collect();
        let removed: Vec<String> = sa.difference(&sb).cloned().collect();
        (added, removed)
    };
    assert_eq!(
        diff(&Section::Posts, vid),
        (
            vec![
                "7514700000000000023".to_string(),
                "7517300000000000022".into(),
                "7519900000000000021".into()
            ],
            vec!["7500100000000000014".to_string()]
        )
    );
    let (likes_added, likes_removed) = diff(&Section::Likes, vid);
    assert_eq!(likes_added.len(), 10);
    assert!(likes_added
        .iter()
        .all(|id| id.starts_with("75180000000000002")));
    assert!(likes_removed.is_empty());
    assert_eq!(
        diff(&Section::Followers, user),
        (vec![], vec!["loafer_lou".to_string(), "rye.guy".into()])
    );
    assert_eq!(diff(&Section::Following, user), (vec![], vec![]));
    assert_eq!(diff(&Section::Favorites, vid), (vec![], vec![]));
    let msg = |r: &Record| Some(format!("{}|{}", r.date.as_ref()?.raw, r.text.as_deref()?));
    let (new_messages, lost) = diff(&Section::Messages, msg);
    assert_eq!(new_messages.len(), 3);
    assert!(lost.is_empty());
    let bio = |rs: &[Record]| of(rs, &Section::Profile)[0].text.clone();
    assert_eq!(
        bio(&a).as_deref(),
        Some("Sourdough every Sunday 🍞 | Lisbon")
    );
    assert_eq!(
        bio(&b).as_deref(),
        Some("Rye month 🌾 then back to sourdough | Lisbon")
    );
}

// ---- packaging: ZIPs and bare files ----

fn zip_dir(dir: &Path, zip_path: &Path) {
    let mut writer = zip::ZipWriter::new(std::fs::File::create(zip_path).unwrap());
    let mut files = Vec::new();
    open::walk(dir, dir, &mut files).unwrap();
    files.sort();
    for rel in files {
        writer
            .start_file(rel.clone(), SimpleFileOptions::default())
            .unwrap();
        writer
            .write_all(&std::fs::read(dir.join(&rel)).unwrap())
            .unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn a_zip_parses_like_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["json2024", "txt"] {
        let zip_path = tmp.path().join(format!("TikTok_Data_{name}.zip"));
        zip_dir(&fixture(name), &zip_path);
        let (zr, zrecs) = parse_all(&zip_path);
        let (fr, frecs) = parse_all(&fixture(name));
        assert_eq!(zrecs, frecs, "{name}");
        assert_eq!(
            (zr.layout, zr.account, zr.kept_raw),
            (fr.layout, fr.account, fr.kept_raw)
        );
    }
}

#[test]
fn a_zip_without_its_central_directory_is_read_from_local_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole.zip");
    zip_dir(&fixture("json2026"), &whole);
    let bytes = std::fs::read(&whole).unwrap();
    // Cut inside the central directory, as an interrupted download would.
    let broken = tmp.path().join("TikTok_Data_broken.zip");
    std::fs::write(&broken, &bytes[..bytes.len() - 40]).unwrap();
    let (report, records) = parse_all(&broken);
    assert_eq!(records, parse_all(&fixture("json2026")).1);
    assert_eq!(report.layout, Layout::Json2026);
}

#[test]
fn a_bare_json_file_under_any_name_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("export copy.json");
    std::fs::copy(fixture("json2026/user_data_tiktok.json"), &path).unwrap();
    let (report, records) = parse_all(&path);
    assert_eq!(report.layout, Layout::Json2026);
    assert_eq!(records.len(), parse_all(&fixture("json2026")).1.len());
}

#[test]
fn a_bom_before_json_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(std::fs::read(fixture("json2024/user_data_tiktok.json")).unwrap());
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        parse_all(&path).1.len(),
        parse_all(&fixture("json2024")).1.len()
    );
}

// ---- bad input ----

fn parse_damaged(path: &Path) -> (ParseReport, Vec<Record>) {
    let (report, records) = parse_all(path);
    assert!(
        !report.damage.is_empty(),
        "no damage found in {}",
        path.display()
    );
    (report, records)
}

#[test]
fn a_truncated_file_is_read_up_to_its_last_complete_record() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let full = std::fs::read(fixture("json2024/user_data_tiktok.json")).unwrap();
    let cut = full.len() * 2 / 3;
    std::fs::write(&path, &full[..cut]).unwrap();
    let (report, records) = parse_damaged(&path);
    let d = &report.damage[0];
    assert!(d.file.ends_with("user_data_tiktok.json"), "{d}");
    assert_eq!(d.offset, cut as u64, "the end of the file");
    let lines = full[..cut].iter().filter(|b| **b == b'\n').count() as u64;
    assert_eq!(d.line, lines + 1);
    assert!(
        d.what.contains("truncated") && d.what.contains("inside "),
        "{d}"
    );
    assert!(d
        .to_string()
        .contains(&format!("byte {cut} (line {}", lines + 1)));
    let (_, whole) = parse_all(&fixture("json2024/user_data_tiktok.json"));
    assert!(!records.is_empty() && records.len() < whole.len());
    assert_eq!(
        records[..],
        whole[..records.len()],
        "complete records, in order"
    );
}

#[test]
fn malformed_json_is_placed_exactly_and_not_called_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data.json");
    std::fs::write(
        &path,
        "{\n  \"Activity\": {\n    \"Like List\": {\"ItemFavoriteList\": [}\n  }\n}\n",
    )
    .unwrap();
    let (report, _) = parse_damaged(&path);
    let d = &report.damage[0];
    assert_eq!((d.line, d.column, d.offset), (3, 40, 57));
    assert!(
        d.what.contains("Activity › Like List › ItemFavoriteList"),
        "{d}"
    );
    assert!(d.what.contains("remaining 8 bytes"), "{d}");
    assert!(!d.what.contains("truncated"), "{d}");
}

#[test]
fn trailing_commas_are_read_around_and_placed_at_the_comma() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let good = std::fs::read_to_string(fixture("json2024/user_data_tiktok.json")).unwrap();
    let (_, want) = parse_all(&fixture("json2024/user_data_tiktok.json"));
    // A comma after the last like, before the list's `]` on the next line.
    let list = good.find("\"ItemFavoriteList\"").unwrap();
    let close = list + good[list..].find(']').unwrap();
    let last = good[..close].rfind('}').unwrap() + 1;
    let bad = format!("\u{feff}{},{}", &good[..last], &good[last..]);
    std::fs::write(&path, &bad).unwrap();
    let (report, records) = parse_damaged(&path);
    assert_eq!(records, want, "nothing lost around the comma");
    let d = &report.damage[0];
    let comma = 3 + last as u64;
    let line = good[..last].matches('\n').count() as u64 + 1;
    let column = good[..last].rsplit('\n').next().unwrap().chars().count() as u64 + 1;
    assert_eq!((d.offset, d.line, d.column), (comma, line, column), "{d}");
    assert!(d.what.contains("trailing comma"), "{d}");
}

#[test]
fn a_file_with_nothing_readable_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data.json");
    for text in ["[1, 2]", "not json", "", "{"] {
        std::fs::write(&path, text).unwrap();
        let err = Export::open(&path)
            .unwrap()
            .parse(&mut |_| Ok(()))
            .unwrap_err();
        assert!(matches!(err, ExportError::Json { .. }), "{text:?}: {err}");
        assert!(err.to_string().contains("user_data.json"), "{err}");
        assert_eq!(both_ways(&path).0, Err(err.to_string()));
    }
}

#[test]
fn a_huge_verbatim_section_is_cut_in_the_catalogue_and_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let row = json!({"Source": "x".repeat(100), "Event": "PURCHASE"}).to_string();
    let rows = vec![row; 60_000].join(",");
    let long = "y".repeat(3 << 20);
    let text = format!(
        "{{\"Ads and data\": {{\"Ads Visit History\": {{\"List\": [{rows}]}}}}, \
         \"Profile\": {{\"Profile Info\": {{\"ProfileMap\": {{\"userName\": \"a\", \"bioDescription\": \"{long}\"}}}}}}}}"
    );
    std::fs::write(&path, text).unwrap();
    let (report, records) = parse_all(&path);
    assert!(report.damage.is_empty());
    let raw = &records[0];
    assert_eq!(
        raw.section,
        Section::Raw("Ads and data › Ads Visit History".into())
    );
    assert!(raw.fields.contains_key(record::CUT_NOTE));
    let kept = serde_json::to_string(&raw.fields).unwrap().len() as u64;
    assert!(kept < 2 * bounded::VALUE_CAP, "{kept}");
    let profile = &records[1];
    assert_eq!(
        profile.text.as_ref().unwrap().len() as u64,
        lenient::STRING_CAP + 3
    );
    assert_eq!(report.capped.len(), 2, "{:?}", report.capped);
    assert!(report
        .capped
        .iter()
        .any(|c| c.what.contains("Ads Visit History")));
}

#[test]
fn a_txt_line_without_newlines_streams() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Like List.txt"),
        "Date: 2024-01-01 00:00:00\nLink: x\n",
    )
    .unwrap();
    let mut big = std::fs::File::create(tmp.path().join("Other Data.txt")).unwrap();
    for _ in 0..(3 << 20) / 4096 {
        big.write_all(&[b'z'; 4096]).unwrap();
    }
    drop(big);
    let (report, records) = parse_all(tmp.path());
    let raw = records
        .iter()
        .find(|r| matches!(r.section, Section::Raw(_)))
        .unwrap();
    let text = raw.fields["value"].as_str().unwrap();
    assert!(
        text.len() as u64 <= lenient::STRING_CAP + 4,
        "{}",
        text.len()
    );
    assert_eq!(report.capped.len(), 1, "{:?}", report.capped);
    assert_eq!(report.capped[0].line, 1);
}

fn zip_with(entries: &[(&str, &[u8])], path: &Path) {
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        writer
            .start_file(*name, SimpleFileOptions::default())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn zip_entries_escaping_the_root_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let json = std::fs::read(fixture("json2024/user_data_tiktok.json")).unwrap();
    for evil in ["../evil", "TikTok/../../evil.txt", "/etc/evil", "C:\\evil"] {
        let path = tmp.path().join("evil.zip");
        zip_with(&[("user_data_tiktok.json", &json), (evil, b"x")], &path);
        match Export::open(&path) {
            Err(e @ ExportError::UnsafeEntry { .. }) => {
                let m = e.to_string();
                assert!(m.contains(&format!("{evil:?}")), "{m}");
            }
            other => panic!("{evil}: want UnsafeEntry, got {other:?}"),
        }
    }
}

#[test]
fn zip_symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("link.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    writer
        .add_symlink(
            "user_data_tiktok.json",
            "/etc/passwd",
            SimpleFileOptions::default(),
        )
        .unwrap();
    writer.finish().unwrap();
    let err = Export::open(&path).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn zip_bombs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.zip");
    let zeros = vec![0u8; 50 << 20];
    zip_with(&[("user_data_tiktok.json", &zeros)], &path);
    // By ratio, with the default limits.
    let err = Export::open(&path).unwrap_err();
    assert!(matches!(err, ExportError::ZipBomb { .. }), "{err}");
    assert!(err.to_string().contains("zip bomb"), "{err}");
    // By total size, with the ratio check out of the way.
    let small = Limits {
        max_total_uncompressed: 10 << 20,
        max_ratio: u64::MAX,
        ..Limits::default()
    };
    let err = Export::open_with(&path, small).unwrap_err();
    assert!(matches!(err, ExportError::ZipBomb { .. }), "{err}");
    assert!(
        err.to_string().contains(&(10u64 << 20).to_string()),
        "{err}"
    );
}

#[test]
fn a_sink_error_aborts_the_parse() {
    let export = Export::open(&fixture("json2024")).unwrap();
    let mut n = 0;
    let err = export
        .parse(&mut |_| {
            n += 1;
            if n == 3 {
                Err("disk full".into())
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert_eq!(n, 3, "nothing emitted after the failure");
    match err {
        ExportError::Sink { message, .. } => assert_eq!(message, "disk full"),
        other => panic!("{other}"),
    }
}

#[test]
fn a_file_replaced_between_the_two_reads_is_refused_as_changed() {
    // A damaged file is read twice (records fast, then findings with their places):
    // if it is replaced in between, the findings would belong to other bytes.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let full = std::fs::read(fixture("json2024/user_data_tiktok.json")).unwrap();
    std::fs::write(&path, &full[..full.len() * 2 / 3]).unwrap();
    let export = Export::open(tmp.path()).unwrap();
    let mut replaced = false;
    let err = export
        .parse(&mut |_| {
            if !replaced {
                // The first read holds the old file open; the second opens this one.
                let next = tmp.path().join("next.json");
                std::fs::write(&next, &full).unwrap();
                std::fs::rename(&next, &path).unwrap();
                replaced = true;
            }
            Ok(())
        })
        .unwrap_err();
    match &err {
        ExportError::Changed {
            file,
            first,
            second,
        } => {
            assert!(file.contains("user_data_tiktok.json"), "{err}");
            assert!(second > first, "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("leave the export alone"), "{err}");
}

#[test]
fn a_folder_without_an_export_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.md"), "hello").unwrap();
    assert!(matches!(
        Export::open(tmp.path()),
        Err(ExportError::NotAnExport { .. })
    ));
}

// ---- the fast reader against the exact one ----

/// Damaged versions of `good`: cut at many places, a trailing comma before closing
/// brackets, a stray byte, a byte order mark, a string past the cap, an escape cut.
fn damaged_variants(good: &[u8]) -> Vec<Vec<u8>> {
    let with = |at: usize, extra: &[u8]| [&good[..at], extra, &good[at..]].concat();
    let mut out = vec![good.to_vec(), with(0, b"\xEF\xBB\xBF")];
    for k in 1..40 {
        out.push(good[..good.len() * k / 40].to_vec());
    }
    let closing = good
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, b']' | b'}'));
    for (at, _) in closing.step_by(5) {
        out.push(with(at, b","));
        out.push(with(at, b",\n  "));
    }
    for k in [0, 1, 7, 20, 33, 39] {
        out.push(with(good.len() * k / 40, b"#"));
        out.push(with(good.len() * k / 40, b",,"));
    }
    let long = "\u{e9}".repeat(lenient::STRING_CAP as usize / 2 + 7);
    let quotes: Vec<usize> = (0..good.len()).filter(|&i| good[i] == b'"').collect();
    for k in [0, 3, quotes.len() / 2, quotes.len() - 1] {
        out.push(with(quotes[k] + 1, long.as_bytes()));
    }
    if let Some(at) = good.windows(2).position(|w| w == b"\\/") {
        out.push(good[..at + 1].to_vec());
    }
    out
}

#[test]
fn fast_and_exact_reads_agree_on_every_json_fixture_and_its_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let mut kinds = BTreeSet::new();
    for rel in [
        "json2020/user_data.json",
        "json2024/user_data_tiktok.json",
        "json2026/user_data_tiktok.json",
        "pair/a/user_data_tiktok.json",
        "pair/b/user_data_tiktok.json",
    ] {
        let good = std::fs::read(fixture(rel)).unwrap();
        let skim = Export::open(&fixture(rel))
            .unwrap()
            .skim(&|_| false, &mut |_| Ok(()));
        assert!(
            skim.unwrap().is_some(),
            "{rel}: an export as made is skimmed"
        );
        for bytes in damaged_variants(&good) {
            std::fs::write(&path, &bytes).unwrap();
            // both_ways fails the test on any difference.
            let (report, _) = both_ways(&path);
            kinds.insert(match report {
                Err(_) => "unreadable",
                Ok(r) if !r.capped.is_empty() => "capped",
                Ok(r) if r.damage.iter().any(|d| d.what.contains("comma")) => "comma",
                Ok(r) if !r.damage.is_empty() => "damaged",
                Ok(_) => "clean",
            });
        }
    }
    let all = ["capped", "clean", "comma", "damaged", "unreadable"];
    assert_eq!(kinds, all.into_iter().collect(), "every kind of input met");
}

// ---- streaming ----

#[test]
fn a_large_watch_history_streams() {
    const ROWS: usize = 200_000;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("user_data_tiktok.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write!(
        out,
        r#"{{"Profile": {{"Profile Info": {{"ProfileMap": {{"userName": "heavy.user"}}}}}}, "Your Activity": {{"Watch History": {{"VideoList": ["#
    )
    .unwrap();
    for i in 0..ROWS {
        let sep = if i == 0 { "" } else { "," };
        write!(
            out,
            r#"{sep}{{"Date": "2025-01-01 00:00:00", "Link": "https://www.tiktokv.com/share/video/{}/"}}"#,
            7_400_000_000_000_000_000u64 + i as u64
        )
        .unwrap();
    }
    write!(out, "]}}}}}}").unwrap();
    drop(out);

    let export = Export::open(&path).unwrap();
    let (mut history, mut last_id) = (0usize, None);
    let report = export
        .parse(&mut |r| {
            if r.section == Section::WatchHistory {
                history += 1;
                last_id = r.video_id;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(history, ROWS);
    assert_eq!(report.records, ROWS as u64 + 1);
    assert_eq!(report.account.as_deref(), Some("heavy.user"));
    assert_eq!(
        last_id,
        Some((7_400_000_000_000_000_000u64 + ROWS as u64 - 1).to_string())
    );
}

#[test]
fn the_fingerprint_covers_the_parser_version() {
    // An export catalogued by a parser that understood fewer sections must not be
    // reused as it was read then.
    let path = fixture("json2026/user_data_tiktok.json");
    let bytes = std::fs::read(&path).unwrap();
    let mut h = blake3::Hasher::new();
    h.update(&PARSE_VERSION.to_le_bytes());
    h.update(&bytes);
    let got = Export::open(&path).unwrap().fingerprint().unwrap();
    assert_eq!(got, *h.finalize().as_bytes());
    assert_ne!(got, *blake3::hash(&bytes).as_bytes());
}

//! Forgetting really forgets, through the binary: after `forget ID --prune`, what only
//! that snapshot held — here a direct message with a unique phrase — is left nowhere
//! in the vault: not in vault.db, not in its write-ahead log, not in any blob of any
//! pack; and the remaining snapshot shows exactly what it showed before.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use common::{copy_tree, random_bytes, write, Env};
use tt_vault::store::pack;

const PHRASE: &str = "periwinkle walrus recites the tide tables 4471";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports")
        .join(rel)
}

/// The pair's export A with one more message, carrying [`PHRASE`]; export B
/// (the pair's B) does not hold it.
fn export_with_phrase() -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fs::read(fixture("pair/a/user_data_tiktok.json")).unwrap())
            .unwrap();
    v["Direct Message"]["Direct Messages"]["ChatHistory"]["Chat History with bruno_cooks:"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Date": "2026-05-30 09:00:00", "From": "bruno_cooks", "Content": PHRASE}));
    serde_json::to_vec_pretty(&v).unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` whose raw bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_holding(&p, needle));
        } else if contains(&fs::read(&p).unwrap(), needle) {
            out.push(p);
        }
    }
    out
}

/// Every blob of every pack, decoded (zstd or raw) and hash-checked: hash → raw bytes.
fn blobs(env: &Env) -> BTreeMap<[u8; 32], Vec<u8>> {
    let mut out = BTreeMap::new();
    for path in env.packs() {
        let f = fs::File::open(&path).unwrap();
        let c = pack::contents(&path, None).unwrap();
        assert!(!c.salvaged, "{path:?} has a readable trailer");
        for e in &c.entries {
            out.insert(e.header.hash, pack::read_raw(&f, &path, e, None).unwrap());
        }
    }
    out
}

/// The chunk hashes of the export file of snapshot `id`.
fn export_chunks(env: &Env, id: &str) -> Vec<[u8; 32]> {
    let conn = rusqlite::Connection::open_with_flags(
        env.vault().join("vault.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let chunks: Vec<u8> = conn
        .query_row(
            "SELECT f.chunks FROM entries e JOIN files f ON f.hash = e.file_hash
             WHERE e.snapshot_id = ?1 AND e.path LIKE 'export/%'",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    chunks
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// How many words of the search index's vocabulary are `term`.
fn search_terms(env: &Env, term: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        env.vault().join("vault.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, export_search, 'row')",
    )
    .unwrap();
    conn.query_row(
        "SELECT count(*) FROM temp.vocab WHERE term = ?1",
        [term],
        |r| r.get(0),
    )
    .unwrap()
}

/// Everything the newest snapshot shows, section by section.
fn shown(env: &Env) -> Vec<Value> {
    ["profile", "messages", "posts", "likes", "followers", "raw"]
        .iter()
        .map(|s| env.json(&["show", s]))
        .collect()
}

fn snapshot(env: &Env, export: &Path, media: &Path, time: &str) -> String {
    let out = env.json(&[
        "snapshot",
        "--download",
        "none",
        "--export",
        export.to_str().unwrap(),
        "--media",
        media.to_str().unwrap(),
        "--time",
        time,
    ]);
    out["id"].as_str().unwrap().to_string()
}

/// Two snapshots of one account: June (its export holds [`PHRASE`]) and November.
struct TwoSnapshots {
    env: Env,
    june: String,
    november: String,
    /// What November shows, before anything is forgotten.
    shown: Vec<Value>,
    /// The chunks of June's export file.
    june_export: Vec<[u8; 32]>,
    stats: Value,
}

impl TwoSnapshots {
    fn new() -> TwoSnapshots {
        let env = Env::new();
        let export = env.path("downloads/user_data_tiktok.json");
        // A video both snapshots hold, so June's pack stays partly live and has to
        // be repacked for its export to go.
        let media = env.path("media");
        write(&media.join("saved.mp4"), &random_bytes(300_000, 7));
        write(&export, &export_with_phrase());
        let june = snapshot(&env, &export, &media, "2026-06-01T10:00:00Z");
        write(
            &export,
            &fs::read(fixture("pair/b/user_data_tiktok.json")).unwrap(),
        );
        let november = snapshot(&env, &export, &media, "2026-11-01T10:00:00Z");

        // The detectors see the phrase while June is there.
        let phrase = PHRASE.as_bytes();
        let shown_before = shown(&env);
        let in_june = env.json(&["show", "messages", "--snapshot", &june[..12]]);
        assert!(in_june.to_string().contains(PHRASE), "{in_june}");
        assert!(!shown_before[1].to_string().contains(PHRASE));
        assert!(
            !files_holding(&env.vault(), phrase).is_empty(),
            "the catalogue holds the phrase in vault.db"
        );
        assert_eq!(search_terms(&env, "periwinkle"), 1);
        let june_export = export_chunks(&env, &june);
        let before = blobs(&env);
        assert!(before.values().any(|raw| contains(raw, phrase)));
        assert!(june_export.iter().all(|h| before.contains_key(h)));
        let stats = env.json(&["stats"]);
        assert!(stats["catalogue"]["bytes"].as_u64().unwrap() > 0);
        TwoSnapshots {
            env,
            june,
            november,
            shown: shown_before,
            june_export,
            stats,
        }
    }

    /// Nothing of June is left in any file of the vault, and November is as it was.
    fn june_is_gone(&self) {
        let env = &self.env;
        let phrase = PHRASE.as_bytes();
        // Nowhere in the raw bytes of any file of the vault: vault.db, its log, packs.
        assert_eq!(files_holding(&env.vault(), phrase), Vec::<PathBuf>::new());
        // Nor one of its words on its own (a search index would hold words).
        assert_eq!(
            files_holding(&env.vault(), b"periwinkle"),
            Vec::<PathBuf>::new()
        );
        let wal = env.vault().join("vault.db-wal");
        assert!(!wal.exists() || fs::metadata(&wal).unwrap().len() == 0);
        assert_eq!(
            search_terms(env, "periwinkle"),
            0,
            "the search index forgot"
        );
        // Nor in any blob once decoded, and no blob of the June export is left.
        let after = blobs(env);
        assert!(!after.values().any(|raw| contains(raw, phrase)));
        for h in &self.june_export {
            assert!(!after.contains_key(h), "a chunk of the June export is left");
        }
        let manifest: [u8; 32] = hex::decode(&self.june).unwrap().try_into().unwrap();
        assert!(!after.contains_key(&manifest));

        // November shows exactly what it showed.
        assert_eq!(shown(env), self.shown);
        let snaps = env.json(&["snapshots"]);
        assert_eq!(snaps.as_array().unwrap().len(), 1);
        assert_eq!(snaps[0]["id"], self.november.as_str());
        env.ok(&["verify", "--read-data"]);
    }
}

#[test]
fn forget_with_prune_leaves_nothing_of_the_forgotten_snapshot() {
    let t = TwoSnapshots::new();
    let env = &t.env;
    // The default limits (--max-repack 10%, --max-unused 5%) would leave the small
    // export beside the large live video; forgetting by id purges whatever they say.
    let r = env.json(&["forget", &t.june[..12], "--prune"]);
    let p = &r["prune"];
    assert_eq!(p["packs_repacked"], 1, "{r}");
    assert!(p["catalogue"]["items"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(p["index"]["vacuumed"], true, "{r}");
    assert_eq!(p["index"]["wal_emptied"], true, "{r}");
    t.june_is_gone();

    // stats: the catalogue beside the packs, smaller than before.
    let stats = env.json(&["stats"]);
    let items = |s: &Value| s["catalogue"]["items"].as_u64().unwrap();
    assert!(items(&stats) < items(&t.stats), "{stats}");
    assert_eq!(stats["catalogue"]["versions"], 1);
    assert!(
        stats["index_bytes"].as_u64().unwrap() >= stats["catalogue"]["bytes"].as_u64().unwrap()
    );
    let text = env.ok(&["stats"]);
    assert!(text.contains("of which the export catalogue"), "{text}");

    // The index rebuilt from the packs alone agrees, and the phrase stays gone.
    let copy = env.path("copy");
    copy_tree(&env.vault(), &copy);
    fs::remove_file(copy.join("vault.db")).unwrap();
    let rebuilt = env
        .cmd()
        .env("TT_VAULT", &copy)
        .args(["rebuild-index", "--json"])
        .output()
        .unwrap();
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let messages = env
        .cmd()
        .env("TT_VAULT", &copy)
        .args(["show", "messages", "--json"])
        .output()
        .unwrap();
    let messages: Value = serde_json::from_slice(&messages.stdout).unwrap();
    assert_eq!(messages, t.shown[1]);
}

#[test]
fn a_policy_forget_keeps_the_limits_and_prune_purge_finishes_the_job() {
    let t = TwoSnapshots::new();
    let env = &t.env;
    let r = env.json(&["forget", "--keep-last", "1", "--prune"]);
    let p = &r["prune"];
    // The catalogue and vault.db forget at once; the packs within the limits.
    assert!(p["catalogue"]["items"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(p["packs_repacked"], 0, "{r}");
    assert!(p["unused_bytes_left"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(
        blobs(env)
            .values()
            .filter(|raw| contains(raw, PHRASE.as_bytes()))
            .count(),
        1
    );
    let text = env.ok(&["prune", "--purge"]);
    assert!(text.contains("1 repacked"), "{text}");
    t.june_is_gone();
}

//! Forgetting in the catalogue: the rows no remaining export version shows.
//!
//! Forget deletes a snapshot's row, and with it (`ON DELETE CASCADE`) its export
//! version; prune then calls [`forget_unreferenced`] inside its own commit, so the
//! catalogue loses what only forgotten snapshots held in the same transaction as the
//! packs lose their blobs.
//!
//! # Intervals
//!
//! An item is valid over `[first_seq, last_seq]` (open when `last_seq` is NULL), and
//! every reader asks for the items of one *existing* version `s` (`first_seq <= s AND
//! (last_seq IS NULL OR last_seq >= s)`, `query::AT_VERSION`). So an item is kept
//! exactly when some remaining version of its account falls inside its interval, and
//! deleted otherwise.
//!
//! The intervals of the kept items are left as they are, though they may name
//! forgotten sequence numbers: sequence numbers are never re-used (`export_accounts`),
//! so a forgotten number inside an interval matches no version and changes no
//! answer — removing version 2 of 1‥3 leaves `[1, 3]` meaning "in 1 and 3". Narrowing
//! them would change nothing a query returns except the order of rows (`first_seq`
//! breaks ties in the views), and an open interval must stay open, or the next
//! ingest would insert a second row for an item it still holds.
//!
//! An account left with no version and no item loses its sequence counter too: nothing
//! refers to its numbers any more, and its name is data the forgotten snapshots held.

use rusqlite::Transaction;
use serde::Serialize;

/// What [`forget_unreferenced`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// Export versions whose snapshot is gone (forget's cascade normally took them).
    pub versions: u64,
    /// Items no remaining version shows.
    pub items: u64,
    /// Accounts with no version left.
    pub accounts: u64,
}

/// Deletes the catalogue rows that no remaining snapshot references; see the module
/// docs. Runs inside the caller's transaction (prune's commit). Everything the
/// catalogue derives from an item must be removed here too: the search index is.
pub fn forget_unreferenced(tx: &Transaction) -> rusqlite::Result<Forgotten> {
    let versions = tx.execute(
        "DELETE FROM export_versions WHERE snapshot_id NOT IN (SELECT id FROM snapshots)",
        [],
    )?;
    let items = tx.execute(
        "DELETE FROM export_items WHERE NOT EXISTS (
             SELECT 1 FROM export_versions v
             WHERE v.account = export_items.account AND v.seq >= export_items.first_seq
               AND (export_items.last_seq IS NULL OR v.seq <= export_items.last_seq))",
        [],
    )?;
    if items > 0 {
        // The search index (schema/004_browse.sql) heard of the deletes through its
        // trigger, but FTS5 only marks them: the words stay in its segments until
        // they are merged. Merging them all now drops every word of those items.
        tx.execute_batch("INSERT INTO export_search(export_search) VALUES ('optimize')")?;
    }
    let accounts = tx.execute(
        "DELETE FROM export_accounts
         WHERE NOT EXISTS (SELECT 1 FROM export_versions v WHERE v.account = export_accounts.account)
           AND NOT EXISTS (SELECT 1 FROM export_items i WHERE i.account = export_accounts.account)",
        [],
    )?;
    Ok(Forgotten {
        versions: versions as u64,
        items: items as u64,
        accounts: accounts as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::ingest::{ingest, NewVersion};
    use crate::catalogue::query::AT_VERSION;
    use crate::store::{snapshots, Vault};
    use crate::tiktok::export::Export;
    use rusqlite::{params, Connection};
    use serde_json::json;
    use std::collections::BTreeSet;

    /// Versions 1‥3 of one account; each letter is a watched video, so an item.
    /// Intervals: x [1,1], u [1,2], z [1,∞), y [2,2], w [2,∞), t [3,∞).
    const VERSIONS: [&str; 3] = ["xuz", "uzyw", "zwt"];

    struct Catalogue {
        _dir: tempfile::TempDir,
        conn: Connection,
        dir: std::path::PathBuf,
        taken: i64,
    }

    impl Catalogue {
        fn new() -> Catalogue {
            let dir = tempfile::tempdir().unwrap();
            let vault = Vault::init(&dir.path().join("v")).unwrap();
            let conn = vault.connect().unwrap();
            let path = dir.path().to_path_buf();
            let mut c = Catalogue {
                _dir: dir,
                conn,
                dir: path,
                taken: 0,
            };
            for (i, letters) in VERSIONS.iter().enumerate() {
                c.add(&format!("s{}", i + 1), letters);
            }
            c
        }

        /// A snapshot `id` whose export's watch history holds `letters`.
        fn add(&mut self, id: &str, letters: &str) {
            self.taken += 1;
            let rows: Vec<_> = letters
                .chars()
                .map(|l| json!({"Date": "2024-01-01 10:00:00", "Link": format!("https://example.com/{l}")}))
                .collect();
            let path = self.dir.join(format!("{id}.json"));
            let export = json!({"Activity": {"Video Browsing History": {"VideoList": rows}}});
            std::fs::write(&path, export.to_string()).unwrap();
            self.conn
                .execute(
                    "INSERT INTO snapshots (id, account, taken_at, taken_ms, files, bytes, new_bytes, stored_bytes, sources, failed, meta)
                     VALUES (?1, 'acc', '2026-01-01T00:00:00Z', ?2, 0, 0, 0, 0, '[]', '[]', '{}')",
                    params![id, self.taken],
                )
                .unwrap();
            let v = NewVersion {
                snapshot_id: id,
                account: "acc",
                taken_ms: self.taken,
                export_root: "export/user_data.json",
                export_hash: None,
            };
            ingest(&mut self.conn, &v, &Export::open(&path).unwrap()).unwrap();
        }

        /// Forgets the snapshots, then runs what prune runs.
        fn forget(&mut self, ids: &[&str]) -> Forgotten {
            let tx = self.conn.transaction().unwrap();
            for id in ids {
                snapshots::delete(&tx, id).unwrap();
            }
            let f = forget_unreferenced(&tx).unwrap();
            tx.commit().unwrap();
            f
        }

        /// The letters version `seq` shows.
        fn at(&self, seq: i64) -> String {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT link FROM export_items WHERE {AT_VERSION} ORDER BY link"
                ))
                .unwrap();
            stmt.query_map(params!["acc", seq], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|l| l.unwrap().chars().last().unwrap())
                .collect()
        }

        /// Every item row's letter.
        fn rows(&self) -> BTreeSet<char> {
            let mut stmt = self.conn.prepare("SELECT link FROM export_items").unwrap();
            stmt.query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|l| l.unwrap().chars().last().unwrap())
                .collect()
        }

        fn count(&self, table: &str) -> i64 {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        }
    }

    fn letters(s: &str) -> BTreeSet<char> {
        s.chars().collect()
    }

    fn sorted(s: &str) -> String {
        letters(s).into_iter().collect()
    }

    #[test]
    fn the_versions_show_what_they_were_given() {
        let c = Catalogue::new();
        for (i, l) in VERSIONS.iter().enumerate() {
            assert_eq!(c.at(i as i64 + 1), sorted(l));
        }
        assert_eq!(c.rows(), letters("xuzywt"));
    }

    #[test]
    fn forgetting_a_middle_version_drops_only_what_it_alone_showed() {
        let mut c = Catalogue::new();
        let f = c.forget(&["s2"]);
        assert_eq!(
            f,
            Forgotten {
                versions: 0,
                items: 1,
                accounts: 0
            }
        );
        assert_eq!(c.rows(), letters("xuzwt"), "y was only in version 2");
        assert_eq!(c.at(1), sorted("xuz"));
        assert_eq!(c.at(3), sorted("zwt"));
        // Ingest goes on from the counter: version 4 keeps z and w open, closes t,
        // and brings back y as a new row.
        c.add("s4", "zwy");
        assert_eq!(c.at(4), sorted("zwy"));
        assert_eq!(c.at(3), sorted("zwt"));
        assert_eq!(c.at(1), sorted("xuz"));
        assert_eq!(c.count("export_items"), 6, "x u z w t, and y again");
    }

    #[test]
    fn forgetting_the_first_version_keeps_what_later_ones_show() {
        let mut c = Catalogue::new();
        assert_eq!(c.forget(&["s1"]).items, 1);
        assert_eq!(c.rows(), letters("uzywt"), "x was only in version 1");
        assert_eq!(c.at(2), sorted("uzyw"));
        assert_eq!(c.at(3), sorted("zwt"));
    }

    #[test]
    fn forgetting_the_last_version_drops_its_open_rows_and_keeps_others_open() {
        let mut c = Catalogue::new();
        assert_eq!(c.forget(&["s3"]).items, 1);
        assert_eq!(c.rows(), letters("xuzyw"), "t was only in version 3");
        assert_eq!(c.at(1), sorted("xuz"));
        assert_eq!(c.at(2), sorted("uzyw"));
        // Still open: the next export that holds z and w re-uses their rows.
        c.add("s4", "zw");
        assert_eq!(c.at(4), sorted("zw"));
        assert_eq!(c.at(2), sorted("uzyw"));
        assert_eq!(c.count("export_items"), 5);
        // Its sequence number is never handed out again.
        let seq: i64 = c
            .conn
            .query_row(
                "SELECT seq FROM export_versions WHERE snapshot_id = 's4'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seq, 4);
    }

    #[test]
    fn forgetting_every_version_leaves_no_row_of_the_account() {
        let mut c = Catalogue::new();
        assert_eq!(c.forget(&["s1", "s3"]).items, 2, "x and t");
        assert_eq!(c.rows(), letters("uzyw"));
        let f = c.forget(&["s2"]);
        assert_eq!((f.items, f.accounts), (4, 1));
        for table in ["export_items", "export_versions", "export_accounts"] {
            assert_eq!(c.count(table), 0, "{table}");
        }
        // A new export of the account starts afresh.
        c.add("s5", "a");
        assert_eq!(c.at(1), "a");
    }

    #[test]
    fn a_version_left_behind_by_a_missed_cascade_goes_too() {
        let mut c = Catalogue::new();
        c.conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        let f = c.forget(&["s1"]);
        assert_eq!((f.versions, f.items), (1, 1));
        assert_eq!(c.at(2), sorted("uzyw"));
    }
}

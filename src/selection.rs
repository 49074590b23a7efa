//! Picking a snapshot: by id prefix, by date, or the latest, within an account.

use rusqlite::Connection;

use crate::dates;
use crate::store::snapshots::{self, Snapshot};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The selection itself is wrong (a bad date, an ambiguous account).
    #[error("{0}")]
    Usage(String),
    /// No snapshot matches.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SelectError {
    fn from(e: rusqlite::Error) -> Self {
        SelectError::Store(e.into())
    }
}

pub type Result<T> = std::result::Result<T, SelectError>;

#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub snapshot: Option<String>,
    pub date: Option<String>,
    pub account: Option<String>,
}

impl Selector {
    /// Reads a positional `latest` / id-prefix / date argument.
    pub fn parse_positional(text: &str, account: Option<String>) -> Selector {
        let is_date = text.len() >= 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
        match text {
            "latest" => Selector {
                account,
                ..Selector::default()
            },
            _ if is_date => Selector {
                date: Some(text.to_string()),
                account,
                ..Selector::default()
            },
            _ => Selector {
                snapshot: Some(text.to_string()),
                account,
                ..Selector::default()
            },
        }
    }
}

/// The account to use when the caller named none: the only one there is.
pub fn resolve_account(conn: &Connection, given: Option<&str>) -> Result<Option<String>> {
    if let Some(a) = given {
        return Ok(Some(a.to_string()));
    }
    let all = snapshots::accounts(conn)?;
    match all.len() {
        0 | 1 => Ok(all.into_iter().next()),
        _ => Err(SelectError::Usage(format!(
            "the vault holds several accounts ({}); pick one with --account",
            all.join(", ")
        ))),
    }
}

/// The snapshot `sel` names: an error when there is none, saying what there is.
pub fn resolve(conn: &Connection, sel: &Selector) -> Result<Snapshot> {
    if let Some(prefix) = &sel.snapshot {
        let s = snapshots::by_prefix(conn, prefix)?;
        if let Some(a) = &sel.account {
            if &s.account != a {
                return Err(SelectError::Usage(format!(
                    "snapshot {} belongs to account {}, not {a}",
                    s.short_id(),
                    s.account
                )));
            }
        }
        return Ok(s);
    }
    let account = resolve_account(conn, sel.account.as_deref())?;
    match &sel.date {
        Some(text) => {
            let until = dates::parse_until(text).map_err(|e| SelectError::Usage(e.to_string()))?;
            if let Some(s) = snapshots::at_or_before(conn, account.as_deref(), until)? {
                return Ok(s);
            }
            let all = snapshots::list(conn, account.as_deref())?;
            Err(SelectError::NotFound(match all.first() {
                Some(oldest) => format!(
                    "no snapshot{} at or before {text}; the oldest is {} taken {}",
                    account.map(|a| format!(" of {a}")).unwrap_or_default(),
                    oldest.short_id(),
                    oldest.taken_at
                ),
                None => "the vault has no snapshots yet; take one with `tt-vault snapshot`".into(),
            }))
        }
        None => snapshots::latest(conn, account.as_deref())?.ok_or_else(|| {
            SelectError::NotFound(match account {
                Some(a) => format!(
                    "account {a} has no snapshots; `tt-vault snapshots` lists what there is"
                ),
                None => "the vault has no snapshots yet; take one with `tt-vault snapshot`".into(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::archiver::{SnapshotBuilder, SnapshotInfo};
    use crate::store::Vault;

    fn positional(text: &str) -> Selector {
        Selector::parse_positional(text, Some("a".into()))
    }

    #[test]
    fn a_positional_argument_is_latest_a_date_or_an_id_prefix() {
        let latest = positional("latest");
        assert_eq!((latest.snapshot, latest.date), (None, None));
        assert_eq!(latest.account.as_deref(), Some("a"));
        let day = positional("2024-05-01");
        assert_eq!(day.date.as_deref(), Some("2024-05-01"));
        assert_eq!(day.snapshot, None);
        let stamp = positional("2024-05-01T10:00:00Z");
        assert_eq!(stamp.date.as_deref(), Some("2024-05-01T10:00:00Z"));
        let id = positional("3fa9");
        assert_eq!((id.snapshot.as_deref(), id.date), (Some("3fa9"), None));
        // Short or odd text is an id prefix, never a panic on indexing.
        assert_eq!(positional("ab-").snapshot.as_deref(), Some("ab-"));
    }

    /// A vault with empty snapshots of `account` taken at each of `times`.
    fn vault_with(dir: &std::path::Path, snaps: &[(&str, &str)]) -> (Vault, Vec<String>) {
        let vault = Vault::init(dir).unwrap();
        let mut ids = Vec::new();
        for (account, time) in snaps {
            let lock = vault.lock_for_writing(false).unwrap();
            let builder = SnapshotBuilder::new(&vault, &lock, account, false, &|_| {}).unwrap();
            let info = SnapshotInfo {
                account: account.to_string(),
                taken_at: time.parse().unwrap(),
                sources: Vec::new(),
                failed: Vec::new(),
                meta: serde_json::json!({}),
            };
            ids.push(builder.commit(info).unwrap().id);
        }
        (vault, ids)
    }

    fn by(snapshot: Option<&str>, date: Option<&str>, account: Option<&str>) -> Selector {
        Selector {
            snapshot: snapshot.map(String::from),
            date: date.map(String::from),
            account: account.map(String::from),
        }
    }

    #[test]
    fn resolves_latest_by_date_and_by_prefix_within_an_account() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, ids) = vault_with(
            dir.path(),
            &[
                ("a", "2024-05-01T10:00:00Z"),
                ("a", "2024-06-01T10:00:00Z"),
                ("b", "2024-07-01T10:00:00Z"),
            ],
        );
        let conn = vault.connect().unwrap();
        let id = |sel: Selector| resolve(&conn, &sel).unwrap().id;
        assert_eq!(id(by(None, None, Some("a"))), ids[1]);
        assert_eq!(id(by(None, Some("2024-05-20"), Some("a"))), ids[0]);
        assert_eq!(
            id(by(None, Some("2024-06-01T10:00:00Z"), Some("a"))),
            ids[1]
        );
        assert_eq!(id(by(Some(&ids[2][..8]), None, None)), ids[2]);

        // Several accounts and none named: say which there are.
        let err = resolve(&conn, &by(None, None, None)).unwrap_err();
        assert!(
            matches!(&err, SelectError::Usage(m) if m.contains("a, b")),
            "{err}"
        );
        // A prefix of another account's snapshot.
        let err = resolve(&conn, &by(Some(&ids[2][..8]), None, Some("a"))).unwrap_err();
        assert!(matches!(&err, SelectError::Usage(m) if m.contains("belongs to account b")));
        // Before the first snapshot: name the oldest.
        let err = resolve(&conn, &by(None, Some("2024-01-01"), Some("a"))).unwrap_err();
        assert!(
            matches!(&err, SelectError::NotFound(m) if m.contains(&ids[0][..8])),
            "{err}"
        );
        let err = resolve(&conn, &by(None, None, Some("c"))).unwrap_err();
        assert!(matches!(&err, SelectError::NotFound(m) if m.contains("account c")));
        let err = resolve(&conn, &by(None, Some("not a date"), Some("a"))).unwrap_err();
        assert!(matches!(err, SelectError::Usage(_)));
    }

    #[test]
    fn the_only_account_is_the_default_and_an_empty_vault_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, _) = vault_with(dir.path(), &[]);
        let conn = vault.connect().unwrap();
        assert_eq!(resolve_account(&conn, None).unwrap(), None);
        assert_eq!(
            resolve_account(&conn, Some("x")).unwrap().as_deref(),
            Some("x")
        );
        let err = resolve(&conn, &Selector::default()).unwrap_err();
        assert!(matches!(&err, SelectError::NotFound(m) if m.contains("no snapshots yet")));

        let dir = tempfile::tempdir().unwrap();
        let (vault, ids) = vault_with(dir.path(), &[("solo", "2024-05-01T10:00:00Z")]);
        let conn = vault.connect().unwrap();
        assert_eq!(
            resolve_account(&conn, None).unwrap().as_deref(),
            Some("solo")
        );
        assert_eq!(resolve(&conn, &Selector::default()).unwrap().id, ids[0]);
    }
}

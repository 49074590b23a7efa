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

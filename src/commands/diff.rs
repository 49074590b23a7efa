//! `tt-vault diff A B`: what changed in the TikTok export between two snapshots.

use crate::catalogue::{diff as catalogue_diff, query};
use crate::store::Vault;

use super::{CommandError, Result};
use crate::selection::{self, Selector};

/// The changes from the export shown at `a` to the one shown at `b` (shape in
/// `catalogue::diff`).
pub fn diff(vault: &Vault, a: &Selector, b: &Selector) -> Result<serde_json::Value> {
    let conn = vault.connect()?;
    let (sa, sb) = (selection::resolve(&conn, a)?, selection::resolve(&conn, b)?);
    if sa.account != sb.account {
        return Err(CommandError::Usage(format!(
            "snapshot {} is of account {} but {} is of {}; diff compares one account's exports",
            sa.short_id(),
            sa.account,
            sb.short_id(),
            sb.account
        )));
    }
    let va = query::require_version(&conn, &sa)?;
    let vb = query::require_version(&conn, &sb)?;
    Ok(catalogue_diff::diff(&conn, &va, &vb)?)
}

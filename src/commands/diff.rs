//! `tt-vault diff A B`: what changed in the TikTok export between two snapshots.

use crate::catalogue::{diff as catalogue_diff, profile as catalogue_profile, query};
use crate::store::Vault;

use super::{CommandError, Result};
use crate::selection::{self, Selector};

/// The changes from the export shown at `a` to the one shown at `b` (shape in
/// `catalogue::diff`; without an export on both sides, none of its sections), and,
/// when either shows a profile page, `profile_page`: the changes between those
/// (`catalogue::profile::changes`).
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
    let (pa, pb) = (
        catalogue_profile::at(&conn, &sa)?,
        catalogue_profile::at(&conn, &sb)?,
    );
    let exports = (
        query::version_at(&conn, &sa)?,
        query::version_at(&conn, &sb)?,
    );
    let mut out = match exports {
        (Some(va), Some(vb)) => catalogue_diff::diff(&conn, &va, &vb)?,
        // Profile pages alone are something to compare; nothing at all is an error.
        _ if pa.is_some() || pb.is_some() => serde_json::json!({}),
        _ => {
            query::require_version(&conn, &sa)?;
            query::require_version(&conn, &sb)?;
            serde_json::json!({})
        }
    };
    // Only where a profile page was read: a diff of exports alone keeps its shape.
    if pa.is_some() || pb.is_some() {
        out["profile_page"] = catalogue_profile::changes(pa.as_ref(), pb.as_ref());
    }
    Ok(out)
}

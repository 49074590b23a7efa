//! `tt-vault show SECTION`: one section of the TikTok export as it was at a snapshot.

use serde::Serialize;

use crate::catalogue::{query, SECTIONS};
use crate::store::Vault;

use super::select::{self, Selector};
use super::{CommandError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// The snapshot picked.
    pub snapshot: String,
    /// The snapshot whose export is shown (the same, or the newest earlier one with an export).
    pub export_snapshot: String,
    pub account: String,
    pub taken_at: String,
    pub section: String,
    /// An object for `profile`, else an array (shapes in `catalogue::query`).
    pub view: serde_json::Value,
}

pub fn show(vault: &Vault, select: &Selector, section: &str) -> Result<Shown> {
    if !SECTIONS.contains(&section) {
        return Err(CommandError::Usage(format!(
            "unknown section {section:?}; one of {}",
            SECTIONS.join(", ")
        )));
    }
    let conn = vault.connect()?;
    let snap = select::resolve(&conn, select)?;
    let version = query::require_version(&conn, &snap)?;
    let view = query::view(&conn, &version, &snap, section)?;
    Ok(Shown {
        snapshot: snap.id,
        export_snapshot: version.snapshot_id,
        account: snap.account,
        taken_at: snap.taken_at,
        section: section.to_string(),
        view,
    })
}

//! `tt-vault show SECTION`: one section of the TikTok export as it was at a snapshot.

use std::io::Write;

use rusqlite::Connection;
use serde_json::Value;

use crate::catalogue::query::{self, Version};
use crate::catalogue::SECTIONS;
use crate::store::snapshots::Snapshot;
use crate::store::Vault;

use super::{CommandError, Result};
use crate::selection::{self, Selector};

/// One section of one snapshot's export, ready to be printed: rows are read as they
/// are written out, never all held at once.
pub struct Showing {
    conn: Connection,
    snap: Snapshot,
    version: Version,
    pub section: String,
}

impl Showing {
    /// The whole view as pretty JSON: an object for `profile`, else an array.
    pub fn write_json(&self, out: &mut dyn Write) -> Result<()> {
        Ok(query::write_view(
            &self.conn,
            &self.version,
            &self.snap,
            &self.section,
            out,
        )?)
    }

    /// The profile view (only for `profile`).
    pub fn profile(&self) -> Result<Value> {
        Ok(query::profile(&self.conn, &self.version)?)
    }

    /// Each row of a list section, newest first.
    pub fn each_row(&self, f: &mut dyn FnMut(Value) -> std::io::Result<()>) -> Result<()> {
        Ok(query::each_row(
            &self.conn,
            &self.version,
            &self.snap,
            &self.section,
            &mut |row| Ok(f(row)?),
        )?)
    }
}

pub fn show(vault: &Vault, select: &Selector, section: &str) -> Result<Showing> {
    if !SECTIONS.contains(&section) {
        return Err(CommandError::Usage(format!(
            "unknown section {section:?}; one of {}",
            SECTIONS.join(", ")
        )));
    }
    let conn = vault.connect()?;
    let snap = selection::resolve(&conn, select)?;
    let version = query::require_version(&conn, &snap)?;
    Ok(Showing {
        conn,
        snap,
        version,
        section: section.to_string(),
    })
}

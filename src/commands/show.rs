//! `tt-vault show SECTION`: one section of the TikTok export as it was at a snapshot.

use std::io::Write;

use rusqlite::Connection;
use serde_json::Value;

use crate::catalogue::profile as catalogue_profile;
use crate::catalogue::query::{self, Version};
use crate::catalogue::view;
pub use crate::catalogue::view::{Column, RowView};
use crate::catalogue::SECTIONS;
use crate::download::DownloadFailure;
use crate::store::snapshots::Snapshot;
use crate::store::Vault;

use super::{CommandError, Result};
use crate::selection::{self, Selector};

/// One section of one snapshot's export, ready to be printed: rows are read as they
/// are written out, never all held at once.
pub struct Showing {
    conn: Connection,
    snap: Snapshot,
    /// None only for `profile`, when the snapshot shows a profile page but no export.
    version: Option<Version>,
    pub section: String,
}

impl Showing {
    /// The whole view as pretty JSON: an object for `profile`, else an array.
    pub fn write_json(&self, out: &mut dyn Write) -> Result<()> {
        if self.section == "profile" {
            let io = |e: std::io::Error| CommandError::Catalogue(e.into());
            serde_json::to_writer_pretty(&mut *out, &self.profile()?).map_err(|e| io(e.into()))?;
            return writeln!(out).map_err(io);
        }
        Ok(view::write_view(
            &self.conn,
            self.version()?,
            &self.snap,
            &self.section,
            out,
        )?)
    }

    /// The profile view (only for `profile`): the export's profile joined with the
    /// profile page, each field's source named (see `catalogue::profile::view`), and
    /// `profile_page_failed`: why this snapshot could not read the profile page (its
    /// recorded failure), or null.
    pub fn profile(&self) -> Result<Value> {
        let export = match &self.version {
            Some(v) => Some((v, query::profile(&self.conn, v)?)),
            None => None,
        };
        let page = catalogue_profile::at(&self.conn, &self.snap)?;
        let mut view = catalogue_profile::view(export, page.as_ref());
        view["profile_page_failed"] = page_failure(&self.snap).map_or(Value::Null, |f| f.to_json());
        Ok(view)
    }

    /// Each row of a list section, newest first.
    pub fn each_row(&self, f: &mut dyn FnMut(&RowView) -> std::io::Result<()>) -> Result<()> {
        Ok(view::each_row(
            &self.conn,
            self.version()?,
            &self.snap,
            &self.section,
            &mut |row| Ok(f(row)?),
        )?)
    }

    /// The export version; [`show`] leaves it out only for `profile`.
    fn version(&self) -> Result<&Version> {
        self.version
            .as_ref()
            .ok_or_else(|| CommandError::Usage(format!("section {} needs an export", self.section)))
    }
}

/// The snapshot's record of a profile page it could not read.
fn page_failure(snap: &Snapshot) -> Option<DownloadFailure> {
    DownloadFailure::read_list(&snap.failed)
        .into_iter()
        .find(|f| f.source == "profile")
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
    // A profile page (or the record of why it could not be read) stands in for an
    // export for `profile` alone.
    let version = match query::version_at(&conn, &snap)? {
        None if section == "profile"
            && (page_failure(&snap).is_some()
                || catalogue_profile::at(&conn, &snap)?.is_some()) =>
        {
            None
        }
        _ => Some(query::require_version(&conn, &snap)?),
    };
    Ok(Showing {
        conn,
        snap,
        version,
        section: section.to_string(),
    })
}

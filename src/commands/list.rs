//! `tt-vault snapshots` and `tt-vault ls`.

use serde::Serialize;

use crate::store::snapshots::{self, Snapshot};
use crate::store::Vault;

use super::Result;
use crate::selection::{self, Selector};

pub fn snapshots(vault: &Vault, account: Option<&str>) -> Result<Vec<Snapshot>> {
    Ok(snapshots::list(&vault.connect()?, account)?)
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub snapshot: String,
    pub account: String,
    pub taken_at: String,
    pub entries: Vec<ListedEntry>,
}

#[derive(Debug, Serialize)]
pub struct ListedEntry {
    pub path: String,
    pub kind: String,
    pub size: u64,
    pub hash: String,
    pub item_id: Option<String>,
}

pub fn ls(vault: &Vault, sel: &Selector) -> Result<Listing> {
    let conn = vault.connect()?;
    let snap = selection::resolve(&conn, sel)?;
    let entries = snapshots::entries(&conn, &snap.id)?
        .into_iter()
        .map(|e| ListedEntry {
            path: e.path,
            kind: e.kind,
            size: e.size,
            hash: hex::encode(e.hash),
            item_id: e.item_id,
        })
        .collect();
    Ok(Listing {
        snapshot: snap.id,
        account: snap.account,
        taken_at: snap.taken_at,
        entries,
    })
}

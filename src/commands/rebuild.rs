//! `tt-vault rebuild-index`: recreate vault.db from the packs.

use crate::store::rebuild::{self, RebuildReport};
use crate::store::Vault;

use super::Result;

pub fn rebuild_index(vault: &Vault, wait: bool) -> Result<RebuildReport> {
    let lock = vault.lock_for_writing(wait)?;
    Ok(rebuild::rebuild_index(vault, &lock)?)
}

//! `tt-vault init`: a new vault, local or with its packs off-site (`--remote`), or
//! a new machine's copy of an off-site vault (`--remote … --existing`).

use std::path::Path;

use serde::Serialize;

use crate::store::backend::Location;
use crate::store::remote::{self, CacheSize, DEFAULT_CACHE};
use crate::store::Vault;

use super::rebuild::{self, RebuildOutcome};
use super::{CommandError, Result};

/// The `--remote` flags of `init`.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    pub url: String,
    pub cache_size: Option<String>,
    pub existing: bool,
}

#[derive(Debug, Serialize)]
pub struct InitOutcome {
    #[serde(skip)]
    pub vault: Vault,
    pub remote: Option<String>,
    /// With `--existing`: what rebuilding the index from the remote packs found.
    pub rebuilt: Option<RebuildOutcome>,
}

pub fn init(path: &Path, spec: Option<&RemoteSpec>) -> Result<InitOutcome> {
    let Some(spec) = spec else {
        return Ok(InitOutcome {
            vault: Vault::init(path)?,
            remote: None,
            rebuilt: None,
        });
    };
    let location = Location::parse(&spec.url).map_err(CommandError::Usage)?;
    let cache = match &spec.cache_size {
        Some(text) => CacheSize::parse(text).map_err(CommandError::Usage)?,
        None => CacheSize::Bytes(DEFAULT_CACHE),
    };
    // Reach the remote before anything local exists: bad credentials or a missing
    // bucket leave nothing behind.
    let holds_vault = remote::probe(&location)?;
    match (spec.existing, holds_vault) {
        (true, false) => {
            return Err(CommandError::Input(format!(
                "{location} holds no tt-vault (no `{}` marker, no packs); to start a new \
                 vault there, run init without --existing",
                remote::MARKER_KEY
            )))
        }
        (false, true) => {
            return Err(CommandError::Input(format!(
                "{location} already holds a vault; to use it from this machine, add \
                 --existing (the index is rebuilt from its packs)"
            )))
        }
        _ => {}
    }
    let vault = Vault::init(path)?.attach_remote(&location, cache, spec.existing)?;
    let rebuilt = if spec.existing {
        let outcome = rebuild::rebuild_index(&vault, false)?;
        vault.trim_cache();
        Some(outcome)
    } else {
        None
    };
    Ok(InitOutcome {
        vault,
        remote: Some(location.to_string()),
        rebuilt,
    })
}

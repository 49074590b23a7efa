//! `tt-vault init`: a new vault, local or with its packs off-site (`--remote`), or
//! a new machine's copy of an off-site vault (`--remote … --existing`).

use std::path::Path;

use serde::Serialize;

use crate::store::backend::Location;
use crate::store::remote::{self, CacheSize, DEFAULT_CACHE};
use crate::store::Vault;

use super::passphrase::Source;
use super::rebuild::{self, RebuildOutcome};
use super::{key, CommandError, Result};

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

/// Creates the vault (encrypted with `encrypt`); with `spec`, its packs off-site.
/// With `--existing` the bucket decides: its key files come down, and an encrypted
/// vault is unlocked with `pass` before its index is rebuilt.
pub fn init(
    path: &Path,
    encrypt: bool,
    pass: &Source,
    spec: Option<&RemoteSpec>,
) -> Result<InitOutcome> {
    let create = || -> Result<Vault> {
        if encrypt {
            key::init_encrypted(path, pass)
        } else {
            Ok(Vault::init(path)?)
        }
    };
    let Some(spec) = spec else {
        return Ok(InitOutcome {
            vault: create()?,
            remote: None,
            rebuilt: None,
        });
    };
    let location = Location::parse(&spec.url).map_err(CommandError::Usage)?;
    let cache = match &spec.cache_size {
        Some(text) => CacheSize::parse(text).map_err(CommandError::Usage)?,
        None => CacheSize::Bytes(DEFAULT_CACHE),
    };
    if spec.existing && encrypt {
        return Err(CommandError::Usage(
            "--existing adopts the bucket's vault as it is (encrypted or not): drop --encrypt"
                .into(),
        ));
    }
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
    let mut vault = create()?;
    vault.attach_remote(&location, cache, spec.existing)?;
    let rebuilt = if spec.existing {
        // Its key files came down with it: open it as any command would.
        let vault = super::open(path, pass)?;
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

use std::path::Path;

use crate::store::Vault;

use super::Result;

pub fn init(path: &Path) -> Result<Vault> {
    Ok(Vault::init(path)?)
}

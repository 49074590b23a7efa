//! `init --encrypt` and `key list | add | remove | passwd`: these write or delete key
//! files only; the master key, and so every pack, stays as it is.

use std::path::Path;

use serde::Serialize;

use crate::store::crypto::keys::KdfParams;
use crate::store::crypto::{KeyFile, Keys};
use crate::store::{StoreError, Vault};

use super::passphrase::Source;
use super::Result;

/// The environment variable that, set to `test`, makes new key files use a cheap
/// KDF. Only tests set it: existing key files always keep their own parameters.
pub const KDF_ENV: &str = "TT_VAULT_KDF";

fn new_key_params() -> KdfParams {
    match std::env::var(KDF_ENV) {
        Ok(v) if v == "test" => KdfParams::CHEAP,
        _ => KdfParams::STRONG,
    }
}

fn key_file(vault_keys: &Keys, new: &Source) -> Result<KeyFile> {
    let pass = new.read_new("new passphrase")?;
    Ok(KeyFile::new(vault_keys, pass.as_bytes(), new_key_params()).map_err(StoreError::from)?)
}

/// Creates an encrypted vault, its first key file wrapping a fresh master key.
pub fn init_encrypted(path: &Path, source: &Source) -> Result<Vault> {
    let keys = Keys::generate();
    let first = key_file(&keys, source)?;
    Ok(Vault::init_encrypted(path, keys, &first)?)
}

#[derive(Debug, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub created: String,
    /// True for the key file that opened the vault in this run.
    pub current: bool,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

fn unlocked(vault: &Vault) -> Result<&Keys> {
    vault.check_unlocked()?;
    vault.keys().ok_or_else(|| {
        super::CommandError::Usage(format!(
            "the vault at {} is not encrypted: it has no keys",
            vault.root().display()
        ))
    })
}

pub fn list(vault: &Vault) -> Result<Vec<KeyInfo>> {
    unlocked(vault)?;
    let files = vault.key_dir().list().map_err(StoreError::from)?;
    Ok(files
        .into_iter()
        .map(|(id, kf)| {
            let p = kf.params();
            KeyInfo {
                current: vault.key_id() == Some(id.as_str()),
                id,
                created: kf.created,
                memory_kib: p.memory_kib,
                iterations: p.iterations,
                parallelism: p.parallelism,
            }
        })
        .collect())
}

/// Adds a key file for a new passphrase; returns its id.
pub fn add(vault: &Vault, new: &Source) -> Result<String> {
    let kf = key_file(unlocked(vault)?, new)?;
    let id = vault.key_dir().add(&kf).map_err(StoreError::from)?;
    // Off-site too: a new machine needs nothing but the bucket and a passphrase.
    vault.sync_keys()?;
    Ok(id)
}

pub fn remove(vault: &Vault, id: &str) -> Result<()> {
    unlocked(vault)?;
    vault.key_dir().remove(id).map_err(StoreError::from)?;
    Ok(vault.sync_keys()?)
}

/// Replaces the key file that opened the vault with one for a new passphrase
/// (the new one is durable before the old one goes); returns the new id.
pub fn passwd(vault: &Vault, new: &Source) -> Result<String> {
    let id = add(vault, new)?;
    if let Some(old) = vault.key_id() {
        remove(vault, old)?;
    }
    Ok(id)
}

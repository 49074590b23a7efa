//! Encryption at rest: the keys of an encrypted vault and what they are used for.
//!
//! - [`keys`] — the master key and the key files that wrap it (one per passphrase).
//! - [`seal`] — XChaCha20-Poly1305 sealing of bytes (blobs, pack trailers, key files).
//!
//! One random 32-byte master key per vault. Everything else is derived from it with
//! `blake3::derive_key` under fixed context strings, so that no two uses share a key:
//!
//! | context                              | used for                                       |
//! |--------------------------------------|------------------------------------------------|
//! | `tt-vault 2026-11 blob ids`          | keyed BLAKE3 of chunks, file maps, manifests, whole files |
//! | `tt-vault 2026-11 blob seal`         | the AEAD key of every blob and pack trailer    |
//! | `tt-vault 2026-11 fastcdc gear`      | the FastCDC gear table (BLAKE3 XOF output)     |
//! | `tt-vault 2026-11 index key`         | SQLCipher's raw key for vault.db (and its -wal) |
//!
//! An unencrypted vault has no [`Keys`]: its ids are plain BLAKE3 and its packs are
//! version 1 (see pack.rs). Whether a vault is encrypted is fixed at `init`.

pub mod keys;
pub mod seal;

pub use keys::{KeyError, KeyFile, Keys};
pub use seal::AuthError;

use super::chunker::Hash;

/// The id of `data`: keyed BLAKE3 in an encrypted vault, plain BLAKE3 otherwise.
pub fn id(keys: Option<&Keys>, data: &[u8]) -> Hash {
    let mut h = hasher(keys);
    h.update(data);
    *h.finalize().as_bytes()
}

/// A hasher for ids of streamed content (whole files).
pub fn hasher(keys: Option<&Keys>) -> blake3::Hasher {
    match keys {
        Some(k) => blake3::Hasher::new_keyed(k.id_key()),
        None => blake3::Hasher::new(),
    }
}

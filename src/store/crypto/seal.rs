//! Sealing with XChaCha20-Poly1305: `nonce:[24] ciphertext tag:[16]`.
//!
//! The nonce is random (192 bits, so random nonces never collide in practice); the
//! associated data binds a sealed box to what it claims to be (a blob to its id, a
//! trailer to its role), so one box cannot be swapped for another.
//!
//! Both directions work in place on one buffer (the plaintext is copied once into the
//! box, and opened where it lies), since every chunk of a snapshot, restore and
//! verify passes through here.

use std::ops::Range;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand::RngCore;

pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;
/// What sealing adds to the plaintext's length.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

#[derive(Debug, thiserror::Error)]
#[error("authentication failed: the bytes were altered, or sealed under another key")]
pub struct AuthError;

/// Seals the concatenation of `parts`.
pub fn seal_parts(key: &[u8; 32], ad: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(NONCE_LEN + len + TAG_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    for p in parts {
        out.extend_from_slice(p);
    }
    let tag = XChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), ad, &mut out[NONCE_LEN..])
        .expect("XChaCha20-Poly1305 encrypts any length a pack can hold");
    out.extend_from_slice(&tag);
    out
}

pub fn seal(key: &[u8; 32], ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_parts(key, ad, &[plaintext])
}

/// Opens a sealed box where it lies; returns the range of `sealed` that then holds
/// the plaintext. On failure the buffer's content is unspecified.
pub fn open_in_place(
    key: &[u8; 32],
    ad: &[u8],
    sealed: &mut [u8],
) -> Result<Range<usize>, AuthError> {
    if sealed.len() < OVERHEAD {
        return Err(AuthError);
    }
    let end = sealed.len() - TAG_LEN;
    let (head, tag) = sealed.split_at_mut(end);
    let tag = Tag::clone_from_slice(tag);
    let (nonce, body) = head.split_at_mut(NONCE_LEN);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(XNonce::from_slice(nonce), ad, body, &tag)
        .map_err(|_| AuthError)?;
    Ok(NONCE_LEN..end)
}

pub fn open(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    let mut buf = sealed.to_vec();
    let plain = open_in_place(key, ad, &mut buf)?;
    buf.truncate(plain.end);
    buf.drain(..plain.start);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_key_and_associated_data() {
        let k = [7u8; 32];
        let s = seal(&k, b"id", b"secret");
        assert_eq!(s.len(), 6 + OVERHEAD);
        assert_eq!(open(&k, b"id", &s).unwrap(), b"secret");
        assert!(open(&k, b"other", &s).is_err());
        assert!(open(&[8u8; 32], b"id", &s).is_err());
        let mut flipped = s.clone();
        flipped[30] ^= 1;
        assert!(open(&k, b"id", &flipped).is_err());
        assert!(open(&k, b"id", &s[..10]).is_err());
    }

    #[test]
    fn parts_seal_as_their_concatenation_and_open_in_place() {
        let k = [3u8; 32];
        let mut s = seal_parts(&k, b"ad", &[b"head", b"", b"body"]);
        let range = open_in_place(&k, b"ad", &mut s).unwrap();
        assert_eq!(&s[range], b"headbody");
    }
}

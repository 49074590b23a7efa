//! Sealing with XChaCha20-Poly1305: `nonce:[24] ciphertext tag:[16]`.
//!
//! The nonce is random (192 bits, so random nonces never collide in practice); the
//! associated data binds a sealed box to what it claims to be (a blob to its id, a
//! trailer to its role), so one box cannot be swapped for another.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;

pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;
/// What sealing adds to the plaintext's length.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

#[derive(Debug, thiserror::Error)]
#[error("authentication failed: the bytes were altered, or sealed under another key")]
pub struct AuthError;

pub fn seal(key: &[u8; 32], ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any length a pack can hold");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

pub fn open(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    if sealed.len() < OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad })
        .map_err(|_| AuthError)
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
}

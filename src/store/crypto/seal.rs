//! Sealing with XChaCha20-Poly1305: `nonce:[24] ciphertext tag:[16]`.
//!
//! The nonce is random (192 bits, so random nonces never collide in practice); the
//! associated data binds a sealed box to what it claims to be (a blob to its id, a
//! trailer to its role), so one box cannot be swapped for another.
//!
//! XChaCha20-Poly1305 is the IETF construction (draft-irtf-cfrg-xchacha): HChaCha20
//! of the key and the nonce's first 16 bytes gives a subkey, under which
//! ChaCha20-Poly1305 (RFC 8439) runs with the nonce `0:[4] nonce[16..24]`. HChaCha20
//! comes from RustCrypto's `chacha20`; ChaCha20-Poly1305 from OpenSSL (vendored, and
//! linked already for SQLCipher), whose AVX-512 code runs about three times as fast on
//! our machine as RustCrypto's AVX2 code (README, "Encrypted against plain"): every
//! chunk of a snapshot, restore and verify passes through here. The boxes are the
//! same bytes RustCrypto's `XChaCha20Poly1305` makes (a test checks it both ways).
//!
//! Both directions work in place on one buffer (the plaintext is copied once into the
//! box, and opened where it lies).

use std::ops::Range;

use chacha20::cipher::consts::U10;
use chacha20::hchacha;
use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use rand::RngCore;
use zeroize::Zeroizing;

pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;
/// What sealing adds to the plaintext's length.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

#[derive(Debug, thiserror::Error)]
#[error("authentication failed: the bytes were altered, or sealed under another key")]
pub struct AuthError;

/// The HChaCha20 subkey of `key` and `nonce`, and the RFC 8439 nonce that goes with it.
fn subkey(key: &[u8; 32], nonce: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let subkey = Zeroizing::new(hchacha::<U10>(key.into(), nonce[..16].into()).into());
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&nonce[16..NONCE_LEN]);
    (subkey, iv)
}

/// A ChaCha20-Poly1305 context keyed with the HChaCha20 subkey of `key` and `nonce`.
fn context(key: &[u8; 32], nonce: &[u8], encrypt: bool) -> Result<CipherCtx, AuthError> {
    let (subkey, iv) = subkey(key, nonce);
    let mut ctx = CipherCtx::new().map_err(|_| AuthError)?;
    let cipher = Cipher::chacha20_poly1305();
    let (key, iv) = (Some(&subkey[..]), Some(&iv[..]));
    match encrypt {
        true => ctx.encrypt_init(Some(cipher), key, iv),
        false => ctx.decrypt_init(Some(cipher), key, iv),
    }
    .map_err(|_| AuthError)?;
    Ok(ctx)
}

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
    let failed = "OpenSSL's ChaCha20-Poly1305 seals any length a pack can hold";
    let mut ctx = context(key, &nonce, true).expect(failed);
    ctx.cipher_update(ad, None).expect(failed);
    let body = &mut out[NONCE_LEN..];
    ctx.cipher_update_inplace(body, body.len()).expect(failed);
    ctx.cipher_final(&mut []).expect(failed);
    let mut tag = [0u8; TAG_LEN];
    ctx.tag(&mut tag).expect(failed);
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
    let (nonce, body) = head.split_at_mut(NONCE_LEN);
    let mut ctx = context(key, nonce, false)?;
    ctx.set_tag(tag).map_err(|_| AuthError)?;
    ctx.cipher_update(ad, None).map_err(|_| AuthError)?;
    ctx.cipher_update_inplace(body, body.len())
        .map_err(|_| AuthError)?;
    // The tag is checked here; until then `body` must not be trusted.
    ctx.cipher_final(&mut []).map_err(|_| AuthError)?;
    Ok(NONCE_LEN..end)
}

/// Checks a sealed box's tag without decrypting it: Poly1305 over the associated
/// data and the ciphertext (RFC 8439 §2.8), under the one-time key that the first
/// ChaCha20 block gives. It passes exactly when [`open_in_place`] would, at about a
/// third of the cost, since the ciphertext itself is not decrypted: what `verify`
/// needs to find every altered byte of an encrypted vault.
pub fn authenticate(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Result<(), AuthError> {
    use openssl::pkey::{Id, PKey};
    use openssl::sign::Signer;
    if sealed.len() < OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let (subkey, iv) = subkey(key, nonce);
    // ChaCha20's IV in OpenSSL is the 32-bit block counter (0) and the 96-bit nonce.
    let mut counter_iv = [0u8; 16];
    counter_iv[4..].copy_from_slice(&iv);
    let mut one_time = Zeroizing::new([0u8; 64]);
    let mut ctx = CipherCtx::new().map_err(|_| AuthError)?;
    ctx.encrypt_init(
        Some(Cipher::chacha20()),
        Some(&subkey[..]),
        Some(&counter_iv),
    )
    .map_err(|_| AuthError)?;
    let zeros = [0u8; 64];
    ctx.cipher_update(&zeros, Some(&mut one_time[..]))
        .map_err(|_| AuthError)?;
    let mac_key =
        PKey::private_key_from_raw_bytes(&one_time[..32], Id::POLY1305).map_err(|_| AuthError)?;
    let mut mac = Signer::new_without_digest(&mac_key).map_err(|_| AuthError)?;
    let pad = |n: usize| &zeros[..(16 - n % 16) % 16];
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&(ad.len() as u64).to_le_bytes());
    lengths[8..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    for part in [ad, pad(ad.len()), body, pad(body.len()), &lengths] {
        mac.update(part).map_err(|_| AuthError)?;
    }
    let computed = mac.sign_to_vec().map_err(|_| AuthError)?;
    match computed.len() == TAG_LEN && openssl::memcmp::eq(&computed, tag) {
        true => Ok(()),
        false => Err(AuthError),
    }
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
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};
    use chacha20poly1305::{Tag, XChaCha20Poly1305};

    #[test]
    fn opens_only_with_the_same_key_and_associated_data() {
        let k = [7u8; 32];
        let s = seal(&k, b"id", b"secret");
        assert_eq!(s.len(), 6 + OVERHEAD);
        assert_eq!(open(&k, b"id", &s).unwrap(), b"secret");
        assert!(open(&k, b"other", &s).is_err());
        assert!(open(&[8u8; 32], b"id", &s).is_err());
        for i in 0..s.len() {
            let mut flipped = s.clone();
            flipped[i] ^= 1;
            assert!(open(&k, b"id", &flipped).is_err(), "byte {i}");
        }
        assert!(open(&k, b"id", &s[..10]).is_err());
        assert!(open(&k, b"id", &s[..OVERHEAD]).is_err());
    }

    /// The tag check alone agrees with opening, for every length around the
    /// Poly1305 block and padding edges, and for every flipped byte.
    #[test]
    fn authenticate_passes_exactly_when_open_does() {
        let k = [9u8; 32];
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 1000] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for ad in [&b""[..], b"id", &[5u8; 32]] {
                let s = seal(&k, ad, &plain);
                assert!(authenticate(&k, ad, &s).is_ok(), "len {len}");
                assert!(authenticate(&[8u8; 32], ad, &s).is_err());
                assert!(authenticate(&k, b"other", &s).is_err());
                for i in 0..s.len() {
                    let mut flipped = s.clone();
                    flipped[i] ^= 0x40;
                    assert!(
                        authenticate(&k, ad, &flipped).is_err(),
                        "len {len} byte {i}"
                    );
                }
            }
        }
        assert!(authenticate(&k, b"id", &[0u8; OVERHEAD - 1]).is_err());
    }

    #[test]
    fn parts_seal_as_their_concatenation_and_open_in_place() {
        let k = [3u8; 32];
        let mut s = seal_parts(&k, b"ad", &[b"head", b"", b"body"]);
        let range = open_in_place(&k, b"ad", &mut s).unwrap();
        assert_eq!(&s[range], b"headbody");
        assert_eq!(open(&k, b"", &seal(&k, b"", b"")).unwrap(), b"");
    }

    /// The boxes are RustCrypto's XChaCha20-Poly1305, both ways, at lengths around
    /// ChaCha20's 64-byte blocks and Poly1305's 16-byte ones.
    #[test]
    fn boxes_are_the_standard_xchacha20_poly1305() {
        let k = [9u8; 32];
        let reference = XChaCha20Poly1305::new(&k.into());
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 1000, 70_000] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let s = seal(&k, b"blob id", &plain);
            let (head, tag) = s.split_at(s.len() - TAG_LEN);
            let mut body = head[NONCE_LEN..].to_vec();
            reference
                .decrypt_in_place_detached(
                    head[..NONCE_LEN].into(),
                    b"blob id",
                    &mut body,
                    Tag::from_slice(tag),
                )
                .unwrap();
            assert_eq!(body, plain, "{len} bytes sealed here, opened by RustCrypto");
            let nonce = [len as u8; NONCE_LEN];
            let mut theirs = plain.clone();
            let tag = reference
                .encrypt_in_place_detached(&nonce.into(), b"blob id", &mut theirs)
                .unwrap();
            let boxed = [&nonce[..], &theirs, &tag].concat();
            assert_eq!(open(&k, b"blob id", &boxed).unwrap(), plain, "{len} bytes");
        }
    }
}

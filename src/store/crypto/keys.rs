//! The master key and the key files that wrap it.
//!
//! ```text
//! <vault>/keys/<id>     one per passphrase, 0600, JSON:
//! {
//!   "format": 1,
//!   "kdf": { "algorithm": "argon2id", "memory_kib": 65536, "iterations": 3,
//!            "parallelism": 4, "salt": "<base64, 16 bytes>" },
//!   "created": "<RFC 3339 UTC>",
//!   "master": "<base64: seal(argon2id(passphrase, salt), AD = \"tt-vault key file 1\", master key)>"
//! }
//! ```
//!
//! The KDF parameters are read from the file, so stronger defaults later never lock
//! out an old key. A passphrase opens the vault when any key file unseals with it.
//! Key operations write or delete key files only; the master key never changes.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::seal;

const KEY_FILE_AD: &[u8] = b"tt-vault key file 1";
const FORMAT: u32 = 1;
/// Key files are tiny; anything larger is not one (and is not read whole).
pub(crate) const MAX_KEY_FILE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the passphrase opens none of the vault's key files ({0}); nothing was changed")]
    WrongPassphrase(String),
    #[error("key file {path}: {what}")]
    Bad { path: PathBuf, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no key {0} in this vault; `tt-vault key list` shows the keys")]
    NoSuchKey(String),
    #[error(
        "key {0} is the vault's last readable key; add another (`tt-vault key add`) before removing it"
    )]
    LastKey(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The vault's secrets once unlocked: the master key and the keys derived from it.
pub struct Keys {
    id_key: Zeroizing<[u8; 32]>,
    seal_key: Zeroizing<[u8; 32]>,
    index_key: Zeroizing<[u8; 32]>,
    master: Zeroizing<[u8; 32]>,
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn generate() -> Keys {
        let mut master = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut master);
        let keys = Keys::from_master(&master);
        master.zeroize();
        keys
    }

    fn from_master(master: &[u8; 32]) -> Keys {
        let id_key = Zeroizing::new(blake3::derive_key("tt-vault 2026-11 blob ids", master));
        let seal_key = Zeroizing::new(blake3::derive_key("tt-vault 2026-11 blob seal", master));
        let gear_key = Zeroizing::new(blake3::derive_key("tt-vault 2026-11 fastcdc gear", master));
        let index_key = Zeroizing::new(blake3::derive_key("tt-vault 2026-11 index key", master));
        let mut xof = blake3::Hasher::new_keyed(&gear_key).finalize_xof();
        let mut gear = Box::new([0u64; 256]);
        let mut buf = [0u8; 8];
        for g in gear.iter_mut() {
            xof.fill(&mut buf);
            *g = u64::from_le_bytes(buf);
        }
        let mut gear_ls = Box::new([0u64; 256]);
        for (ls, g) in gear_ls.iter_mut().zip(gear.iter()) {
            *ls = g << 1;
        }
        Keys {
            id_key,
            seal_key,
            index_key,
            master: Zeroizing::new(*master),
            gear,
            gear_ls,
        }
    }

    pub fn id_key(&self) -> &[u8; 32] {
        &self.id_key
    }

    /// The statement that keys an SQLCipher connection to vault.db: the raw 256-bit
    /// key in hex, so SQLCipher runs no KDF of its own (the key is already random).
    pub fn index_key_pragma(&self) -> Zeroizing<String> {
        let hex = Zeroizing::new(hex::encode(&self.index_key[..]));
        Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", &*hex))
    }

    /// The FastCDC gear table and its left-shifted twin, secret to this vault.
    pub fn gear(&self) -> (&[u64; 256], &[u64; 256]) {
        (&self.gear, &self.gear_ls)
    }

    pub fn seal(&self, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal::seal(&self.seal_key, ad, plaintext)
    }

    /// Seals the concatenation of `parts` (see [`seal::seal_parts`]).
    pub fn seal_parts(&self, ad: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        seal::seal_parts(&self.seal_key, ad, parts)
    }

    pub fn open(&self, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, seal::AuthError> {
        seal::open(&self.seal_key, ad, sealed)
    }

    /// Checks a box's tag without opening it (see [`seal::authenticate`]).
    pub fn authenticate(&self, ad: &[u8], sealed: &[u8]) -> Result<(), seal::AuthError> {
        seal::authenticate(&self.seal_key, ad, sealed)
    }

    /// Opens where it lies (see [`seal::open_in_place`]).
    pub fn open_in_place(
        &self,
        ad: &[u8],
        sealed: &mut [u8],
    ) -> Result<std::ops::Range<usize>, seal::AuthError> {
        seal::open_in_place(&self.seal_key, ad, sealed)
    }
}

/// Argon2id cost, stored in every key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// At least borg 2's defaults.
    pub const STRONG: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };
    /// For tests only: the caller decides when it may be used.
    pub const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
}

#[derive(Debug, Serialize, Deserialize)]
struct Kdf {
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

/// One key file's content.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyFile {
    format: u32,
    kdf: Kdf,
    pub created: String,
    master: String,
}

/// Bounds on what a key file (which may come from a bucket) can make us spend:
/// 1 GiB, 16 passes, 16 lanes — well above the default, far below a hang.
const MAX_MEMORY_KIB: u32 = 1 << 20;
const MAX_LANES_OR_PASSES: u32 = 16;

impl KdfParams {
    fn in_bounds(&self) -> bool {
        self.memory_kib <= MAX_MEMORY_KIB
            && self.iterations <= MAX_LANES_OR_PASSES
            && self.parallelism <= MAX_LANES_OR_PASSES
    }
}

fn derive(
    pass: &[u8],
    p: KdfParams,
    salt: &[u8],
    path: &Path,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let bad = |what: String| KeyError::Bad {
        path: path.to_path_buf(),
        what,
    };
    if !p.in_bounds() {
        return Err(bad(format!("argon2id parameters out of range: {p:?}")));
    }
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| bad(format!("argon2id parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass, salt, &mut out[..])
        .map_err(|e| bad(format!("argon2id: {e}")))?;
    Ok(out)
}

impl KeyFile {
    /// Wraps the master key of `keys` under `pass`.
    pub fn new(keys: &Keys, pass: &[u8], params: KdfParams) -> Result<KeyFile, KeyError> {
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let wrap = derive(pass, params, &salt, Path::new("(new key)"))?;
        Ok(KeyFile {
            format: FORMAT,
            kdf: Kdf {
                algorithm: "argon2id".into(),
                params,
                salt: B64.encode(salt),
            },
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            master: B64.encode(seal::seal(&wrap, KEY_FILE_AD, &keys.master[..])),
        })
    }

    pub fn params(&self) -> KdfParams {
        self.kdf.params
    }

    /// The salt and the sealed master key, when the file is one this version can
    /// try a passphrase on: what makes a key file usable, short of the passphrase.
    fn parts(&self, path: &Path) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        let bad = |what: &str| KeyError::Bad {
            path: path.to_path_buf(),
            what: what.into(),
        };
        if self.format != FORMAT || self.kdf.algorithm != "argon2id" {
            return Err(bad("unknown format or KDF (written by a newer tt-vault?)"));
        }
        if !self.kdf.params.in_bounds() {
            return Err(bad("argon2id parameters out of range"));
        }
        let salt = B64
            .decode(&self.kdf.salt)
            .map_err(|_| bad("salt is not base64"))?;
        let sealed = B64
            .decode(&self.master)
            .map_err(|_| bad("master is not base64"))?;
        if sealed.len() != 32 + seal::OVERHEAD {
            return Err(bad("the sealed master key is not 32 bytes"));
        }
        Ok((salt, sealed))
    }

    /// The vault's keys, when `pass` is this file's passphrase (`None` otherwise).
    fn unlock(&self, pass: &[u8], path: &Path) -> Result<Option<Keys>, KeyError> {
        let bad = |what: &str| KeyError::Bad {
            path: path.to_path_buf(),
            what: what.into(),
        };
        let (salt, sealed) = self.parts(path)?;
        let wrap = derive(pass, self.kdf.params, &salt, path)?;
        let Ok(master) = seal::open(&wrap, KEY_FILE_AD, &sealed) else {
            return Ok(None);
        };
        let master = Zeroizing::new(master);
        let master: &[u8; 32] = master[..]
            .try_into()
            .map_err(|_| bad("the sealed master key is not 32 bytes"))?;
        Ok(Some(Keys::from_master(master)))
    }
}

/// A key file's id, and the file or why it cannot be read.
type KeyEntry = (String, Result<KeyFile, KeyError>);

/// The key files of the vault at `root`.
pub struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    pub fn new(root: &Path) -> KeyDir {
        KeyDir {
            dir: root.join("keys"),
        }
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Every key file, by id, sorted.
    pub fn list(&self) -> Result<Vec<(String, KeyFile)>, KeyError> {
        self.entries()?
            .into_iter()
            .map(|(id, kf)| kf.map(|kf| (id, kf)))
            .collect()
    }

    /// Every entry of the key folder, by id, sorted, each read and parsed or the
    /// reason it cannot be: one damaged key file must not lock out the others.
    fn entries(&self) -> Result<Vec<KeyEntry>, KeyError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".tmp") {
                continue;
            }
            let path = e.path();
            let kf = read_bounded(&path).and_then(|text| {
                serde_json::from_slice(&text).map_err(|e| KeyError::Bad {
                    path: path.clone(),
                    what: format!("not a key file: {e}"),
                })
            });
            out.push((name, kf));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The vault's keys and the id of the key file `pass` opened. A key file that
    /// cannot be read or used is passed over; it is named only when no file opens.
    pub fn unlock(&self, pass: &[u8]) -> Result<(String, Keys), KeyError> {
        let mut skipped = Vec::new();
        for (id, kf) in self.entries()? {
            match kf.and_then(|kf| kf.unlock(pass, &self.dir.join(&id))) {
                Ok(Some(keys)) => return Ok((id, keys)),
                Ok(None) => {}
                Err(e) => skipped.push(e.to_string()),
            }
        }
        let mut place = self.dir.display().to_string();
        if !skipped.is_empty() {
            place.push_str(&format!("; passed over: {}", skipped.join("; ")));
        }
        Err(KeyError::WrongPassphrase(place))
    }

    /// Writes a new key file durably (temporary name, fsync, rename); returns its id.
    pub fn add(&self, kf: &KeyFile) -> Result<String, KeyError> {
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(io(&self.dir))?;
        }
        let mut raw = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let path = self.dir.join(&id);
        let tmp = self.dir.join(format!("{id}.tmp"));
        let text = serde_json::to_vec_pretty(kf).expect("a key file serialises");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&text).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        sync(&self.dir)?;
        Ok(id)
    }

    /// Deletes key file `id`, unless no other readable key file would be left (a
    /// damaged one can be removed; the last that works cannot).
    pub fn remove(&self, id: &str) -> Result<(), KeyError> {
        let entries = self.entries()?;
        if !entries.iter().any(|(i, _)| i == id) {
            return Err(KeyError::NoSuchKey(id.to_string()));
        }
        let usable = |i: &String, kf: &Result<KeyFile, KeyError>| {
            kf.as_ref()
                .is_ok_and(|kf| kf.parts(&self.dir.join(i)).is_ok())
        };
        if !entries.iter().any(|(i, kf)| i != id && usable(i, kf)) {
            return Err(KeyError::LastKey(id.to_string()));
        }
        let path = self.dir.join(id);
        fs::remove_file(&path).map_err(io(&path))?;
        sync(&self.dir)
    }
}

fn sync(dir: &Path) -> Result<(), KeyError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// A key file's bytes: a regular file (a link is followed, then checked) of at
/// most [`MAX_KEY_FILE`] bytes, read with that bound whatever its size claims.
fn read_bounded(path: &Path) -> Result<Vec<u8>, KeyError> {
    let bad = |what: String| KeyError::Bad {
        path: path.to_path_buf(),
        what,
    };
    // Neither a link (to what it points at) nor a FIFO (opening one would wait for
    // a writer forever) is read: checked before opening, and again on what opened.
    if !fs::symlink_metadata(path).map_err(io(path))?.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io(path))?;
    if !f.metadata().map_err(io(path))?.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let mut text = Vec::new();
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut text)
        .map_err(io(path))?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(bad(format!(
            "more than {MAX_KEY_FILE} bytes is too large for a key file"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_unlocks_with_its_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let kd = KeyDir::new(dir.path());
        let keys = Keys::generate();
        let a = kd
            .add(&KeyFile::new(&keys, b"one", KdfParams::CHEAP).unwrap())
            .unwrap();
        let (id, again) = kd.unlock(b"one").unwrap();
        assert_eq!(id, a);
        assert_eq!(again.id_key(), keys.id_key());
        assert_eq!(again.gear().0[..], keys.gear().0[..]);
        assert!(matches!(
            kd.unlock(b"two"),
            Err(KeyError::WrongPassphrase(_))
        ));
        assert!(matches!(kd.remove(&a), Err(KeyError::LastKey(_))));
        let b = kd
            .add(&KeyFile::new(&keys, b"two", KdfParams::CHEAP).unwrap())
            .unwrap();
        kd.remove(&a).unwrap();
        assert_eq!(kd.unlock(b"two").unwrap().0, b);
        assert!(kd.unlock(b"one").is_err());
        let mode = fs::metadata(dir.path().join("keys").join(&b))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

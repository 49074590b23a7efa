//! A vault directory: where its files are, and nothing more. Opening the index is
//! the repository's (`Vault::connect` lives in repository/mod.rs), taking the writer
//! lock with crash recovery is recovery.rs's, without it rebuild.rs's.
//!
//! ```text
//! <vault>/VAULT          marker: "tt-vault 1" ("tt-vault 1 encrypted"); says this directory is a vault
//! <vault>/keys/<id>      an encrypted vault's key files (see crypto/keys.rs)
//! <vault>/vault.db       the SQLite index (WAL mode; -wal/-shm beside it)
//! <vault>/lock           the writer lock (see lock.rs)
//! <vault>/packs/xx/*.pack  pack files (see pack.rs)
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::crypto::keys::{KeyDir, KeyFile};
use super::crypto::Keys;
use super::pack::{self, TMP_SUFFIX};
use super::{index, io_at, Result, StoreError};

const MARKER: &str = "VAULT";
const MARKER_TEXT: &str = "tt-vault 1\n";
const ENCRYPTED_MARKER_TEXT: &str = "tt-vault 1 encrypted\n";

#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
    /// An encrypted vault's keys, once unlocked (see [`Vault::unlock`]).
    keys: Option<Arc<Keys>>,
    /// Fixed when the vault is opened: an encrypted vault is never read as a plain one.
    encrypted: bool,
    /// The key file that unlocked it.
    key_id: Option<String>,
}

impl Vault {
    pub fn init(root: &Path) -> Result<Vault> {
        Vault::create(root, None)
    }

    /// A new encrypted vault whose master key `first_key` wraps; `keys` are that
    /// master key's.
    pub fn init_encrypted(root: &Path, keys: Keys, first_key: &KeyFile) -> Result<Vault> {
        Vault::create(root, Some((keys, first_key)))
    }

    fn create(root: &Path, encrypted: Option<(Keys, &KeyFile)>) -> Result<Vault> {
        if root.is_file() {
            return Err(StoreError::Vault(format!(
                "cannot create a vault at {}: it is a file; choose a directory with --vault",
                root.display()
            )));
        }
        if root.join(MARKER).exists() {
            return Err(StoreError::Vault(format!(
                "a vault already exists at {}",
                root.display()
            )));
        }
        fs::create_dir_all(root.join("packs")).map_err(io_at(root))?;
        let mut vault = Vault {
            root: root.to_path_buf(),
            keys: None,
            encrypted: encrypted.is_some(),
            key_id: None,
        };
        let mut marker = MARKER_TEXT;
        if let Some((keys, first)) = encrypted {
            vault.key_id = Some(KeyDir::new(root).add(first)?);
            vault.keys = Some(Arc::new(keys));
            marker = ENCRYPTED_MARKER_TEXT;
        }
        index::open(&vault.db_path())?;
        fs::write(root.join(MARKER), marker).map_err(io_at(root.join(MARKER)))?;
        pack::sync_dir(root)?;
        Ok(vault)
    }

    pub fn open(root: &Path) -> Result<Vault> {
        if root.is_file() {
            return Err(StoreError::Vault(format!(
                "{} is a file, not a vault directory; point --vault (or $TT_VAULT) at a vault",
                root.display()
            )));
        }
        if !root.join(MARKER).is_file() {
            return Err(StoreError::Vault(format!(
                "no vault at {}; create one with `tt-vault init` (or pass --vault / set $TT_VAULT)",
                root.display()
            )));
        }
        let mut vault = Vault {
            root: root.to_path_buf(),
            keys: None,
            encrypted: false,
            key_id: None,
        };
        vault.encrypted = vault.marked_encrypted();
        Ok(vault)
    }

    /// True when the vault was created with `init --encrypt` (its marker says so, or
    /// it has key files): then it must be unlocked before anything else.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    fn marked_encrypted(&self) -> bool {
        let marker = fs::read(self.root.join(MARKER)).unwrap_or_default();
        marker == ENCRYPTED_MARKER_TEXT.as_bytes() || self.key_dir().exists()
    }

    /// Unlocks an encrypted vault with `pass`; returns the id of the key file it
    /// opened. A wrong passphrase changes nothing.
    pub fn unlock(&mut self, pass: &[u8]) -> Result<String> {
        let (id, keys) = self.key_dir().unlock(pass)?;
        self.keys = Some(Arc::new(keys));
        self.key_id = Some(id.clone());
        Ok(id)
    }

    /// The id of the key file that unlocked the vault.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    pub fn key_dir(&self) -> KeyDir {
        KeyDir::new(&self.root)
    }

    /// The unlocked keys of an encrypted vault; `None` for an unencrypted one.
    pub fn keys(&self) -> Option<&Keys> {
        self.keys.as_deref()
    }

    /// Refuses to work on an encrypted vault that is still locked.
    pub fn check_unlocked(&self) -> Result<()> {
        if self.encrypted && self.keys.is_none() {
            return Err(StoreError::Vault(format!(
                "the vault at {} is encrypted; give its passphrase (prompt, \
                 --password-file, TT_VAULT_PASSWORD_FILE or TT_VAULT_PASSWORD_COMMAND)",
                self.root.display()
            )));
        }
        Ok(())
    }

    pub fn shared_keys(&self) -> Option<Arc<Keys>> {
        self.keys.clone()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("vault.db")
    }

    pub fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    pub fn pack_path(&self, name: &str) -> PathBuf {
        pack::pack_path(&self.packs_dir(), name)
    }

    /// Every file under packs/, final or temporary, its name parsed.
    pub fn pack_files(&self) -> Result<Vec<PackFile>> {
        let dir = self.packs_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let e = e.map_err(io_at(&dir))?;
            let p = e.path();
            if p.is_dir() {
                for f in fs::read_dir(&p).map_err(io_at(&p))? {
                    out.push(f.map_err(io_at(&p))?.path());
                }
            } else {
                out.push(p);
            }
        }
        out.sort();
        Ok(out.into_iter().map(PackFile::parse).collect())
    }
}

/// A file found under packs/.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackFile {
    /// `<id>.pack`: a finished pack.
    Pack { id: String, path: PathBuf },
    /// A pack a killed writer never finished.
    Temporary(PathBuf),
    /// Anything else, left alone.
    Other(PathBuf),
}

impl PackFile {
    fn parse(path: PathBuf) -> PackFile {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(TMP_SUFFIX) {
            return PackFile::Temporary(path);
        }
        match name.strip_suffix(".pack") {
            Some(id) if !id.is_empty() => PackFile::Pack {
                id: id.to_string(),
                path,
            },
            _ => PackFile::Other(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_once_and_open_needs_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("v");
        assert!(Vault::open(&root)
            .unwrap_err()
            .to_string()
            .contains("tt-vault init"));
        let v = Vault::init(&root).unwrap();
        assert!(v.db_path().is_file() && v.packs_dir().is_dir());
        assert!(Vault::init(&root)
            .unwrap_err()
            .to_string()
            .contains("already exists"));
        assert_eq!(Vault::open(&root).unwrap().root(), root);
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(Vault::open(&file)
            .unwrap_err()
            .to_string()
            .contains("is a file"));
        assert!(Vault::init(&file)
            .unwrap_err()
            .to_string()
            .contains("is a file"));
    }

    #[test]
    fn pack_file_names_are_parsed_once() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::init(&dir.path().join("v")).unwrap();
        let sub = v.packs_dir().join("ab");
        fs::create_dir_all(&sub).unwrap();
        for name in ["abcd.pack", "abff.pack.tmp", "notes.txt"] {
            fs::write(sub.join(name), b"").unwrap();
        }
        assert_eq!(
            v.pack_files().unwrap(),
            vec![
                PackFile::Pack {
                    id: "abcd".into(),
                    path: sub.join("abcd.pack")
                },
                PackFile::Temporary(sub.join("abff.pack.tmp")),
                PackFile::Other(sub.join("notes.txt")),
            ]
        );
        assert_eq!(v.pack_path("abcd"), sub.join("abcd.pack"));
    }
}

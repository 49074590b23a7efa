//! A vault directory: where its files are, and nothing more. Opening the index is
//! the repository's (`Vault::connect` lives in repository/mod.rs), taking the writer
//! lock with crash recovery is recovery.rs's, without it rebuild.rs's.
//!
//! ```text
//! <vault>/VAULT          marker: "tt-vault 1" ("tt-vault 1 encrypted"); says this directory is a vault
//! <vault>/keys/<id>      an encrypted vault's key files (see crypto/keys.rs)
//! <vault>/vault.db       the SQLite index (WAL mode; -wal/-shm beside it)
//! <vault>/lock           the writer lock (see lock.rs)
//! <vault>/readers        the readers' shared lock (see lock.rs)
//! <vault>/packs/xx/*.pack  pack files (see pack.rs); with a remote, a cache of them
//! <vault>/remote.toml    where the packs live off-site, if anywhere (see remote.rs)
//! ```
//!
//! Private by default, whatever the umask: the vault folder and its folders are
//! created 0700, every file in it 0600 (vault.db's `-wal` and `-shm` take vault.db's
//! mode).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::crypto::keys::{KeyDir, KeyFile};
use super::crypto::Keys;
use super::pack::{self, TMP_SUFFIX};
use super::remote::Remote;
use super::{index, io_at, Result, StoreError};

const MARKER: &str = "VAULT";
const MARKER_TEXT: &str = "tt-vault 1\n";
const ENCRYPTED_MARKER_TEXT: &str = "tt-vault 1 encrypted\n";

#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
    /// Where the packs live when not (only) here; see remote.rs.
    remote: Option<Arc<Remote>>,
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
        let mut vault = Vault {
            root: root.to_path_buf(),
            remote: None,
            keys: None,
            encrypted: encrypted.is_some(),
            key_id: None,
        };
        if vault.holds_packs() {
            return Err(StoreError::Vault(format!(
                "{} already holds packs (packs/) but no VAULT marker: it is a vault that lost \
                 its marker, and a new index would hide its snapshots. To use it, write \
                 `tt-vault 1` into {} and run `tt-vault rebuild-index`; or init elsewhere",
                root.display(),
                root.join(MARKER).display()
            )));
        }
        create_private_dir(root)?;
        create_private_dir(&vault.packs_dir())?;
        pack::create_pack_dirs(&vault.packs_dir())?;
        let mut marker_text = MARKER_TEXT;
        if let Some((keys, first)) = encrypted {
            vault.key_id = Some(KeyDir::new(root).add(first)?);
            vault.keys = Some(Arc::new(keys));
            marker_text = ENCRYPTED_MARKER_TEXT;
        }
        index::open(&vault.db_path(), vault.keys())?;
        let marker = root.join(MARKER);
        create_private(&marker)
            .and_then(|mut f| std::io::Write::write_all(&mut f, marker_text.as_bytes()))
            .map_err(io_at(&marker))?;
        pack::sync_dir(root)?;
        Ok(vault)
    }

    /// Whether any pack file lies under packs/ (one level of folders, as packs do).
    fn holds_packs(&self) -> bool {
        self.pack_files()
            .map(|files| {
                files
                    .iter()
                    .any(|f| matches!(f, PackFile::Pack { .. } | PackFile::Temporary(_)))
            })
            .unwrap_or(false)
    }

    /// Whether this process may write the vault: its folder and its index (`access(2)`,
    /// which also says no on a read-only mount). Writers refuse a read-only vault
    /// with [`StoreError::ReadOnly`]; readers open its index read-only.
    pub fn is_writable(&self) -> bool {
        let db = self.db_path();
        may_write(&self.root) && may_write(&self.packs_dir()) && (!db.exists() || may_write(&db))
    }

    /// Closes a vault made before vault files were private (or opened up by hand):
    /// the folder goes back to 0700, which alone hides everything in it, and its own
    /// files (index, log, locks, marker) to 0600. Writers call it when they lock.
    /// Best effort: a file this user may write but does not own cannot be changed,
    /// and that must not stop the writer.
    pub fn make_private(&self) {
        use std::os::unix::fs::PermissionsExt;
        let tighten = |path: &Path, mode: u32| {
            if fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
            }
        };
        tighten(&self.root, 0o700);
        tighten(&self.packs_dir(), 0o700);
        tighten(&self.root.join("keys"), 0o700);
        let own = [
            MARKER,
            "vault.db",
            "vault.db-wal",
            "vault.db-shm",
            "lock",
            "readers",
            super::remote::CONFIG_FILE,
        ];
        for name in own {
            tighten(&self.root.join(name), 0o600);
        }
    }

    /// [`StoreError::ReadOnly`] unless the vault can be written.
    pub fn require_writable(&self) -> Result<()> {
        if self.is_writable() {
            Ok(())
        } else {
            Err(StoreError::ReadOnly(self.root.clone()))
        }
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
            remote: Remote::load(root)?,
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

    pub(crate) fn set_remote(&mut self, remote: Option<Arc<Remote>>) {
        self.remote = remote;
    }

    /// The off-site storage of the packs, for a vault that has one.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_deref()
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
            let p = e.map_err(io_at(&dir))?.path();
            if p.is_dir() {
                for f in fs::read_dir(&p).map_err(io_at(&p))? {
                    out.push(f.map_err(io_at(&p))?.path());
                }
            } else {
                out.push(p);
            }
        }
        out.sort();
        Ok(out.into_iter().map(|p| PackFile::parse(&dir, p)).collect())
    }
}

fn may_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Creates a new file readable and writable by its owner only, whatever the umask.
pub(crate) fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Creates a folder (and its missing parents) 0700; an existing one is set to 0700.
pub(crate) fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_at(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io_at(path))
}

/// A file found under packs/.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackFile {
    /// `packs/<xx>/<id>.pack`, `id` a well-formed pack id starting with `xx`: a
    /// finished pack.
    Pack { id: String, path: PathBuf },
    /// A pack a killed writer never finished.
    Temporary(PathBuf),
    /// Anything else (a stray file, a folder, a pack in the wrong place): never
    /// adopted or deleted, only reported by verify.
    Other(PathBuf),
}

impl PackFile {
    fn parse(packs_dir: &Path, path: PathBuf) -> PackFile {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(TMP_SUFFIX) && path.is_file() {
            return PackFile::Temporary(path);
        }
        let folder = path
            .parent()
            .filter(|d| d.parent() == Some(packs_dir))
            .and_then(|d| d.file_name())
            .map(|d| d.to_string_lossy());
        match (name.strip_suffix(".pack"), folder) {
            (Some(id), Some(folder))
                if pack::is_pack_id(id) && id.starts_with(&*folder) && folder.len() == 2 =>
            {
                PackFile::Pack {
                    id: id.to_string(),
                    path,
                }
            }
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
        let id = format!("ab{}", "0".repeat(30));
        let elsewhere = format!("cd{}", "0".repeat(30));
        for name in [
            format!("{id}.pack"),
            format!("{elsewhere}.pack"),
            "a.pack".into(),
            "abff.pack.tmp".into(),
            "notes.txt".into(),
        ] {
            fs::write(sub.join(name), b"").unwrap();
        }
        fs::create_dir_all(sub.join("deeper")).unwrap();
        fs::write(v.packs_dir().join(format!("{id}.pack")), b"").unwrap();
        assert_eq!(
            v.pack_files().unwrap(),
            vec![
                PackFile::Other(sub.join("a.pack")),
                PackFile::Pack {
                    id: id.clone(),
                    path: sub.join(format!("{id}.pack"))
                },
                PackFile::Temporary(sub.join("abff.pack.tmp")),
                PackFile::Other(sub.join(format!("{elsewhere}.pack"))),
                PackFile::Other(sub.join("deeper")),
                PackFile::Other(sub.join("notes.txt")),
                PackFile::Other(v.packs_dir().join(format!("{id}.pack"))),
            ]
        );
        assert_eq!(v.pack_path(&id), sub.join(format!("{id}.pack")));
        let odd = v.pack_path("../../etc");
        assert_eq!(odd.parent().unwrap().parent().unwrap(), v.packs_dir());
    }
}

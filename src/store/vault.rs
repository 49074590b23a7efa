//! A vault directory: where its files are, and nothing more. Opening the index is
//! the repository's (`Vault::connect` lives in repository/mod.rs), taking the writer
//! lock with crash recovery is recovery.rs's, without it rebuild.rs's.
//!
//! ```text
//! <vault>/VAULT          marker: "tt-vault 1"; says this directory is a vault
//! <vault>/vault.db       the SQLite index (WAL mode; -wal/-shm beside it)
//! <vault>/lock           the writer lock (see lock.rs)
//! <vault>/packs/xx/*.pack  pack files (see pack.rs)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use super::pack::{self, TMP_SUFFIX};
use super::{index, io_at, Result, StoreError};

const MARKER: &str = "VAULT";
const MARKER_TEXT: &str = "tt-vault 1\n";

#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
}

impl Vault {
    pub fn init(root: &Path) -> Result<Vault> {
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
        let vault = Vault {
            root: root.to_path_buf(),
        };
        index::open(&vault.db_path())?;
        fs::write(root.join(MARKER), MARKER_TEXT).map_err(io_at(root.join(MARKER)))?;
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
        Ok(Vault {
            root: root.to_path_buf(),
        })
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

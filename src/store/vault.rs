//! A vault directory.
//!
//! ```text
//! <vault>/VAULT          marker: "tt-vault 1"; says this directory is a vault
//! <vault>/vault.db       the SQLite index (WAL mode; -wal/-shm beside it)
//! <vault>/lock           the writer lock (see lock.rs)
//! <vault>/packs/xx/*.pack  pack files (see pack.rs)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::lock::WriteLock;
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

    /// A connection to the index, migrated to the current schema.
    ///
    /// A missing vault.db is an error, never a new empty index: an empty index would
    /// make the vault look empty and let prune delete every pack. Only `init` and
    /// `rebuild-index` create one.
    pub fn connect(&self) -> Result<Connection> {
        Ok(index::open(&self.existing_db()?)?)
    }

    fn existing_db(&self) -> Result<PathBuf> {
        let db = self.db_path();
        if !db.exists() {
            return Err(StoreError::Vault(format!(
                "{} is missing: the vault's index is gone but its packs are the truth; \
                 run `tt-vault rebuild-index` to recreate it from the packs",
                db.display()
            )));
        }
        Ok(db)
    }

    /// A read-only connection to the index (see [`index::open_read_only`]), with the
    /// same refusal as [`Vault::connect`] when vault.db is missing.
    pub fn connect_read_only(&self) -> Result<Connection> {
        Ok(index::open_read_only(&self.existing_db()?)?)
    }

    /// Takes the writer lock for `rebuild-index` without crash recovery: recovery
    /// reads the old index, which may be missing or damaged, and the rebuild reads
    /// every pack anyway.
    pub fn lock_for_rebuild(&self, wait: bool) -> Result<WriteLock> {
        Ok(WriteLock::acquire(&self.root, wait)?)
    }

    /// Takes the writer lock and repairs what a killed writer may have left:
    /// temporary packs are deleted (nothing references them), packs a committed
    /// prune no longer needs are deleted (`pending_deletes`, see pruner.rs), and packs
    /// that were renamed into place but never committed are adopted, so their chunks
    /// are re-used instead of written again (a tombstone among them takes effect:
    /// the snapshots it names are forgotten, see tombstone.rs).
    pub fn lock_for_writing(&self, wait: bool) -> Result<WriteLock> {
        let lock = WriteLock::acquire(&self.root, wait)?;
        self.recover()?;
        Ok(lock)
    }

    fn recover(&self) -> Result<()> {
        let mut conn = self.connect()?;
        // Before adoption, or the dead packs of a killed prune would be taken back.
        super::pruner::finish_pending_deletes(self, &conn)?;
        let known: std::collections::HashSet<String> = conn
            .prepare("SELECT name FROM packs")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for path in self.pack_files()? {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.ends_with(TMP_SUFFIX) {
                fs::remove_file(&path).map_err(io_at(&path))?;
                continue;
            }
            let Some(id) = name.strip_suffix(".pack") else {
                continue;
            };
            if known.contains(id) {
                continue;
            }
            // A pack that does not read cleanly is left for verify to report.
            if let Ok((size, entries)) = pack::read_index(&path) {
                let tx = conn.transaction()?;
                super::tombstone::apply_adopted(&tx, &path, &entries)?;
                index::insert_pack(
                    &tx,
                    &pack::FinishedPack {
                        id: id.to_string(),
                        size,
                        entries,
                    },
                )?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Every file under packs/, final or temporary.
    pub fn pack_files(&self) -> Result<Vec<PathBuf>> {
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
        Ok(out)
    }
}

//! Off-site packs: a vault whose packs (and key files) live in a [`Backend`] — an
//! S3-compatible bucket, or another folder — while vault.db stays local and
//! `packs/` becomes a cache of the remote packs, bounded by `--cache-size` and
//! trimmed least recently used first.
//!
//! ```text
//! <vault>/remote.toml     url = "s3://bucket/prefix", cache_size = "2GiB" | "all"
//! <remote>/tt-vault       marker: this prefix holds a vault
//! <remote>/packs/xx/<id>.pack, <remote>/keys/…   the same names as in a local vault
//! ```
//!
//! It is a layer under the pack format: packs are written, fsynced and renamed in
//! `packs/` exactly as in a local vault, then uploaded ([`Vault::finish_pack`]),
//! and only then committed to the index. A pack that was written but not uploaded
//! is uncommitted: recovery uploads it before it adopts it. Reads go through
//! [`Vault::cached_pack`], which downloads a pack missing from the cache. Prune
//! deletes a remote pack from `pending_deletes`, after the index commit. The cache
//! only ever drops packs the index has committed, so nothing exists only locally.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::backend::{Backend, BackendError, Expected, Location};
use super::pack::{self, FinishedPack, PackWriter};
use super::vault::{create_private, create_private_dir, PackFile};
use super::{io_at, Repository, Result, StoreError, Vault};

pub const CONFIG_FILE: &str = "remote.toml";
/// The object that marks a remote prefix as a vault's.
pub const MARKER_KEY: &str = "tt-vault";
const MARKER_TEXT: &str = "tt-vault 1\n";
pub const PACKS_PREFIX: &str = "packs/";
pub const KEYS_DIR: &str = "keys";
/// The default bound of the local pack cache.
pub const DEFAULT_CACHE: u64 = 2 << 30;

/// How much of the remote the local cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSize {
    /// Every pack stays local too: a local and an off-site copy.
    All,
    Bytes(u64),
}

impl CacheSize {
    /// `all`, or a size: `2GiB`, `500M`, `1048576` (binary units; B optional).
    pub fn parse(text: &str) -> std::result::Result<CacheSize, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(CacheSize::All);
        }
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(digits);
        let unit = unit.trim().to_ascii_lowercase();
        let unit = unit.trim_end_matches('b').trim_end_matches('i');
        let shift = match unit {
            "" => 0,
            "k" => 10,
            "m" => 20,
            "g" => 30,
            "t" => 40,
            _ => {
                return Err(format!(
                    "{text}: a cache size is `all` or like 2GiB, 500MiB"
                ))
            }
        };
        num.parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1 << shift))
            .map(CacheSize::Bytes)
            .ok_or_else(|| format!("{text}: a cache size is `all` or like 2GiB, 500MiB"))
    }

    fn text(self) -> String {
        match self {
            CacheSize::All => "all".into(),
            CacheSize::Bytes(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    url: String,
    cache_size: String,
}

/// A vault's remote: where it is, and the backend, opened on first use (so that
/// commands that only read the index need no credentials).
#[derive(Debug)]
pub struct Remote {
    location: Location,
    cache: CacheSize,
    backend: OnceLock<std::result::Result<Backend, String>>,
}

impl Remote {
    /// The remote named in `<root>/remote.toml`, if there is one.
    pub(crate) fn load(root: &std::path::Path) -> Result<Option<Arc<Remote>>> {
        let path = root.join(CONFIG_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(&path)(e)),
        };
        let bad = |why: String| StoreError::Vault(format!("{}: {why}", path.display()));
        let config: Config = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        Ok(Some(Arc::new(Remote {
            location: Location::parse(&config.url).map_err(bad)?,
            cache: CacheSize::parse(&config.cache_size).map_err(bad)?,
            backend: OnceLock::new(),
        })))
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn cache_size(&self) -> CacheSize {
        self.cache
    }

    pub fn backend(&self) -> Result<&Backend> {
        self.backend
            .get_or_init(|| Backend::open(&self.location).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| StoreError::Vault(format!("off-site storage {e}")))
    }
}

impl From<BackendError> for StoreError {
    fn from(e: BackendError) -> StoreError {
        StoreError::Vault(format!("off-site storage {e}"))
    }
}

/// The key of pack `id` (a well-formed id; see [`pack::is_pack_id`]).
pub fn pack_key(id: &str) -> String {
    let dir = id.get(..2).unwrap_or("xx");
    format!("{PACKS_PREFIX}{dir}/{id}.pack")
}

/// The pack id a key names, if it names one where it should be.
fn key_pack_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PACKS_PREFIX)?;
    let (dir, file) = rest.split_once('/')?;
    let id = file.strip_suffix(".pack")?;
    (pack::is_pack_id(id) && id.starts_with(dir) && dir.len() == 2).then_some(id)
}

/// What a remote holds under `packs/`.
#[derive(Debug, Default)]
pub struct Listing {
    /// Pack id → size.
    pub packs: BTreeMap<String, u64>,
    /// Keys under packs/ that name no pack.
    pub other: Vec<String>,
}

/// Checks that `location` can be reached with the credentials at hand and whether
/// it already holds a vault, before anything local is created.
pub fn probe(location: &Location) -> Result<bool> {
    let backend = Backend::open(location)?;
    let found = backend.list("")?;
    Ok(found
        .iter()
        .any(|(k, _)| k == MARKER_KEY || key_pack_id(k).is_some()))
}

impl Vault {
    /// Makes this (new) vault keep its packs at `location`: writes remote.toml, then
    /// either marks the remote and uploads the key files (a new remote) or fetches
    /// the key files (`existing`; the caller then rebuilds the index from the packs).
    pub fn attach_remote(
        &mut self,
        location: &Location,
        cache: CacheSize,
        existing: bool,
    ) -> Result<()> {
        let path = self.root().join(CONFIG_FILE);
        let text = toml::to_string(&Config {
            url: location.to_string(),
            cache_size: cache.text(),
        })
        .map_err(|e| StoreError::Vault(format!("{}: {e}", path.display())))?;
        create_private(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(io_at(&path))?;
        self.set_remote(Remote::load(self.root())?);
        let backend = self
            .remote()
            .expect("remote.toml was just written")
            .backend()?;
        let keys = self.root().join(KEYS_DIR);
        if existing {
            for (key, size) in backend.list(&format!("{KEYS_DIR}/"))? {
                let name = key.rsplit('/').next().unwrap_or_default();
                if name.is_empty() || name.starts_with('.') {
                    continue;
                }
                if size > crate::store::crypto::keys::MAX_KEY_FILE {
                    return Err(StoreError::Vault(format!(
                        "off-site storage: {key} is {size} bytes, too large for a key file; \
                         remove it from the bucket"
                    )));
                }
                create_private_dir(&keys)?;
                backend.download(&key, &keys.join(name), Expected::Exactly(size), true)?;
            }
        } else {
            self.sync_keys()?;
            backend.put(MARKER_KEY, MARKER_TEXT.as_bytes().to_vec())?;
        }
        Ok(())
    }

    /// Mirrors `<vault>/keys/` (the encryption's key files) to the remote: every
    /// local key file uploaded, a remote one removed locally (`key remove`) deleted.
    pub fn sync_keys(&self) -> Result<()> {
        let Some(remote) = self.remote() else {
            return Ok(());
        };
        let backend = remote.backend()?;
        let keys = self.root().join(KEYS_DIR);
        let mut local = HashSet::new();
        if let Ok(dir) = fs::read_dir(&keys) {
            for e in dir {
                let e = e.map_err(io_at(&keys))?;
                let name = e.file_name().to_string_lossy().into_owned();
                // Only key files themselves: never what a link points at, nor a
                // temporary file of a key being written.
                let plain = e.file_type().is_ok_and(|t| t.is_file());
                let path = e.path();
                if plain && !name.starts_with('.') && !name.ends_with(".tmp") {
                    let key = format!(
                        "{KEYS_DIR}/{}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    );
                    backend.put_file(&key, &path)?;
                    local.insert(key);
                }
            }
        }
        for (key, _) in backend.list(&format!("{KEYS_DIR}/"))? {
            if !local.contains(&key) {
                backend.delete(&key)?;
            }
        }
        Ok(())
    }

    /// Finishes a pack (durable under its final name) and, for a vault with a
    /// remote, uploads it: the caller commits it to the index only after this.
    pub fn finish_pack(&self, w: PackWriter) -> Result<FinishedPack> {
        let finished = w.finish()?;
        self.upload_pack(&finished.id)?;
        Ok(finished)
    }

    /// Uploads a finished local pack (nothing to do without a remote).
    pub fn upload_pack(&self, id: &str) -> Result<()> {
        if let Some(remote) = self.remote() {
            remote
                .backend()?
                .put_file(&pack_key(id), &self.pack_path(id))?;
        }
        Ok(())
    }

    /// Where pack `id` is off-site (`s3://bucket/prefix/packs/…`), for messages.
    pub fn remote_place(&self, id: &str) -> String {
        match self.remote() {
            Some(r) => match r.backend() {
                Ok(b) => b.describe(&pack_key(id)),
                Err(_) => format!("{}/{}", r.location(), pack_key(id)),
            },
            None => self.pack_path(id).display().to_string(),
        }
    }

    /// Deletes the remote copy of a pack (nothing to do without a remote).
    pub fn delete_remote_pack(&self, id: &str) -> Result<()> {
        if let Some(remote) = self.remote() {
            remote.backend()?.delete(&pack_key(id))?;
        }
        Ok(())
    }

    /// The local file of pack `id`, downloaded into the cache when it is only
    /// remote. A cache hit is marked as recently used. (Another process may trim
    /// the cache before the caller opens the path; [`Vault::open_pack`] cannot lose.)
    pub fn cached_pack(&self, id: &str) -> Result<PathBuf> {
        let path = self.pack_path(id);
        if self.remote().is_some() {
            drop(self.open_pack(id)?);
        }
        Ok(path)
    }

    /// The remote of a vault that keeps pack `id` off-site while its cache lacks it:
    /// what reads the pack by range instead of downloading it ask this.
    pub(crate) fn off_site_only(&self, id: &str) -> Option<&Remote> {
        self.remote()
            .filter(|_| pack::is_pack_id(id) && !self.pack_path(id).exists())
    }

    /// Blob `entry` (from the index) of pack `id`, by one ranged GET of its bytes,
    /// when the vault keeps the pack off-site and the cache lacks it: a small blob
    /// (a tombstone) costs no download of its pack. None: read it from the cache as
    /// usual. Checked as a read from the file is, its lengths first against the
    /// format's caps, so the GET is bounded.
    pub fn read_uncached_blob(&self, id: &str, entry: &pack::BlobEntry) -> Result<Option<Vec<u8>>> {
        let Some(remote) = self.off_site_only(id) else {
            return Ok(None);
        };
        let backend = remote.backend()?;
        let key = pack_key(id);
        let place = PathBuf::from(backend.describe(&key));
        entry
            .header
            .check(self.keys().is_some())
            .map_err(|what| pack::PackError::Damaged {
                path: place.clone(),
                what,
            })?;
        let bytes = backend.read_range(&key, pack::blob_range(entry))?;
        Ok(Some(pack::raw_from(&place, entry, &bytes, self.keys())?))
    }

    /// Drops pack `id` from a bounded cache (a copy that failed its checks: the next
    /// read fetches it again). False where the local file is the only or a durable
    /// copy, which is then left alone for verify to report.
    pub fn evict_cached(&self, id: &str) -> bool {
        match self.remote() {
            Some(r) if r.cache_size() != CacheSize::All && pack::is_pack_id(id) => {
                fs::remove_file(self.pack_path(id)).is_ok()
            }
            _ => false,
        }
    }

    /// Pack `id` opened for reading, from the cache, else downloaded into it. One
    /// download per pack at a time in this process: readers of the same pack wait
    /// for it instead of fetching it again.
    pub fn open_pack(&self, id: &str) -> Result<fs::File> {
        let path = self.pack_path(id);
        let open_local = || match fs::File::open(&path) {
            Ok(f) => {
                // Recently used: the cache is trimmed oldest first.
                let _ = fs::File::options()
                    .append(true)
                    .open(&path)
                    .and_then(|w| w.set_modified(std::time::SystemTime::now()));
                Ok(Some(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at(&path)(e)),
        };
        let remote = match self.remote() {
            Some(r) if pack::is_pack_id(id) => r,
            _ => return fs::File::open(&path).map_err(io_at(&path)),
        };
        let _turn = Fetching::wait_for(id);
        if let Some(f) = open_local()? {
            return Ok(f);
        }
        let fetching = self.root().join("fetching");
        create_private_dir(&fetching)?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let part = fetching.join(format!("{id}.{}.{n}", std::process::id()));
        let _ = fs::remove_file(&part);
        // A bounded cache is disposable: its packs are not fsynced (rclone and
        // restic's cache do not either; it halves a restore's time here), and one
        // that a crash left damaged is fetched again on first use (see
        // `evict_cached`). With `--cache-size all` the cache is the local copy, and
        // durable like any pack written here.
        let durable = remote.cache_size() == CacheSize::All;
        if let Err(e) = remote.backend()?.download(
            &pack_key(id),
            &part,
            Expected::AtMost(pack::MAX_PACK_LEN),
            durable,
        ) {
            let _ = fs::remove_file(&part);
            return Err(e.into());
        }
        let file = fs::File::open(&part).map_err(io_at(&part))?;
        let dir = path.parent().expect("a pack path has a folder");
        create_private_dir(dir)?;
        fs::rename(&part, &path).map_err(io_at(&path))?;
        Ok(file)
    }

    /// The remote's packs, or None for a vault without a remote.
    pub fn remote_listing(&self) -> Result<Option<Listing>> {
        let Some(remote) = self.remote() else {
            return Ok(None);
        };
        let mut listing = Listing::default();
        for (key, size) in remote.backend()?.list(PACKS_PREFIX)? {
            match key_pack_id(&key) {
                Some(id) => {
                    listing.packs.insert(id.to_string(), size);
                }
                None => listing.other.push(key),
            }
        }
        Ok(Some(listing))
    }

    /// The id of every pack there is: the remote's for a vault with a remote (read
    /// them through [`Vault::cached_pack`]), else those under packs/.
    pub fn every_pack(&self) -> Result<Vec<String>> {
        match self.remote_listing()? {
            Some(listing) => Ok(listing.packs.into_keys().collect()),
            None => Ok(self
                .pack_files()?
                .into_iter()
                .filter_map(|f| match f {
                    PackFile::Pack { id, .. } => Some(id),
                    _ => None,
                })
                .collect()),
        }
    }

    /// Makes the cache and the remote hold the same packs, for rebuilding the index
    /// from them: uploads the finished local packs the remote lacks (a writer killed
    /// before its upload), downloads every remote pack the cache lacks.
    pub fn sync_all_packs(&self) -> Result<()> {
        let Some(listing) = self.remote_listing()? else {
            return Ok(());
        };
        for f in self.pack_files()? {
            if let PackFile::Pack { id, path } = f {
                if !listing.packs.contains_key(&id) && pack::read_index(&path, self.keys()).is_ok()
                {
                    self.upload_pack(&id)?;
                }
            }
        }
        // A few at once: each is one GET (see backend.rs).
        let ids: Vec<&String> = listing.packs.keys().collect();
        super::workers::run(&ids, || Ok(()), |_, id| self.cached_pack(id).map(drop))
    }

    /// Brings the cache under its bound, dropping the least recently used packs the
    /// index has committed (so they are in the remote). Best effort: the cache is
    /// only a copy.
    pub fn trim_cache(&self) {
        let Some(CacheSize::Bytes(limit)) = self.remote().map(|r| r.cache_size()) else {
            return;
        };
        let Ok(committed) = Repository::open_read_only(self).and_then(|r| r.pack_names()) else {
            return;
        };
        let _ = trim(self, limit, &committed);
    }
}

/// The packs this process is downloading; a second reader of one waits its turn.
struct Fetching {
    id: String,
}

static IN_FLIGHT: std::sync::Mutex<Option<HashSet<String>>> = std::sync::Mutex::new(None);
static DONE: std::sync::Condvar = std::sync::Condvar::new();

impl Fetching {
    fn wait_for(id: &str) -> Fetching {
        let mut set = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        while set.get_or_insert_with(HashSet::new).contains(id) {
            set = DONE.wait(set).unwrap_or_else(|e| e.into_inner());
        }
        set.get_or_insert_with(HashSet::new).insert(id.to_string());
        Fetching { id: id.to_string() }
    }
}

impl Drop for Fetching {
    fn drop(&mut self) {
        let mut set = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = set.as_mut() {
            set.remove(&self.id);
        }
        DONE.notify_all();
    }
}

/// Packs fetched ahead of a reader that has not used them yet: trimming leaves them
/// alone, so read-ahead never evicts what is about to be read (and downloaded twice).
static PINNED: std::sync::Mutex<BTreeMap<String, usize>> = std::sync::Mutex::new(BTreeMap::new());

/// Keeps pack `id` in the cache until as many [`unpin`]s.
pub(crate) fn pin(id: &str) {
    let mut pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
    *pinned.entry(id.to_string()).or_default() += 1;
}

pub(crate) fn unpin(id: &str) {
    let mut pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = pinned.get_mut(id) {
        *n -= 1;
        if *n == 0 {
            pinned.remove(id);
        }
    }
}

fn trim(vault: &Vault, limit: u64, committed: &HashSet<String>) -> Result<()> {
    let mut total = 0u64;
    let mut candidates = Vec::new();
    for f in vault.pack_files()? {
        let PackFile::Pack { id, path } = f else {
            continue;
        };
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        total += meta.len();
        if committed.contains(&id) {
            let used = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            candidates.push((used, meta.len(), path, id));
        }
    }
    candidates.sort();
    for (_, len, path, id) in candidates {
        if total <= limit {
            break;
        }
        let pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
        if !pinned.contains_key(&id) && fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse() {
        assert_eq!(CacheSize::parse("all").unwrap(), CacheSize::All);
        assert_eq!(CacheSize::parse("2GiB").unwrap(), CacheSize::Bytes(2 << 30));
        assert_eq!(
            CacheSize::parse("500M").unwrap(),
            CacheSize::Bytes(500 << 20)
        );
        assert_eq!(CacheSize::parse("4096").unwrap(), CacheSize::Bytes(4096));
        assert!(CacheSize::parse("lots").is_err());
        assert!(CacheSize::parse("99999999999T").is_err());
    }

    #[test]
    fn pack_keys_round_trip() {
        let id = format!("ab{}", "0".repeat(30));
        assert_eq!(key_pack_id(&pack_key(&id)), Some(id.as_str()));
        assert_eq!(key_pack_id("packs/cd/abc.pack"), None);
        assert_eq!(key_pack_id(&format!("packs/cd/{id}.pack")), None);
    }
}

//! Where objects live: one small synchronous interface (put, ranged get, download,
//! list, stat, delete) over opendal, so that a local folder (`fs`) and an
//! S3-compatible bucket (`s3`) are two configurations of the same code.
//!
//! Keys are relative (`packs/ab/<id>.pack`, `keys/…`) under the backend's root (a
//! folder, or `bucket/prefix`). opendal is async: each backend owns a small tokio
//! runtime and blocks on it, from a scoped thread when the caller already runs
//! inside one (the viewer), since a runtime cannot block inside another.
//!
//! Requests that fail with a temporary error (5xx, throttling, a timeout, a reset
//! connection) are retried with exponential backoff and jitter (`RetryLayer`); an
//! error that outlasts the retries names the object and the bucket.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{ErrorKind, Operator};

use super::vault::create_private;

/// Credentials and endpoint, from the environment as AWS tools read them.
pub const ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
pub const REGION_ENV: &str = "AWS_REGION";
pub const ENDPOINT_ENV: &str = "TT_VAULT_S3_ENDPOINT";
/// Retries after the first try of a request (tests lower it to fail fast).
pub const RETRIES_ENV: &str = "TT_VAULT_S3_RETRIES";
const DEFAULT_REGION: &str = "us-east-1";
/// Uploads and downloads move in parts of this size, a few at once.
const PART: usize = 8 * 1024 * 1024;
const PARALLEL_PARTS: usize = 4;
/// A file up to this size (a pack, ~32 MiB) goes up in one PUT: a multipart upload
/// costs three more requests and the server's assembling of the parts (slow on
/// moto, billed per request on AWS), where S3 takes one PUT up to 5 GiB. Callers
/// upload a few packs at once instead, so memory stays a few packs.
pub const SINGLE_PUT_MAX: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("{place}: {what}")]
pub struct BackendError {
    /// The object (or bucket) with the backend it is in, e.g. `s3://b/tt/packs/ab/….pack`.
    pub place: String,
    pub what: String,
    /// The object was not there (a missing pack, not a failed request).
    pub not_found: bool,
}

pub type Result<T> = std::result::Result<T, BackendError>;

/// Where a backend points, as the user wrote it: `s3://bucket/prefix` or a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    S3 { bucket: String, prefix: String },
    Folder(std::path::PathBuf),
}

impl Location {
    /// Parses `s3://bucket[/prefix]`, or an absolute folder path (`file:///x` or `/x`).
    pub fn parse(text: &str) -> std::result::Result<Location, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c);
            if bucket.len() < 3 || bucket.len() > 63 || !bucket.chars().all(valid) {
                return Err(format!(
                    "{text}: `{bucket}` is not an S3 bucket name (3 to 63 lower-case letters, \
                     digits, dots and hyphens); write s3://BUCKET/PREFIX"
                ));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|p| p == ".." || p == ".") {
                return Err(format!("{text}: the prefix may not contain `.` or `..`"));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if Path::new(path).is_absolute() {
            Ok(Location::Folder(path.into()))
        } else {
            Err(format!(
                "{text}: a remote is s3://BUCKET/PREFIX or an absolute folder path"
            ))
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Folder(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An opened backend (no request is made until the first operation).
/// What a download accepts as the object's size.
#[derive(Debug, Clone, Copy)]
pub enum Expected {
    /// The size a listing gave.
    Exactly(u64),
    /// Whatever the server says, up to this.
    AtMost(u64),
}

#[derive(Clone)]
pub struct Backend {
    op: Operator,
    rt: Arc<tokio::runtime::Runtime>,
    location: Location,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.location)
    }
}

impl Backend {
    pub fn open(location: &Location) -> Result<Backend> {
        // opendal builds an HTTP client for every service, the folder's too.
        install_tls_provider();
        let fail = |what: String| BackendError {
            place: location.to_string(),
            what,
            not_found: false,
        };
        let op = match location {
            Location::Folder(path) => {
                let b = opendal::services::Fs::default().root(&path.to_string_lossy());
                Operator::new(b).map_err(|e| fail(e.to_string()))?.finish()
            }
            Location::S3 { bucket, prefix } => {
                Operator::new(s3_builder(bucket, prefix).map_err(fail)?)
                    .map_err(|e| fail(e.to_string()))?
                    .finish()
            }
        };
        let retries = std::env::var(RETRIES_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(6);
        let op = op
            .layer(
                TimeoutLayer::new()
                    .with_timeout(Duration::from_secs(60))
                    .with_io_timeout(Duration::from_secs(30)),
            )
            .layer(
                RetryLayer::new()
                    .with_max_times(retries)
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(10))
                    .with_factor(2.0)
                    .with_jitter(),
            );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tt-vault-storage")
            .on_thread_start(block_sigpipe)
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Backend {
            op,
            rt: Arc::new(rt),
            location: location.clone(),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// `s3://bucket/prefix/key`, or the folder path joined with `key`: for messages.
    pub fn describe(&self, key: &str) -> String {
        match &self.location {
            Location::Folder(p) => p.join(key).display().to_string(),
            loc => format!("{loc}/{key}"),
        }
    }

    fn error(&self, key: &str, what: &str, e: opendal::Error) -> BackendError {
        let not_found = e.kind() == ErrorKind::NotFound;
        let hint = match e.kind() {
            ErrorKind::PermissionDenied => format!(
                "; check {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, and that they may use this bucket"
            ),
            ErrorKind::ConfigInvalid => {
                format!("; check {ENDPOINT_ENV}, {REGION_ENV} and the bucket name")
            }
            _ if e.is_temporary() || e.is_persistent() => {
                " (retried with backoff; the storage did not recover — run again later: \
                 nothing committed was lost)"
                    .to_string()
            }
            _ => String::new(),
        };
        BackendError {
            place: self.describe(key),
            what: format!("{what}: {}{hint}", short_error(&e)),
            not_found,
        }
    }

    /// Runs a future to completion on a thread of its own: one that ignores SIGPIPE
    /// (the binary restores its default for `| head`, and a server that drops the
    /// connection must be an error, not the death of the process), and that works
    /// also when the caller runs inside another runtime.
    fn block<F: Future + Send>(&self, fut: F) -> F::Output
    where
        F::Output: Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| {
                block_sigpipe();
                self.rt.block_on(fut)
            })
            .join()
            .expect("storage thread")
        })
    }

    /// Uploads a local file: one PUT up to [`SINGLE_PUT_MAX`], a multipart upload
    /// (parts sent a few at once) above it; a failed multipart upload is aborted.
    pub fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        let local_err = |e: std::io::Error| BackendError {
            place: local.display().to_string(),
            what: format!("reading for upload: {e}"),
            not_found: false,
        };
        let file = std::fs::File::open(local).map_err(local_err)?;
        let size = file.metadata().map_err(local_err)?.len();
        if size <= SINGLE_PUT_MAX {
            use std::os::unix::fs::FileExt;
            let mut bytes = vec![0u8; size as usize];
            file.read_exact_at(&mut bytes, 0).map_err(local_err)?;
            return self.put(key, bytes);
        }
        self.block(async {
            let mut w = self
                .op
                .writer_with(key)
                .chunk(PART)
                .concurrent(PARALLEL_PARTS)
                .await
                .map_err(|e| self.error(key, "upload", e))?;
            let mut sent = 0u64;
            let mut buf = vec![0u8; PART];
            let outcome: Result<()> = async {
                use std::os::unix::fs::FileExt;
                while sent < size {
                    let n = (size - sent).min(PART as u64) as usize;
                    file.read_exact_at(&mut buf[..n], sent).map_err(local_err)?;
                    w.write(buf[..n].to_vec())
                        .await
                        .map_err(|e| self.error(key, "upload", e))?;
                    sent += n as u64;
                }
                w.close().await.map_err(|e| self.error(key, "upload", e))?;
                Ok(())
            }
            .await;
            if outcome.is_err() {
                let _ = w.abort().await;
            }
            outcome
        })
    }

    /// Writes small bytes (a marker, a key file) in one PUT.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.block(async {
            self.op
                .write(key, bytes)
                .await
                .map(|_| ())
                .map_err(|e| self.error(key, "upload", e))
        })
    }

    /// Downloads a whole object to `local` (a new private file), streaming it (a
    /// large one in parts fetched a few at once), of the size `expected` allows
    /// (a listing's, or at most a bound: never what the server alone says);
    /// `durable`: fsynced before it returns. Returns its size.
    pub fn download(
        &self,
        key: &str,
        local: &Path,
        expected: Expected,
        durable: bool,
    ) -> Result<u64> {
        let local_err = |e: std::io::Error| BackendError {
            place: local.display().to_string(),
            what: format!("writing a download: {e}"),
            not_found: false,
        };
        let mut out = create_private(local).map_err(local_err)?;
        self.block(async {
            let size = match expected {
                Expected::Exactly(s) => s,
                Expected::AtMost(max) => {
                    let size = self
                        .op
                        .stat(key)
                        .await
                        .map_err(|e| self.error(key, "stat", e))?
                        .content_length();
                    if size > max {
                        return Err(BackendError {
                            place: self.describe(key),
                            what: format!(
                                "is {size} bytes, more than the {max} an object of ours can be"
                            ),
                            not_found: false,
                        });
                    }
                    size
                }
            };
            // Like uploads: one GET up to SINGLE_PUT_MAX (callers fetch several
            // packs at once), ranges a few at once above it.
            let mut reader = self.op.reader_with(key);
            if size > SINGLE_PUT_MAX {
                reader = reader.chunk(PART).concurrent(PARALLEL_PARTS);
            }
            let reader = reader.await.map_err(|e| self.error(key, "download", e))?;
            let mut stream = reader
                .into_bytes_stream(0..size)
                .await
                .map_err(|e| self.error(key, "download", e))?;
            let mut got = 0u64;
            while let Some(part) = stream.next().await {
                let part = part.map_err(|e| BackendError {
                    place: self.describe(key),
                    what: format!("download: {e}"),
                    not_found: false,
                })?;
                got += part.len() as u64;
                if got > size {
                    break;
                }
                out.write_all(&part).map_err(local_err)?;
            }
            if got != size {
                return Err(BackendError {
                    place: self.describe(key),
                    what: format!("download gave {got} bytes where {size} were listed"),
                    not_found: false,
                });
            }
            if durable {
                out.sync_all().map_err(local_err)?;
            }
            Ok(got)
        })
    }

    /// Bytes `range` of object `key`, in one ranged GET: exactly that many, never
    /// more kept (a server sending more is cut off); an object that ends before the
    /// range does is an error naming it.
    pub fn read_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
        let want = range.end.saturating_sub(range.start);
        let short = |got: u64| BackendError {
            place: self.describe(key),
            what: format!(
                "a read of bytes {}..{} gave {got} bytes, not {want} (shorter than listed, \
                 or changed since)",
                range.start, range.end
            ),
            not_found: false,
        };
        // The caller bounds ranges by an object's listed size, itself bounded by
        // the pack format's caps: never a buffer the server alone sized.
        let cap = usize::try_from(want).map_err(|_| short(0))?;
        if cap == 0 {
            // An empty range would be read by some services as the whole object.
            return Ok(Vec::new());
        }
        self.block(async {
            let reader = self
                .op
                .reader(key)
                .await
                .map_err(|e| self.error(key, "ranged read", e))?;
            let mut stream = reader
                .into_bytes_stream(range.clone())
                .await
                .map_err(|e| self.error(key, "ranged read", e))?;
            let mut out = Vec::with_capacity(cap);
            while let Some(part) = stream.next().await {
                // opendal reports the service's error (a missing object, here: the
                // request is only sent now) inside the stream's io::Error.
                let part = part.map_err(|e| {
                    let text = e.to_string();
                    match e.into_inner().map(|i| i.downcast::<opendal::Error>()) {
                        Some(Ok(e)) => self.error(key, "ranged read", *e),
                        _ => BackendError {
                            place: self.describe(key),
                            what: format!("ranged read: {text}"),
                            not_found: false,
                        },
                    }
                })?;
                if out.len() + part.len() > cap {
                    return Err(short((out.len() + part.len()) as u64));
                }
                out.extend_from_slice(&part);
            }
            if out.len() != cap {
                return Err(short(out.len() as u64));
            }
            Ok(out)
        })
    }

    /// Every object under `prefix` (recursive), with its size, sorted by key.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.block(async {
            let mut lister = self
                .op
                .lister_with(prefix)
                .recursive(true)
                .await
                .map_err(|e| self.error(prefix, "list", e))?;
            let mut out = Vec::new();
            while let Some(entry) = lister.next().await {
                let entry = entry.map_err(|e| self.error(prefix, "list", e))?;
                if entry.metadata().is_file() {
                    out.push((entry.path().to_string(), entry.metadata().content_length()));
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// Deletes an object; one already gone is fine.
    pub fn delete(&self, key: &str) -> Result<()> {
        self.block(async {
            match self.op.delete(key).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.error(key, "delete", e)),
            }
        })
    }
}

fn s3_builder(bucket: &str, prefix: &str) -> std::result::Result<opendal::services::S3, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(key), Some(secret)) = (env(ACCESS_KEY_ENV), env(SECRET_KEY_ENV)) else {
        return Err(format!(
            "no credentials: set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} (and {ENDPOINT_ENV} for a \
             service other than AWS)"
        ));
    };
    let region = env(REGION_ENV).unwrap_or_else(|| DEFAULT_REGION.to_string());
    let mut b = opendal::services::S3::default()
        .bucket(bucket)
        .root(&format!("/{prefix}"))
        .region(&region)
        .access_key_id(&key)
        .secret_access_key(&secret)
        // Only what is set here: no profile files, no instance metadata request.
        .disable_config_load()
        .disable_ec2_metadata();
    if let Some(endpoint) = env(ENDPOINT_ENV) {
        // opendal addresses buckets path-style unless told otherwise, which is what
        // MinIO, Garage, Ceph and moto expect behind a custom endpoint.
        b = b.endpoint(&endpoint);
    }
    Ok(b)
}

/// Blocks SIGPIPE in this thread: a write to a closed socket fails with EPIPE.
fn block_sigpipe() {
    // SAFETY: changes only this thread's signal mask, with a set built here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// rustls needs one process-wide crypto provider; reqwest's other uses share it.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An opendal error without its long context dump: the kind and the service's word.
fn short_error(e: &opendal::Error) -> String {
    let kind = match e.kind() {
        ErrorKind::NotFound => "not found".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::RateLimited => "throttled".to_string(),
        k => k.to_string(),
    };
    let message: String = e.message().chars().take(300).collect();
    if message.is_empty() {
        kind
    } else {
        format!("{kind} ({message})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_or_say_why() {
        assert_eq!(
            Location::parse("s3://bucket/tt/").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "tt".into()
            }
        );
        assert_eq!(
            Location::parse("s3://bucket").unwrap().to_string(),
            "s3://bucket"
        );
        assert!(Location::parse("s3://B").unwrap_err().contains("bucket"));
        assert!(Location::parse("s3://bucket/../x").is_err());
        assert!(Location::parse("relative/dir").is_err());
        assert_eq!(
            Location::parse("file:///srv/tt").unwrap(),
            Location::Folder("/srv/tt".into())
        );
    }

    #[test]
    fn a_folder_backend_stores_lists_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(&Location::Folder(dir.path().join("remote"))).unwrap();
        let src = dir.path().join("src");
        std::fs::write(&src, vec![7u8; PART + 5]).unwrap();
        b.put_file("packs/ab/x.pack", &src).unwrap();
        b.put("VAULT", b"v".to_vec()).unwrap();
        assert_eq!(
            b.list("packs/").unwrap(),
            vec![("packs/ab/x.pack".to_string(), PART as u64 + 5)]
        );
        let back = dir.path().join("back");
        assert_eq!(
            b.download("packs/ab/x.pack", &back, Expected::AtMost(1 << 30), true)
                .unwrap(),
            PART as u64 + 5
        );
        assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&src).unwrap());
        // An object larger than any of ours is refused before a byte is kept.
        let e = b
            .download(
                "packs/ab/x.pack",
                &dir.path().join("big"),
                Expected::AtMost(PART as u64),
                true,
            )
            .unwrap_err();
        assert!(e.what.contains("more than"), "{e}");
        b.delete("packs/ab/x.pack").unwrap();
        b.delete("packs/ab/x.pack").unwrap();
        assert_eq!(b.list("packs/").unwrap(), vec![]);
        let e = b
            .download(
                "nope",
                &dir.path().join("n"),
                Expected::AtMost(1 << 30),
                true,
            )
            .unwrap_err();
        assert!(e.not_found && e.place.ends_with("nope"), "{e}");
    }

    #[test]
    fn a_ranged_read_gives_exactly_the_range_or_names_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(&Location::Folder(dir.path().join("remote"))).unwrap();
        let bytes: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        b.put("packs/ab/x.pack", bytes.clone()).unwrap();
        assert_eq!(
            b.read_range("packs/ab/x.pack", 900..1000).unwrap(),
            &bytes[900..]
        );
        assert_eq!(b.read_range("packs/ab/x.pack", 3..7).unwrap(), &bytes[3..7]);
        assert!(b.read_range("packs/ab/x.pack", 5..5).unwrap().is_empty());
        // Past the end: an error naming the object, whatever the service gives back.
        let e = b.read_range("packs/ab/x.pack", 900..1100).unwrap_err();
        assert!(e.place.ends_with("packs/ab/x.pack"), "{e}");
        let e = b.read_range("nope", 0..10).unwrap_err();
        assert!(e.not_found && e.place.ends_with("nope"), "{e}");
    }

    #[test]
    fn a_file_above_the_single_put_bound_goes_up_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let b = Backend::open(&Location::Folder(dir.path().join("remote"))).unwrap();
        let src = dir.path().join("src");
        let mut bytes = vec![3u8; SINGLE_PUT_MAX as usize + 9];
        bytes[PART * 2 + 1] = 4;
        std::fs::write(&src, &bytes).unwrap();
        b.put_file("big", &src).unwrap();
        let back = dir.path().join("back");
        b.download("big", &back, Expected::AtMost(1 << 30), true)
            .unwrap();
        assert!(std::fs::read(&back).unwrap() == bytes);
    }
}

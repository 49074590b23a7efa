//! Where the export's files come from: a ZIP as downloaded, an extracted folder, or a
//! bare JSON file. Files are read as streams, never extracted to disk.
//!
//! ZIPs are untrusted input. Entry names with `..`, absolute or drive paths, and
//! symlink entries are refused outright (nothing is written anywhere, but an archive
//! carrying them was not made by TikTok). Decompression is bounded twice: by the
//! declared sizes when the archive is opened, and by counting the bytes actually
//! inflated while reading, because declared sizes can lie.
//!
//! Some TikTok ZIPs have a central directory that strict tools reject. When the
//! central directory cannot be read, the entries are read in order from their local
//! headers instead.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use super::ExportError;

/// Bounds on what reading a ZIP may inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total uncompressed bytes over all entries read.
    pub max_total_uncompressed: u64,
    /// Largest uncompressed/compressed ratio allowed for an entry above `ratio_from`.
    pub max_ratio: u64,
    /// Entries smaller than this (uncompressed) are not ratio-checked: tiny files of
    /// repeated text compress extremely well and are harmless.
    pub ratio_from: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_uncompressed: 8 << 30,
            max_ratio: 200,
            ratio_from: 1 << 20,
        }
    }
}

/// The files of an export, however it was packaged.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(PathBuf),
    /// An extracted folder and its files, walked once when opened.
    Folder {
        root: PathBuf,
        files: Vec<String>,
    },
    Zip {
        path: PathBuf,
        limits: Limits,
        /// False when the central directory is unreadable and entries are read in order
        /// from their local headers.
        indexed: bool,
    },
}

/// A file inside an export: its path relative to the export root, `/`-separated.
pub(crate) type Visit<'a> = dyn FnMut(&str, &mut dyn Read) -> Result<(), ExportError> + 'a;

impl Source {
    /// Classifies `path` and, for ZIPs, checks every entry before anything is parsed.
    /// Returns the source and the relative names of its files, in archive or sorted
    /// directory order.
    pub(crate) fn open(path: &Path, limits: Limits) -> Result<(Source, Vec<String>), ExportError> {
        let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
        if meta.is_dir() {
            let mut names = Vec::new();
            walk(path, path, &mut names)?;
            names.sort();
            let source = Source::Folder {
                root: path.to_path_buf(),
                files: names.clone(),
            };
            return Ok((source, names));
        }
        let mut file = File::open(path).map_err(|e| io_err(path, e))?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut file, &mut magic).map_err(|e| io_err(path, e))?;
        if magic[..n] != *b"PK\x03\x04" && magic[..n] != *b"PK\x05\x06" {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok((Source::File(path.to_path_buf()), vec![name]));
        }
        file.rewind().map_err(|e| io_err(path, e))?;
        match zip::ZipArchive::new(BufReader::new(file)) {
            Ok(mut archive) => {
                let mut names = Vec::with_capacity(archive.len());
                let mut declared = 0u64;
                for i in 0..archive.len() {
                    let entry = archive.by_index_raw(i).map_err(|e| bad_zip(path, e))?;
                    check_entry(path, &entry, &limits)?;
                    declared = declared.saturating_add(entry.size());
                    if declared > limits.max_total_uncompressed {
                        return Err(bomb(
                            path,
                            entry.name(),
                            format!(
                                "the entries declare more than {} bytes uncompressed",
                                limits.max_total_uncompressed
                            ),
                        ));
                    }
                    if !entry.is_dir() {
                        names.push(entry.name().to_string());
                    }
                }
                let source = Source::Zip {
                    path: path.to_path_buf(),
                    limits,
                    indexed: true,
                };
                Ok((source, names))
            }
            Err(_) => {
                // Tolerant path: list the entries by reading them in order.
                let source = Source::Zip {
                    path: path.to_path_buf(),
                    limits,
                    indexed: false,
                };
                let mut names = Vec::new();
                source.each(&|_| true, &mut |name, r| {
                    names.push(name.to_string());
                    io::copy(r, &mut io::sink()).map_err(|e| entry_io(path, name, e))?;
                    Ok(())
                })?;
                if names.is_empty() {
                    return Err(ExportError::BadZip {
                        zip: path.to_path_buf(),
                        detail: "no readable entries".into(),
                    });
                }
                Ok((source, names))
            }
        }
    }

    /// How a file of this source is named in messages (`export.zip!/user_data.json`).
    pub(crate) fn display(&self, name: &str) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Folder { root, .. } => root.join(name).display().to_string(),
            Source::Zip { path, .. } => format!("{}!/{}", path.display(), name),
        }
    }

    /// Streams each file whose relative name passes `want` to `visit`, in order, as
    /// it is (a byte order mark included: the parsers count it in their offsets).
    pub(crate) fn each(
        &self,
        want: &dyn Fn(&str) -> bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), ExportError> {
        match self {
            Source::File(path) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut file = File::open(path).map_err(|e| io_err(path, e))?;
                visit(&name, &mut file)
            }
            Source::Folder { root, files } => {
                for name in files.iter().filter(|n| want(n)) {
                    let full = root.join(name);
                    let mut file = File::open(&full).map_err(|e| io_err(&full, e))?;
                    visit(name, &mut file)?;
                }
                Ok(())
            }
            Source::Zip {
                path,
                limits,
                indexed,
            } => {
                let file = File::open(path).map_err(|e| io_err(path, e))?;
                let mut inflated = 0u64;
                if *indexed {
                    let mut archive =
                        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad_zip(path, e))?;
                    for i in 0..archive.len() {
                        let entry = archive.by_index(i).map_err(|e| bad_zip(path, e))?;
                        check_entry(path, &entry, limits)?;
                        if entry.is_dir() || !want(entry.name()) {
                            continue;
                        }
                        read_entry(path, entry, limits, &mut inflated, visit)?;
                    }
                } else {
                    let mut reader = BufReader::new(file);
                    loop {
                        let entry = match zip::read::read_zipfile_from_stream(&mut reader) {
                            Ok(Some(entry)) => entry,
                            Ok(None) => break,
                            Err(e) => return Err(bad_zip(path, e)),
                        };
                        check_entry(path, &entry, limits)?;
                        if entry.is_dir() || !want(entry.name()) {
                            // Dropping a streamed entry reads it to its end.
                            continue;
                        }
                        read_entry(path, entry, limits, &mut inflated, visit)?;
                    }
                }
                Ok(())
            }
        }
    }
}

fn read_entry<R: Read>(
    zip: &Path,
    entry: zip::read::ZipFile<'_, R>,
    limits: &Limits,
    inflated: &mut u64,
    visit: &mut Visit<'_>,
) -> Result<(), ExportError> {
    let name = entry.name().to_string();
    let compressed = entry.compressed_size().max(1);
    let mut guard = Guard {
        inner: entry,
        limits,
        read: 0,
        compressed,
        total: inflated,
        tripped: None,
    };
    let result = visit(&name, &mut guard);
    // A tripped limit surfaces inside the parser as an I/O error; report it as what it is.
    if let Some(detail) = guard.tripped.take() {
        return Err(bomb(zip, &name, detail));
    }
    result
}

/// Counts inflated bytes and stops reading at the configured limits.
struct Guard<'l, 't, R> {
    inner: R,
    limits: &'l Limits,
    read: u64,
    compressed: u64,
    total: &'t mut u64,
    tripped: Option<String>,
}

impl<R: Read> Read for Guard<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        *self.total += n as u64;
        let l = self.limits;
        let detail = if *self.total > l.max_total_uncompressed {
            Some(format!(
                "inflating the archive exceeded the limit of {} bytes",
                l.max_total_uncompressed
            ))
        } else if self.read > l.ratio_from && self.read / self.compressed > l.max_ratio {
            Some(format!(
                "{} compressed bytes inflate past {} bytes, a ratio above {}:1",
                self.compressed, self.read, l.max_ratio
            ))
        } else {
            None
        };
        if let Some(d) = detail {
            self.tripped = Some(d.clone());
            return Err(io::Error::other(format!("zip bomb: {d}")));
        }
        Ok(n)
    }
}

/// Refuses entries that could escape a target folder or that declare a bomb.
fn check_entry<R: Read>(
    zip: &Path,
    entry: &zip::read::ZipFile<'_, R>,
    limits: &Limits,
) -> Result<(), ExportError> {
    let name = entry.name();
    let unsafe_entry = |reason: &str| ExportError::UnsafeEntry {
        zip: zip.to_path_buf(),
        entry: name.to_string(),
        reason: reason.to_string(),
    };
    if name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':') {
        return Err(unsafe_entry("it has an absolute path"));
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Err(unsafe_entry("it has a `..` path component"));
    }
    if name.contains('\0') {
        return Err(unsafe_entry("its name contains a NUL byte"));
    }
    if entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000) {
        return Err(unsafe_entry("it is a symbolic link"));
    }
    let (size, packed) = (entry.size(), entry.compressed_size().max(1));
    if size > limits.max_total_uncompressed {
        return Err(bomb(
            zip,
            name,
            format!(
                "it declares {size} bytes uncompressed, over the limit of {}",
                limits.max_total_uncompressed
            ),
        ));
    }
    if size > limits.ratio_from && size / packed > limits.max_ratio {
        return Err(bomb(
            zip,
            name,
            format!(
                "it declares {packed} compressed bytes inflating to {size}, a ratio above {}:1",
                limits.max_ratio
            ),
        ));
    }
    Ok(())
}

/// Skips a UTF-8 byte order mark, which Windows tools and some exports prepend;
/// returns how many bytes that was.
pub(crate) fn skip_bom(reader: &mut impl BufRead) -> io::Result<u64> {
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
        return Ok(3);
    }
    Ok(0)
}

pub(crate) fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), ExportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        // Symlinks in an extracted folder are not followed: they are not part of an
        // export TikTok produced, and following them could read outside the folder.
        let kind = entry.file_type().map_err(|e| io_err(&path, e))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

pub(crate) fn io_err(path: &Path, source: io::Error) -> ExportError {
    ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn entry_io(zip: &Path, entry: &str, source: io::Error) -> ExportError {
    ExportError::Io {
        path: format!("{}!/{}", zip.display(), entry),
        source,
    }
}

fn bad_zip(zip: &Path, e: zip::result::ZipError) -> ExportError {
    ExportError::BadZip {
        zip: zip.to_path_buf(),
        detail: e.to_string(),
    }
}

fn bomb(zip: &Path, entry: &str, detail: String) -> ExportError {
    ExportError::ZipBomb {
        zip: zip.to_path_buf(),
        entry: entry.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Declared sizes can lie; the guard counts what is really inflated.
    #[test]
    fn the_guard_stops_an_entry_inflating_past_its_ratio() {
        let limits = Limits::default();
        let mut total = 0;
        let mut guard = Guard {
            inner: io::repeat(0).take(50 << 20),
            limits: &limits,
            read: 0,
            compressed: 1000,
            total: &mut total,
            tripped: None,
        };
        let err = io::copy(&mut guard, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("zip bomb"), "{err}");
        assert!(guard.tripped.unwrap().contains("200:1"));
        assert!(total < 2 << 20, "stopped early, after {total} bytes");
    }

    #[test]
    fn the_guard_stops_at_the_total_limit() {
        let limits = Limits {
            max_total_uncompressed: 1000,
            ..Limits::default()
        };
        let mut total = 900;
        let mut guard = Guard {
            inner: io::repeat(1).take(500),
            limits: &limits,
            read: 0,
            compressed: 500,
            total: &mut total,
            tripped: None,
        };
        assert!(io::copy(&mut guard, &mut io::sink()).is_err());
        assert!(guard.tripped.unwrap().contains("1000 bytes"));
    }
}

//! The "Download your data" export: opening (zip, folder, bare file) and parsing.
//!
//! [`Export::open`] finds the export's files and checks a ZIP's entries;
//! [`Export::parse`] streams every row to a sink as a [`Record`], whatever the layout
//! (three JSON generations and TXT; see `layout.rs`). Nothing is dropped: sections
//! not understood are emitted whole as [`Section::Raw`] and listed in the report.
//!
//! A damaged file is read as far as it can be: the records before the damage are
//! emitted and the damage is listed in [`ParseReport::damage`] with its exact place
//! (see `lenient.rs` for what is repaired). Only a file with nothing readable in it is
//! an error. Memory stays flat whatever the export holds: a huge string or verbatim
//! section is cut in the catalogue's copy, and [`ParseReport::capped`] says where.
//!
//! - `open.rs`: sources, ZIP safety and decompression limits
//! - `json.rs`: the streaming JSON walker
//! - `lenient.rs`: the byte stream under it: positions, trailing commas, long strings
//! - `bulk.rs`: the same byte stream, fast, without positions (read first)
//! - `bounded.rs`: rows and verbatim sections within a byte budget
//! - `txt.rs`: the TXT layout
//! - `layout.rs`: where each section lives in each layout
//! - `record.rs`: records and tolerant key matching
//! - `dates.rs`: export dates

mod bounded;
mod bulk;
mod dates;
mod json;
mod layout;
mod lenient;
mod open;
mod record;
mod txt;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use dates::Timestamp;
pub use layout::Layout;
pub use open::Limits;
pub use record::{norm, present, Record, Section};

use open::Source;

/// Why an export could not be read. Each message names the file (and inside a ZIP the
/// entry), where in it, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read {path}: {source}; check that it exists and is readable")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} holds no TikTok export: no user_data_tiktok.json, user_data.json or .txt section files; \
         pass the ZIP from \"Download your data\", its extracted folder, or the JSON file"
    )]
    NotAnExport { path: PathBuf },
    #[error("{zip}: not a readable ZIP ({detail}); download the export again")]
    BadZip { zip: PathBuf, detail: String },
    #[error("{zip}: refusing entry {entry:?}: {reason}; TikTok does not produce such archives, so nothing was read from it")]
    UnsafeEntry {
        zip: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("{zip}: entry {entry:?} looks like a zip bomb: {detail}; reading stopped. If this is a genuine export, raise the limits")]
    ZipBomb {
        zip: PathBuf,
        entry: String,
        detail: String,
    },
    #[error(
        "{file}: malformed JSON at byte {offset} (line {line}, column {column}){}: {detail}; \
         nothing in it could be read as a TikTok export; pass the export's user_data_tiktok.json, \
         its folder or the ZIP",
        key_path_suffix(key_path)
    )]
    Json {
        file: String,
        offset: u64,
        line: usize,
        column: usize,
        /// The key path being read when the error was found.
        key_path: String,
        detail: String,
    },
    #[error("{file}: the catalogue rejected a record at {key_path}: {message}")]
    Sink {
        file: String,
        key_path: String,
        message: String,
    },
}

fn key_path_suffix(key_path: &str) -> String {
    if key_path.is_empty() {
        String::new()
    } else {
        format!(" inside {key_path}")
    }
}

/// A place in an export file and what was found there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    /// The file, as messages name it (`export.zip!/user_data_tiktok.json`).
    pub file: String,
    /// Bytes from the start of the file, from 0.
    pub offset: u64,
    /// From 1.
    pub line: u64,
    /// From 1, in characters.
    pub column: u64,
    /// What was wrong, what the catalogue did about it, and what to do.
    pub what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: byte {} (line {}, column {}): {}",
            self.file, self.offset, self.line, self.column, self.what
        )
    }
}

/// What a parse found.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseReport {
    pub layout: Layout,
    /// The account's username, from the profile.
    pub account: Option<String>,
    /// Records emitted, raw ones included.
    pub records: u64,
    /// Key paths (JSON) or file paths (TXT) of the sections understood, in file order.
    pub understood: Vec<String>,
    /// Key paths of the sections kept raw, in file order.
    pub kept_raw: Vec<String>,
    /// Damage read around or stopped at (malformed or truncated JSON): the export is
    /// not as TikTok made it, and the catalogue may miss what the damage hid.
    pub damage: Vec<Finding>,
    /// Values the catalogue holds only the beginning of (past its size caps); the
    /// stored export file has them whole.
    pub capped: Vec<Finding>,
}

/// An opened export, ready to parse (any number of times).
#[derive(Debug, Clone)]
pub struct Export {
    path: PathBuf,
    source: Source,
    kind: Kind,
    files: Vec<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    Json(String),
    Txt,
}

/// Raised whenever the same export bytes would parse into other records (a section
/// newly understood, say), so an export catalogued by an older parser is read again
/// rather than reused (see [`Export::fingerprint`]). 2: off-TikTok activity, settings,
/// devices, activity summary, location and profile views understood.
pub const PARSE_VERSION: u32 = 2;

const JSON_NAMES: &[&str] = &["user_data_tiktok.json", "user_data.json"];

fn base_name(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase()
}

fn is_txt(name: &str) -> bool {
    base_name(name).ends_with(".txt")
}

impl Export {
    /// Opens a ZIP (as downloaded, read tolerantly), an extracted folder, a bare
    /// `user_data_tiktok.json` / `user_data.json`, or a TXT-layout folder or ZIP, with
    /// the default ZIP [`Limits`].
    pub fn open(path: &Path) -> Result<Export, ExportError> {
        Export::open_with(path, Limits::default())
    }

    /// [`Export::open`] with explicit decompression limits.
    pub fn open_with(path: &Path, limits: Limits) -> Result<Export, ExportError> {
        let (source, files) = Source::open(path, limits)?;
        let json = files
            .iter()
            .find(|n| JSON_NAMES.contains(&base_name(n).as_str()))
            .or_else(|| match source {
                // A bare file under another name: trust the caller, unless it is TXT.
                Source::File(_) if !is_txt(&files[0]) => files.first(),
                _ => None,
            });
        let kind = match json {
            Some(name) => Kind::Json(name.clone()),
            None if files.iter().any(|n| is_txt(n)) => Kind::Txt,
            None => {
                return Err(ExportError::NotAnExport {
                    path: path.to_path_buf(),
                })
            }
        };
        Ok(Export {
            path: path.to_path_buf(),
            source,
            kind,
            files,
        })
    }

    /// The path given to [`Export::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every file of the export (relative, `/`-separated), including those not parsed;
    /// for a bare file, its name.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// BLAKE3 of the parser's [`PARSE_VERSION`] and the export's bytes as given: the
    /// file (a ZIP or a JSON file), or a folder's files with their names, in order.
    /// Exports with the same fingerprint parse alike, so the catalogue reads an
    /// identical export only once.
    pub fn fingerprint(&self) -> Result<[u8; 32], ExportError> {
        let mut h = blake3::Hasher::new();
        h.update(&PARSE_VERSION.to_le_bytes());
        fn io(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
            move |source| ExportError::Io {
                path: path.display().to_string(),
                source,
            }
        }
        match &self.source {
            Source::Folder { root, files } => {
                let mut names: Vec<&String> = files.iter().collect();
                names.sort();
                for name in names {
                    let path = root.join(name);
                    h.update(name.as_bytes());
                    h.update(&[0]);
                    h.update_reader(std::fs::File::open(&path).map_err(io(&path))?)
                        .map_err(io(&path))?;
                    h.update(&[0]);
                }
            }
            Source::File(path) | Source::Zip { path, .. } => {
                h.update_reader(std::fs::File::open(path).map_err(io(path))?)
                    .map_err(io(path))?;
            }
        }
        Ok(*h.finalize().as_bytes())
    }

    /// Streams every record to `sink`, in file order (TikTok lists newest first).
    /// A sink error aborts the parse and is returned as [`ExportError::Sink`].
    pub fn parse(
        &self,
        sink: &mut dyn FnMut(Record) -> Result<(), String>,
    ) -> Result<ParseReport, ExportError> {
        self.parse_as(sink, true)
    }

    /// [`Export::parse`] reading a JSON file through the exact reader alone: for an
    /// export known to have findings ([`Export::skim`] said None), which `parse`
    /// would read fast first for nothing.
    pub fn parse_placed(
        &self,
        sink: &mut dyn FnMut(Record) -> Result<(), String>,
    ) -> Result<ParseReport, ExportError> {
        self.parse_as(sink, false)
    }

    /// [`Export::parse`]; `fast` false reads a JSON file through the exact reader
    /// alone.
    fn parse_as(
        &self,
        sink: &mut dyn FnMut(Record) -> Result<(), String>,
        fast: bool,
    ) -> Result<ParseReport, ExportError> {
        let mut em = Emitter::new(sink);
        let layout = match &self.kind {
            Kind::Json(wanted) => self.parse_json(wanted, &mut em, fast)?,
            Kind::Txt => {
                self.source.each(&is_txt, &mut |name, reader| {
                    txt::parse(name, reader, &self.source.display(name), &mut em)
                })?;
                Layout::Txt
            }
        };
        Ok(em.report(layout))
    }
}

impl Export {
    /// Reads the JSON file `wanted` fast (see `bulk.rs`), then again placing every
    /// byte when the findings need places: the records come from the first read, the
    /// findings from the second, which drops its records (they are the same).
    fn parse_json(
        &self,
        wanted: &str,
        em: &mut Emitter<'_>,
        fast: bool,
    ) -> Result<Layout, ExportError> {
        let want = |n: &str| n == wanted;
        let exact = |em: &mut Emitter<'_>| {
            let mut layout = Layout::Json2020;
            self.source.each(&want, &mut |name, reader| {
                layout = json::parse(reader, &self.source.display(name), em)?;
                Ok(())
            })?;
            Ok(layout)
        };
        if !fast {
            return exact(em);
        }
        if let Some(layout) = self.read_fast(wanted, em)? {
            return Ok(layout);
        }
        let mut drop = |_| Ok(());
        let mut findings = Emitter::new(&mut drop);
        let layout = exact(&mut findings)?;
        em.damage = findings.damage;
        em.capped = findings.capped;
        Ok(layout)
    }
}

impl Export {
    /// Reads the JSON file `wanted` fast: its layout, or None when a finding needs a
    /// place (the records are all emitted either way).
    fn read_fast(&self, wanted: &str, em: &mut Emitter<'_>) -> Result<Option<Layout>, ExportError> {
        let mut layout = None;
        let mut placed = true;
        self.source.each(&|n| n == wanted, &mut |name, reader| {
            layout = json::parse_fast(reader, &self.source.display(name), em)?;
            placed &= layout.is_some();
            Ok(())
        })?;
        Ok(placed.then_some(layout.unwrap_or(Layout::Json2020)))
    }

    /// A cheaper [`Export::parse`] for a look before cataloguing: only the records of
    /// the sections `wanted` keeps (and the profile's) are built and streamed to
    /// `sink`; the other rows are read and checked as `parse` checks them, but not
    /// built. The report is what `parse` gives but for `records` (those streamed).
    /// None when the export is not as TikTok makes it (damage, repairs, values past
    /// the catalogue's caps: their findings need a full parse), or is not JSON: call
    /// [`Export::parse_placed`] then, after dropping what the sink was given.
    pub fn skim(
        &self,
        wanted: &dyn Fn(&Section) -> bool,
        sink: &mut dyn FnMut(Record) -> Result<(), String>,
    ) -> Result<Option<ParseReport>, ExportError> {
        let Kind::Json(name) = &self.kind else {
            return Ok(None);
        };
        let mut em = Emitter::new(sink);
        em.wanted = Some(wanted);
        Ok(self
            .read_fast(name, &mut em)?
            .map(|layout| em.report(layout)))
    }
}

/// Hands records to the caller's sink and keeps the tallies for the report.
pub(crate) struct Emitter<'s> {
    sink: &'s mut dyn FnMut(Record) -> Result<(), String>,
    records: u64,
    understood: Vec<String>,
    kept_raw: Vec<String>,
    account: Option<String>,
    /// The sink's error, kept while the parser unwinds.
    failed: Option<String>,
    damage: Vec<Finding>,
    capped: Vec<Finding>,
    /// The sections whose rows are built and streamed; None: all of them.
    wanted: Option<&'s dyn Fn(&Section) -> bool>,
}

impl<'s> Emitter<'s> {
    fn new(sink: &'s mut dyn FnMut(Record) -> Result<(), String>) -> Self {
        Emitter {
            sink,
            records: 0,
            understood: Vec::new(),
            kept_raw: Vec::new(),
            account: None,
            failed: None,
            damage: Vec::new(),
            capped: Vec::new(),
            wanted: None,
        }
    }

    fn report(self, layout: Layout) -> ParseReport {
        ParseReport {
            layout,
            account: self.account,
            records: self.records,
            understood: self.understood,
            kept_raw: self.kept_raw,
            damage: self.damage,
            capped: self.capped,
        }
    }

    /// True when the rows of `section` are built and streamed (the profile always is:
    /// it names the account).
    fn builds(&self, section: &Section) -> bool {
        *section == Section::Profile || self.wanted.is_none_or(|w| w(section))
    }

    fn emit(&mut self, rec: Record) -> Result<(), String> {
        // The account is the export's own profile username, the first one seen.
        if rec.section == Section::Profile && self.account.is_none() {
            self.account = rec.username.clone();
        }
        if !self.builds(&rec.section) {
            return Ok(());
        }
        match (self.sink)(rec) {
            Ok(()) => {
                self.records += 1;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn understood(&mut self, path: &str) {
        if !self.understood.iter().any(|p| p == path) {
            self.understood.push(path.to_string());
        }
    }

    fn kept_raw(&mut self, path: &str) {
        if !self.kept_raw.iter().any(|p| p == path) {
            self.kept_raw.push(path.to_string());
        }
    }
}

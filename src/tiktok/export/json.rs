//! Streaming reader for the JSON layouts.
//!
//! A heavy user's `user_data_tiktok.json` is hundreds of megabytes, almost all of it
//! one list (watch history). The file is walked with serde seeds: the category and
//! section maps are visited key by key, and each list is deserialized one element at
//! a time and handed to the sink, so memory stays flat whatever the export's size.
//! Only sections kept raw and single rows are ever held, each within the budget of
//! `bounded.rs`.
//!
//! Shape handled (see `layout.rs` for the names): root map › category map › section
//! map › list of row objects. Inside a section, scalar siblings of the list (`App`,
//! `IsFastLane`) are container metadata and are skipped; `ProfileMap` is the one-row
//! profile; `SettingsMap` and `ActivitySummaryMap` give a row per entry and
//! `LocationData` is one row; `ChatHistory` is a map from `"Chat History with <user>:"` to that chat's
//! messages. A section given directly as a list is accepted too.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::bounded::{self, Budget};
use super::bulk::Bulk;
use super::layout::{self, Layout};
use super::lenient::{self, Lenient, Pos};
use super::record::{self, norm, Section, PATH_SEP};
use super::{Emitter, ExportError, Finding};

/// The blocks the fast reader works in.
const BLOCK: usize = 1 << 16;

/// Parses one JSON export file from `reader` the fast way (see `bulk.rs`), emitting
/// every record it can read. `file` names the file in messages. Returns the layout,
/// or None when something was found that needs its place in the file (damage, a
/// repair, a capped value): the records are all emitted then, and [`parse`] over the
/// same file gives the findings (and the error, when nothing in it is readable).
pub(crate) fn parse_fast(
    reader: &mut dyn Read,
    file: &str,
    em: &mut Emitter<'_>,
) -> Result<Option<Layout>, ExportError> {
    let unplaced = Cell::new(Pos::default());
    let inner = BufReader::with_capacity(BLOCK, reader);
    let mut bulk = Bulk::new(inner).map_err(io_error(file))?;
    let capped = em.capped.len();
    let mut cursor = Cursor::new(em, file, &unplaced);
    // A std BufReader itself, not a reference to one: serde reads a byte at a time,
    // and std serves that from the buffer only for the BufReader type.
    let result = walk(BufReader::with_capacity(BLOCK, &mut bulk), &mut cursor);
    match result {
        Err(e) => stopped(&mut cursor, &e).map(|()| None),
        Ok(()) if bulk.repaired() || cursor.em.capped.len() > capped => Ok(None),
        Ok(()) => Ok(Some(layout::json_layout(&cursor.top))),
    }
}

/// Parses one JSON export file from `reader` placing every byte (see `lenient.rs`),
/// emitting every record it can read. `file` names the file in messages. Damage past
/// the first key is reported in the emitter's findings, not as an error: what came
/// before it is kept.
pub(crate) fn parse(
    reader: &mut dyn Read,
    file: &str,
    em: &mut Emitter<'_>,
) -> Result<Layout, ExportError> {
    let last = Cell::new(Pos::default());
    let mut input = Lenient::new(BufReader::new(reader), &last).map_err(io_error(file))?;
    let mut cursor = Cursor::new(em, file, &last);
    let Err(e) = walk(&mut input, &mut cursor) else {
        note_repairs(&input, file, cursor.em, None);
        return Ok(layout::json_layout(&cursor.top));
    };
    stopped(&mut cursor, &e)?;
    let at = if e.is_eof() {
        last.get()
    } else {
        input
            .place(e.line() as u64, e.column() as u64)
            .unwrap_or(last.get())
    };
    let detail = strip_position(&e.to_string());
    let key_path = cursor.key_path();
    if cursor.top.is_empty() {
        return Err(ExportError::Json {
            file: file.to_string(),
            offset: at.offset,
            line: at.line as usize,
            column: at.column as usize,
            key_path,
            detail,
        });
    }
    note_repairs(&input, file, cursor.em, Some(at));
    let inside = if key_path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("inside {key_path}")
    };
    let what = if e.is_eof() && input.at_end {
        format!(
            "the file ends early, {inside} ({detail}): the export is truncated. Every record \
             up to the last complete one is catalogued, nothing after it; the file is stored as \
             it came. Download the export again to get the rest"
        )
    } else {
        let rest = input
            .drain()
            .map_err(io_error(file))?
            .saturating_sub(at.offset);
        format!(
            "malformed JSON {inside} ({detail}): the remaining {rest} bytes of the file, from \
             here, were not catalogued; the file is stored as it came. It was changed after \
             TikTok made it (edited or damaged): fix it there, or download the export again"
        )
    };
    cursor.em.damage.push(finding(file, at, what));
    Ok(layout::json_layout(&cursor.top))
}

fn io_error(file: &str) -> impl Fn(io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: file.to_string(),
        source,
    }
}

/// Walks the whole export from `input`.
fn walk<R: Read>(input: R, cursor: &mut Cursor<'_, '_>) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_reader(input);
    Walk {
        cur: cursor,
        place: Place::Root,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
}

/// The errors that end a parse wherever they happened: the sink's, and failing to
/// read. Anything else is the export's damage, for the caller to place.
fn stopped(cursor: &mut Cursor<'_, '_>, e: &serde_json::Error) -> Result<(), ExportError> {
    if let Some(message) = cursor.em.failed.take() {
        return Err(ExportError::Sink {
            file: cursor.file.to_string(),
            key_path: cursor.key_path(),
            message,
        });
    }
    if e.is_io() {
        return Err(io_error(cursor.file)(io::Error::other(e.to_string())));
    }
    Ok(())
}

fn finding(file: &str, at: Pos, what: String) -> Finding {
    Finding {
        file: file.to_string(),
        offset: at.offset,
        line: at.line,
        column: at.column,
        what,
    }
}

/// Reports what the reader repaired or cut before `fault` (the parser may have read
/// a little past a fault before reporting it).
fn note_repairs<R>(t: &Lenient<'_, R>, file: &str, em: &mut Emitter<'_>, fault: Option<Pos>) {
    let before = |p: &Pos| fault.is_none_or(|f| p.offset < f.offset);
    for &at in t.commas.iter().filter(|p| before(p)) {
        let what = "a trailing comma (not valid JSON; the file was probably edited by hand) \
                    was ignored; the records around it are catalogued";
        em.damage.push(finding(file, at, what.into()));
    }
    if let (Some(last), n @ 1..) = (t.commas.last(), t.more_commas) {
        let what = format!("{n} more trailing commas after this one were ignored likewise");
        em.damage.push(finding(file, *last, what));
    }
    for &(at, len) in t.cut_strings.iter().filter(|(p, _)| before(p)) {
        let what = format!(
            "a string of {len} bytes: the catalogue keeps its first {} bytes; the stored \
             export file has it whole",
            lenient::STRING_CAP
        );
        em.capped.push(finding(file, at, what));
    }
}

/// serde_json appends " at line L column C"; the findings place errors themselves.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

struct Cursor<'c, 's> {
    em: &'c mut Emitter<'s>,
    /// The key path being read, original spellings; names the place of any error.
    path: Vec<String>,
    /// Normalised top-level keys, which tell the layouts apart.
    top: Vec<String>,
    file: &'c str,
    /// The place of the last byte the parser has read.
    last: &'c Cell<Pos>,
}

impl<'c, 's> Cursor<'c, 's> {
    fn new(em: &'c mut Emitter<'s>, file: &'c str, last: &'c Cell<Pos>) -> Self {
        Cursor {
            em,
            path: Vec::new(),
            top: Vec::new(),
            file,
            last,
        }
    }

    fn key_path(&self) -> String {
        self.path.join(PATH_SEP)
    }

    fn emit<E: de::Error>(&mut self, rec: record::Record) -> Result<(), E> {
        self.em
            .emit(rec)
            .map_err(|_| E::custom("the catalogue sink stopped the parse"))
    }

    /// Where the value about to be read begins (about: the last byte before it).
    fn here(&self) -> Pos {
        self.last.get()
    }

    /// Notes a value the catalogue holds only the beginning of.
    fn note_cut(&mut self, at: Pos) {
        let what = format!(
            "{} is larger than the catalogue keeps of one value ({} bytes): the catalogue \
             holds its beginning; the stored export file has it whole",
            self.key_path(),
            bounded::VALUE_CAP
        );
        self.em.capped.push(finding(self.file, at, what));
    }

    /// Keeps a section we do not understand, unless it holds nothing.
    fn keep_raw<E: de::Error>(&mut self, value: Value, cut: bool) -> Result<(), E> {
        if record::is_empty(&value) {
            return Ok(());
        }
        let path = self.key_path();
        self.em.kept_raw(&path);
        let mut rec = record::raw(path, value);
        if cut {
            rec.fields.insert(
                record::CUT_NOTE.into(),
                Value::String("cut: the stored export file has it whole".into()),
            );
        }
        self.emit(rec)
    }

    fn row<E: de::Error>(
        &mut self,
        section: &Section,
        (value, cut): (Value, bool),
        partner: Option<&str>,
    ) -> Result<(), E> {
        match value {
            Value::Object(mut fields) => {
                if cut {
                    fields.insert(
                        record::CUT_NOTE.into(),
                        Value::String("cut: the stored export file has it whole".into()),
                    );
                }
                for mut rec in record::records(section, fields) {
                    if let Some(p) = partner {
                        rec.username = Some(p.to_string());
                    }
                    self.emit(rec)?;
                }
                Ok(())
            }
            other => self.keep_raw(other, cut),
        }
    }
}

/// Reads one value within the catalogue's budget (see `bounded.rs`), noting a cut;
/// yields the value and whether it was cut.
struct Capped<'w, 'c, 's>(&'w mut Cursor<'c, 's>);

impl<'de> DeserializeSeed<'de> for Capped<'_, '_, '_> {
    type Value = (Value, bool);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(Value, bool), D::Error> {
        let at = self.0.here();
        let mut budget = Budget::new();
        let value = budget.seed().deserialize(d)?;
        if budget.cut {
            self.0.note_cut(at);
        }
        Ok((value, budget.cut))
    }
}

/// Reads one row no one asked for, checked as [`Capped`] reads it, keeping nothing;
/// a row that may have been cut is noted so, which sends the caller to a full parse.
struct Skimmed<'w, 'c, 's>(&'w mut Cursor<'c, 's>);

impl<'de> DeserializeSeed<'de> for Skimmed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let at = self.0.here();
        let mut budget = Budget::new();
        budget.skim().deserialize(d)?;
        if budget.spent() {
            self.0.note_cut(at);
        }
        Ok(())
    }
}

/// Where in the export's shape a value sits, which decides what it means.
#[derive(Clone)]
enum Place {
    Root,
    Category,
    Section(Section),
    /// Inside a known section: a list of rows, or container metadata.
    Rows(Section),
    /// `ChatHistory`: chats keyed by partner.
    Chats,
    /// One chat's messages.
    Chat(String),
}

struct Walk<'w, 'c, 's> {
    cur: &'w mut Cursor<'c, 's>,
    place: Place,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Walk<'_, '_, '_> {
    /// A scalar (or null) where a container might have been.
    fn scalar<E: de::Error>(self, value: Value) -> Result<(), E> {
        match self.place {
            Place::Root => Err(E::custom(
                "the top level is not a JSON object, so this is not a TikTok export",
            )),
            // Container metadata such as `"App": "TikTok"`, `"IsFastLane": false`.
            Place::Rows(_) => Ok(()),
            _ => self.cur.keep_raw(value, false),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TikTok export value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let cur = self.cur;
        match self.place {
            Place::Root | Place::Category | Place::Section(_) | Place::Chats => {
                while let Some(key) = map.next_key::<String>()? {
                    cur.path.push(key);
                    let key = cur.path.last().map(String::as_str).unwrap_or_default();
                    let next = match &self.place {
                        Place::Root => {
                            cur.top.push(norm(key));
                            Some(Place::Category)
                        }
                        Place::Category => {
                            let category = &cur.path[cur.path.len() - 2];
                            layout::json_section(category, key).map(Place::Section)
                        }
                        Place::Section(Section::Profile) if norm(key) == "profilemap" => None,
                        Place::Section(Section::Messages) if norm(key) == "chathistory" => {
                            Some(Place::Chats)
                        }
                        Place::Section(s) => Some(Place::Rows(s.clone())),
                        Place::Chats => Some(Place::Chat(record::chat_partner(key))),
                        Place::Rows(_) | Place::Chat(_) => unreachable!("handled below"),
                    };
                    if matches!(next, Some(Place::Section(_))) {
                        let path = cur.key_path();
                        cur.em.understood(&path);
                    }
                    match next {
                        Some(place) => map.next_value_seed(Walk {
                            cur: &mut *cur,
                            place,
                        })?,
                        None => {
                            let (value, cut) = map.next_value_seed(Capped(&mut *cur))?;
                            if matches!(self.place, Place::Section(Section::Profile))
                                && value.is_object()
                            {
                                cur.row(&Section::Profile, (value, cut), None)?;
                            } else {
                                cur.keep_raw(value, cut)?;
                            }
                        }
                    }
                    cur.path.pop();
                }
                Ok(())
            }
            Place::Rows(_) | Place::Chat(_) => {
                let (v, cut) =
                    Capped(&mut *cur).deserialize(de::value::MapAccessDeserializer::new(map))?;
                match self.place {
                    // Sections TikTok writes as a map rather than a list of rows.
                    Place::Rows(s) if s.is_keyed() || s == Section::Location => {
                        if record::is_empty(&v) {
                            return Ok(());
                        }
                        cur.row(&s, (v, cut), None)
                    }
                    _ => cur.keep_raw(v, cut),
                }
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let cur = self.cur;
        let (section, partner) = match self.place {
            Place::Section(s) | Place::Rows(s) => (s, None),
            Place::Chat(p) => (Section::Messages, Some(p)),
            Place::Root => {
                return Err(de::Error::custom(
                    "the top level is a list, not a TikTok export object",
                ))
            }
            Place::Category | Place::Chats => {
                let (v, cut) =
                    Capped(&mut *cur).deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                return cur.keep_raw(v, cut);
            }
        };
        if !cur.em.builds(&section) {
            while seq.next_element_seed(Skimmed(&mut *cur))?.is_some() {}
            return Ok(());
        }
        // One element at a time: this loop is what keeps memory flat.
        while let Some(value) = seq.next_element_seed(Capped(&mut *cur))? {
            cur.row(&section, value, partner.as_deref())?;
        }
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.scalar(Value::String(v))
    }
}

//! Reader for the TXT layout: one `.txt` file per section.
//!
//! Rows are blocks of `Key: value` lines separated by blank lines (`Date: …` / `Link: …`;
//! `Video Link:` in old exports; `HashTag Link::` with a double colon in favourite
//! hashtags). A line without a key continues the previous value (multi-line comments).
//! Files are read line by line, CRLF or LF, so a large `Browsing History.txt` streams
//! like the JSON does. An empty section holds a sentence such as "You have no data in
//! this section", which has no keys and yields nothing.
//!
//! Direct messages are different: `>>> Chat History with <user>::` opens a chat, then
//! each line is `YYYY-MM-DD HH:MM:SS[ UTC] <sender>: <content>` (format as read by public
//! TXT DM viewers). Each message becomes a record with the JSON layout's keys `Date`,
//! `From`, `Content`. The profile file is one record of all its keys.
//! Files of sections not understood are kept whole as text (up to the catalogue's cap
//! of one value; lines, too, are capped, so a file without newlines streams as well).

use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::bounded::VALUE_CAP;
use super::lenient::STRING_CAP;
use super::record::{self, Section, PATH_SEP};
use super::{dates, layout, open, Emitter, ExportError, Finding};

/// Parses one TXT section file named `name` (relative, `/`-separated).
pub(crate) fn parse(
    name: &str,
    reader: &mut dyn Read,
    file: &str,
    em: &mut Emitter<'_>,
) -> Result<(), ExportError> {
    let mut lines = Lines::new(reader, file)?;
    let result = parse_lines(name, &mut lines, em);
    for (offset, line, what) in lines.cut {
        em.capped.push(Finding {
            file: file.to_string(),
            offset,
            line: line as u64,
            column: 1,
            what,
        });
    }
    result
}

fn parse_lines(
    name: &str,
    lines: &mut Lines<'_, '_>,
    em: &mut Emitter<'_>,
) -> Result<(), ExportError> {
    let without_ext = name
        .strip_suffix(".txt")
        .or_else(|| name.strip_suffix(".TXT"))
        .unwrap_or(name);
    let stem = without_ext.rsplit('/').next().unwrap_or(without_ext);
    let path = without_ext.replace('/', PATH_SEP);
    let file = lines.file;
    let sink = |em: &mut Emitter<'_>, rec: record::Record, line: usize| {
        em.emit(rec).map_err(|message| ExportError::Sink {
            file: file.to_string(),
            key_path: format!("line {line}"),
            message,
        })
    };
    let Some(section) = layout::txt_section(stem) else {
        let mut text = String::new();
        while let Some(line) = lines.next_line()? {
            if !append(&mut text, &line) {
                lines.note_cut("this file is larger than the catalogue keeps of one section");
                while lines.next_line()?.is_some() {}
                break;
            }
        }
        if !text.trim().is_empty() {
            em.kept_raw(&path);
            sink(em, record::raw(path, Value::String(text)), lines.number)?;
        }
        return Ok(());
    };
    em.understood(&path);
    match section {
        Section::Messages => messages(lines, em, &sink),
        Section::Profile => {
            let mut fields = Map::new();
            let mut last = None;
            while let Some(line) = lines.next_line()? {
                key_line(lines, &line, &mut fields, &mut last);
            }
            if !fields.is_empty() {
                sink(em, record::build(Section::Profile, fields), lines.number)?;
            }
            Ok(())
        }
        section => {
            // A block of `Key: value` lines is one row, or one row per line in a
            // keyed section (settings).
            let block = |em: &mut Emitter<'_>, section: &Section, fields, line| {
                for rec in record::records(section, fields) {
                    sink(em, rec, line)?;
                }
                Ok(())
            };
            let mut fields = Map::new();
            let mut last: Option<String> = None;
            while let Some(line) = lines.next_line()? {
                if line.trim().is_empty() {
                    if !fields.is_empty() {
                        block(em, &section, std::mem::take(&mut fields), lines.number)?;
                    }
                    last = None;
                    continue;
                }
                // A repeated key without a blank line between starts the next row.
                if let Some((key, _)) = split_key(&line) {
                    if fields.contains_key(key) {
                        block(em, &section, std::mem::take(&mut fields), lines.number)?;
                        last = None;
                    }
                }
                key_line(lines, &line, &mut fields, &mut last);
            }
            if !fields.is_empty() {
                block(em, &section, fields, lines.number)?;
            }
            Ok(())
        }
    }
}

/// Appends a line to a value the catalogue keeps, unless that would take it past
/// the cap of one value; false when it did not fit.
fn append(value: &mut String, line: &str) -> bool {
    if (value.len() + line.len()) as u64 >= VALUE_CAP {
        return false;
    }
    value.push_str(line);
    value.push('\n');
    true
}

fn messages(
    lines: &mut Lines<'_, '_>,
    em: &mut Emitter<'_>,
    sink: &dyn Fn(&mut Emitter<'_>, record::Record, usize) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut partner: Option<String> = None;
    let mut pending: Option<Map<String, Value>> = None;
    let flush = |em: &mut Emitter<'_>,
                 pending: &mut Option<Map<String, Value>>,
                 partner: &Option<String>,
                 line| {
        if let Some(fields) = pending.take() {
            let mut rec = record::build(Section::Messages, fields);
            rec.username = partner.clone();
            sink(em, rec, line)?;
        }
        Ok::<(), ExportError>(())
    };
    while let Some(line) = lines.next_line()? {
        if let Some(rest) = line.trim_start().strip_prefix(">>>") {
            flush(em, &mut pending, &partner, lines.number)?;
            partner = Some(record::chat_partner(rest));
            continue;
        }
        if partner.is_none() {
            continue; // "No data" sentences before any chat
        }
        if let Some((ts, rest)) = dates::split_leading(&line) {
            flush(em, &mut pending, &partner, lines.number)?;
            let (from, content) = rest.split_once(": ").unwrap_or(("", rest));
            let mut fields = Map::new();
            fields.insert("Date".into(), Value::String(ts.raw));
            fields.insert("From".into(), Value::String(from.to_string()));
            fields.insert("Content".into(), Value::String(content.to_string()));
            pending = Some(fields);
        } else if let Some(Value::String(content)) =
            pending.as_mut().and_then(|f| f.get_mut("Content"))
        {
            if !line.is_empty() && !continue_value(content, &line) {
                lines.note_cut("a message longer than the catalogue keeps of one value");
            }
        }
    }
    flush(em, &mut pending, &partner, lines.number)
}

/// Splits `Key: value` (also `Key:: value`, `Key:`) into the key as written, less
/// its final colon, and the value. URLs (`https://…`) are not keys.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let i = line.find(':')?;
    let run = line[i..].bytes().take_while(|b| *b == b':').count();
    let after = &line[i + run..];
    let key = &line[..i + run - 1];
    let keyish = !key.trim().is_empty() && key.len() <= 64 && !key.starts_with(char::is_whitespace);
    (keyish && (after.is_empty() || after.starts_with(' ') || after.starts_with('\t')))
        .then(|| (key, after.trim()))
}

fn key_line(
    lines: &mut Lines<'_, '_>,
    line: &str,
    fields: &mut Map<String, Value>,
    last: &mut Option<String>,
) {
    match split_key(line) {
        Some((key, value)) => {
            fields.insert(key.to_string(), Value::String(value.to_string()));
            *last = Some(key.to_string());
        }
        None => {
            if let Some(Value::String(v)) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                if !continue_value(v, line) {
                    lines.note_cut("a value longer than the catalogue keeps of one value");
                }
            }
        }
    }
}

/// A continuation line (multi-line comments and messages) onto its value, within the
/// cap of one value; false when it did not fit.
fn continue_value(value: &mut String, line: &str) -> bool {
    if (value.len() + line.len()) as u64 >= VALUE_CAP {
        return false;
    }
    value.push('\n');
    value.push_str(line);
    true
}

/// The lines of a file, each at most [`STRING_CAP`] bytes: a "line" of a gigabyte
/// without a newline is read through, not held.
struct Lines<'r, 'f> {
    reader: BufReader<&'r mut dyn Read>,
    buf: Vec<u8>,
    file: &'f str,
    number: usize,
    /// Bytes before the next line.
    offset: u64,
    /// Where the current line began.
    line_start: u64,
    /// What the catalogue holds only the beginning of: (offset, line, what).
    cut: Vec<(u64, usize, String)>,
}

impl<'r, 'f> Lines<'r, 'f> {
    fn new(reader: &'r mut dyn Read, file: &'f str) -> Result<Self, ExportError> {
        let mut reader = BufReader::new(reader);
        let bom = open::skip_bom(&mut reader).map_err(|e| io_error(file, e))?;
        Ok(Lines {
            reader,
            buf: Vec::new(),
            file,
            number: 0,
            offset: bom,
            line_start: bom,
            cut: Vec::new(),
        })
    }

    /// Notes that the catalogue keeps only the beginning of something from this line.
    fn note_cut(&mut self, what: &str) {
        let what = format!(
            "{what} ({VALUE_CAP} bytes): the catalogue holds its beginning; the stored \
             export file has it whole"
        );
        self.cut.push((self.line_start, self.number, what));
    }

    /// The next line without its CR/LF, decoded leniently (a stray invalid byte must
    /// not lose the section).
    fn next_line(&mut self) -> Result<Option<String>, ExportError> {
        self.buf.clear();
        let mut len = 0u64;
        loop {
            let chunk = self.reader.fill_buf().map_err(|e| io_error(self.file, e))?;
            if chunk.is_empty() {
                break;
            }
            let (n, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = (STRING_CAP as usize).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..n.min(room)]);
            self.reader.consume(n);
            len += n as u64;
            if done {
                break;
            }
        }
        if len == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.line_start = self.offset;
        self.offset += len;
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        let mut line = String::from_utf8_lossy(&self.buf).into_owned();
        if len > STRING_CAP + 2 {
            line.push('…');
            self.cut.push((
                self.line_start,
                self.number,
                format!(
                    "a line of {len} bytes: the catalogue keeps its first {STRING_CAP} bytes; \
                     the stored export file has it whole"
                ),
            ));
        }
        Ok(Some(line))
    }
}

fn io_error(file: &str, e: std::io::Error) -> ExportError {
    open::io_err(std::path::Path::new(file), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_single_and_double_colons() {
        assert_eq!(
            split_key("Date: 2024-01-01 00:00:00"),
            Some(("Date", "2024-01-01 00:00:00"))
        );
        assert_eq!(
            split_key("HashTag Link:: https://x/y"),
            Some(("HashTag Link:", "https://x/y"))
        );
        assert_eq!(split_key("Link:"), Some(("Link", "")));
        assert_eq!(split_key("https://www.tiktok.com/@a/video/1"), None);
        assert_eq!(split_key("just words"), None);
    }
}

//! The byte stream the JSON walker reads: exact positions, and the two repairs that
//! keep a damaged or huge export readable with flat memory.
//!
//! - Every byte handed to the parser keeps its place in the file (byte offset, line,
//!   column), so an error names where the fault really is, a byte order mark counted.
//! - A trailing comma (`[1, 2,]`, `{"a": 1,}`), which hand-edited exports carry and
//!   which means nothing, is dropped and noted. A comma is held back until the next
//!   significant byte shows whether it was trailing; whitespace passes ahead of it,
//!   which changes nothing in JSON.
//! - A string longer than [`STRING_CAP`] bytes is cut there (at a character boundary,
//!   marked with `…`): the parser would otherwise hold it whole. The rest of it is read
//!   and discarded. The export file itself is stored byte for byte in the snapshot, so
//!   only the catalogue's copy is shortened, and the cut is noted.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// The longest string the catalogue keeps whole.
pub(crate) const STRING_CAP: u64 = 1 << 20;

/// How many trailing commas are placed one by one.
pub(crate) const NOTED_COMMAS: usize = 20;

/// How many handed bytes are remembered to place an error: far more than the
/// closing brackets and indentation the parser reads past one.
const HISTORY: usize = 4096;

/// A place in a file. `line` and `column` count from 1; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub offset: u64,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, Copy)]
enum Repair {
    Comma(Pos),
    Cut(Pos, u64),
}

/// A byte for the parser, its place in the file, and what handing it over completes:
/// a repair counts once the parser has read past it.
type Out = (u8, Pos, Option<Repair>);

pub(crate) struct Lenient<'l, R> {
    inner: R,
    /// The place of the last byte handed to the parser (the end of the file once it is
    /// reached), shared with the walker, which reads it while the parser holds us.
    last: &'l Cell<Pos>,
    /// The place of the next input byte.
    next: Pos,
    in_string: bool,
    escaped: bool,
    string_len: u64,
    string_start: Pos,
    /// Inside a string past the cap: bytes are read and dropped.
    skipping: bool,
    pending_comma: Option<Pos>,
    /// Bytes due before the next input byte (a held-back comma, a cut's mark).
    out: VecDeque<Out>,
    /// The last bytes handed over: (line, column) as the parser counts them in what it
    /// was handed, and their place in the file. The parser reads on past an error
    /// (through whitespace and closing brackets) before reporting it, and names it by
    /// its own line and column; this finds that byte in the file.
    history: Vec<(u64, u64, Pos)>,
    handed: usize,
    /// The parser's count after the last byte handed (serde_json's: lines from 1,
    /// columns in bytes, 0 just after a newline).
    out_line: u64,
    out_column: u64,
    /// True once the input has ended.
    pub at_end: bool,
    /// Trailing commas dropped: the first [`NOTED_COMMAS`], then only counted (a file
    /// of commas must not fill memory with notes).
    pub commas: Vec<Pos>,
    pub more_commas: u64,
    /// Strings cut: where each began and its full length in bytes.
    pub cut_strings: Vec<(Pos, u64)>,
}

impl<'l, R: BufRead> Lenient<'l, R> {
    /// Wraps `inner`, skipping (and counting) a UTF-8 byte order mark.
    pub(crate) fn new(mut inner: R, last: &'l Cell<Pos>) -> io::Result<Self> {
        let offset = super::open::skip_bom(&mut inner)?;
        Ok(Lenient {
            inner,
            last,
            next: Pos {
                offset,
                line: 1,
                column: 1,
            },
            in_string: false,
            escaped: false,
            string_len: 0,
            string_start: Pos::default(),
            skipping: false,
            pending_comma: None,
            out: VecDeque::new(),
            history: vec![(0, 0, Pos::default()); HISTORY],
            handed: 0,
            out_line: 1,
            out_column: 0,
            at_end: false,
            commas: Vec::new(),
            more_commas: 0,
            cut_strings: Vec::new(),
        })
    }

    /// The place in the file of the byte the parser calls `line`, `column`.
    pub(crate) fn place(&self, line: u64, column: u64) -> Option<Pos> {
        let kept = self.handed.min(HISTORY);
        self.history[..kept]
            .iter()
            .find(|(l, c, _)| (*l, *c) == (line, column))
            .map(|(_, _, p)| *p)
    }

    /// Reads the rest of the input without parsing it; returns the file's length.
    pub(crate) fn drain(&mut self) -> io::Result<u64> {
        self.out.clear();
        Ok(self.next.offset + io::copy(&mut self.inner, &mut io::sink())?)
    }

    /// Takes one input byte through the repairs: the byte the parser should see next,
    /// if any (bytes due before it are queued).
    fn step(&mut self, b: u8, at: Pos) -> Option<Out> {
        if self.skipping {
            if self.ends_string(b) {
                self.skipping = false;
                self.in_string = false;
                for m in "…".bytes() {
                    self.out.push_back((m, at, None));
                }
                return Some((
                    b'"',
                    at,
                    Some(Repair::Cut(self.string_start, self.string_len)),
                ));
            }
            self.string_len += 1;
            return None;
        }
        if self.in_string {
            let boundary = b & 0xC0 != 0x80;
            if self.string_len >= STRING_CAP && !self.escaped && boundary && b != b'"' {
                self.skipping = true;
                return self.step(b, at);
            }
            self.string_len += 1;
            if self.ends_string(b) {
                self.in_string = false;
            }
            return Some((b, at, None));
        }
        let mut repair = None;
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b',' => {
                if let Some(p) = self.pending_comma.replace(at) {
                    return Some((b',', p, None));
                }
                return None;
            }
            b']' | b'}' => repair = self.pending_comma.take().map(Repair::Comma),
            _ => {
                if let Some(p) = self.pending_comma.take() {
                    self.out.push_back((b',', p, None));
                }
                if b == b'"' {
                    self.in_string = true;
                    self.string_len = 0;
                    self.string_start = at;
                }
            }
        }
        Some((b, at, repair))
    }

    fn ends_string(&mut self, b: u8) -> bool {
        ends_string(&mut self.escaped, b)
    }

    fn advance(&mut self, b: u8) -> Pos {
        let at = self.next;
        self.next.offset += 1;
        if b == b'\n' {
            self.next.line += 1;
            self.next.column = 1;
        } else if b & 0xC0 != 0x80 {
            self.next.column += 1;
        }
        at
    }

    /// Records a byte as handed to the parser.
    fn hand(&mut self, (b, at, repair): Out) {
        if b == b'\n' {
            self.out_line += 1;
            self.out_column = 0;
        } else {
            self.out_column += 1;
        }
        self.history[self.handed % HISTORY] = (self.out_line, self.out_column, at);
        self.handed += 1;
        self.last.set(at);
        match repair {
            Some(Repair::Comma(_)) if self.commas.len() == NOTED_COMMAS => self.more_commas += 1,
            Some(Repair::Comma(p)) => self.commas.push(p),
            Some(Repair::Cut(p, len)) => self.cut_strings.push((p, len)),
            None => {}
        }
    }

    /// The next byte for the parser, or `None` at the end of the input.
    fn next_out(&mut self) -> io::Result<Option<Out>> {
        loop {
            if let Some(o) = self.out.pop_front() {
                return Ok(Some(o));
            }
            let Some(&b) = self.inner.fill_buf()?.first() else {
                if let Some(p) = self.pending_comma.take() {
                    return Ok(Some((b',', p, None)));
                }
                self.at_end = true;
                self.last.set(self.next);
                return Ok(None);
            };
            self.inner.consume(1);
            let at = self.advance(b);
            match self.step(b, at) {
                Some(o) if self.out.is_empty() => return Ok(Some(o)),
                Some(o) => self.out.push_back(o),
                None => {}
            }
        }
    }
}

/// Follows escapes inside a string (`escaped`: the last byte was an escaping
/// backslash); true when `b` is the quote that ends it.
pub(crate) fn ends_string(escaped: &mut bool, b: u8) -> bool {
    if *escaped {
        *escaped = false;
        false
    } else if b == b'\\' {
        *escaped = true;
        false
    } else {
        b == b'"'
    }
}

impl<R: BufRead> Read for Lenient<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let Some(o) = self.next_out()? else { break };
            buf[n] = o.0;
            n += 1;
            self.hand(o);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the parser would read of `input`, and the repairs.
    fn through(input: &[u8]) -> (String, Vec<Pos>, u64, Vec<(Pos, u64)>) {
        let last = Cell::new(Pos::default());
        let mut r = Lenient::new(input, &last).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert!(r.at_end);
        let text = String::from_utf8(out).unwrap();
        (text, r.commas, r.more_commas, r.cut_strings)
    }

    #[test]
    fn trailing_commas_are_dropped_and_placed() {
        let (out, commas, ..) = through(b"{\"a\": [1, 2,\n  ],\n \"b\": \",]\",}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": ",]"}));
        let places: Vec<_> = commas
            .iter()
            .map(|p| (p.offset, p.line, p.column))
            .collect();
        assert_eq!(places, [(11, 1, 12), (28, 3, 11)]);
    }

    #[test]
    fn a_flood_of_trailing_commas_is_counted_not_listed() {
        let input = format!("[{}[]]", "[1,],".repeat(1000));
        let (out, commas, more, _) = through(input.as_bytes());
        assert_eq!(out.len(), input.len() - 1000);
        assert_eq!(
            (commas.len(), more),
            (NOTED_COMMAS, 1000 - NOTED_COMMAS as u64)
        );
    }

    #[test]
    fn a_bom_counts_in_offsets_not_columns() {
        let (out, commas, ..) = through(b"\xEF\xBB\xBF[1,]");
        assert_eq!(out, "[1]");
        let c = commas[0];
        assert_eq!((c.offset, c.line, c.column), (5, 1, 3));
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let long = "é".repeat(STRING_CAP as usize); // two bytes each
        let input = format!("[\"{long}\", \"x\\\"y\"]");
        let (out, _, _, cut) = through(input.as_bytes());
        let v: Vec<String> = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0].len() as u64, STRING_CAP + "…".len() as u64);
        assert!(v[0].ends_with("é…"));
        assert_eq!(v[1], "x\"y");
        assert_eq!(
            cut,
            [(
                Pos {
                    offset: 1,
                    line: 1,
                    column: 2
                },
                2 * STRING_CAP
            )]
        );
    }
}

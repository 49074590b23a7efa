//! The fast twin of `lenient.rs`: the same two repairs (trailing commas dropped,
//! strings cut at [`STRING_CAP`]), done over whole blocks and handing the parser the
//! very same bytes, but placing none of them in the file.
//!
//! Placing every byte is most of what reading an export costs, and only a finding
//! needs a place. So an export is read through this first; when anything needs a
//! place (a repair here, damage or a capped value found by the walker), the file is
//! read again through `lenient.rs` for the findings alone (see `json.rs`). Exports as
//! TikTok makes them need none: they are read once, at the speed of the parser.

use std::io::{self, BufRead, Read};

use super::lenient::{self, STRING_CAP};

/// What one input byte can become: the cut's mark and the closing quote.
const MOST_OUT: usize = "…\"".len();

pub(crate) struct Bulk<R> {
    inner: R,
    state: State,
    /// Bytes due that did not fit in the caller's buffer.
    carry: [u8; MOST_OUT],
    carry_at: usize,
    carry_len: usize,
}

/// Where the input stands in the JSON text, as `lenient.rs` follows it.
#[derive(Default)]
struct State {
    in_string: bool,
    escaped: bool,
    string_len: u64,
    /// Inside a string past the cap: bytes are read and dropped.
    skipping: bool,
    /// A comma held back until the next significant byte shows whether it trailed.
    pending_comma: bool,
    /// True once anything was repaired: its finding needs a place.
    repaired: bool,
}

/// The caller's buffer, and the carry for what overflows it.
struct Out<'o> {
    buf: &'o mut [u8],
    n: usize,
    carry: &'o mut [u8; MOST_OUT],
    carry_len: &'o mut usize,
}

impl Out<'_> {
    fn put(&mut self, b: u8) {
        if self.n < self.buf.len() {
            self.buf[self.n] = b;
            self.n += 1;
        } else {
            self.carry[*self.carry_len] = b;
            *self.carry_len += 1;
        }
    }

    fn room(&self) -> usize {
        self.buf.len() - self.n
    }
}

impl<R: BufRead> Bulk<R> {
    /// Wraps `inner`, skipping a UTF-8 byte order mark.
    pub(crate) fn new(mut inner: R) -> io::Result<Self> {
        super::open::skip_bom(&mut inner)?;
        Ok(Bulk {
            inner,
            state: State::default(),
            carry: [0; MOST_OUT],
            carry_at: 0,
            carry_len: 0,
        })
    }

    /// True once a trailing comma was dropped or a string cut.
    pub(crate) fn repaired(&self) -> bool {
        self.state.repaired
    }
}

impl State {
    /// Takes `block` through the repairs into `out` until either runs out; returns how
    /// many input bytes were used.
    fn run(&mut self, block: &[u8], out: &mut Out<'_>) -> usize {
        let mut i = 0;
        while i < block.len() && out.room() > 0 {
            if self.in_string && !self.skipping && !self.escaped && self.string_len < STRING_CAP {
                // The bulk of an export: string bytes with nothing to follow in them.
                let most = (block.len() - i)
                    .min(out.room())
                    .min((STRING_CAP - self.string_len) as usize);
                let plain = memchr::memchr2(b'"', b'\\', &block[i..i + most]).unwrap_or(most);
                out.buf[out.n..out.n + plain].copy_from_slice(&block[i..i + plain]);
                out.n += plain;
                self.string_len += plain as u64;
                i += plain;
                if plain == most {
                    continue;
                }
            }
            if !self.in_string {
                // Indentation between rows: whitespace passes even a held comma.
                let most = (block.len() - i).min(out.room());
                let blank = block[i..i + most]
                    .iter()
                    .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(most);
                out.buf[out.n..out.n + blank].copy_from_slice(&block[i..i + blank]);
                out.n += blank;
                i += blank;
                if blank == most {
                    continue;
                }
            }
            self.step(block[i], out);
            i += 1;
        }
        i
    }

    /// One input byte through the repairs, as `Lenient::step` takes it.
    fn step(&mut self, b: u8, out: &mut Out<'_>) {
        if self.skipping {
            if self.ends_string(b) {
                self.skipping = false;
                self.in_string = false;
                "…\"".bytes().for_each(|m| out.put(m));
            } else {
                self.string_len += 1;
            }
            return;
        }
        if self.in_string {
            let boundary = b & 0xC0 != 0x80;
            if self.string_len >= STRING_CAP && !self.escaped && boundary && b != b'"' {
                self.skipping = true;
                self.repaired = true;
                return self.step(b, out);
            }
            self.string_len += 1;
            if self.ends_string(b) {
                self.in_string = false;
            }
            return out.put(b);
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b',' => {
                if self.pending_comma {
                    out.put(b',');
                }
                self.pending_comma = true;
                return;
            }
            b']' | b'}' => {
                if self.pending_comma {
                    self.pending_comma = false;
                    self.repaired = true;
                }
            }
            _ => {
                if self.pending_comma {
                    self.pending_comma = false;
                    out.put(b',');
                }
                if b == b'"' {
                    self.in_string = true;
                    self.string_len = 0;
                }
            }
        }
        out.put(b)
    }

    fn ends_string(&mut self, b: u8) -> bool {
        lenient::ends_string(&mut self.escaped, b)
    }
}

impl<R: BufRead> Read for Bulk<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.carry_at < self.carry_len {
            buf[n] = self.carry[self.carry_at];
            n += 1;
            self.carry_at += 1;
        }
        if self.carry_at < self.carry_len {
            return Ok(n);
        }
        (self.carry_at, self.carry_len) = (0, 0);
        let mut out = Out {
            buf,
            n,
            carry: &mut self.carry,
            carry_len: &mut self.carry_len,
        };
        while out.room() > 0 {
            let block = self.inner.fill_buf()?;
            if block.is_empty() {
                if std::mem::take(&mut self.state.pending_comma) {
                    out.put(b',');
                }
                break;
            }
            let used = self.state.run(block, &mut out);
            self.inner.consume(used);
        }
        Ok(out.n)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::BufReader;

    use super::super::lenient::{Lenient, Pos};
    use super::*;

    /// A reader handing out at most `step` bytes per call: blocks that small put
    /// every repair across a block boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn exact(input: &[u8]) -> (Vec<u8>, bool) {
        let last = Cell::new(Pos::default());
        let mut r = Lenient::new(input, &last).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let repaired = !r.commas.is_empty() || !r.cut_strings.is_empty();
        (out, repaired)
    }

    /// Reads `input` in blocks of `block` bytes, `read` bytes at a time.
    fn bulk(input: &[u8], block: usize, read: usize) -> (Vec<u8>, bool) {
        // The first block at least holds a byte order mark, as a file's does.
        let first = input.len().min(block.max(3));
        let inner = BufReader::with_capacity(block, Trickle(&input[first..], block));
        let mut r = Bulk::new(io::Read::chain(&input[..first], inner)).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0; read];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (out, r.repaired())
    }

    fn same_as_exact(input: &[u8]) {
        let want = exact(input);
        for block in [1, 2, 3, 5, 64, 8192] {
            for read in [1, 2, 3, 4, 7, 8192] {
                let got = bulk(input, block, read);
                assert!(
                    got == want,
                    "block {block}, read {read}: {:?} != {:?}",
                    String::from_utf8_lossy(&got.0),
                    String::from_utf8_lossy(&want.0)
                );
            }
        }
    }

    #[test]
    fn hands_the_parser_what_the_exact_reader_does() {
        let inputs: &[&[u8]] = &[
            b"{\"a\": [1, 2,\n  ],\n \"b\": \",]\",}",
            b"\xEF\xBB\xBF[1,]",
            b"\xEF\xBB\xBF{\"a\":1}",
            b"[1,,2,\t\r\n]",
            b"[\"a\\\\\",\"b\\\"c,]\\u00e9\", \"\xC3\xA9\"]",
            b"[1,",
            b"{\"a\": \"unterminated \\",
            b"",
            b",",
            b"[1, 2]  ,  ",
        ];
        for input in inputs {
            same_as_exact(input);
        }
        assert!(bulk(b"[1,]", 1, 1).1);
        assert!(!bulk(b"[1, \",]\"]", 1, 1).1);
    }

    #[test]
    fn cuts_long_strings_where_the_exact_reader_does() {
        let cap = STRING_CAP as usize;
        let strings = [
            "é".repeat(cap),                                     // the cap inside a character
            format!("{}\\\"x", "a".repeat(cap - 1)),             // an escape at the cap
            format!("{}\\\\", "a".repeat(cap - 1)),              // a backslash ending the string
            format!("{}\\\"{}", "a".repeat(cap), "b".repeat(9)), // an escape past the cap
            "a".repeat(cap),                                     // exactly the cap: not cut
            format!("{}\u{1F600}", "a".repeat(cap - 2)),         // a four-byte character at the cap
        ];
        for s in &strings {
            let input = format!("[\"{s}\",\"x\\\"y\",]");
            let want = exact(input.as_bytes());
            // Tiny blocks over a megabyte: a few sizes around the cap's edges.
            for (block, read) in [(1, 4096), (3, 7), (4096, 1), (65536, 65536)] {
                assert!(
                    bulk(input.as_bytes(), block, read) == want,
                    "block {block}, read {read}"
                );
            }
        }
        assert!(bulk(format!("[\"{}\"]", "a".repeat(cap + 1)).as_bytes(), 64, 64).1);
        assert!(!bulk(format!("[\"{}\"]", "a".repeat(cap)).as_bytes(), 64, 64).1);
    }
}

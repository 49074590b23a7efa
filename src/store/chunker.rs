//! Content-defined chunking (FastCDC 2020) over any `Read`, with BLAKE3 ids.
//!
//! Bounds: 256 KiB min / 1 MiB average / 4 MiB max. Video is the bulk of a TikTok
//! vault; a 1 MiB average keeps the index small (about 1000 rows a GiB) while a
//! re-muxed or trimmed video still shares all chunks past the first changed one.
//! `benches/store.rs` measures the throughput at these bounds.
//!
//! The crate's own `StreamCDC` copies the whole look-ahead buffer for every chunk it
//! emits; this reader keeps one buffer of four maximal chunks and slides it only when
//! the unread tail is shorter than a maximal chunk, so each byte is copied once into
//! its chunk.
//!
//! In an encrypted vault the gear table is the vault's own (derived from its master
//! key, see crypto/), so where a file is cut — and so its chunk sizes — says nothing
//! to someone who does not hold the key; ids there are keyed (see `crypto::id`).

use std::cell::RefCell;
use std::io::{self, Read};

use fastcdc::v2020::{cut_gear, get_gear_with_seed, logarithm2, MASKS};

use super::crypto::Keys;

pub const MIN_CHUNK: usize = 256 * 1024;
pub const AVG_CHUNK: usize = 1024 * 1024;
pub const MAX_CHUNK: usize = 4 * 1024 * 1024;

/// The BLAKE3 id of a stored byte sequence.
pub type Hash = [u8; 32];

pub fn hash(data: &[u8]) -> Hash {
    *blake3::hash(data).as_bytes()
}

#[derive(Clone, Copy)]
struct Masks {
    s: u64,
    l: u64,
}

impl Masks {
    fn for_average(avg: usize) -> Masks {
        // Normalisation level 1, the FastCDC paper's recommendation.
        let bits = logarithm2(avg as u32) as usize;
        Masks {
            s: MASKS[bits + 1],
            l: MASKS[bits - 1],
        }
    }
}

thread_local! {
    /// The last finished chunker's buffer, for the next file on this thread: a fresh
    /// 16 MiB buffer per file costs a page fault and a zeroed page in the kernel for
    /// every 4 KiB read into it.
    static SPARE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Splits a byte stream into content-defined chunks.
pub struct Chunker<R> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    masks: Masks,
    bounds: (usize, usize, usize),
    gear: (Box<[u64; 256]>, Box<[u64; 256]>),
}

impl<R: Read> Chunker<R> {
    pub fn new(source: R) -> Chunker<R> {
        Chunker::with_bounds(source, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
    }

    /// The chunker of a vault: with an encrypted vault's `keys`, its secret gear table.
    pub fn for_vault(source: R, keys: Option<&Keys>) -> Chunker<R> {
        let mut c = Chunker::new(source);
        if let Some(k) = keys {
            let (g, ls) = k.gear();
            c.gear = (Box::new(*g), Box::new(*ls));
        }
        c
    }

    /// Other bounds than the vault's, for the benchmark that justifies the choice.
    /// Chunks made with other bounds never dedup against the vault's.
    pub fn with_bounds(source: R, min: usize, avg: usize, max: usize) -> Chunker<R> {
        let spare = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let buf = if spare.len() == 4 * max {
            spare
        } else {
            vec![0; 4 * max]
        };
        Chunker {
            source,
            buf,
            start: 0,
            end: 0,
            eof: false,
            masks: Masks::for_average(avg),
            bounds: (min, avg, max),
            gear: get_gear_with_seed(0),
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end < self.buf.len() {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next chunk, or `None` at the end of the stream. A read error is returned
    /// as is, so a caller storing a download can tell a reset from a clean end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(self.next_slice()?.map(<[u8]>::to_vec))
    }

    /// As [`next_chunk`](Self::next_chunk), borrowed from the reading buffer: a
    /// caller that hashes the chunk before deciding to keep it copies it only then.
    pub fn next_slice(&mut self) -> io::Result<Option<&[u8]>> {
        let (min, avg, max) = self.bounds;
        if self.end - self.start < max && !self.eof {
            self.fill()?;
        }
        let available = &self.buf[self.start..self.end];
        if available.is_empty() {
            return Ok(None);
        }
        let m = self.masks;
        let (gear, gear_ls) = (&*self.gear.0, &*self.gear.1);
        let (_, len) = cut_gear(
            available,
            min,
            avg,
            max,
            m.s,
            m.l,
            m.s << 1,
            m.l << 1,
            gear,
            gear_ls,
        );
        let from = self.start;
        self.start += len;
        Ok(Some(&self.buf[from..from + len]))
    }
}

impl<R> Drop for Chunker<R> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        SPARE.with(|s| *s.borrow_mut() = buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut v = vec![0; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
        v
    }

    fn chunks(data: &[u8]) -> Vec<Vec<u8>> {
        // A reader that returns short reads, as sockets do, must not change the cuts.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(self.0.len()).min(70_001);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Chunker::new(Trickle(data));
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            out.push(ch);
        }
        out
    }

    #[test]
    fn chunks_reassemble_and_respect_bounds() {
        let data = random(20 * 1024 * 1024 + 123, 1);
        let cs = chunks(&data);
        assert_eq!(cs.concat(), data);
        for c in &cs[..cs.len() - 1] {
            assert!(c.len() >= MIN_CHUNK && c.len() <= MAX_CHUNK, "{}", c.len());
        }
        let avg = data.len() / cs.len();
        assert!(avg > AVG_CHUNK / 2 && avg < AVG_CHUNK * 2, "average {avg}");
    }

    #[test]
    fn a_reused_buffer_leaks_nothing_into_the_next_stream() {
        // The second chunker on this thread gets the first one's buffer, still
        // holding its bytes: the shorter stream must come out exactly as it went in.
        let long = random(9 * 1024 * 1024, 4);
        let short = random(3 * 1024 * 1024 + 5, 5);
        assert_eq!(chunks(&long).concat(), long);
        assert_eq!(chunks(&short).concat(), short);
        assert_eq!(chunks(b"tail"), vec![b"tail".to_vec()]);
    }

    #[test]
    fn small_and_empty_inputs() {
        assert!(chunks(&[]).is_empty());
        assert_eq!(chunks(b"hello"), vec![b"hello".to_vec()]);
    }

    #[test]
    fn an_edit_at_the_front_keeps_later_chunks() {
        let data = random(16 * 1024 * 1024, 2);
        let mut edited = data.clone();
        edited[..65536].copy_from_slice(&random(65536, 3));
        let a: Vec<Hash> = chunks(&data).iter().map(|c| hash(c)).collect();
        let b: Vec<Hash> = chunks(&edited).iter().map(|c| hash(c)).collect();
        let shared = b.iter().filter(|h| a.contains(h)).count();
        assert!(shared + 2 >= b.len(), "only {shared} of {} shared", b.len());
    }
}

//! Chunk codecs: zstd for what compresses, raw for what does not.
//!
//! Video and images are already compressed; a full zstd pass over them burns CPU for
//! nothing. As borg's `auto` mode does, a cheap trial decides: zstd at level 1 over a
//! few samples of the chunk, and the real compression only when the trial saves at
//! least [`MIN_SAVING_PERCENT`]. The real result is kept only if it also saves that much.

use std::io;

/// How a blob's bytes are stored in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    Raw = 0,
    Zstd = 1,
}

impl Codec {
    pub fn from_u8(v: u8) -> Option<Codec> {
        match v {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

pub const MIN_SAVING_PERCENT: usize = 3;
const SAMPLE: usize = 16 * 1024;
const SAMPLES: usize = 3;
const LEVEL: i32 = 3;

fn saves_enough(raw: usize, packed: usize) -> bool {
    packed * 100 <= raw * (100 - MIN_SAVING_PERCENT)
}

/// Reusable compression state, one per packing thread.
pub struct Compressor {
    trial: zstd::bulk::Compressor<'static>,
    full: zstd::bulk::Compressor<'static>,
}

impl Compressor {
    pub fn new() -> io::Result<Compressor> {
        Ok(Compressor {
            trial: zstd::bulk::Compressor::new(1)?,
            full: zstd::bulk::Compressor::new(LEVEL)?,
        })
    }

    /// Picks the codec for `raw` and returns the stored form (`None` = store raw).
    pub fn encode(&mut self, raw: &[u8]) -> io::Result<Option<Vec<u8>>> {
        if raw.len() < 64 {
            return Ok(None);
        }
        if !self.trial_compresses(raw)? {
            return Ok(None);
        }
        let packed = self.full.compress(raw)?;
        Ok(saves_enough(raw.len(), packed.len()).then_some(packed))
    }

    fn trial_compresses(&mut self, raw: &[u8]) -> io::Result<bool> {
        if raw.len() <= SAMPLE * SAMPLES {
            let packed = self.trial.compress(raw)?;
            return Ok(saves_enough(raw.len(), packed.len()));
        }
        // Start, middle and end: a container header alone (an MP4 `moov` box, say)
        // must not make a whole video look compressible.
        let step = (raw.len() - SAMPLE) / (SAMPLES - 1);
        let mut raw_total = 0;
        let mut packed_total = 0;
        for i in 0..SAMPLES {
            let sample = &raw[i * step..i * step + SAMPLE];
            raw_total += sample.len();
            packed_total += self.trial.compress(sample)?.len();
        }
        Ok(saves_enough(raw_total, packed_total))
    }
}

/// Restores the raw bytes of a blob; `raw_len` bounds the output so a corrupt frame
/// cannot make us allocate without limit.
pub fn decode(codec: Codec, stored: &[u8], raw_len: usize) -> io::Result<Vec<u8>> {
    match codec {
        Codec::Raw => Ok(stored.to_vec()),
        Codec::Zstd => {
            let out = zstd::bulk::decompress(stored, raw_len)?;
            if out.len() != raw_len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "zstd frame decodes to {} bytes, expected {raw_len}",
                        out.len()
                    ),
                ));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    #[test]
    fn json_compresses_and_random_does_not() {
        let mut c = Compressor::new().unwrap();
        let json: Vec<u8> = (0..20_000)
            .flat_map(|i| {
                format!("{{\"Date\":\"2024-01-01 10:00:{i}\",\"Link\":\"x\"}},").into_bytes()
            })
            .collect();
        let packed = c.encode(&json).unwrap().expect("JSON must compress");
        assert!(packed.len() < json.len() / 3);
        assert_eq!(decode(Codec::Zstd, &packed, json.len()).unwrap(), json);

        let mut random = vec![0; 1 << 20];
        rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut random);
        assert!(c.encode(&random).unwrap().is_none());
    }

    #[test]
    fn corrupt_frames_are_errors() {
        let mut c = Compressor::new().unwrap();
        let data = vec![b'a'; 100_000];
        let mut packed = c.encode(&data).unwrap().unwrap();
        let n = packed.len();
        packed[n / 2] ^= 0xff;
        packed.truncate(n - 3);
        assert!(decode(Codec::Zstd, &packed, data.len()).is_err());
    }
}

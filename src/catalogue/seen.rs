//! Which item keys one export has shown so far, in a few bits a key.
//!
//! Ingest must count exact duplicates (the nth identical row is item occurrence n),
//! yet nearly every key is met once. This answers "certainly not met" for those in a
//! few MB where a set of two and a half million 16-byte keys would take a hundred;
//! "maybe" (about one key in a hundred, and every real duplicate) sends the caller to
//! the exact count in SQL.
//!
//! A blocked Bloom filter (every key's bits in one 64-byte block: one cache miss a
//! lookup), grown by adding filters of twice the capacity, so nothing is sized up
//! front and the false positive rate stays bounded as the export grows.

/// Bits of filter per key it is sized for (about 1 % false positives with [`PROBES`]).
const BITS_PER_KEY: usize = 10;
/// Bits set per key inside its block.
const PROBES: u32 = 7;
/// The first filter's capacity in keys (2 MB, touched only as keys come); each next
/// one doubles it. Every key is looked up in every filter, one cache miss each: a
/// first filter this size serves a heavy export with one or two.
const FIRST_CAPACITY: usize = 1 << 20;

/// One filter: blocks of 512 bits.
struct Filter {
    blocks: Vec<[u64; 8]>,
    capacity: usize,
    len: usize,
}

impl Filter {
    fn new(capacity: usize) -> Filter {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(512).next_power_of_two();
        Filter {
            blocks: vec![[0; 8]; blocks],
            // Rounding up gave it room for more at the same rate of false alarms.
            capacity: blocks * 512 / BITS_PER_KEY,
            len: 0,
        }
    }

    /// The block and the bits within it that stand for `key`.
    fn place(&self, key: &[u8; 8]) -> (usize, [(usize, u64); PROBES as usize]) {
        let lo = u64::from_le_bytes(*key);
        let block = (lo as usize) & (self.blocks.len() - 1);
        // The bits within the block from all 64 of the key's, mixed (splitmix64's
        // finaliser), so they do not repeat the low ones that chose the block.
        let mut hi = (lo ^ (lo >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hi = (hi ^ (hi >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hi ^= hi >> 31;
        let bits = std::array::from_fn(|i| {
            let b = (hi >> (i * 9)) & 511;
            ((b / 64) as usize, 1u64 << (b % 64))
        });
        (block, bits)
    }

    /// The word of `key`'s block that holds its first bit, read.
    fn touch(&self, key: &[u8; 8]) -> u64 {
        let (block, bits) = self.place(key);
        self.blocks[block][bits[0].0]
    }

    fn contains(&self, key: &[u8; 8]) -> bool {
        let (block, bits) = self.place(key);
        let b = &self.blocks[block];
        bits.iter().all(|&(word, bit)| b[word] & bit != 0)
    }

    fn insert(&mut self, key: &[u8; 8]) {
        let (block, bits) = self.place(key);
        let b = &mut self.blocks[block];
        for (word, bit) in bits {
            b[word] |= bit;
        }
        self.len += 1;
    }
}

/// The keys met so far.
#[derive(Default)]
pub(super) struct Seen {
    filters: Vec<Filter>,
}

impl Seen {
    /// Reads the blocks of `keys` ahead of their lookups: a block is a cache miss,
    /// and misses issued together overlap where lookups one at a time wait for each.
    pub(super) fn warm<'k>(&self, keys: impl Iterator<Item = &'k [u8; 8]> + Clone) {
        for f in &self.filters {
            let folded = keys.clone().fold(0, |acc, key| acc ^ f.touch(key));
            std::hint::black_box(folded);
        }
    }

    /// Records `key`; true when it certainly was not met before (false: maybe it was).
    pub(super) fn first_time(&mut self, key: &[u8; 8]) -> bool {
        if self.filters.iter().any(|f| f.contains(key)) {
            return false;
        }
        let full = self.filters.last().is_none_or(|f| f.len >= f.capacity);
        if full {
            let capacity = self
                .filters
                .last()
                .map_or(FIRST_CAPACITY, |f| f.capacity * 2);
            self.filters.push(Filter::new(capacity));
        }
        self.filters.last_mut().expect("one filter").insert(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> [u8; 8] {
        let mut k = [0; 8];
        k.copy_from_slice(&blake3::hash(&i.to_le_bytes()).as_bytes()[..8]);
        k
    }

    #[test]
    fn a_key_met_again_is_never_called_new_and_few_new_keys_are_doubted() {
        let mut seen = Seen::default();
        let n = 2_000_000;
        let doubted = (0..n).filter(|&i| !seen.first_time(&key(i))).count();
        for i in (0..n).step_by(7) {
            assert!(!seen.first_time(&key(i)), "key {i} met again");
        }
        // About 1 % per filter, and a few filters.
        assert!(
            doubted < n as usize / 30,
            "{doubted} of {n} new keys doubted"
        );
        let bytes: usize = seen.filters.iter().map(|f| f.blocks.len() * 64).sum();
        assert!(bytes < n as usize * 4, "{bytes} bytes for {n} keys");
        assert!(seen.filters.len() > 1, "past the first filter");
    }
}

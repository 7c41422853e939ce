//! A small mutation engine: random edits of seed inputs, the way coverage-guided
//! fuzzers start, without needing a nightly toolchain or compiler instrumentation.
//! cargo-fuzz needs nightly sanitizers here and AFL++ an extra toolchain in CI; a
//! mutation loop over seeds that decode finds what decoders miss on the first bytes
//! that matter (lengths, tags, counts), which is where peer input attacks them.

use rand::{rngs::StdRng, Rng, SeedableRng};

/// The longest input the engine makes: peer messages are bounded well below this.
pub const MAX_INPUT: usize = 64 * 1024;

/// A deterministic source of mutated inputs.
pub struct Mutator {
    rng: StdRng,
}

impl Mutator {
    /// A mutator whose choices follow from `seed`, so a run can be repeated.
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A fresh input: one of `seeds` (or random bytes) edited one to eight times.
    pub fn next(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut data = if seeds.is_empty() || self.rng.gen_ratio(1, 10) {
            let len = self.rng.gen_range(0..256);
            (0..len).map(|_| self.rng.gen()).collect()
        } else {
            seeds[self.rng.gen_range(0..seeds.len())].clone()
        };
        for _ in 0..self.rng.gen_range(1..=8) {
            self.edit(&mut data, seeds);
        }
        data.truncate(MAX_INPUT);
        data
    }

    fn edit(&mut self, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let len = data.len();
        match self.rng.gen_range(0..8) {
            // Flip a bit.
            0 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                data[i] ^= 1 << self.rng.gen_range(0..8);
            }
            // An interesting byte: lengths and CBOR heads live at the edges.
            1 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                data[i] = [
                    0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x7f, 0x80, 0x9f, 0xbf, 0xff,
                ][self.rng.gen_range(0..12)];
            }
            // Insert random bytes.
            2 => {
                let i = self.rng.gen_range(0..=len);
                let n = self.rng.gen_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.gen()).collect();
                data.splice(i..i, bytes);
            }
            // Delete a range.
            3 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                let n = self.rng.gen_range(1..=(len - i).min(32));
                data.drain(i..i + n);
            }
            // Truncate.
            4 if len > 0 => data.truncate(self.rng.gen_range(0..len)),
            // Duplicate a range (repeated structures, long runs).
            5 if len > 0 => {
                let i = self.rng.gen_range(0..len);
                let n = self.rng.gen_range(1..=(len - i).min(64));
                let copy = data[i..i + n].to_vec();
                let at = self.rng.gen_range(0..=len);
                data.splice(at..at, copy);
            }
            // Splice in part of another seed.
            6 if !seeds.is_empty() => {
                let other = &seeds[self.rng.gen_range(0..seeds.len())];
                if !other.is_empty() {
                    let i = self.rng.gen_range(0..other.len());
                    let n = self.rng.gen_range(1..=(other.len() - i));
                    let at = self.rng.gen_range(0..=len);
                    data.splice(at..at, other[i..i + n].iter().copied());
                }
            }
            // Overwrite four bytes with a big or small number (announced lengths).
            _ if len >= 4 => {
                let i = self.rng.gen_range(0..=len - 4);
                let n: u32 =
                    [0, 1, 0x7fff_ffff, 0xffff_ffff, 1 << 20, 64 * 1024][self.rng.gen_range(0..6)];
                data[i..i + 4].copy_from_slice(&n.to_be_bytes());
            }
            _ => data.push(self.rng.gen()),
        }
    }
}

//! Drops the second copy of a message: a node whose clients hold overlapping filters (`a/#`
//! and `a/b`) holds overlapping NATS subscriptions, and NATS sends it one copy per
//! subscription.
//!
//! Per origin node, a sliding window of the last [`WINDOW`] sequence numbers remembers which
//! were seen (as IPsec's anti-replay window does). Copies of one message arrive next to each
//! other, far closer than the window; a number older than the window counts as seen. A window
//! takes 8 KiB; a node picks a new origin id at each start, so this grows by one window per
//! restart of another node over the life of this one.

use std::collections::HashMap;

use crate::envelope::Stamp;

/// Sequence numbers remembered per origin.
pub const WINDOW: u64 = 1 << 16;
const WORDS: usize = (WINDOW / 64) as usize;

/// The seen window of every origin heard from.
#[derive(Debug, Default)]
pub struct Dedup {
    origins: HashMap<u64, Window>,
}

#[derive(Debug)]
struct Window {
    /// The highest number seen.
    top: u64,
    /// Bit `n % WINDOW` says whether `n` was seen, for `n` in `top - WINDOW + 1 ..= top`.
    bits: Box<[u64; WORDS]>,
}

impl Dedup {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether this is the first time `stamp` is seen (and remembers it).
    pub fn first_time(&mut self, stamp: Stamp) -> bool {
        let window = self.origins.entry(stamp.origin).or_insert_with(|| Window {
            top: 0,
            bits: Box::new([0; WORDS]),
        });
        window.first_time(stamp.sequence)
    }
}

impl Window {
    fn first_time(&mut self, n: u64) -> bool {
        if n > self.top {
            // Clear the slots the window slides over.
            let slide = n - self.top;
            if slide >= WINDOW {
                self.bits.fill(0);
            } else {
                for m in self.top + 1..n {
                    self.clear(m);
                }
            }
            self.top = n;
            self.set(n);
            return true;
        }
        if self.top - n >= WINDOW {
            return false;
        }
        if self.is_set(n) {
            return false;
        }
        self.set(n);
        true
    }

    fn slot(n: u64) -> (usize, u64) {
        let i = n % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn set(&mut self, n: u64) {
        let (word, bit) = Self::slot(n);
        self.bits[word] |= bit;
    }

    fn clear(&mut self, n: u64) {
        let (word, bit) = Self::slot(n);
        self.bits[word] &= !bit;
    }

    fn is_set(&self, n: u64) -> bool {
        let (word, bit) = Self::slot(n);
        self.bits[word] & bit != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(origin: u64, sequence: u64) -> Stamp {
        Stamp { origin, sequence }
    }

    #[test]
    fn each_message_passes_once_per_origin() {
        let mut dedup = Dedup::new();
        assert!(dedup.first_time(stamp(1, 1)));
        assert!(!dedup.first_time(stamp(1, 1)));
        assert!(dedup.first_time(stamp(2, 1)), "another origin");
        assert!(dedup.first_time(stamp(1, 3)));
        assert!(dedup.first_time(stamp(1, 2)), "late but not seen");
        assert!(!dedup.first_time(stamp(1, 2)));
        assert!(!dedup.first_time(stamp(1, 3)));
    }

    #[test]
    fn the_window_slides_and_what_falls_out_counts_as_seen() {
        let mut dedup = Dedup::new();
        assert!(dedup.first_time(stamp(1, 5)));
        assert!(dedup.first_time(stamp(1, 5 + WINDOW - 1)));
        assert!(dedup.first_time(stamp(1, 6)), "still inside, never seen");
        assert!(dedup.first_time(stamp(1, 5 + WINDOW)));
        assert!(!dedup.first_time(stamp(1, 5)), "fell out of the window");
        // A slot reused after the slide starts clear.
        assert!(dedup.first_time(stamp(1, 5 + 3 * WINDOW)));
        assert!(dedup.first_time(stamp(1, 5 + 3 * WINDOW - 1)));
        assert!(!dedup.first_time(stamp(1, 5 + 3 * WINDOW - 1)));
    }

    #[test]
    fn interleaved_copies_of_a_stream_pass_exactly_once() {
        let mut dedup = Dedup::new();
        let mut passed = 0;
        for n in 1..=10_000u64 {
            passed += usize::from(dedup.first_time(stamp(7, n)));
            if n > 3 {
                passed += usize::from(dedup.first_time(stamp(7, n - 3)));
            }
        }
        assert_eq!(passed, 10_000);
    }
}

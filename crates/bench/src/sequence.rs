//! Loss, duplicate and reorder accounting from per-publisher sequence numbers.
//!
//! A subscriber keeps one [`SequenceTracker`] per publisher it hears from. Sequence numbers
//! start at 0 and grow by one per message. Gaps are kept as ranges, so a storm of QoS 0 drops
//! costs a few map entries, not one per lost message; a late arrival that fills a gap counts
//! as reordered, a second arrival of a number already seen as duplicated.

use std::collections::BTreeMap;

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First arrival of this number, in order or after a gap.
    New,
    /// First arrival of a number that an earlier gap had skipped.
    Late,
    /// A number already received.
    Duplicate,
}

/// The sequence numbers received from one publisher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequenceTracker {
    /// Every number below this has arrived or is in `missing`.
    next: u64,
    /// Gaps below `next`: start → end (exclusive).
    missing: BTreeMap<u64, u64>,
    missing_count: u64,
    received: u64,
    duplicates: u64,
    reordered: u64,
}

impl SequenceTracker {
    /// A tracker that has received nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the arrival of `sequence` and says what it was.
    pub fn observe(&mut self, sequence: u64) -> Arrival {
        if sequence >= self.next {
            if sequence > self.next {
                self.missing.insert(self.next, sequence);
                self.missing_count += sequence - self.next;
            }
            self.next = sequence + 1;
            self.received += 1;
            return Arrival::New;
        }
        let gap = self
            .missing
            .range(..=sequence)
            .next_back()
            .map(|(&start, &end)| (start, end));
        match gap {
            Some((start, end)) if sequence < end => {
                self.missing.remove(&start);
                if start < sequence {
                    self.missing.insert(start, sequence);
                }
                if sequence + 1 < end {
                    self.missing.insert(sequence + 1, end);
                }
                self.missing_count -= 1;
                self.received += 1;
                self.reordered += 1;
                Arrival::Late
            }
            _ => {
                self.duplicates += 1;
                Arrival::Duplicate
            }
        }
    }

    /// Distinct numbers received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Arrivals of numbers already received.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Numbers that arrived after a higher one.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Numbers skipped so far (gaps below the highest number received).
    pub fn gaps(&self) -> u64 {
        self.missing_count
    }

    /// Numbers below `published` (the publisher's count) that never arrived.
    pub fn lost(&self, published: u64) -> u64 {
        let missing_below: u64 = self
            .missing
            .range(..published)
            .map(|(&start, &end)| end.min(published) - start)
            .sum();
        missing_below + published.saturating_sub(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn in_order_arrivals_lose_nothing() {
        let mut t = SequenceTracker::new();
        for s in 0..10 {
            assert_eq!(t.observe(s), Arrival::New);
        }
        assert_eq!(t.received(), 10);
        assert_eq!(t.lost(10), 0);
        assert_eq!(t.duplicates(), 0);
    }

    #[test]
    fn a_gap_counts_as_lost_until_the_late_message_fills_it() {
        let mut t = SequenceTracker::new();
        t.observe(0);
        t.observe(3);
        assert_eq!(t.lost(4), 2);
        assert_eq!(t.observe(2), Arrival::Late);
        assert_eq!(t.lost(4), 1);
        assert_eq!(t.reordered(), 1);
    }

    #[test]
    fn a_second_arrival_is_a_duplicate() {
        let mut t = SequenceTracker::new();
        t.observe(0);
        t.observe(1);
        assert_eq!(t.observe(1), Arrival::Duplicate);
        assert_eq!(t.observe(0), Arrival::Duplicate);
        assert_eq!(t.duplicates(), 2);
        assert_eq!(t.received(), 2);
    }

    #[test]
    fn messages_published_but_never_seen_at_the_end_are_lost() {
        let mut t = SequenceTracker::new();
        t.observe(0);
        assert_eq!(t.lost(5), 4);
    }

    #[test]
    fn a_million_dropped_messages_cost_one_gap() {
        let mut t = SequenceTracker::new();
        t.observe(0);
        t.observe(1_000_001);
        assert_eq!(t.missing.len(), 1);
        assert_eq!(t.lost(1_000_002), 1_000_000);
    }

    proptest! {
        #[test]
        fn the_tracker_agrees_with_a_set_of_seen_numbers(
            arrivals in proptest::collection::vec(0u64..64, 0..200),
            published in 0u64..80,
        ) {
            let mut t = SequenceTracker::new();
            let mut seen = HashSet::new();
            let mut duplicates = 0;
            for &s in &arrivals {
                let arrival = t.observe(s);
                if seen.insert(s) {
                    prop_assert_ne!(arrival, Arrival::Duplicate);
                } else {
                    duplicates += 1;
                    prop_assert_eq!(arrival, Arrival::Duplicate);
                }
            }
            prop_assert_eq!(t.received(), seen.len() as u64);
            prop_assert_eq!(t.duplicates(), duplicates);
            let lost = (0..published).filter(|s| !seen.contains(s)).count() as u64;
            prop_assert_eq!(t.lost(published), lost);
        }
    }
}

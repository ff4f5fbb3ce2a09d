//! A latency histogram with log-linear buckets, in the manner of HdrHistogram.
//!
//! Values (nanoseconds) below 128 are counted exactly; above, each power of two is split into
//! 64 equal buckets, so a bucket is at most 1/64 of its lower bound wide and a percentile,
//! reported as the bucket's midpoint, is within 1/128 (0.8 %) of the true value. Recording is
//! an index computation and an increment; histograms of several tasks merge by addition.

use std::time::Duration;

use serde::Serialize;

/// Values below this are their own bucket.
const EXACT: u64 = 128;
/// Buckets per power of two above [`EXACT`].
const HALF: u64 = 64;
/// Bucket count: the largest index, for `u64::MAX`, is 57 * 64 + 127.
const BUCKETS: usize = 57 * 64 + 128;

/// Counts of latencies, mergeable, with percentiles accurate to 0.8 %.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Box<[u64]>,
    count: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The figures a result reports, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample, µs.
    pub min_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest sample, µs.
    pub max_us: f64,
}

fn bucket_of(value: u64) -> usize {
    if value < EXACT {
        return value as usize;
    }
    let msb = 63 - u64::from(value.leading_zeros());
    // msb >= 7 here; shifting by msb - 6 leaves a mantissa in 64..128.
    let shift = msb - 6;
    (shift * HALF + (value >> shift)) as usize
}

/// The lower bound and width of bucket `index`.
fn bucket_range(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < EXACT {
        return (index, 1);
    }
    let shift = index / HALF - 1;
    let mantissa = index - shift * HALF;
    (mantissa << shift, 1 << shift)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Counts one latency of `nanos` nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.count += 1;
        self.sum_ns += u128::from(nanos);
        self.min_ns = self.min_ns.min(nanos);
        self.max_ns = self.max_ns.max(nanos);
    }

    /// Counts one latency (saturating at `u64::MAX` nanoseconds, 584 years).
    pub fn record(&mut self, latency: Duration) {
        self.record_nanos(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value below or at which a fraction `quantile` (0..=1) of the samples lie, in
    /// nanoseconds; `None` when empty. Exact below 128 ns, within 0.8 % above.
    pub fn quantile_nanos(&self, quantile: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, width) = bucket_range(index);
                let mid = low + (width - 1) / 2;
                return Some(mid.clamp(self.min_ns, self.max_ns));
            }
        }
        Some(self.max_ns)
    }

    /// Mean in nanoseconds; `None` when empty.
    pub fn mean_nanos(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ns as f64 / self.count as f64)
    }

    /// Count, min, mean, p50, p90, p99, p99.9 and max in microseconds (all 0 when empty).
    pub fn summary(&self) -> LatencySummary {
        let us = |q: f64| self.quantile_nanos(q).map_or(0.0, |ns| ns as f64 / 1e3);
        LatencySummary {
            count: self.count,
            min_us: if self.count == 0 {
                0.0
            } else {
                self.min_ns as f64 / 1e3
            },
            mean_us: self.mean_nanos().map_or(0.0, |ns| ns / 1e3),
            p50_us: us(0.5),
            p90_us: us(0.9),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.max_ns as f64 / 1e3,
        }
    }
}

impl LatencySummary {
    /// `p50 / p99 / p99.9 µs` for readable summaries.
    pub fn brief(&self) -> String {
        format!(
            "p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs (n={})",
            self.p50_us, self.p99_us, self.p999_us, self.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        let h = LatencyHistogram::new();
        assert_eq!(h.quantile_nanos(0.5), None);
        assert_eq!(h.summary(), LatencySummary::default());
    }

    #[test]
    fn small_values_are_counted_exactly() {
        let mut h = LatencyHistogram::new();
        for v in 1..=100 {
            h.record_nanos(v);
        }
        assert_eq!(h.quantile_nanos(0.5), Some(50));
        assert_eq!(h.quantile_nanos(0.99), Some(99));
        assert_eq!(h.quantile_nanos(1.0), Some(100));
        assert_eq!(h.quantile_nanos(0.0), Some(1));
    }

    #[test]
    fn buckets_tile_the_whole_range_without_gaps() {
        let mut expected_low = 0;
        for index in 0..BUCKETS {
            let (low, width) = bucket_range(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(low + (width - 1)), index);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        let mut all = LatencyHistogram::new();
        for v in [5, 500, 50_000, 5_000_000] {
            a.record_nanos(v);
            all.record_nanos(v);
        }
        for v in [7, 700_000] {
            b.record_nanos(v);
            all.record_nanos(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn the_summary_reports_microseconds() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_micros(360));
        let s = h.summary();
        assert_eq!(s.count, 1);
        assert!((s.p50_us - 360.0).abs() < 360.0 / 128.0, "{s:?}");
        assert_eq!(s.min_us, 360.0);
        assert_eq!(s.max_us, 360.0);
    }

    proptest! {
        #[test]
        fn percentiles_are_within_one_percent_of_the_exact_value(
            mut values in proptest::collection::vec(1u64..10_000_000_000, 1..400),
            quantile in 0.0f64..=1.0,
        ) {
            let mut h = LatencyHistogram::new();
            for &v in &values {
                h.record_nanos(v);
            }
            values.sort_unstable();
            let rank = ((quantile * values.len() as f64).ceil() as usize).max(1);
            let exact = values[rank - 1] as f64;
            let got = h.quantile_nanos(quantile).expect("non-empty") as f64;
            prop_assert!((got - exact).abs() <= exact / 100.0, "exact {exact}, got {got}");
        }
    }
}

//! The stamp at the start of every benchmark payload: who sent it, its sequence number and
//! when it was sent, so that a subscriber can measure latency and count losses.
//!
//! Layout (big-endian, 20 bytes): magic `RB` (2), publisher index (2), sequence (8), send time
//! in nanoseconds since the run's [`Clock`] origin (8). The rest of the payload is filler.
//! Publishers and subscribers live in one process and share the origin, so no clock
//! synchronisation is involved.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};

use crate::error::BenchError;

/// Bytes the stamp takes; the smallest payload.
pub const STAMP_LEN: usize = 20;
/// The largest payload the generator sends (AWS IoT's 128 KiB message limit).
pub const MAX_PAYLOAD: usize = 128 * 1024;
const MAGIC: [u8; 2] = *b"RB";

/// The run's time origin, shared by every task.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Nanoseconds from the origin to `at` (0 for instants before it).
    pub fn nanos_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Nanoseconds since the origin.
    pub fn now_nanos(&self) -> u64 {
        self.nanos_at(Instant::now())
    }

    /// The instant `nanos` nanoseconds after the origin (a year after it, for times too far
    /// out to represent).
    pub fn instant_at(&self, nanos: u64) -> Instant {
        self.origin
            .checked_add(Duration::from_nanos(nanos))
            .unwrap_or_else(|| self.origin + Duration::from_secs(365 * 24 * 3600))
    }
}

/// What a payload carries besides filler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the publisher, unique within a run.
    pub publisher: u16,
    /// Per-publisher sequence number, from 0.
    pub sequence: u64,
    /// Send time, nanoseconds since the run's [`Clock`] origin.
    pub sent_at_nanos: u64,
}

impl Stamp {
    /// Writes the [`STAMP_LEN`] bytes of the stamp.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_slice(&MAGIC);
        out.put_u16(self.publisher);
        out.put_u64(self.sequence);
        out.put_u64(self.sent_at_nanos);
    }

    /// Reads the stamp at the start of `payload`.
    pub fn read(payload: &[u8]) -> Result<Stamp, BenchError> {
        let foreign = || BenchError::ForeignPayload { len: payload.len() };
        let stamp = payload.get(..STAMP_LEN).ok_or_else(foreign)?;
        if stamp[..2] != MAGIC {
            return Err(foreign());
        }
        let u64_at = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&stamp[at..at + 8]);
            u64::from_be_bytes(bytes)
        };
        Ok(Stamp {
            publisher: u16::from_be_bytes([stamp[2], stamp[3]]),
            sequence: u64_at(4),
            sent_at_nanos: u64_at(12),
        })
    }
}

/// A payload of `size` bytes whose first [`STAMP_LEN`] bytes are overwritten per message.
pub fn filler(size: usize) -> Result<Bytes, BenchError> {
    if !(STAMP_LEN..=MAX_PAYLOAD).contains(&size) {
        return Err(BenchError::PayloadSize {
            size,
            min: STAMP_LEN,
            max: MAX_PAYLOAD,
        });
    }
    Ok(Bytes::from(vec![b'x'; size]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    #[test]
    fn a_stamp_takes_twenty_bytes() {
        let mut buf = BytesMut::new();
        Stamp {
            publisher: 1,
            sequence: 2,
            sent_at_nanos: 3,
        }
        .write(&mut buf);
        assert_eq!(buf.len(), STAMP_LEN);
        assert_eq!(&buf[..2], b"RB");
    }

    #[test]
    fn payloads_that_are_not_ours_are_refused() {
        assert!(matches!(
            Stamp::read(b"hello"),
            Err(BenchError::ForeignPayload { len: 5 })
        ));
        assert!(Stamp::read(&[0u8; 64]).is_err());
    }

    #[test]
    fn payload_sizes_below_the_stamp_or_above_128_kib_are_refused() {
        assert!(filler(STAMP_LEN - 1).is_err());
        assert!(filler(MAX_PAYLOAD + 1).is_err());
        assert_eq!(filler(64).map(|b| b.len()).ok(), Some(64));
    }

    #[test]
    fn the_clock_counts_from_its_origin() {
        let clock = Clock::start();
        let later = Instant::now() + std::time::Duration::from_millis(5);
        assert!(clock.nanos_at(later) >= 5_000_000);
        assert_eq!(clock.nanos_at(clock.origin), 0);
        assert_eq!(clock.nanos_at(clock.instant_at(7_000)), 7_000);
    }

    proptest! {
        #[test]
        fn a_stamp_reads_back_from_a_payload_with_filler(
            publisher: u16, sequence: u64, sent_at_nanos: u64, extra in 0usize..100,
        ) {
            let stamp = Stamp { publisher, sequence, sent_at_nanos };
            let mut buf = BytesMut::new();
            stamp.write(&mut buf);
            buf.extend_from_slice(&vec![b'x'; extra]);
            prop_assert_eq!(Stamp::read(&buf).ok(), Some(stamp));
        }
    }
}

//! The spec's data representations (§1.5): integers, variable byte integers, UTF-8 strings,
//! binary data; a bounded reader for decoding and a sizing/writing sink for encoding.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// Largest value a variable byte integer carries (§1.5.5).
pub(crate) const VBI_MAX: u32 = 268_435_455;

/// Checks the UTF-8 string rules: well-formed UTF-8 (which excludes surrogates,
/// [MQTT-1.5.4-1]) and no U+0000 ([MQTT-1.5.4-2]). U+FEFF is kept as is ([MQTT-1.5.4-3]).
pub(crate) fn check_mqtt_str(bytes: &[u8]) -> Result<&str, DecodeError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::malformed("[MQTT-1.5.4-1] string is not well-formed UTF-8"))?;
    check_no_null(text)?;
    Ok(text)
}

/// The part of the string rules a Rust `str` does not already guarantee: no U+0000
/// ([MQTT-1.5.4-2]).
pub(crate) fn check_no_null(text: &str) -> Result<(), DecodeError> {
    if text.as_bytes().contains(&0) {
        return Err(DecodeError::malformed(
            "[MQTT-1.5.4-2] string contains U+0000",
        ));
    }
    Ok(())
}

/// Checks a string from outside MQTT (an HTTP request) that is to travel in a packet: at most
/// 65535 bytes (§1.5.4) and no U+0000 ([MQTT-1.5.4-2]); a Rust `str` is already well-formed.
pub fn check_string(text: &str) -> Result<(), DecodeError> {
    if text.len() > usize::from(u16::MAX) {
        return Err(DecodeError::malformed("string is longer than 65535 bytes"));
    }
    check_no_null(text)
}

/// Outcome of reading a variable byte integer from a prefix of the input.
pub(crate) enum Vbi {
    /// The value and how many bytes encoded it.
    Value(u32, usize),
    /// The input ends inside the integer.
    Incomplete,
}

/// Reads a variable byte integer from the start of `bytes` (§1.5.5). More than four bytes is
/// malformed. Non-minimal encodings are accepted: the minimum-bytes rule binds the sender
/// ([MQTT-1.5.5-1]) and refusing them buys nothing.
pub(crate) fn read_vbi(bytes: &[u8]) -> Result<Vbi, DecodeError> {
    let mut value: u32 = 0;
    for (index, byte) in bytes.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Vbi::Value(value, index + 1));
        }
    }
    if bytes.len() >= 4 {
        Err(DecodeError::malformed(
            "variable byte integer is longer than 4 bytes",
        ))
    } else {
        Ok(Vbi::Incomplete)
    }
}

/// Number of bytes the minimal encoding of `value` takes.
pub(crate) fn vbi_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes the minimal encoding of `value`; callers keep `value <= VBI_MAX`.
pub(crate) fn put_vbi(buf: &mut BytesMut, mut value: u32) {
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

/// A cursor over the bytes of one packet (or one nested section of it). Running out of bytes
/// is malformed: the fixed header already promised them.
pub(crate) struct Reader {
    buf: Bytes,
    /// What it means to run out here, for the error.
    short: &'static str,
}

impl Reader {
    /// Reads `buf`, reporting `short` if a field runs past its end.
    pub(crate) fn new(buf: Bytes, short: &'static str) -> Reader {
        Reader { buf, short }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.remaining() < n {
            Err(DecodeError::malformed(self.short))
        } else {
            Ok(())
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    pub(crate) fn vbi(&mut self) -> Result<u32, DecodeError> {
        match read_vbi(&self.buf)? {
            Vbi::Value(value, len) => {
                self.buf.advance(len);
                Ok(value)
            }
            Vbi::Incomplete => Err(DecodeError::malformed(self.short)),
        }
    }

    /// The next `n` bytes, zero-copy.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    /// Everything left, zero-copy.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// A reader over the next `n` bytes, which reports `short` when a field runs past them.
    pub(crate) fn section(&mut self, n: usize, short: &'static str) -> Result<Reader, DecodeError> {
        Ok(Reader::new(self.take(n)?, short))
    }

    /// Binary data: two-byte length, then that many bytes (§1.5.6).
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 encoded string (§1.5.4), validated.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.binary()?;
        Ok(check_mqtt_str(&raw)?.to_owned())
    }
}

/// Where encoded fields go: [`Sizer`] measures (and checks lengths), [`BytesMut`] writes.
///
/// Every packet is emitted twice through the same code, first to size the remaining length,
/// then to write, so that the two can never disagree and no scratch buffer is needed.
pub(crate) trait Sink {
    fn u8(&mut self, value: u8);
    fn u16(&mut self, value: u16);
    fn u32(&mut self, value: u32);
    fn vbi(&mut self, field: &'static str, value: u32) -> Result<(), EncodeError>;
    fn binary(&mut self, field: &'static str, value: &[u8]) -> Result<(), EncodeError>;
    fn raw(&mut self, value: &[u8]);

    fn string(&mut self, field: &'static str, value: &str) -> Result<(), EncodeError> {
        self.binary(field, value.as_bytes())
    }
}

/// Counts the bytes a packet body will take.
#[derive(Debug, Default)]
pub(crate) struct Sizer {
    pub(crate) len: usize,
}

impl Sink for Sizer {
    fn u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn vbi(&mut self, field: &'static str, value: u32) -> Result<(), EncodeError> {
        if value > VBI_MAX {
            return Err(EncodeError::ValueTooLarge {
                field,
                value: u64::from(value),
            });
        }
        self.len += vbi_len(value);
        Ok(())
    }
    fn binary(&mut self, field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
        if value.len() > usize::from(u16::MAX) {
            return Err(EncodeError::FieldTooLong {
                field,
                len: value.len(),
            });
        }
        self.len += 2 + value.len();
        Ok(())
    }
    fn raw(&mut self, value: &[u8]) {
        self.len += value.len();
    }
}

impl Sink for BytesMut {
    fn u8(&mut self, value: u8) {
        self.put_u8(value);
    }
    fn u16(&mut self, value: u16) {
        self.put_u16(value);
    }
    fn u32(&mut self, value: u32) {
        self.put_u32(value);
    }
    fn vbi(&mut self, _: &'static str, value: u32) -> Result<(), EncodeError> {
        put_vbi(self, value);
        Ok(())
    }
    fn binary(&mut self, _: &'static str, value: &[u8]) -> Result<(), EncodeError> {
        // The sizing pass has already rejected anything longer than u16::MAX.
        self.put_u16(value.len() as u16);
        self.put_slice(value);
        Ok(())
    }
    fn raw(&mut self, value: &[u8]) {
        self.put_slice(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vbi_value(bytes: &[u8]) -> Option<(u32, usize)> {
        match read_vbi(bytes).unwrap() {
            Vbi::Value(v, n) => Some((v, n)),
            Vbi::Incomplete => None,
        }
    }

    #[test]
    fn variable_byte_integers_match_the_spec_table_boundaries() {
        for (value, encoded) in [
            (0u32, vec![0x00]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (2_097_151, vec![0xFF, 0xFF, 0x7F]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
            (VBI_MAX, vec![0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut buf = BytesMut::new();
            put_vbi(&mut buf, value);
            assert_eq!(&buf[..], &encoded[..], "{value}");
            assert_eq!(vbi_len(value), encoded.len());
            assert_eq!(vbi_value(&encoded), Some((value, encoded.len())));
        }
    }

    #[test]
    fn a_fifth_variable_byte_integer_byte_is_malformed() {
        assert!(read_vbi(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
    }

    #[test]
    fn a_string_from_outside_must_fit_a_length_prefix_and_hold_no_null() {
        assert!(check_string("application/json").is_ok());
        assert!(check_string("a\0b").is_err());
        assert!(check_string(&"x".repeat(65_535)).is_ok());
        assert!(check_string(&"x".repeat(65_536)).is_err());
    }

    #[test]
    fn a_truncated_variable_byte_integer_needs_more_bytes() {
        assert_eq!(vbi_value(&[0xFF, 0xFF]), None);
        assert_eq!(vbi_value(&[]), None);
    }

    #[test]
    fn strings_reject_ill_formed_utf8_surrogates_and_null() {
        assert!(check_mqtt_str(b"ok \xEF\xBB\xBF").is_ok());
        assert!(check_mqtt_str(b"\xC0\x80").is_err());
        assert!(check_mqtt_str(b"\xED\xA0\x80").is_err());
        assert!(check_mqtt_str(b"a\x00").is_err());
    }

    #[test]
    fn reader_reports_its_section_when_a_field_runs_past_the_end() {
        let mut reader = Reader::new(Bytes::from_static(&[0x00, 0x05, b'a']), "short");
        assert_eq!(reader.string(), Err(DecodeError::malformed("short")));
    }
}

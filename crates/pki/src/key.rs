//! Key generation and private-key encodings.

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, RsaKeySize, SerialNumber};

use crate::error::PkiError;
use crate::pem::encode_pem;

/// The kind of key pair to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA, 2048-bit modulus, signing with SHA-256 (what AWS CreateKeysAndCertificate returns).
    Rsa2048,
    /// ECDSA on NIST P-256 with SHA-256.
    EcP256,
}

impl KeyKind {
    pub(crate) fn generate(self) -> Result<KeyPair, PkiError> {
        let key = match self {
            KeyKind::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
            KeyKind::EcP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
        };
        key.map_err(|e| PkiError::Issuing {
            reason: format!("key generation failed: {e}"),
        })
    }

    /// The private key as PEM: PKCS#1 `RSA PRIVATE KEY` for RSA (as AWS returns it), PKCS#8
    /// `PRIVATE KEY` for EC.
    pub(crate) fn private_key_pem(self, key: &KeyPair) -> Result<String, PkiError> {
        match self {
            KeyKind::Rsa2048 => Ok(encode_pem(
                "RSA PRIVATE KEY",
                &pkcs8_rsa_to_pkcs1(key.serialized_der())?,
            )),
            KeyKind::EcP256 => Ok(key.serialize_pem()),
        }
    }
}

/// A random positive 20-byte serial number (RFC 5280's maximum), never starting with a zero byte.
pub(crate) fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Issuing {
        reason: "no randomness for a serial number".into(),
    })?;
    bytes[0] = (bytes[0] & 0x7f).max(1);
    Ok(SerialNumber::from_slice(&bytes))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
/// DER content of OID 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Unwraps the PKCS#1 `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo` (RFC 5208):
/// `SEQUENCE { INTEGER version, SEQUENCE { OID rsaEncryption, … }, OCTET STRING RSAPrivateKey, … }`.
pub(crate) fn pkcs8_rsa_to_pkcs1(pkcs8: &[u8]) -> Result<Vec<u8>, PkiError> {
    let bad = |reason: &str| PkiError::MalformedPrivateKey {
        reason: format!("PKCS#8: {reason}"),
    };
    let (info, rest) = read_tlv(pkcs8, SEQUENCE).ok_or_else(|| bad("not a SEQUENCE"))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let (_version, info) = read_tlv(info, INTEGER).ok_or_else(|| bad("no version"))?;
    let (algorithm, info) = read_tlv(info, SEQUENCE).ok_or_else(|| bad("no algorithm"))?;
    let (oid, _params) = read_tlv(algorithm, OID).ok_or_else(|| bad("no algorithm OID"))?;
    if oid != RSA_ENCRYPTION {
        return Err(bad("not an RSA key"));
    }
    let (key, _attributes) = read_tlv(info, OCTET_STRING).ok_or_else(|| bad("no private key"))?;
    match read_tlv(key, SEQUENCE) {
        Some((_, [])) => Ok(key.to_vec()),
        _ => Err(bad("the RSAPrivateKey is not one SEQUENCE")),
    }
}

/// Reads one DER TLV with tag `tag`: returns (contents, rest). Definite lengths only, as DER requires.
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn rsa_keys_are_written_as_pkcs1_that_reads_back_as_the_same_key() {
        let key = KeyKind::Rsa2048.generate().expect("RSA keygen");
        let pem = KeyKind::Rsa2048.private_key_pem(&key).expect("PKCS#1");
        assert!(
            pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{pem}"
        );
        assert!(matches!(
            PrivateKeyDer::from_pem_slice(pem.as_bytes()),
            Ok(PrivateKeyDer::Pkcs1(_))
        ));
        let reread = KeyPair::from_pem(&pem).expect("rcgen reads PKCS#1");
        assert_eq!(reread.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn ec_keys_are_written_as_pkcs8() {
        let key = KeyKind::EcP256.generate().expect("EC keygen");
        let pem = KeyKind::EcP256.private_key_pem(&key).expect("PKCS#8");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    }

    #[test]
    fn an_ec_key_cannot_be_unwrapped_as_rsa() {
        let key = KeyKind::EcP256.generate().expect("EC keygen");
        assert!(matches!(
            pkcs8_rsa_to_pkcs1(key.serialized_der()),
            Err(PkiError::MalformedPrivateKey { .. })
        ));
    }

    #[test]
    fn truncated_der_is_rejected_not_panicking() {
        let key = KeyKind::Rsa2048.generate().expect("RSA keygen");
        let der = key.serialized_der();
        for len in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            assert!(pkcs8_rsa_to_pkcs1(&der[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn serials_are_positive_twenty_bytes_and_differ() {
        let a = random_serial().expect("serial").to_bytes();
        let b = random_serial().expect("serial").to_bytes();
        assert_eq!(a.len(), 20);
        assert!(a[0] != 0 && a[0] < 0x80);
        assert_ne!(a, b);
    }
}

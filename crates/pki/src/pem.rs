//! Reading and writing PEM: certificates (one or a chain), CSRs and private keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use x509_parser::prelude::FromDer;

use crate::error::PkiError;

/// Every `CERTIFICATE` block in `pem`, in order, each checked to be a parseable X.509
/// certificate. Other blocks (keys, text) are skipped.
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let mut certs = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let der = item.map_err(|e| malformed(&e))?;
        check_certificate_der(&der, i + 1)?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(PkiError::NoPemBlock {
            label: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The first `CERTIFICATE` block in `pem`; any further certificates are ignored.
pub fn parse_certificate(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => PkiError::NoPemBlock {
            label: "CERTIFICATE",
        },
        e => malformed(&e),
    })?;
    check_certificate_der(&der, 1)?;
    Ok(der)
}

/// The first `CERTIFICATE REQUEST` (or legacy `NEW CERTIFICATE REQUEST`) block in `pem`.
pub fn parse_csr(pem: &str) -> Result<CertificateSigningRequestDer<'static>, PkiError> {
    match CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()) {
        Ok(der) => Ok(der),
        Err(pem::Error::NoItemsFound)
            if pem.contains("-----BEGIN NEW CERTIFICATE REQUEST-----") =>
        {
            // OpenSSL's `-newhdr` and some old tools still write this label.
            let renamed = pem.replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST");
            CertificateSigningRequestDer::from_pem_slice(renamed.as_bytes())
                .map_err(|e| malformed(&e))
        }
        Err(pem::Error::NoItemsFound) => Err(PkiError::NoPemBlock {
            label: "CERTIFICATE REQUEST",
        }),
        Err(e) => Err(malformed(&e)),
    }
}

/// The first private key in `pem`: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1
/// `EC PRIVATE KEY`.
pub fn parse_private_key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => PkiError::NoPemBlock {
            label: "PRIVATE KEY",
        },
        e => malformed(&e),
    })
}

/// Encodes `der` as a PEM block with `label` (e.g. `CERTIFICATE`), 64-column base64, trailing
/// newline.
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

fn check_certificate_der(der: &[u8], index: usize) -> Result<(), PkiError> {
    match x509_parser::certificate::X509Certificate::from_der(der) {
        Ok(([], _)) => Ok(()),
        Ok(_) => Err(PkiError::MalformedCertificate {
            index,
            reason: "trailing bytes after the certificate".into(),
        }),
        Err(e) => Err(PkiError::MalformedCertificate {
            index,
            reason: e.to_string(),
        }),
    }
}

fn malformed(e: &pem::Error) -> PkiError {
    PkiError::MalformedPem {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_a_certificate_says_so() {
        assert_eq!(
            parse_certificates("hello"),
            Err(PkiError::NoPemBlock {
                label: "CERTIFICATE"
            })
        );
        assert_eq!(
            parse_certificate("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(PkiError::NoPemBlock {
                label: "CERTIFICATE"
            })
        );
        assert_eq!(
            parse_csr(""),
            Err(PkiError::NoPemBlock {
                label: "CERTIFICATE REQUEST"
            })
        );
        assert_eq!(
            parse_private_key("x"),
            Err(PkiError::NoPemBlock {
                label: "PRIVATE KEY"
            })
        );
    }

    #[test]
    fn a_block_that_is_not_a_certificate_is_named_by_position() {
        let good = crate::testing::self_signed_pem("good").expect("CA");
        let bad = encode_pem("CERTIFICATE", b"\x30\x03\x02\x01\x01");
        let err = parse_certificates(&format!("{good}{bad}")).expect_err("second is bad");
        assert!(
            matches!(err, PkiError::MalformedCertificate { index: 2, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("certificate 2 in the chain is not valid DER: "),
            "{err}"
        );
    }

    #[test]
    fn broken_base64_is_malformed_pem() {
        let err =
            parse_certificates("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
                .expect_err("bad base64");
        assert!(matches!(err, PkiError::MalformedPem { .. }), "{err:?}");
    }

    #[test]
    fn encoding_wraps_at_64_columns_and_reads_back() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode_pem("CERTIFICATE REQUEST", &der);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let back = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()).expect("readable");
        assert_eq!(back.as_ref(), der.as_slice());
    }

    #[test]
    fn legacy_new_certificate_request_label_is_accepted() {
        let pem = encode_pem("NEW CERTIFICATE REQUEST", b"\x30\x00");
        assert_eq!(parse_csr(&pem).expect("accepted").as_ref(), b"\x30\x00");
    }
}

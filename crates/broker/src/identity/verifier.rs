//! The TLS client-certificate verifier. The handshake proves one thing: the client holds the
//! key of a certificate that is registered itself (by SHA-256 fingerprint) or chains to a
//! registered CA. What the certificate may do (its status, auto-registration) is decided at
//! MQTT CONNECT, where the client can be told why.
//!
//! Device certificates may be X.509 v1 (what `openssl x509 -req` makes), which webpki refuses,
//! so chains are checked with x509-parser (`roost_pki`) and the handshake signature against the
//! certificate's public key directly.

use std::sync::Arc;

use roost_pki::CertificateInfo;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::identity::trust::{TrustStore, VerifiedLeaf};

/// Accepts client certificates the registry knows, directly or through a registered CA.
#[derive(Debug)]
pub struct RegistryVerifier {
    trust: Arc<TrustStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl RegistryVerifier {
    pub fn new(trust: Arc<TrustStore>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { trust, algorithms }
    }
}

/// Lowercase hex SHA-256 of a certificate: its AWS certificate id.
pub fn certificate_id(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

impl ClientCertVerifier for RegistryVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // An empty list: clients send their certificate anyway, and thousands of registered
        // CAs would bloat every CertificateRequest.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let id = certificate_id(end_entity);
        if self.trust.is_registered(&id) {
            return Ok(ClientCertVerified::assertion());
        }
        // The id is hashed once per handshake: parsing takes the one just computed.
        let leaf = CertificateInfo::from_der_with_id(end_entity, id)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if let Some(ca) = signing_ca(&self.trust, &leaf) {
            // Most likely a first connect, to be provisioned at CONNECT: admission takes it
            // from here instead of parsing and verifying it again.
            self.trust.remember_verified(
                leaf.id.clone(),
                VerifiedLeaf {
                    ca_id: ca.record.id.clone(),
                    certificate: Arc::new(leaf),
                },
            );
            return Ok(ClientCertVerified::assertion());
        }
        if chains_to_registered_ca(&self.trust, &leaf, intermediates, now.as_secs() as i64) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let spki = spki_of(cert)?;
        let key = webpki::RawPublicKeyEntity::try_from(&spki)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let candidates = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or(Error::InvalidCertificate(CertificateError::BadSignature))?;
        if candidates
            .iter()
            .any(|alg| key.verify_signature(*alg, message, dss.signature()).is_ok())
        {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(Error::InvalidCertificate(CertificateError::BadSignature))
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let spki = spki_of(cert)?;
        rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn spki_of(cert: &CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'static>, Error> {
    let info = CertificateInfo::from_der(cert)
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
    Ok(SubjectPublicKeyInfoDer::from(info.spki_der))
}

/// Whether `leaf` was signed by a registered CA, directly or through the presented
/// `intermediates` (in any order).
pub fn chains_to_registered_ca(
    trust: &TrustStore,
    leaf: &CertificateInfo,
    intermediates: &[CertificateDer<'_>],
    now: i64,
) -> bool {
    if signing_ca(trust, leaf).is_some() {
        return true;
    }
    let parsed: Vec<CertificateInfo> = intermediates
        .iter()
        .filter_map(|der| CertificateInfo::from_der(der).ok())
        .collect();
    parsed.iter().any(|intermediate| {
        trust
            .cas_with_subject(&intermediate.issuer_der)
            .iter()
            .any(|ca| roost_pki::verify_chain_to(leaf, &parsed, &ca.info, now).is_ok())
    })
}

/// The registered CA whose key signed `leaf`, if any.
pub fn signing_ca(
    trust: &TrustStore,
    leaf: &CertificateInfo,
) -> Option<Arc<crate::identity::trust::TrustedCa>> {
    trust
        .cas_with_subject(&leaf.issuer_der)
        .into_iter()
        .find(|ca| roost_pki::verify_signed_by(leaf, &ca.info).is_ok())
}

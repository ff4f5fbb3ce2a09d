//! Stateless TLS session tickets, so that a fleet reconnecting after an outage resumes its TLS
//! sessions instead of running a full handshake each (resumption skips the certificate
//! signatures).
//!
//! Resumption never skips authorization: rustls restores the client's certificate chain from
//! the ticket, and admission at CONNECT looks its status, its CA and its policies up exactly as
//! for a full handshake, so a certificate revoked after its ticket was issued is refused all
//! the same. A ticket is accepted for at most the configured lifetime: keys are rotated every
//! half lifetime and a key is kept one rotation only ([`rustls::TicketRotator`]).
//!
//! aws-lc-rs's own ticketer rotates every 6 hours, fixed; a configurable lifetime needs a
//! generator of our own, which is this small AEAD (ChaCha20-Poly1305) ticketer.

use std::time::Duration;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::TicketRotator;
use rustls::crypto::GetRandomFailed;
use rustls::server::ProducesTickets;

/// Session ticket settings of the MQTT listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTickets {
    /// Whether tickets are issued (TLS 1.3 tickets and TLS 1.2 session tickets).
    pub enabled: bool,
    /// Longest a ticket is accepted after it was issued.
    pub lifetime: Duration,
}

impl Default for SessionTickets {
    fn default() -> Self {
        Self {
            enabled: true,
            lifetime: Duration::from_secs(3600),
        }
    }
}

/// The ticketer for `settings`: keys rotated every half lifetime, each used to decrypt for
/// one more half lifetime.
pub(crate) fn ticketer(settings: SessionTickets) -> Result<TicketRotator, rustls::Error> {
    let half = (settings.lifetime.as_secs() / 2).clamp(1, u64::from(u32::MAX)) as u32;
    TicketRotator::new(half, AeadTicketer::generate)
}

/// Encrypts tickets under one random key: nonce ‖ ciphertext ‖ tag.
struct AeadTicketer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for AeadTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AeadTicketer").finish_non_exhaustive()
    }
}

impl AeadTicketer {
    /// A ticketer with a fresh random key (the rotator's generator).
    fn generate() -> Result<Box<dyn ProducesTickets>, GetRandomFailed> {
        let random = SystemRandom::new();
        let mut key = [0u8; 32];
        random.fill(&mut key).map_err(|_| GetRandomFailed)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key).map_err(|_| GetRandomFailed)?;
        Ok(Box::new(Self {
            key: LessSafeKey::new(key),
            random,
        }))
    }
}

impl ProducesTickets for AeadTicketer {
    fn enabled(&self) -> bool {
        true
    }

    /// Only a hint; the rotator answers with its own lifetime.
    fn lifetime(&self) -> u32 {
        0
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .ok()?;
        let mut ticket = Vec::with_capacity(NONCE_LEN + sealed.len());
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let (nonce, sealed) = ticket.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut opened = sealed.to_vec();
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut opened)
            .ok()?
            .len();
        opened.truncate(plain_len);
        Some(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_decrypts_under_its_key_only_and_tampering_is_detected() {
        let one = AeadTicketer::generate().unwrap();
        let other = AeadTicketer::generate().unwrap();
        let ticket = one.encrypt(b"session state").unwrap();
        assert_eq!(one.decrypt(&ticket).unwrap(), b"session state");
        assert!(other.decrypt(&ticket).is_none());
        let mut tampered = ticket.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(one.decrypt(&tampered).is_none());
        assert!(one.decrypt(&ticket[..5]).is_none());
    }

    #[test]
    fn the_rotator_accepts_tickets_for_the_configured_lifetime() {
        let rotator = ticketer(SessionTickets {
            enabled: true,
            lifetime: Duration::from_secs(600),
        })
        .unwrap();
        assert_eq!(rotator.lifetime(), 600);
        let ticket = rotator.encrypt(b"x").unwrap();
        assert_eq!(rotator.decrypt(&ticket).unwrap(), b"x");
    }
}

//! Device identity: the in-memory trust view, the TLS client-certificate verifier over it, and
//! admission at CONNECT.

pub mod principal;
pub mod trust;
pub mod verifier;

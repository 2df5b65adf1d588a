//! Integration-test support: the Google emulators, a loopback DNS server, the Envoy harness, and
//! the local stack's TLS.
pub mod dns;
pub mod emulator;
pub mod harness;
pub mod local_tls;
pub mod probe;
pub mod stack;
pub mod wait;

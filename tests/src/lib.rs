//! Integration-test support: the Google emulators, the Envoy harness, and the local stack's TLS.
pub mod emulator;
pub mod harness;
pub mod local_tls;
pub mod probe;
pub mod stack;
pub mod wait;

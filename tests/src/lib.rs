//! Integration-test support: the Google emulators and the Envoy harness.
pub mod emulator;
pub mod harness;
pub mod stack;

//! Google access tokens: building the token call, reading its answer, and the shared cache.

pub mod cache;
pub mod call;
pub mod entry;
pub mod jwt;
pub mod response;

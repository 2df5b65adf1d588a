//! Google access tokens: building the token call, reading its answer, the shared cache, each
//! worker's copy of it, and the broker that gets tokens to requests.

pub mod broker;
pub mod cache;
pub mod call;
pub mod entry;
pub mod jwt;
pub mod response;
pub mod worker_copy;

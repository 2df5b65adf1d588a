//! Google access tokens: building the token call, reading its answer, the shared cache and
//! each worker's copy of it.

pub mod cache;
pub mod call;
pub mod entry;
pub mod jwt;
pub mod response;
pub mod worker_copy;

//! vertex-passthrough: an Envoy proxy-wasm filter that puts Google Vertex AI behind Envoy.
//!
//! The core (`config`, `routing`, `request_headers`, `client_auth`, `token`, `live`,
//! `error_response`) decides everything and never calls the host; `adapter` moves bytes between
//! Envoy and the core.

pub mod adapter;
pub mod client_auth;
pub mod config;
pub mod error_response;
pub mod live;
pub mod request_headers;
pub mod routing;
pub mod token;

//! vertex-passthrough: an Envoy proxy-wasm filter that puts Google Vertex AI behind Envoy.
//!
//! Everything the filter decides is in the core crate (`vertex_passthrough_core`), which never
//! calls the host itself; this crate implements the core's `Host` over proxy-wasm and hands
//! Envoy's callbacks to it.

pub mod adapter;

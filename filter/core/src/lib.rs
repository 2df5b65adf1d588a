//! vertex-passthrough's core: everything the filter decides, with every host call behind the
//! `host::Host` trait. The proxy-wasm adapter (the `vertex-passthrough` crate) implements that
//! trait and moves Envoy's callbacks here; the tests implement it with `mock::MockHost`.
//!
//! - `config`, `segment`, `locations`: the plugin configuration, what a name segment may
//!   contain, and the locations requests may name.
//! - `request_headers`, `client_auth`, `routing`: a request's headers, its client key, and
//!   where it goes.
//! - `worker`: what one worker keeps, and the decision a request's headers get.
//! - `deployments`: the pick among an alias's deployments, and their cooldowns.
//! - `http`: one request's callbacks, the decision carried out.
//! - `token`: Google tokens: the call, the shared cache, the broker that gets them to requests.
//! - `live`: the Gemini Live WebSocket session.
//! - `metrics`, `error_response`: what the filter counts and how it answers itself.
//! - `moment`: the clock and the count of shared changes, read once per decision.

pub mod client_auth;
pub mod config;
pub mod deployments;
pub mod error_response;
pub mod host;
pub mod http;
pub mod limits;
pub mod live;
pub mod locations;
pub mod metrics;
pub mod moment;
pub mod request_headers;
pub mod routing;
pub mod segment;
pub mod token;
pub mod usage;
pub mod worker;

#[cfg(test)]
pub mod mock;
#[cfg(test)]
pub mod test_config;

//! What the core asks of the proxy: every host call the filter makes, behind one trait. The
//! adapter implements it over proxy-wasm; the tests over a mock (`crate::mock`). A host is a
//! cheap handle: the adapter's has no data, so calls through it compile to the host calls.

use crate::error_response::ErrorResponse;
use crate::token::call::TokenCall;
use std::time::Duration;

/// Which body a body call reads or replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    Request,
    Response,
}

/// A metric's kind, as the proxy defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// The proxy refused to dispatch a call (an unknown cluster, a bad header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchRefused;

/// A compare-and-swap write to shared data lost a race, or the host refused it.
#[derive(Debug, PartialEq, Eq)]
pub struct StoreConflict;

pub trait Host {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A number that differs between workers, to seed a worker's picks; read once.
    fn random_seed(&self) -> u64;

    /// The current request's whole header map in the proxy-wasm wire format (see
    /// `request_headers`); empty when there is none.
    fn request_header_map(&self) -> Vec<u8>;
    /// Set (`Some`) or remove (`None`) a request header of the current request.
    fn set_request_header(&self, name: &str, value: Option<&str>);
    /// The `:status` of the current request's response.
    fn response_status(&self) -> Option<u16>;
    /// Whether that response came from the upstream (Envoy's `response.code_details` is
    /// `via_upstream`), not from Envoy or one of its filters.
    fn response_from_upstream(&self) -> bool;
    /// The first `size` bytes of the current request's body or response body.
    fn body(&self, which: Body, size: usize) -> Vec<u8>;
    /// Replace the first `size` bytes of that body with `bytes`.
    fn replace_body(&self, which: Body, size: usize, bytes: &[u8]);
    /// Set the current request's property `name` (Envoy keeps it as the filter state
    /// `wasm.<name>`, which its access log can print).
    fn set_property(&self, name: &str, value: &[u8]);
    /// Answer the current request with `error` instead of forwarding it.
    fn send_error(&self, error: &ErrorResponse);

    /// Make `context_id` the request later calls act on; false when that request is gone.
    fn enter_context(&self, context_id: u32) -> bool;
    /// Let the current (paused) request go on.
    fn resume_request(&self);

    /// Send `call` from the root context; returns the callout's token.
    fn dispatch(&self, call: &TokenCall, timeout: Duration) -> Result<u32, DispatchRefused>;
    /// The status of the callout response being delivered; `None` when the call failed.
    fn call_response_status(&self) -> Option<u16>;
    fn call_response_body(&self, size: usize) -> Vec<u8>;

    /// Shared data, one store for every worker of the proxy: the value and its CAS version.
    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Fails when `cas` no longer matches (another worker wrote in between).
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict>;
    /// Creates the entry `key` holding `initial` unless it exists, before traffic: shared data
    /// has no compare-and-swap on a missing key, so every later write needs a version. Losing
    /// the race to another worker leaves the same initial value.
    fn create_shared(&self, key: &str, initial: &[u8]) {
        if self.shared_get(key).0.is_none() {
            let _ = self.shared_set(key, initial, None);
        }
    }

    /// Define a metric named `name`; `None` when the proxy refused.
    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32>;
    fn increment_metric(&self, id: u32, by: u64);
    fn record_metric(&self, id: u32, value: u64);
    /// The metric's value across the whole proxy; `None` when it cannot say.
    fn metric_value(&self, id: u32) -> Option<u64>;

    /// How often the root context's tick runs.
    fn set_tick_period(&self, period: Duration);
}

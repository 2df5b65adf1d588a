//! The host calls the adapter makes, without the SDK's `unwrap`s: a failed host call is logged
//! or treated as absent, never a panic that would take the VM and its requests down.

use crate::error_response::ErrorResponse;
use crate::token::cache::{SharedStore, StoreConflict};
use crate::token::call::TokenCall;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};
use std::time::{Duration, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A header value, with bytes that are not UTF-8 replaced (the SDK's string getter panics on
/// them); a replaced character then fails every check the value is put to.
fn header(map: MapType, name: &str) -> Option<String> {
    let bytes = hostcalls::get_map_value_bytes(map, name).ok().flatten()?;
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
    })
}

// The SDK's own wrapper of this call panics on an unexpected status and copies every header;
// the filter reads the map in place (`request_headers`).
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
}

/// The ABI's status code for success; other codes are read as plain numbers (a value outside
/// the SDK's `Status` enum must not become one).
const ABI_OK: u32 = Status::Ok as u32;

/// The request's whole header map in the ABI's wire format; empty when there is none.
pub fn request_header_map() -> Vec<u8> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer it got from `proxy_on_memory_allocate` (the SDK's
    // allocator: a boxed `[u8]` of exactly `size` bytes) and its size; ownership passes here.
    unsafe {
        if proxy_get_header_map_pairs(MapType::HttpRequestHeaders, &mut data, &mut size) != ABI_OK
            || data.is_null()
        {
            return Vec::new();
        }
        Vec::from_raw_parts(data, size, size)
    }
}

pub fn set_request_header(name: &str, value: Option<&str>) {
    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
        log::warn!("vertex-passthrough: could not set request header {name}");
    }
}

pub fn response_status() -> Option<u16> {
    header(MapType::HttpResponseHeaders, ":status").and_then(|s| s.parse().ok())
}

/// Bytes of the request or response body Envoy holds for this filter call.
pub fn body(kind: proxy_wasm::types::BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(kind, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Replace the first `size` bytes of that body with `bytes`.
pub fn replace_body(kind: proxy_wasm::types::BufferType, size: usize, bytes: &[u8]) {
    if hostcalls::set_buffer(kind, 0, size, bytes).is_err() {
        log::warn!("vertex-passthrough: could not replace a body");
    }
}

const JSON_HEADERS: [(&str, &str); 1] = [("content-type", "application/json")];

/// Answer the current request with a Google-shaped error instead of forwarding it.
pub fn send_error(error: &ErrorResponse) {
    let body = error.body();
    if hostcalls::send_http_response(
        error.http_code(),
        JSON_HEADERS.to_vec(),
        Some(body.as_bytes()),
    )
    .is_err()
    {
        log::warn!("vertex-passthrough: could not send a local response");
    }
}

/// Make `context_id` the context later host calls act on; false when that request is gone.
pub fn enter_context(context_id: u32) -> bool {
    hostcalls::set_effective_context(context_id).is_ok()
}

pub fn resume_request() {
    if hostcalls::resume_http_request().is_err() {
        log::warn!("vertex-passthrough: could not resume a request");
    }
}

pub fn set_tick_period(period: Duration) {
    if hostcalls::set_tick_period(period).is_err() {
        log::warn!("vertex-passthrough: could not set the tick period");
    }
}

pub fn dispatch(call: &TokenCall, timeout: Duration) -> Result<u32, Status> {
    let headers: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hostcalls::dispatch_http_call(
        call.cluster,
        headers,
        call.body.as_deref(),
        Vec::new(),
        timeout,
    )
}

/// The status of the token call's response; `None` when the call failed without one.
pub fn call_response_status() -> Option<u16> {
    header(MapType::HttpCallResponseHeaders, ":status").and_then(|s| s.parse().ok())
}

pub fn call_response_body(size: usize) -> Vec<u8> {
    hostcalls::get_buffer(proxy_wasm::types::BufferType::HttpCallResponseBody, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// proxy-wasm shared data: one store for every worker of this Envoy process.
pub struct SharedData;

impl SharedStore for SharedData {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|_| StoreConflict)
    }
}

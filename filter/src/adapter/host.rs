//! The core's `Host` over proxy-wasm, without the SDK's `unwrap`s: a failed host call is logged
//! or treated as absent, never a panic that would take the VM and its requests down.

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};
use std::time::{Duration, UNIX_EPOCH};
use vertex_passthrough_core::error_response::ErrorResponse;
use vertex_passthrough_core::host::{Body, DispatchRefused, Host, MetricKind, StoreConflict};
use vertex_passthrough_core::token::call::TokenCall;

/// Envoy, through proxy-wasm's host calls.
#[derive(Clone, Copy, Default)]
pub struct ProxyWasm;

/// A header value, with bytes that are not UTF-8 replaced (the SDK's string getter panics on
/// them); a replaced character then fails every check the value is put to.
fn header(map: MapType, name: &str) -> Option<String> {
    let bytes = hostcalls::get_map_value_bytes(map, name).ok().flatten()?;
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
    })
}

fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(kind, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn body_type(which: Body) -> BufferType {
    match which {
        Body::Request => BufferType::HttpRequestBody,
        Body::Response => BufferType::HttpResponseBody,
    }
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

/// Takes ownership of a buffer the host returned; empty when the pointer is null.
///
/// # Safety
/// `data` is null, or came from the SDK's `proxy_on_memory_allocate(size)` (a `Vec<u8>` of
/// capacity `size`, forgotten) and was filled with `size` bytes, and nothing else owns it.
unsafe fn take_host_buffer(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        return Vec::new();
    }
    // SAFETY: by this function's contract, `data` is a forgotten allocation of `size` bytes
    // with capacity `size`, all initialised, now owned here.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

impl Host for ProxyWasm {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn random_seed(&self) -> u64 {
        // Workers configure at different nanoseconds.
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64)
    }

    fn request_header_map(&self) -> Vec<u8> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: on success the host writes a pointer it got from `proxy_on_memory_allocate`
        // and that buffer's size: `take_host_buffer`'s contract. On failure nothing is taken.
        unsafe {
            if proxy_get_header_map_pairs(MapType::HttpRequestHeaders, &mut data, &mut size)
                != ABI_OK
            {
                return Vec::new();
            }
            take_host_buffer(data, size)
        }
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) {
        if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value).is_err() {
            log::warn!("vertex-passthrough: could not set request header {name}");
        }
    }

    fn response_status(&self) -> Option<u16> {
        header(MapType::HttpResponseHeaders, ":status").and_then(|s| s.parse().ok())
    }

    fn response_from_upstream(&self) -> bool {
        hostcalls::get_property(vec!["response", "code_details"])
            .ok()
            .flatten()
            .is_some_and(|details| details == b"via_upstream")
    }

    fn body(&self, which: Body, size: usize) -> Vec<u8> {
        buffer(body_type(which), size)
    }

    fn replace_body(&self, which: Body, size: usize, bytes: &[u8]) {
        if hostcalls::set_buffer(body_type(which), 0, size, bytes).is_err() {
            log::warn!("vertex-passthrough: could not replace a body");
        }
    }

    fn set_property(&self, name: &str, value: &[u8]) {
        // Only the access log reads it: a refusal costs a log field, nothing else.
        let _ = hostcalls::set_property(vec![name], Some(value));
    }

    fn send_error(&self, error: &ErrorResponse) {
        let body = error.body();
        let retry_after = error.retry_after_s.map(|s| s.to_string());
        let mut headers = vec![("content-type", "application/json")];
        if let Some(seconds) = retry_after.as_deref() {
            headers.push(("retry-after", seconds));
        }
        if hostcalls::send_http_response(error.http_code(), headers, Some(body.as_bytes())).is_err()
        {
            log::warn!("vertex-passthrough: could not send a local response");
        }
    }

    fn enter_context(&self, context_id: u32) -> bool {
        hostcalls::set_effective_context(context_id).is_ok()
    }

    fn resume_request(&self) {
        if hostcalls::resume_http_request().is_err() {
            log::warn!("vertex-passthrough: could not resume a request");
        }
    }

    fn dispatch(&self, call: &TokenCall, timeout: Duration) -> Result<u32, DispatchRefused> {
        let headers: Vec<(&str, &str)> =
            call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        hostcalls::dispatch_http_call(
            call.cluster,
            headers,
            call.body.as_deref(),
            Vec::new(),
            timeout,
        )
        .map_err(|status| {
            log::warn!("vertex-passthrough: dispatch refused: {status:?}");
            DispatchRefused
        })
    }

    fn call_response_status(&self) -> Option<u16> {
        header(MapType::HttpCallResponseHeaders, ":status").and_then(|s| s.parse().ok())
    }

    fn call_response_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpCallResponseBody, size)
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        hostcalls::get_shared_data(key).unwrap_or((None, None))
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(|_| StoreConflict)
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        hostcalls::define_metric(kind, name).ok()
    }

    fn increment_metric(&self, id: u32, by: u64) {
        let _ = hostcalls::increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX));
    }

    fn record_metric(&self, id: u32, value: u64) {
        let _ = hostcalls::record_metric(id, value);
    }

    fn metric_value(&self, id: u32) -> Option<u64> {
        hostcalls::get_metric(id).ok()
    }

    fn set_tick_period(&self, period: Duration) {
        if hostcalls::set_tick_period(period).is_err() {
            log::warn!("vertex-passthrough: could not set the tick period");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        /// The SDK's allocator, the one the host calls to return a buffer.
        fn proxy_on_memory_allocate(size: usize) -> *mut u8;
    }

    /// What the host does: allocate through the SDK, write `bytes`, hand over the pointer.
    fn host_buffer(bytes: &[u8]) -> *mut u8 {
        // SAFETY: the allocator returns `bytes.len()` writable bytes.
        unsafe {
            let data = proxy_on_memory_allocate(bytes.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
            data
        }
    }

    #[test]
    fn a_buffer_from_the_sdk_allocator_is_taken_whole() {
        let bytes = b"\x01\0\0\0\x05\0\0\0\x01\0\0\0:path\0/\0".to_vec();
        let data = host_buffer(&bytes);
        // SAFETY: allocated by the SDK's allocator for exactly these bytes, owned by nobody.
        let taken = unsafe { take_host_buffer(data, bytes.len()) };
        assert_eq!(taken, bytes);
        assert_eq!(taken.capacity(), bytes.len());
    }

    #[test]
    fn an_empty_buffer_from_the_sdk_allocator_is_empty() {
        let data = host_buffer(&[]);
        // SAFETY: allocated by the SDK's allocator for zero bytes, owned by nobody.
        let taken = unsafe { take_host_buffer(data, 0) };
        assert!(taken.is_empty());
    }

    #[test]
    fn a_null_buffer_is_empty() {
        // SAFETY: null is within the contract.
        let taken = unsafe { take_host_buffer(std::ptr::null_mut(), 7) };
        assert!(taken.is_empty());
    }
}

//! The floor for `make bench`: the least a proxy-wasm filter doing vertex-passthrough's job can
//! cost. Per request it reads `:path` once and sets `:path`, `:authority`, `authorization` and
//! the marker header the Vertex route matches on (docs/design.md "Performance"), with no checks, no
//! allocation beyond the path it reads, and no other host call. What Envoy with this filter
//! loses against Envoy without one is the toll of Wasm itself; what vertex-passthrough loses
//! against this filter is the cost of its own logic.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType};

const PREFIX: &str = "/vertex_ai";
const AUTHORITY: &str = "us-central1-aiplatform.googleapis.com";
/// The same static token the bare Envoy's route adds.
const AUTHORIZATION: &str = "Bearer ya29.bench-static-token";
const MARKER: &str = "x-vertex-passthrough";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Floor;

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Ok(Some(path)) = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":path") else {
            return Action::Continue;
        };
        let upstream_path = path.strip_prefix(PREFIX).unwrap_or(&path);
        for (name, value) in [
            (":path", upstream_path),
            (":authority", AUTHORITY),
            ("authorization", AUTHORIZATION),
            (MARKER, "1"),
        ] {
            let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
        }
        Action::Continue
    }
}

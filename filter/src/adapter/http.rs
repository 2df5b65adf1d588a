//! One HTTP request: Envoy's callbacks handed to the core's `HttpRequest`.

use super::host::ProxyWasm;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;
use vertex_passthrough_core::http::{Flow, HttpRequest};
use vertex_passthrough_core::worker::WorkerState;

pub struct Http(HttpRequest<ProxyWasm>);

impl Http {
    pub fn new(context_id: u32, worker: Rc<WorkerState<ProxyWasm>>) -> Http {
        Http(HttpRequest::new(context_id, worker))
    }
}

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_headers(end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_request_body(body_size, end_of_stream))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        action(self.0.on_response_headers())
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        action(self.0.on_response_body(body_size, end_of_stream))
    }

    fn on_log(&mut self) {
        self.0.on_log();
    }
}

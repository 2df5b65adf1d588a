//! One HTTP request: check the client, route, rewrite, attach the Google token.

use super::host;
use super::live_session::{ClientStep, LiveSession};
use super::token_flow::{TokenStep, Worker};
use crate::client_auth::KEY_HEADERS;
use crate::error_response::{ErrorResponse, Status};
use crate::routing::{self, Forward};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::rc::Rc;

/// Marks requests the filter forwards to Vertex; the Vertex route matches on it
/// (DESIGN.md "Routing after a rewrite"). Removed from every client request first.
pub const MARKER_HEADER: &str = "x-vertex-passthrough";

pub struct Http {
    context_id: u32,
    worker: Rc<Worker>,
    /// The token this request carries upstream: (credential, generation), for 401 handling.
    carries: Option<(usize, u64)>,
    live: Option<LiveSession>,
}

impl Http {
    pub fn new(context_id: u32, worker: Rc<Worker>) -> Http {
        Http {
            context_id,
            worker,
            carries: None,
            live: None,
        }
    }

    fn reject(&self, error: &ErrorResponse) -> Action {
        self.worker.metrics.rejected(error.http_code()).increment();
        host::send_error(error);
        Action::Pause
    }

    /// Removes only the credential headers the request had (`present`, in
    /// KEY_HEADERS order); `authorization` is overwritten later, `x-goog-api-key` was not read.
    fn rewrite(forward: &Forward, upgrade: bool, present: &[bool; 4]) {
        for (name, here) in KEY_HEADERS.iter().zip(present) {
            if *here && *name != "authorization" {
                host::set_request_header(name, None);
            }
        }
        host::set_request_header("x-goog-api-key", None);
        if upgrade {
            // Uncompressed frames only: the Live setup message must stay readable.
            host::set_request_header("sec-websocket-extensions", None);
        }
        host::set_request_header(":path", Some(&forward.path));
        host::set_request_header(":authority", Some(&forward.authority));
        host::set_request_header(MARKER_HEADER, Some("1"));
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // The marker is removed only where the request is not forwarded (a forwarded
        // request gets it set, which replaces a client's).
        let Some(path) = host::request_header(":path") else {
            host::set_request_header(MARKER_HEADER, None);
            return Action::Continue;
        };
        let config = &self.worker.config;
        let Some((prefix, rest)) = routing::strip_prefix(config, &path) else {
            host::set_request_header(MARKER_HEADER, None);
            return Action::Continue;
        };
        let presented: [Option<String>; 4] = KEY_HEADERS.map(host::request_header);
        let present = presented.each_ref().map(Option::is_some);
        if !config
            .client_keys
            .accepts(presented.iter().flatten().map(String::as_str))
        {
            return self.reject(&ErrorResponse::new(
                Status::Unauthenticated,
                "missing or invalid API key",
            ));
        }
        let upgrade =
            host::request_header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let forward = match routing::route(config, prefix, rest, upgrade) {
            Ok(forward) => forward,
            Err(error) => return self.reject(&error),
        };
        // After routing, so a Live path without an upgrade still gets its 426 advice.
        let method = host::request_header(":method").unwrap_or_default();
        if let Err(error) = routing::check_http_method(&method, upgrade) {
            return self.reject(&error);
        }
        Self::rewrite(&forward, upgrade, &present);
        if upgrade {
            let seed = host::now_ms() ^ u64::from(self.context_id).rotate_left(32);
            self.live = Some(LiveSession::new(forward.route.clone(), seed));
        }
        match self
            .worker
            .token_for(self.context_id, forward.credential, &host::now_ms)
        {
            TokenStep::Use { token, generation } => {
                host::set_request_header("authorization", Some(&token));
                self.carries = generation.map(|g| (forward.credential, g));
                self.worker.metrics.requests_forwarded.increment();
                Action::Continue
            }
            TokenStep::Pause => Action::Pause,
            TokenStep::Fail(error) => self.reject(&error),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(live) = &mut self.live else {
            return Action::Continue;
        };
        let bytes = host::body(BufferType::HttpRequestBody, body_size);
        match live.on_client_bytes(
            &bytes,
            end_of_stream,
            &self.worker.config,
            &self.worker.metrics,
        ) {
            ClientStep::Buffer => Action::Pause,
            ClientStep::Replace(new_bytes) => {
                host::replace_body(BufferType::HttpRequestBody, body_size, &new_bytes);
                Action::Continue
            }
            ClientStep::Pass => Action::Continue,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let carries = self
            .carries
            .or_else(|| self.worker.token_handed_to(self.context_id));
        // The status is read only when something depends on it.
        if carries.is_none() && self.live.is_none() {
            return Action::Continue;
        }
        let status = host::response_status();
        if let (Some((credential, generation)), Some(401)) = (carries, status) {
            self.worker.token_refused(credential, generation);
        }
        if let Some(live) = &mut self.live {
            if status == Some(101) {
                live.opened(host::now_ms(), &self.worker.metrics);
            } else {
                // Not upgraded: the response is plain HTTP, nothing to watch.
                self.live = None;
            }
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        let Some(live) = &mut self.live else {
            return Action::Continue;
        };
        let chunk = host::body(BufferType::HttpResponseBody, body_size);
        if let Some(replacement) = live.on_server_bytes(&chunk, &self.worker.metrics) {
            host::replace_body(BufferType::HttpResponseBody, body_size, &replacement);
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if let Some(live) = &self.live {
            live.closed(host::now_ms(), &self.worker.metrics);
        }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.worker.forget(self.context_id);
    }
}

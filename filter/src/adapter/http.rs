//! One HTTP request: check the client, route, rewrite, attach the Google token.

use super::host;
use super::live_session::{ClientStep, LiveSession};
use super::token_flow::{TokenStep, Worker};
use crate::error_response::{ErrorResponse, Status};
use crate::request_headers::{RequestHeaders, Upstream, MARKER_HEADER};
use crate::routing;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::rc::Rc;

pub struct Http {
    context_id: u32,
    worker: Rc<Worker>,
    /// The token this request carries upstream: (credential, generation), for 401 handling.
    carries: Option<(usize, u64)>,
    /// Paused for a token: body that arrives meanwhile stays buffered until the root resumes
    /// the request with the token set.
    awaiting_token: bool,
    live: Option<LiveSession>,
}

impl Http {
    pub fn new(context_id: u32, worker: Rc<Worker>) -> Http {
        Http {
            context_id,
            worker,
            carries: None,
            awaiting_token: false,
            live: None,
        }
    }

    fn reject(&self, error: &ErrorResponse) -> Action {
        self.worker.metrics.rejected(error.http_code()).increment();
        host::send_error(error);
        Action::Pause
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // One host call reads every header; only the edits Vertex needs are written back.
        let map = host::request_header_map();
        let headers = RequestHeaders::parse(&map);
        let path = headers.as_ref().and_then(|h| h.get(":path"));
        let config = &self.worker.config;
        let (Some(headers), Some((prefix, rest))) = (
            &headers,
            path.as_deref()
                .and_then(|p| routing::strip_prefix(config, p)),
        ) else {
            // Not for this filter; a client's marker must not reach the Vertex route.
            if headers.as_ref().is_none_or(|h| h.has(MARKER_HEADER)) {
                host::set_request_header(MARKER_HEADER, None);
            }
            return Action::Continue;
        };
        let accepted = config.client_keys.accepts(
            headers.presented_keys(),
            &mut self.worker.verified_keys.borrow_mut(),
        );
        if !accepted {
            return self.reject(&ErrorResponse::new(
                Status::Unauthenticated,
                "missing or invalid API key",
            ));
        }
        let upgrade = headers
            .get("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let routed = self
            .worker
            .routes
            .borrow_mut()
            .route(config, prefix, rest, upgrade);
        let forward = match routed {
            Ok(forward) => forward,
            Err(error) => return self.reject(&error),
        };
        // After routing, so a Live path without an upgrade still gets its 426 advice.
        let method = headers.get(":method").unwrap_or_default();
        if let Err(error) = routing::check_http_method(&method, upgrade) {
            return self.reject(&error);
        }
        let (authorization, token_ready) =
            match self
                .worker
                .token_for(self.context_id, forward.credential, &host::now_ms)
            {
                TokenStep::Use { token, generation } => {
                    self.carries = generation.map(|g| (forward.credential, g));
                    (Some(token), true)
                }
                // The token is set when the request resumes.
                TokenStep::Pause => (None, false),
                TokenStep::Fail(error) => return self.reject(&error),
            };
        let upstream = Upstream {
            path: &forward.path,
            authority: &forward.authority,
            authorization: authorization.as_deref(),
            upgrade,
        };
        for (name, value) in headers.upstream_edits(&upstream) {
            host::set_request_header(name, value);
        }
        if let Some(route) = forward.live.clone() {
            let seed = host::now_ms() ^ u64::from(self.context_id).rotate_left(32);
            self.live = Some(LiveSession::new(route, seed));
        }
        if !token_ready {
            self.awaiting_token = true;
            return Action::Pause;
        }
        self.worker.metrics.requests_forwarded.increment();
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.awaiting_token {
            if self.worker.token_handed_to(self.context_id).is_none() {
                return Action::Pause;
            }
            self.awaiting_token = false;
        }
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

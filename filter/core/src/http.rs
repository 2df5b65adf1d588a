//! One HTTP request through the filter: its decision carried out with host calls, then the
//! response watched for a refused token, a named key's usage and, on a Live upgrade, the
//! session.

use crate::client_auth::Client;
use crate::config::DeploymentId;
use crate::host::{Body, Host};
use crate::limits;
use crate::live::session::{ClientStep, LiveSession};
use crate::request_headers::{Known, RequestHeaders, FILTER_HEADERS};
use crate::routing::{openai_body, Destination};
use crate::token::broker::TokenId;
use crate::usage::ResponseUsage;
use crate::worker::{BodyCall, Decision, WorkerState};
use std::rc::Rc;

/// Whether the proxy goes on with the request now or holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Pause,
}

pub struct HttpRequest<H: Host> {
    context_id: u32,
    worker: Rc<WorkerState<H>>,
    /// The fetched token this request carries upstream, for 401 handling.
    carried_token: Option<TokenId>,
    /// The deployment it went to, for an alias with several: a 429 or 503 cools it down.
    deployment: Option<DeploymentId>,
    /// Paused for a token: body that arrives meanwhile stays buffered until the root resumes
    /// the request with the token set.
    awaiting_token: bool,
    /// An OpenAI-compatible call held until its whole body is read.
    awaiting_body: Option<BodyCall>,
    live: Option<LiveSession>,
    /// A named key's call: its usage is counted when the response ends.
    usage: Option<Box<UsageWatch>>,
}

/// The filter state (`wasm.<name>`) that holds a named key's response tokens, for the access log.
pub const TOKENS_PROPERTY: &str = "vertex_passthrough.tokens";

/// What a named key's call shows of its usage until its response ends.
struct UsageWatch {
    client: Rc<Client>,
    destination: Rc<Destination>,
    body: ResponseUsage,
    /// The response's status, when something else needed it read.
    status: Option<Option<u16>>,
}

impl<H: Host> HttpRequest<H> {
    pub fn new(context_id: u32, worker: Rc<WorkerState<H>>) -> HttpRequest<H> {
        HttpRequest {
            context_id,
            worker,
            carried_token: None,
            deployment: None,
            awaiting_token: false,
            awaiting_body: None,
            live: None,
            usage: None,
        }
    }

    /// The request's headers: check the client, route, rewrite, attach the Google token.
    /// `end_of_stream`: the request has no body.
    pub fn on_request_headers(&mut self, end_of_stream: bool) -> Flow {
        // One host call reads every header; only the edits Vertex needs are written back.
        let map = self.worker.proxy.host.request_header_map();
        let headers = RequestHeaders::parse(&map);
        let decision = self.worker.decide(self.context_id, headers.as_ref());
        match decision {
            Decision::ReadBody(call) if end_of_stream => {
                let decision = self.worker.decide_body(self.context_id, &call, b"");
                self.carry_out(decision, headers.as_ref(), 0)
            }
            Decision::ReadBody(call) => {
                self.awaiting_body = Some(call);
                Flow::Pause
            }
            decision => self.carry_out(decision, headers.as_ref(), 0),
        }
    }

    fn carry_out(
        &mut self,
        decision: Decision,
        headers: Option<&RequestHeaders>,
        body_size: usize,
    ) -> Flow {
        let proxy = &self.worker.proxy;
        match decision {
            Decision::NotOurs { remove_marker } => {
                if remove_marker {
                    for name in FILTER_HEADERS {
                        proxy.host.set_request_header(name, None);
                    }
                }
                Flow::Continue
            }
            Decision::Reject(error) => {
                proxy.metrics.rejected(error.http_code()).increment();
                proxy.host.send_error(&error);
                Flow::Pause
            }
            // Only `on_request_headers` is given this decision.
            Decision::ReadBody(_) => Flow::Pause,
            Decision::Forward(forwarding) => {
                if let Some(headers) = headers {
                    forwarding
                        .edits(headers)
                        .for_each(|(name, value)| proxy.host.set_request_header(name, value));
                }
                if let Some(body) = &forwarding.body {
                    proxy.host.replace_body(Body::Request, body_size, body);
                    if headers.is_some_and(|h| h.carries(Known::ContentLength)) {
                        let length = body.len().to_string();
                        proxy
                            .host
                            .set_request_header("content-length", Some(&length));
                    }
                }
                self.carried_token = forwarding.token;
                self.deployment = forwarding.deployment();
                if let Some(target) = forwarding.live() {
                    let seed = proxy.host.now_ms() ^ u64::from(self.context_id).rotate_left(32);
                    self.live = Some(LiveSession::new(
                        target.clone(),
                        forwarding.client.clone(),
                        seed,
                    ));
                }
                // A named key's model call, or Live session, is counted; no other response is read.
                if forwarding.client.counts_usage
                    && (forwarding.destination.model.is_some() || self.live.is_some())
                {
                    self.usage = Some(Box::new(UsageWatch {
                        client: forwarding.client.clone(),
                        destination: forwarding.destination.clone(),
                        body: ResponseUsage::default(),
                        status: None,
                    }));
                }
                if forwarding.waits_for_token() {
                    // The token is set when the request resumes.
                    self.awaiting_token = true;
                    return Flow::Pause;
                }
                proxy.metrics.requests_forwarded.increment();
                Flow::Continue
            }
        }
    }

    pub fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Flow {
        if self.awaiting_body.is_some() {
            if body_size > openai_body::MAX_BODY {
                self.awaiting_body = None;
                return self.carry_out(Decision::Reject(openai_body::too_large()), None, 0);
            }
            if !end_of_stream {
                return Flow::Pause;
            }
        }
        if let Some(call) = self.awaiting_body.take() {
            let proxy = &self.worker.proxy;
            let body = proxy.host.body(Body::Request, body_size);
            let decision = self.worker.decide_body(self.context_id, &call, &body);
            // The headers are read again: they are edited now, with the body.
            let map = proxy.host.request_header_map();
            let headers = RequestHeaders::parse(&map);
            return self.carry_out(decision, headers.as_ref(), body_size);
        }
        if self.awaiting_token {
            if self
                .worker
                .tokens
                .token_handed_to(self.context_id)
                .is_none()
            {
                return Flow::Pause;
            }
            self.awaiting_token = false;
        }
        let Some(live) = &mut self.live else {
            return Flow::Continue;
        };
        let proxy = &self.worker.proxy;
        let bytes = proxy.host.body(Body::Request, body_size);
        match live.on_client_bytes(&bytes, end_of_stream, &proxy.config, &proxy.metrics) {
            ClientStep::Buffer => Flow::Pause,
            ClientStep::Replace(new_bytes) => {
                proxy
                    .host
                    .replace_body(Body::Request, body_size, &new_bytes);
                Flow::Continue
            }
            ClientStep::Pass => Flow::Continue,
        }
    }

    pub fn on_response_headers(&mut self) -> Flow {
        let worker = &self.worker;
        let carried = self
            .carried_token
            .or_else(|| worker.tokens.token_handed_to(self.context_id));
        // The status is read only when something depends on it; usage counting reads it at the
        // response's end, and only for a response without usage.
        if carried.is_none() && self.live.is_none() && self.deployment.is_none() {
            return Flow::Continue;
        }
        let status = worker.proxy.host.response_status();
        if let Some(watch) = &mut self.usage {
            watch.status = Some(status);
        }
        // A request that waited and got no token was answered by the filter, not by Vertex.
        let reached_vertex = !self.awaiting_token || carried.is_some();
        if let Some(id) = self.deployment.filter(|_| reached_vertex) {
            worker.deployment_answered(id, status);
        }
        if let (Some(token), Some(401)) = (carried, status) {
            worker.tokens.token_refused(&worker.proxy, token);
        }
        if let Some(live) = &mut self.live {
            if status == Some(101) {
                live.opened(worker.proxy.host.now_ms(), &worker.proxy.metrics);
            } else {
                // Not upgraded: the response is plain HTTP, nothing to watch.
                self.live = None;
            }
        }
        Flow::Continue
    }

    pub fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Flow {
        let Some(live) = &mut self.live else {
            if let Some(watch) = &mut self.usage {
                if body_size > 0 {
                    let chunk = self.worker.proxy.host.body(Body::Response, body_size);
                    watch.body.push(&chunk);
                }
                if end_of_stream {
                    self.count_usage();
                }
            }
            return Flow::Continue;
        };
        let proxy = &self.worker.proxy;
        let chunk = proxy.host.body(Body::Response, body_size);
        if let Some(replacement) = live.on_server_bytes(&chunk, &proxy.metrics) {
            proxy
                .host
                .replace_body(Body::Response, body_size, &replacement);
        }
        Flow::Continue
    }

    /// A named key's response ended (or the stream did): its tokens are counted under its client
    /// and model, once. A REST call's count against the key's `tpm` and go to the access log.
    fn count_usage(&mut self) {
        let Some(watch) = self.usage.take() else {
            return;
        };
        let worker = &self.worker;
        let host = &worker.proxy.host;
        let model = watch.destination.model.as_deref();
        let (usage, model) = match &self.live {
            Some(live) => (
                Some(live.usage()).filter(|u| u.total_tokens > 0),
                model.or_else(|| live.model().map(model_id)),
            ),
            None => (watch.body.usage(), model),
        };
        let Some(model) = model else {
            // A Live session that never named its model.
            return;
        };
        // Vertex reports usage only on success: the status is needed only without it.
        let failed = usage.is_none()
            && watch
                .status
                .unwrap_or_else(|| host.response_status())
                .is_some_and(|status| status >= 400);
        worker
            .usage
            .pair(host, &watch.client.name, model)
            .count(usage, failed);
        let Some(usage) = usage.filter(|_| self.live.is_none()) else {
            return;
        };
        if watch.client.tpm.is_some() {
            limits::spend_tokens(host, &watch.client, host.now_ms(), usage.total_tokens);
        }
        host.set_property(TOKENS_PROPERTY, usage.total_tokens.to_string().as_bytes());
    }

    /// The stream is done: a named key's usage is counted if its response did not end; a Live
    /// session logs its summary, and its tokens count against its key's `tpm`.
    pub fn on_log(&mut self) {
        self.count_usage();
        if let Some(live) = &mut self.live {
            let proxy = &self.worker.proxy;
            let now_ms = proxy.host.now_ms();
            live.closed(now_ms, &proxy.metrics);
            limits::spend_tokens(&proxy.host, live.caller(), now_ms, live.total_tokens());
        }
    }

    /// The Live session this request carries, if it is one.
    pub fn live(&self) -> Option<&LiveSession> {
        self.live.as_ref()
    }
}

/// `M` of a Live setup's `…/models/M`.
fn model_id(model: &str) -> &str {
    model.rsplit('/').next().unwrap_or(model)
}

impl<H: Host> Drop for HttpRequest<H> {
    fn drop(&mut self) {
        self.worker.tokens.forget(self.context_id);
    }
}

#[cfg(test)]
mod tests;

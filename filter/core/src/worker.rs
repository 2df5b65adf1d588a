//! What one worker keeps for all its requests, and the decision each request's headers get.

use crate::client_auth::{Client, ClientKeys, VerifiedKeys};
use crate::config::{Config, DeploymentId};
use crate::deployments::Deployments;
use crate::error_response::{ErrorResponse, Status};
use crate::host::Host;
use crate::limits;
use crate::live::session::model_not_allowed;
use crate::metrics::Metrics;
use crate::moment::Moment;
use crate::request_headers::{Known, RequestHeaders, Upstream};
use crate::routing::memo::RouteMemo;
use crate::routing::openai_body;
use crate::routing::{self, Destination, LiveTarget, OpenAiCall, Routed};
use crate::token::broker::{TokenBroker, TokenId, TokenStep};
use crate::usage::counters::UsageCounters;
use std::cell::RefCell;
use std::rc::Rc;

/// The proxy as one worker sees it: its host, its configuration, its metrics.
pub struct Proxy<H: Host> {
    pub host: H,
    pub config: Config,
    pub metrics: Metrics,
}

/// The state a worker's root context shares with its HTTP contexts.
pub struct WorkerState<H: Host> {
    pub proxy: Proxy<H>,
    /// Client keys this worker has matched against `config.client_keys`.
    pub verified_keys: RefCell<VerifiedKeys>,
    /// Where this worker's recent REST paths went.
    pub routes: RefCell<RouteMemo>,
    pub tokens: TokenBroker,
    pub deployments: Deployments,
    /// Named keys' usage per model.
    pub usage: UsageCounters,
}

impl<H: Host> WorkerState<H> {
    /// Defines the metrics and creates the shared entries of the credentials and cooldowns.
    pub fn new(host: H, config: Config) -> WorkerState<H> {
        let names: Vec<&str> = config.credentials.iter().map(|c| c.name.as_str()).collect();
        let metrics = Metrics::define(&host, &names).with_deployments(&host, &config.pools);
        let seed = host.random_seed();
        if let ClientKeys::Required { clients, .. } = &config.client_keys {
            limits::prepare(&host, clients.iter().map(|c| c.as_ref()));
            if clients.iter().any(|c| c.counts_usage) {
                UsageCounters::prepare(&host);
            }
        }
        let proxy = Proxy {
            host,
            config,
            metrics,
        };
        let tokens = TokenBroker::new(&proxy);
        let deployments = Deployments::new(&proxy, seed);
        WorkerState {
            proxy,
            verified_keys: RefCell::default(),
            routes: RefCell::default(),
            tokens,
            deployments,
            usage: UsageCounters::default(),
        }
    }

    /// Root tick: tokens fetched and refreshed, waiters served, ended cooldowns cleared,
    /// counters handed to the proxy.
    pub fn on_tick(&self) {
        self.deployments
            .on_tick(&self.proxy, self.proxy.host.now_ms());
        self.tokens.on_tick(&self.proxy);
        self.usage.flush(&self.proxy.host);
    }

    /// Vertex answered `status` to a request that deployment `id` served.
    pub fn deployment_answered(&self, id: DeploymentId, status: Option<u16>) {
        if let Some(status) = status {
            self.deployments.answered(&self.proxy, id, status);
        }
    }

    /// What to do with a request, from its headers (`None`: a map the host handed over
    /// malformed). Takes the token for a forwarded request, or joins the wait for it.
    pub fn decide(&self, context_id: u32, headers: Option<&RequestHeaders>) -> Decision {
        let config = &self.proxy.config;
        let path = headers.and_then(|h| h.value(Known::Path));
        let (Some(headers), Some((prefix, rest))) = (
            headers,
            path.as_deref()
                .and_then(|p| routing::strip_prefix(config, p)),
        ) else {
            return Decision::NotOurs {
                remove_marker: headers.is_none_or(RequestHeaders::carries_filter_header),
            };
        };
        let client = config.client_keys.authenticate(
            headers.presented_keys(),
            &mut self.verified_keys.borrow_mut(),
        );
        let Some(client) = client else {
            return Decision::Reject(ErrorResponse::new(
                Status::Unauthenticated,
                "missing or invalid API key",
            ));
        };
        let upgrade = headers
            .value(Known::Upgrade)
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let moment = Moment::new(&self.proxy);
        let routed = match self.route(prefix, rest, upgrade, &moment) {
            Ok(routed) => routed,
            Err(error) => return Decision::Reject(error),
        };
        // After routing, so a Live path without an upgrade still gets its 426 advice.
        let method = headers.value(Known::Method).unwrap_or_default();
        if let Err(error) = routing::check_http_method(&method, routed.methods()) {
            return Decision::Reject(error);
        }
        match routed {
            Routed::Forward(destination) => {
                self.forward(context_id, client, destination, upgrade, None, &moment)
            }
            Routed::ReadBody(call) => Decision::ReadBody(BodyCall {
                call,
                client: client.clone(),
            }),
        }
    }

    /// What to do with an OpenAI-compatible call, from its whole body (`Decision::ReadBody`).
    pub fn decide_body(&self, context_id: u32, pending: &BodyCall, body: &[u8]) -> Decision {
        let moment = Moment::new(&self.proxy);
        let pick = |pool| self.deployments.pick(&self.proxy, pool, &moment);
        match openai_body::decide(&self.proxy.config, &pending.call, body, pick) {
            Ok(request) => self.forward(
                context_id,
                &pending.client,
                Rc::new(request.destination),
                false,
                request.body,
                &moment,
            ),
            Err(error) => Decision::Reject(error),
        }
    }

    /// Forward to `destination` if `client` may go there, with the token at hand or once it
    /// is fetched.
    fn forward(
        &self,
        context_id: u32,
        client: &Rc<Client>,
        destination: Rc<Destination>,
        upgrade: bool,
        body: Option<Vec<u8>>,
        moment: &Moment<H>,
    ) -> Decision {
        if let Err(error) = permitted(client, &destination) {
            return Decision::Reject(error);
        }
        // Last of the checks: a request refused for another reason is not counted. Only a key
        // with limits reads the clock.
        if client.is_limited() {
            if let Err(error) = limits::admit(&self.proxy.host, client, moment.now_ms()) {
                return Decision::Reject(error);
            }
        }
        if let Some(counters) = destination
            .deployment
            .and_then(|id| self.proxy.metrics.deployment(id))
        {
            counters.requests.increment();
        }
        let (authorization, token) =
            match self
                .tokens
                .token_at(&self.proxy, context_id, destination.credential, moment)
            {
                TokenStep::Use {
                    authorization,
                    token,
                } => (Some(authorization), token),
                TokenStep::Pause => (None, None),
                TokenStep::Fail(error) => return Decision::Reject(error),
            };
        Decision::Forward(Forwarding {
            destination,
            authorization,
            token,
            upgrade,
            body,
            client: client.clone(),
        })
    }
}

impl<H: Host> WorkerState<H> {
    /// Where the request goes; to an alias with several deployments, the one picked for it.
    fn route(
        &self,
        prefix: &str,
        rest: &str,
        upgrade: bool,
        moment: &Moment<H>,
    ) -> Result<Routed, ErrorResponse> {
        let config = &self.proxy.config;
        let mut routes = self.routes.borrow_mut();
        let first = routes.route(config, prefix, rest, upgrade, 0)?;
        let Some(id) = (match &first {
            Routed::Forward(destination) => destination.deployment,
            Routed::ReadBody(_) => None,
        }) else {
            return Ok(first);
        };
        let index = self.deployments.pick(&self.proxy, id.pool, moment);
        let destination = if index == id.index {
            first
        } else {
            routes.route(config, prefix, rest, upgrade, index)?
        };
        Ok(destination)
    }
}

/// Whether `client`'s key may use the destination's model and reach its project.
fn permitted(client: &Client, destination: &Destination) -> Result<(), ErrorResponse> {
    if let Some(model) = destination.model.as_deref() {
        if !client.may_use_model(model) {
            return Err(ErrorResponse::new(
                Status::PermissionDenied,
                model_not_allowed(model),
            ));
        }
    }
    if !client.may_reach_project(&destination.project) {
        return Err(ErrorResponse::new(
            Status::PermissionDenied,
            format!(
                "this API key may not reach project {:?}",
                &*destination.project
            ),
        ));
    }
    Ok(())
}

/// A request's fate once its headers are read.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not under a route prefix: passed on untouched, except that a client's marker and
    /// identity headers are removed (`remove_marker`) so they reach neither the Vertex route nor
    /// the access log.
    NotOurs { remove_marker: bool },
    /// Answered by the filter with this error.
    Reject(ErrorResponse),
    /// Rewritten for Vertex and forwarded, at once or once its token is there.
    Forward(Forwarding),
    /// Held until its whole body is read, then decided by `WorkerState::decide_body`.
    ReadBody(BodyCall),
}

/// A call whose destination its body decides, held until the body is read.
#[derive(Debug, PartialEq, Eq)]
pub struct BodyCall {
    pub call: Rc<OpenAiCall>,
    /// Whose key the request carries: checked against the destination the body picks.
    pub client: Rc<Client>,
}

/// A request on its way to Vertex.
#[derive(Debug, PartialEq, Eq)]
pub struct Forwarding {
    pub destination: Rc<Destination>,
    /// `Bearer …`; `None` while the token is fetched: the request waits, and the root sets it.
    pub authorization: Option<Rc<str>>,
    /// The fetched token the request carries, for 401 handling.
    pub token: Option<TokenId>,
    /// A WebSocket upgrade.
    pub upgrade: bool,
    /// The request body to send instead of the client's.
    pub body: Option<Vec<u8>>,
    /// Whose key the request carries.
    pub client: Rc<Client>,
}

impl Forwarding {
    /// The request waits for its token (the root resumes or fails it).
    pub fn waits_for_token(&self) -> bool {
        self.authorization.is_none()
    }

    /// The deployment picked, for an alias with several.
    pub fn deployment(&self) -> Option<DeploymentId> {
        self.destination.deployment
    }

    /// The Live session this upgrade opens.
    pub fn live(&self) -> Option<&LiveTarget> {
        self.destination.live.as_ref()
    }

    /// The header edits that make `headers` Vertex's request (`RequestHeaders::upstream_edits`).
    pub fn edits<'e>(
        &'e self,
        headers: &'e RequestHeaders<'e>,
    ) -> impl Iterator<Item = (&'e str, Option<&'e str>)> + 'e {
        headers.upstream_edits(Upstream {
            path: &self.destination.path,
            authority: &self.destination.authority,
            authorization: self.authorization.as_deref(),
            upgrade: self.upgrade,
            client: &self.client.name,
            model: self.destination.model.as_deref(),
        })
    }
}

#[cfg(test)]
mod tests;

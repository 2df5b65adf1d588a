//! One worker's side of getting Google tokens to requests: the shared cache, the token callouts
//! (always dispatched from the root context, so a request that goes away cannot cancel a fetch
//! others wait for), this worker's copies of the tokens, and waking the requests that wait.

use super::cache::{Lookup, Policy, TokenCache};
use super::worker_copy::WorkerCopy;
use super::{call, response};
use crate::config::{Config, TokenSource};
use crate::error_response::{ErrorResponse, Status};
use crate::host::Host;
use crate::moment::Moment;
use crate::worker::Proxy;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// While requests wait, the root polls shared data this often (tokens fetched by other workers).
pub const WAITING_TICK: Duration = Duration::from_millis(5);
/// Otherwise it checks for refreshes this often.
pub const IDLE_TICK: Duration = Duration::from_secs(1);

/// A fetched token as a request carries it upstream: whose it is and which one, so a 401 from
/// Vertex stales exactly that token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenId {
    /// Index into `Config::credentials`.
    pub credential: usize,
    pub generation: u64,
}

/// What a request does about its token.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenStep {
    Use {
        /// The whole `authorization` value, `Bearer <token>`, built once per token.
        authorization: Rc<str>,
        /// The fetched token it carries; `None` for a static token.
        token: Option<TokenId>,
    },
    /// Wait: the root resumes the request with its token, or fails it.
    Pause,
    Fail(ErrorResponse),
}

struct Waiter {
    context_id: u32,
    credential: usize,
    deadline_ms: u64,
}

pub struct TokenBroker {
    /// The shared-data key of each credential's entry.
    shared_keys: Vec<String>,
    waiters: RefCell<Vec<Waiter>>,
    /// Credentials whose fetch lease a request took; the root dispatches on its next tick.
    fetch_requested: RefCell<Vec<usize>>,
    /// Token callouts in flight: callout token → credential.
    in_flight: RefCell<HashMap<u32, usize>>,
    /// Which token a resumed request carries, for 401 handling.
    handed_out: RefCell<HashMap<u32, TokenId>>,
    /// `Bearer <token>` of static credentials, built once.
    static_bearer: Vec<Option<Rc<str>>>,
    /// This worker's copy of each credential's fetched token, taken from shared data. A copy
    /// serves until its token's last seconds or a refusal anywhere; then shared data is read
    /// again, where a background refresh has long put the next token.
    copies: RefCell<Vec<Option<WorkerCopy>>>,
}

impl TokenBroker {
    /// The broker for `proxy`'s credentials; creates their shared entries if no worker has.
    pub fn new<H: Host>(proxy: &Proxy<H>) -> TokenBroker {
        let credentials = &proxy.config.credentials;
        let broker = TokenBroker {
            shared_keys: credentials
                .iter()
                .map(|c| format!("vertex_passthrough.token.{}", c.cache_key))
                .collect(),
            waiters: RefCell::default(),
            fetch_requested: RefCell::default(),
            in_flight: RefCell::default(),
            handed_out: RefCell::default(),
            static_bearer: credentials
                .iter()
                .map(|c| match &c.source {
                    TokenSource::Static(token) => Some(bearer(token).into()),
                    _ => None,
                })
                .collect(),
            copies: RefCell::new(credentials.iter().map(|_| None).collect()),
        };
        for credential in 0..credentials.len() {
            if let Some(cache) = broker.cache(proxy, credential) {
                cache.ensure_exists();
            }
        }
        broker
    }

    fn cache<'a, H: Host>(
        &'a self,
        proxy: &'a Proxy<H>,
        credential: usize,
    ) -> Option<TokenCache<'a, H>> {
        let key = self.shared_keys.get(credential)?;
        Some(TokenCache::new(&proxy.host, key, policy(&proxy.config)))
    }

    /// Called by a request that needs credential `credential`'s token.
    pub fn token_for<H: Host>(
        &self,
        proxy: &Proxy<H>,
        context_id: u32,
        credential: usize,
    ) -> TokenStep {
        self.token_at(proxy, context_id, credential, &Moment::new(proxy))
    }

    /// `token_for`, with the clock and the count of shared changes read once for the request.
    pub fn token_at<H: Host>(
        &self,
        proxy: &Proxy<H>,
        context_id: u32,
        credential: usize,
        moment: &Moment<H>,
    ) -> TokenStep {
        if let Some(Some(bearer)) = self.static_bearer.get(credential) {
            return TokenStep::Use {
                authorization: Rc::clone(bearer),
                token: None,
            };
        }
        let now_ms = moment.now_ms();
        let metrics = &proxy.metrics;
        // Read before shared data, so a refusal counted in between voids the copy taken.
        let refusals = moment.shared_changes();
        if let Some(step) = self.use_copy(proxy, credential, now_ms, refusals) {
            return step;
        }
        let Some(cache) = self.cache(proxy, credential) else {
            return TokenStep::Fail(no_token("unknown_credential"));
        };
        match cache.lookup(now_ms) {
            Lookup::Ready {
                token,
                generation,
                expires_at_ms,
            } => {
                metrics.token_cache_hits.increment();
                let authorization: Rc<str> = bearer(&token).into();
                if let (Some(seen), Some(slot)) =
                    (refusals, self.copies.borrow_mut().get_mut(credential))
                {
                    *slot = Some(WorkerCopy::new(
                        Rc::clone(&authorization),
                        generation,
                        expires_at_ms,
                        seen,
                    ));
                }
                TokenStep::Use {
                    authorization,
                    token: Some(TokenId {
                        credential,
                        generation,
                    }),
                }
            }
            Lookup::Failed(code) => TokenStep::Fail(no_token(&code)),
            step @ (Lookup::Fetch | Lookup::Wait) => {
                if step == Lookup::Fetch {
                    self.fetch_requested.borrow_mut().push(credential);
                }
                metrics.token_waits.increment();
                self.waiters.borrow_mut().push(Waiter {
                    context_id,
                    credential,
                    deadline_ms: now_ms + proxy.config.token_fetch_timeout_ms,
                });
                proxy.host.set_tick_period(WAITING_TICK);
                TokenStep::Pause
            }
        }
    }

    /// This worker's copy of the token, while it may be used.
    fn use_copy<H: Host>(
        &self,
        proxy: &Proxy<H>,
        credential: usize,
        now_ms: u64,
        refusals: Option<u64>,
    ) -> Option<TokenStep> {
        let copies = self.copies.borrow();
        let (authorization, generation) = copies
            .get(credential)?
            .as_ref()?
            .usable(now_ms, refusals?)?;
        proxy.metrics.token_cache_hits.increment();
        Some(TokenStep::Use {
            authorization,
            token: Some(TokenId {
                credential,
                generation,
            }),
        })
    }

    /// A request ended: forget it.
    pub fn forget(&self, context_id: u32) {
        // Most requests neither waited nor were handed a token: nothing to hash.
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.is_empty() {
            waiters.retain(|w| w.context_id != context_id);
        }
        let mut handed_out = self.handed_out.borrow_mut();
        if !handed_out.is_empty() {
            handed_out.remove(&context_id);
        }
    }

    /// The token a resumed request was given, if the root gave it one.
    pub fn token_handed_to(&self, context_id: u32) -> Option<TokenId> {
        let handed_out = self.handed_out.borrow();
        if handed_out.is_empty() {
            return None;
        }
        handed_out.get(&context_id).copied()
    }

    /// Requests of this worker waiting for a token.
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Vertex answered 401 to a request carrying `token`: the next request fetches anew.
    pub fn token_refused<H: Host>(&self, proxy: &Proxy<H>, token: TokenId) {
        if let Some(cache) = self.cache(proxy, token.credential) {
            cache.mark_stale(token.generation);
        }
        proxy
            .metrics
            .upstream_unauthorized
            .increment_now(&proxy.host);
        // After the shared entry is stale: a worker that sees the count move reads it anew.
        proxy.metrics.shared_changes.increment_now(&proxy.host);
    }

    /// Root tick: start requested fetches, refresh ahead of expiry, serve and time out waiters.
    pub fn on_tick<H: Host>(&self, proxy: &Proxy<H>) {
        let now_ms = proxy.host.now_ms();
        proxy.metrics.flush(&proxy.host);
        let requested: Vec<usize> = self.fetch_requested.borrow_mut().drain(..).collect();
        for credential in requested {
            self.start_fetch(proxy, credential, now_ms);
        }
        for credential in 0..proxy.config.credentials.len() {
            let Some(cache) = self.cache(proxy, credential) else {
                continue;
            };
            if fetchable(&proxy.config, credential) && cache.take_refresh_lease(now_ms) {
                self.start_fetch(proxy, credential, now_ms);
            }
            if let Some(gauge) = proxy.metrics.token_remaining_seconds.get(credential) {
                gauge.record(&proxy.host, cache.remaining_ms(now_ms) / 1000);
            }
        }
        self.serve_waiters(proxy, now_ms);
    }

    /// Dispatch a token call; the caller holds the credential's lease.
    fn start_fetch<H: Host>(&self, proxy: &Proxy<H>, credential: usize, now_ms: u64) {
        let Some(cred) = proxy.config.credential(credential) else {
            return;
        };
        let Some(token_call) = call::token_call(&cred.source, now_ms / 1000) else {
            self.fetch_failed(proxy, credential, "assertion_signing_failed", now_ms);
            return;
        };
        proxy.metrics.token_fetches.increment();
        let timeout = Duration::from_millis(proxy.config.token_fetch_timeout_ms);
        match proxy.host.dispatch(&token_call, timeout) {
            Ok(callout) => {
                self.in_flight.borrow_mut().insert(callout, credential);
            }
            Err(_) => {
                log::error!(
                    "vertex-passthrough: cannot call the token endpoint of credential {:?}: Envoy refused the call to cluster {:?}: check that the cluster is defined and has a reachable host",
                    cred.name,
                    token_call.cluster
                );
                self.fetch_failed(proxy, credential, "token_cluster_unavailable", now_ms);
            }
        }
    }

    /// A token callout answered (or failed: no status).
    pub fn on_fetch_done<H: Host>(
        &self,
        proxy: &Proxy<H>,
        callout: u32,
        status: Option<u16>,
        body: &[u8],
    ) {
        let Some(credential) = self.in_flight.borrow_mut().remove(&callout) else {
            return;
        };
        let now_ms = proxy.host.now_ms();
        match response::parse(status, body) {
            Ok(token) => {
                if let Some(cache) = self.cache(proxy, credential) {
                    cache.store_token(now_ms, &token.access_token, token.expires_in_s);
                }
            }
            Err(error) => self.fetch_failed(proxy, credential, &error.0, now_ms),
        }
        self.serve_waiters(proxy, now_ms);
    }

    fn fetch_failed<H: Host>(&self, proxy: &Proxy<H>, credential: usize, code: &str, now_ms: u64) {
        proxy.metrics.token_fetch_failures.increment();
        let name = proxy
            .config
            .credential(credential)
            .map_or("?", |c| c.name.as_str());
        log::warn!("vertex-passthrough: token fetch for credential {name:?} failed: {code}");
        if let Some(cache) = self.cache(proxy, credential) {
            // Jitter spreads retries of several Envoys sharing one account.
            cache.record_failure(now_ms, code, now_ms % 250);
        }
    }

    /// Resume every waiting request whose token is there, fail those whose fetch failed or
    /// whose deadline passed; take over a fetch whose lease lapsed.
    fn serve_waiters<H: Host>(&self, proxy: &Proxy<H>, now_ms: u64) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let mut still_waiting = Vec::new();
        // One shared-data read per credential, however many requests wait for it.
        let mut lookups: HashMap<usize, Lookup> = HashMap::new();
        for waiter in waiters {
            let lookup = lookups
                .entry(waiter.credential)
                .or_insert_with(|| self.current(proxy, waiter.credential, now_ms))
                .clone();
            match lookup {
                Lookup::Ready {
                    token, generation, ..
                } => self.resume_with(proxy, &waiter, &token, generation),
                Lookup::Failed(code) => fail(proxy, &waiter, &no_token(&code)),
                Lookup::Wait if now_ms >= waiter.deadline_ms => {
                    fail(proxy, &waiter, &no_token("timeout"))
                }
                Lookup::Wait | Lookup::Fetch => still_waiting.push(waiter),
            }
        }
        let mut waiters = self.waiters.borrow_mut();
        // Requests may have joined while host calls ran.
        still_waiting.append(&mut waiters);
        *waiters = still_waiting;
        proxy.host.set_tick_period(if waiters.is_empty() {
            IDLE_TICK
        } else {
            WAITING_TICK
        });
    }

    /// The token state for requests already waiting; takes over the fetch when its holder's
    /// lease lapsed (a worker that never answered).
    fn current<H: Host>(&self, proxy: &Proxy<H>, credential: usize, now_ms: u64) -> Lookup {
        let Some(cache) = self.cache(proxy, credential) else {
            return Lookup::Failed("unknown_credential".into());
        };
        match cache.peek(now_ms) {
            Lookup::Fetch => match cache.lookup(now_ms) {
                Lookup::Fetch => {
                    self.start_fetch(proxy, credential, now_ms);
                    Lookup::Wait
                }
                other => other,
            },
            other => other,
        }
    }

    fn resume_with<H: Host>(
        &self,
        proxy: &Proxy<H>,
        waiter: &Waiter,
        token: &str,
        generation: u64,
    ) {
        if !proxy.host.enter_context(waiter.context_id) {
            return;
        }
        proxy
            .host
            .set_request_header("authorization", Some(&bearer(token)));
        self.handed_out.borrow_mut().insert(
            waiter.context_id,
            TokenId {
                credential: waiter.credential,
                generation,
            },
        );
        proxy.metrics.requests_forwarded.increment();
        proxy.host.resume_request();
    }
}

fn fail<H: Host>(proxy: &Proxy<H>, waiter: &Waiter, error: &ErrorResponse) {
    if proxy.host.enter_context(waiter.context_id) {
        proxy.metrics.rejected(error.http_code()).increment();
        proxy.host.send_error(error);
    }
}

fn policy(config: &Config) -> Policy {
    Policy {
        refresh_margin_ms: config.token_refresh_margin_s * 1000,
        fetch_timeout_ms: config.token_fetch_timeout_ms,
    }
}

fn fetchable(config: &Config, credential: usize) -> bool {
    config
        .credential(credential)
        .is_some_and(|c| !matches!(c.source, TokenSource::Static(_)))
}

fn no_token(code: &str) -> ErrorResponse {
    ErrorResponse::new(
        Status::Unavailable,
        format!("could not get a Google access token for Vertex AI ({code}); retry shortly"),
    )
}

/// The `authorization` value that carries a Google token upstream. Built by concatenation, not
/// `format!`: requests with a fetched token build it every time.
fn bearer(token: &str) -> String {
    ["Bearer ", token].concat()
}

#[cfg(test)]
mod tests;

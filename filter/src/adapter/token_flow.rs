//! Getting a Google token to a request inside Envoy: the shared cache, the token callouts
//! (always dispatched from the root context, so a request that goes away cannot cancel a fetch
//! others wait for), and waking the requests that wait.

use super::host::{self, SharedData};
use super::metrics::Metrics;
use crate::client_auth::VerifiedKeys;
use crate::config::{Config, TokenSource};
use crate::error_response::{ErrorResponse, Status};
use crate::routing::memo::RouteMemo;
use crate::token::cache::{Lookup, Policy, TokenCache};
use crate::token::worker_copy::WorkerCopy;
use crate::token::{call, response};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// The state one worker's root context shares with its HTTP contexts.
pub struct Worker {
    pub config: Config,
    pub metrics: Metrics,
    /// Client keys this worker has matched against `config.client_keys`.
    pub verified_keys: RefCell<VerifiedKeys>,
    /// Where this worker's recent REST paths went.
    pub routes: RefCell<RouteMemo>,
    shared_keys: Vec<String>,
    waiters: RefCell<Vec<Waiter>>,
    /// Credentials whose fetch lease a request took; the root dispatches on its next tick.
    fetch_requested: RefCell<Vec<usize>>,
    /// Token callouts in flight: callout token → credential.
    in_flight: RefCell<HashMap<u32, usize>>,
    /// Which token (credential, generation) a resumed request carries, for 401 handling.
    handed_out: RefCell<HashMap<u32, (usize, u64)>>,
    /// `Bearer <token>` of static credentials, built once.
    static_bearer: Vec<Option<Rc<str>>>,
    /// This worker's copy of each credential's fetched token, taken from shared data. A copy
    /// serves until its token's last seconds or a refusal anywhere; then shared data is read
    /// again, where a background refresh has long put the next token.
    copies: RefCell<Vec<Option<WorkerCopy>>>,
}

struct Waiter {
    context_id: u32,
    credential: usize,
    deadline_ms: u64,
}

/// What a request does about its token.
pub enum TokenStep {
    Use {
        /// The whole `authorization` value, built once per token.
        token: Rc<str>,
        generation: Option<u64>,
    },
    Pause,
    Fail(ErrorResponse),
}

/// While requests wait, the root polls shared data this often (tokens fetched by other workers).
pub const WAITING_TICK: Duration = Duration::from_millis(5);
/// Otherwise it checks for refreshes this often.
pub const IDLE_TICK: Duration = Duration::from_secs(1);

impl Worker {
    pub fn new(config: Config, metrics: Metrics) -> Worker {
        let shared_keys = config
            .credentials
            .iter()
            .map(|c| format!("vertex_passthrough.token.{}", c.cache_key))
            .collect();
        let static_bearer = config
            .credentials
            .iter()
            .map(|c| match &c.source {
                TokenSource::Static(token) => Some(bearer(token).into()),
                _ => None,
            })
            .collect();
        let copies = config.credentials.iter().map(|_| None).collect();
        let worker = Worker {
            static_bearer,
            copies: RefCell::new(copies),
            verified_keys: RefCell::default(),
            routes: RefCell::default(),
            config,
            metrics,
            shared_keys,
            waiters: RefCell::default(),
            fetch_requested: RefCell::default(),
            in_flight: RefCell::default(),
            handed_out: RefCell::default(),
        };
        for credential in 0..worker.config.credentials.len() {
            if let Some(cache) = worker.cache(credential) {
                cache.ensure_exists();
            }
        }
        worker
    }

    fn policy(&self) -> Policy {
        Policy {
            refresh_margin_ms: self.config.token_refresh_margin_s * 1000,
            fetch_timeout_ms: self.config.token_fetch_timeout_ms,
        }
    }

    fn cache(&self, credential: usize) -> Option<TokenCache<'_, SharedData>> {
        let key = self.shared_keys.get(credential)?;
        Some(TokenCache::new(&SharedData, key, self.policy()))
    }

    /// Called by a request that needs credential `credential`'s token. `token` in
    /// `TokenStep::Use` is the whole `Bearer …` header value; the clock is read only if needed.
    pub fn token_for(
        &self,
        context_id: u32,
        credential: usize,
        now: &dyn Fn() -> u64,
    ) -> TokenStep {
        if let Some(Some(bearer)) = self.static_bearer.get(credential) {
            return TokenStep::Use {
                token: Rc::clone(bearer),
                generation: None,
            };
        }
        let now_ms = now();
        // Read before shared data, so a refusal counted in between voids the copy taken.
        let refusals = self.metrics.upstream_unauthorized.process_total();
        if let Some(step) = self.use_copy(credential, now_ms, refusals) {
            return step;
        }
        let Some(cache) = self.cache(credential) else {
            return TokenStep::Fail(no_token("unknown_credential"));
        };
        match cache.lookup(now_ms) {
            Lookup::Ready {
                token,
                generation,
                expires_at_ms,
            } => {
                self.metrics.token_cache_hits.increment();
                let token: Rc<str> = bearer(&token).into();
                if let (Some(seen), Some(slot)) =
                    (refusals, self.copies.borrow_mut().get_mut(credential))
                {
                    *slot = Some(WorkerCopy::new(
                        Rc::clone(&token),
                        generation,
                        expires_at_ms,
                        seen,
                    ));
                }
                TokenStep::Use {
                    token,
                    generation: Some(generation),
                }
            }
            Lookup::Failed(code) => TokenStep::Fail(no_token(&code)),
            step @ (Lookup::Fetch | Lookup::Wait) => {
                if step == Lookup::Fetch {
                    self.fetch_requested.borrow_mut().push(credential);
                }
                self.metrics.token_waits.increment();
                self.waiters.borrow_mut().push(Waiter {
                    context_id,
                    credential,
                    deadline_ms: now_ms + self.config.token_fetch_timeout_ms,
                });
                host::set_tick_period(WAITING_TICK);
                TokenStep::Pause
            }
        }
    }

    /// This worker's copy of the token, while it may be used.
    fn use_copy(&self, credential: usize, now_ms: u64, refusals: Option<u64>) -> Option<TokenStep> {
        let copies = self.copies.borrow();
        let (token, generation) = copies
            .get(credential)?
            .as_ref()?
            .usable(now_ms, refusals?)?;
        self.metrics.token_cache_hits.increment();
        Some(TokenStep::Use {
            token,
            generation: Some(generation),
        })
    }

    /// A request ended: forget it.
    pub fn forget(&self, context_id: u32) {
        self.waiters
            .borrow_mut()
            .retain(|w| w.context_id != context_id);
        self.handed_out.borrow_mut().remove(&context_id);
    }

    /// The token a resumed request was given, if the root gave it one.
    pub fn token_handed_to(&self, context_id: u32) -> Option<(usize, u64)> {
        self.handed_out.borrow().get(&context_id).copied()
    }

    /// Vertex answered 401 to a request carrying this token: the next request fetches anew.
    pub fn token_refused(&self, credential: usize, generation: u64) {
        if let Some(cache) = self.cache(credential) {
            cache.mark_stale(generation);
        }
        // After the shared entry is stale: a worker that sees the count move reads it anew.
        self.metrics.upstream_unauthorized.increment_now();
    }

    /// Root tick: start requested fetches, refresh ahead of expiry, serve and time out waiters.
    pub fn on_tick(&self, now_ms: u64) {
        self.metrics.flush();
        let requested: Vec<usize> = self.fetch_requested.borrow_mut().drain(..).collect();
        for credential in requested {
            self.start_fetch(credential, now_ms);
        }
        for credential in 0..self.config.credentials.len() {
            let Some(cache) = self.cache(credential) else {
                continue;
            };
            if self.fetchable(credential) && cache.take_refresh_lease(now_ms) {
                self.start_fetch(credential, now_ms);
            }
            if let Some(gauge) = self.metrics.token_remaining_seconds.get(credential) {
                gauge.record(cache.remaining_ms(now_ms) / 1000);
            }
        }
        self.serve_waiters(now_ms);
    }

    fn fetchable(&self, credential: usize) -> bool {
        self.config
            .credential(credential)
            .is_some_and(|c| !matches!(c.source, TokenSource::Static(_)))
    }

    /// Dispatch a token call; the caller holds the credential's lease.
    fn start_fetch(&self, credential: usize, now_ms: u64) {
        let Some(cred) = self.config.credential(credential) else {
            return;
        };
        let Some(token_call) = call::token_call(&cred.source, now_ms / 1000) else {
            self.fetch_failed(credential, "assertion_signing_failed", now_ms);
            return;
        };
        self.metrics.token_fetches.increment();
        let timeout = Duration::from_millis(self.config.token_fetch_timeout_ms);
        match host::dispatch(&token_call, timeout) {
            Ok(callout) => {
                self.in_flight.borrow_mut().insert(callout, credential);
            }
            Err(status) => {
                log::error!(
                    "vertex-passthrough: cannot call the token endpoint of credential {:?}: Envoy refused the call to cluster {:?} ({status:?}): check that the cluster is defined and has a reachable host",
                    cred.name,
                    token_call.cluster
                );
                self.fetch_failed(credential, "token_cluster_unavailable", now_ms);
            }
        }
    }

    /// A token callout answered (or failed: no status).
    pub fn on_fetch_done(&self, callout: u32, status: Option<u16>, body: &[u8], now_ms: u64) {
        let Some(credential) = self.in_flight.borrow_mut().remove(&callout) else {
            return;
        };
        match response::parse(status, body) {
            Ok(token) => {
                if let Some(cache) = self.cache(credential) {
                    cache.store_token(now_ms, &token.access_token, token.expires_in_s);
                }
            }
            Err(error) => self.fetch_failed(credential, &error.0, now_ms),
        }
        self.serve_waiters(now_ms);
    }

    fn fetch_failed(&self, credential: usize, code: &str, now_ms: u64) {
        self.metrics.token_fetch_failures.increment();
        let name = self
            .config
            .credential(credential)
            .map_or("?", |c| c.name.as_str());
        log::warn!("vertex-passthrough: token fetch for credential {name:?} failed: {code}");
        if let Some(cache) = self.cache(credential) {
            // Jitter spreads retries of several Envoys sharing one account.
            cache.record_failure(now_ms, code, now_ms % 250);
        }
    }

    /// Resume every waiting request whose token is there, fail those whose fetch failed or
    /// whose deadline passed; take over a fetch whose lease lapsed.
    fn serve_waiters(&self, now_ms: u64) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let mut still_waiting = Vec::new();
        // One shared-data read per credential, however many requests wait for it.
        let mut lookups: HashMap<usize, Lookup> = HashMap::new();
        for waiter in waiters {
            let lookup = lookups
                .entry(waiter.credential)
                .or_insert_with(|| self.current(waiter.credential, now_ms))
                .clone();
            match lookup {
                Lookup::Ready {
                    token, generation, ..
                } => self.resume_with(&waiter, &token, generation),
                Lookup::Failed(code) => self.fail(&waiter, &no_token(&code)),
                Lookup::Wait if now_ms >= waiter.deadline_ms => {
                    self.fail(&waiter, &no_token("timeout"))
                }
                Lookup::Wait | Lookup::Fetch => still_waiting.push(waiter),
            }
        }
        let mut waiters = self.waiters.borrow_mut();
        // Requests may have joined while host calls ran.
        still_waiting.append(&mut waiters);
        *waiters = still_waiting;
        host::set_tick_period(if waiters.is_empty() {
            IDLE_TICK
        } else {
            WAITING_TICK
        });
    }

    /// The token state for requests already waiting; takes over the fetch when its holder's
    /// lease lapsed (a worker that never answered).
    fn current(&self, credential: usize, now_ms: u64) -> Lookup {
        let Some(cache) = self.cache(credential) else {
            return Lookup::Failed("unknown_credential".into());
        };
        match cache.peek(now_ms) {
            Lookup::Fetch => match cache.lookup(now_ms) {
                Lookup::Fetch => {
                    self.start_fetch(credential, now_ms);
                    Lookup::Wait
                }
                other => other,
            },
            other => other,
        }
    }

    fn resume_with(&self, waiter: &Waiter, token: &str, generation: u64) {
        if !host::enter_context(waiter.context_id) {
            return;
        }
        host::set_request_header("authorization", Some(&bearer(token)));
        self.handed_out
            .borrow_mut()
            .insert(waiter.context_id, (waiter.credential, generation));
        self.metrics.requests_forwarded.increment();
        host::resume_request();
    }

    fn fail(&self, waiter: &Waiter, error: &ErrorResponse) {
        if host::enter_context(waiter.context_id) {
            self.metrics.rejected(error.http_code()).increment();
            host::send_error(error);
        }
    }
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

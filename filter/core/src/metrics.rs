//! Metrics, defined once per worker under `vertex_passthrough.` and incremented by id.

use crate::config::{DeploymentId, Pool};
use crate::host::{Host, MetricKind};
use std::cell::Cell;

/// A counter accumulates in the worker and reaches the proxy on the root tick (at most a second
/// later): no host call on the request path.
pub struct Metric {
    /// The proxy's id; `None` when it refused the definition.
    id: Option<u32>,
    /// Counted here, not yet in the proxy.
    pending: Cell<u64>,
}

impl Metric {
    pub fn define(host: &impl Host, kind: MetricKind, name: &str) -> Metric {
        let id = host.define_metric(kind, &format!("vertex_passthrough.{name}"));
        if id.is_none() {
            log::warn!("vertex-passthrough: could not define metric {name}");
        }
        Metric {
            id,
            pending: Cell::new(0),
        }
    }

    pub fn flush(&self, host: &impl Host) {
        let pending = self.pending.replace(0);
        if pending == 0 {
            return;
        }
        if let Some(id) = self.id {
            host.increment_metric(id, pending);
        }
    }

    pub fn increment(&self) {
        self.add(1);
    }

    /// Counted in the proxy at once, for a counter other workers read (`process_total`).
    pub fn increment_now(&self, host: &impl Host) {
        self.increment();
        self.flush(host);
    }

    /// The counter's value for the whole proxy, as far as it was flushed; `None` when the proxy
    /// cannot say. A read that returns a number, not bytes, costs the request little.
    pub fn process_total(&self, host: &impl Host) -> Option<u64> {
        host.metric_value(self.id?)
    }

    pub fn add(&self, by: u64) {
        self.pending.set(self.pending.get().saturating_add(by));
    }

    pub fn record(&self, host: &impl Host, value: u64) {
        if let Some(id) = self.id {
            host.record_metric(id, value);
        }
    }

    /// Counted in this worker and not yet flushed: for tests.
    pub fn pending(&self) -> u64 {
        self.pending.get()
    }
}

pub struct Metrics {
    pub requests_forwarded: Metric,
    pub rejected_unauthenticated: Metric,
    pub rejected_forbidden: Metric,
    pub rejected_invalid: Metric,
    pub rejected_not_found: Metric,
    pub rejected_needs_upgrade: Metric,
    pub rejected_no_token: Metric,
    pub rejected_rate_limited: Metric,
    pub token_fetches: Metric,
    pub token_fetch_failures: Metric,
    pub token_cache_hits: Metric,
    pub token_waits: Metric,
    pub upstream_unauthorized: Metric,
    /// Deployments put in cooldown.
    pub deployment_cooldowns: Metric,
    /// Changes to shared data that workers keep copies of (a token Vertex refused, a deployment's
    /// cooldown), counted as soon as the shared entry is written: workers compare its process
    /// total to know their copies are stale (see `token::worker_copy`, `deployments`). One count
    /// for both, so a request reads one number for all its copies (`moment`).
    pub shared_changes: Metric,
    /// Per deployment of each alias with several, in `Config::pools` order.
    pub deployments: Vec<Vec<DeploymentMetrics>>,
    /// Per credential, in `Config::credentials` order.
    pub token_remaining_seconds: Vec<Metric>,
    pub live: LiveMetrics,
}

/// One deployment of an alias with several: requests it was picked for, and its cooldowns.
pub struct DeploymentMetrics {
    pub requests: Metric,
    pub cooldowns: Metric,
}

/// Gemini Live sessions: counts, traffic each way, and the `usageMetadata` Vertex reported.
pub struct LiveMetrics {
    pub sessions_opened: Metric,
    pub sessions_closed: Metric,
    pub setups_refused: Metric,
    pub client_messages: Metric,
    pub client_bytes: Metric,
    pub server_messages: Metric,
    pub server_bytes: Metric,
    pub prompt_tokens: Metric,
    pub response_tokens: Metric,
    pub total_tokens: Metric,
}

impl Metrics {
    pub fn define(host: &impl Host, credential_names: &[&str]) -> Metrics {
        let counter = |name: &str| Metric::define(host, MetricKind::Counter, name);
        Metrics {
            requests_forwarded: counter("requests_forwarded"),
            rejected_unauthenticated: counter("rejected.unauthenticated"),
            rejected_forbidden: counter("rejected.permission_denied"),
            rejected_invalid: counter("rejected.invalid_argument"),
            rejected_not_found: counter("rejected.not_found"),
            rejected_needs_upgrade: counter("rejected.upgrade_required"),
            rejected_no_token: counter("rejected.token_unavailable"),
            rejected_rate_limited: counter("rejected.resource_exhausted"),
            token_fetches: counter("token.fetches"),
            token_fetch_failures: counter("token.fetch_failures"),
            token_cache_hits: counter("token.cache_hits"),
            token_waits: counter("token.waits"),
            upstream_unauthorized: counter("upstream_unauthorized"),
            deployment_cooldowns: counter("deployment_cooldowns"),
            shared_changes: counter("shared_changes"),
            deployments: Vec::new(),
            token_remaining_seconds: credential_names
                .iter()
                .map(|name| {
                    Metric::define(
                        host,
                        MetricKind::Gauge,
                        &format!("credential.{name}.token_remaining_seconds"),
                    )
                })
                .collect(),
            live: LiveMetrics {
                sessions_opened: counter("live.sessions_opened"),
                sessions_closed: counter("live.sessions_closed"),
                setups_refused: counter("live.setups_refused"),
                client_messages: counter("live.client_messages"),
                client_bytes: counter("live.client_bytes"),
                server_messages: counter("live.server_messages"),
                server_bytes: counter("live.server_bytes"),
                prompt_tokens: counter("live.prompt_tokens"),
                response_tokens: counter("live.response_tokens"),
                total_tokens: counter("live.total_tokens"),
            },
        }
    }

    /// With the counters of each deployment of `pools`, as
    /// `deployment.<alias>.<index>.{requests,cooldowns}` (a `.` in the alias written `_`).
    pub fn with_deployments(mut self, host: &impl Host, pools: &[Pool]) -> Metrics {
        self.deployments = pools
            .iter()
            .map(|pool| {
                let alias = pool.alias.replace('.', "_");
                (0..pool.deployments.len())
                    .map(|index| {
                        let counter = |what: &str| {
                            Metric::define(
                                host,
                                MetricKind::Counter,
                                &format!("deployment.{alias}.{index}.{what}"),
                            )
                        };
                        DeploymentMetrics {
                            requests: counter("requests"),
                            cooldowns: counter("cooldowns"),
                        }
                    })
                    .collect()
            })
            .collect();
        self
    }

    pub fn deployment(&self, id: DeploymentId) -> Option<&DeploymentMetrics> {
        self.deployments.get(id.pool)?.get(id.index)
    }

    pub fn rejected(&self, http_code: u32) -> &Metric {
        match http_code {
            401 => &self.rejected_unauthenticated,
            403 => &self.rejected_forbidden,
            404 => &self.rejected_not_found,
            426 => &self.rejected_needs_upgrade,
            429 => &self.rejected_rate_limited,
            503 => &self.rejected_no_token,
            _ => &self.rejected_invalid,
        }
    }

    /// Push the counters accumulated since the last tick.
    pub fn flush(&self, host: &impl Host) {
        for m in [
            &self.requests_forwarded,
            &self.rejected_unauthenticated,
            &self.rejected_forbidden,
            &self.rejected_invalid,
            &self.rejected_not_found,
            &self.rejected_needs_upgrade,
            &self.rejected_no_token,
            &self.rejected_rate_limited,
            &self.token_fetches,
            &self.token_fetch_failures,
            &self.token_cache_hits,
            &self.token_waits,
            &self.upstream_unauthorized,
            &self.deployment_cooldowns,
            &self.shared_changes,
            &self.live.sessions_opened,
            &self.live.sessions_closed,
            &self.live.setups_refused,
            &self.live.client_messages,
            &self.live.client_bytes,
            &self.live.server_messages,
            &self.live.server_bytes,
            &self.live.prompt_tokens,
            &self.live.response_tokens,
            &self.live.total_tokens,
        ] {
            m.flush(host);
        }
        for deployment in self.deployments.iter().flatten() {
            deployment.requests.flush(host);
            deployment.cooldowns.flush(host);
        }
    }
}

//! An alias's deployments (docs/design.md "Deployments: one alias, several"): the pick each request
//! gets, and the cooldown a 429 or 503 from Vertex puts a deployment in, for every worker.
//!
//! The cooldowns live in shared data; each worker keeps a copy. Reading shared data hands bytes
//! back into the VM, so a pick reads only a number instead: the process-wide count of shared
//! changes (`Metrics::shared_changes`, which a refused token moves too), counted by a worker
//! after it wrote a cooldown. A copy read at another count is read again. A cooldown's end needs
//! no write: a pick compares it with the clock; the root tick clears ended cooldowns and logs
//! them, once for the process.

pub mod cooldown;
pub mod pick;
pub mod rng;

use crate::config::models::Weights;
use crate::config::DeploymentId;
use crate::host::Host;
use crate::moment::Moment;
use crate::worker::Proxy;
use rng::Rng;
use std::cell::{Cell, RefCell};

/// Write attempts before giving up on a contended entry; a handful of workers contend briefly.
const CAS_ATTEMPTS: usize = 8;

/// What one worker keeps about the aliases with several deployments.
pub struct Deployments {
    pools: Vec<PoolState>,
    rng: Rng,
}

struct PoolState {
    /// The shared-data key of the alias's cooldown entry.
    key: String,
    weights: Vec<Weights>,
    /// This worker's copy of the entry (`cooldown`).
    until_ms: RefCell<Vec<u64>>,
    /// The count of shared changes read before the copy was; `None`: read it every time.
    seen: Cell<Option<u64>>,
}

impl Deployments {
    /// The state for `proxy`'s pools; creates their shared entries if no worker has.
    pub fn new<H: Host>(proxy: &Proxy<H>, seed: u64) -> Deployments {
        let pools = proxy
            .config
            .pools
            .iter()
            .map(|pool| PoolState {
                key: format!("vertex_passthrough.cooldown.{}", pool.alias),
                weights: pool.deployments.iter().map(|d| d.alias.weights).collect(),
                until_ms: RefCell::new(vec![0; pool.deployments.len()]),
                seen: Cell::new(None),
            })
            .collect::<Vec<_>>();
        for pool in &pools {
            proxy
                .host
                .create_shared(&pool.key, &cooldown::encode(&pool.until_ms.borrow()));
        }
        Deployments {
            pools,
            rng: Rng::new(seed),
        }
    }

    /// The deployment of pool `pool` that serves the request `moment` belongs to.
    pub fn pick<H: Host>(&self, proxy: &Proxy<H>, pool: usize, moment: &Moment<H>) -> usize {
        let Some(state) = self.pools.get(pool) else {
            return 0;
        };
        let count = moment.shared_changes();
        if count.is_none() || count != state.seen.get() {
            state.refresh(&proxy.host);
            state.seen.set(count);
        }
        let until = state.until_ms.borrow();
        // The clock is read only while some cooldown is on record.
        let now_ms = if until.iter().any(|&u| u != 0) {
            moment.now_ms()
        } else {
            0
        };
        let available = |i: usize| until.get(i).is_none_or(|&u| u <= now_ms);
        pick::pick(&state.weights, available, self.rng.next())
            .unwrap_or_else(|| cooldown::first_to_recover(&until))
    }

    /// A request that deployment `id` served was answered `status`: a 429 or 503 from Vertex
    /// puts it in cooldown for every worker, unless it already is. The same status made by
    /// Envoy (its local rate limit, an upstream it could not reach) or by a filter says nothing
    /// about the deployment; where the answer came from is read only for these two statuses.
    pub fn answered<H: Host>(&self, proxy: &Proxy<H>, id: DeploymentId, status: u16) {
        if !matches!(status, 429 | 503) || !proxy.host.response_from_upstream() {
            return;
        }
        let Some(state) = self.pools.get(id.pool) else {
            return;
        };
        let host = &proxy.host;
        let now_ms = host.now_ms();
        let cooldown_ms = proxy.config.cooldown_s * 1000;
        for _ in 0..CAS_ATTEMPTS {
            let (bytes, cas) = host.shared_get(&state.key);
            let mut until = cooldown::decode(bytes.as_deref(), state.weights.len());
            let Some(slot) = until.get_mut(id.index) else {
                return;
            };
            if *slot > now_ms {
                *state.until_ms.borrow_mut() = until;
                return;
            }
            *slot = now_ms + cooldown_ms;
            if host
                .shared_set(&state.key, &cooldown::encode(&until), cas)
                .is_ok()
            {
                *state.until_ms.borrow_mut() = until;
                log::warn!(
                    "vertex-passthrough: deployment {} answered {status}: in cooldown for {} s",
                    describe(proxy, id),
                    proxy.config.cooldown_s
                );
                if let Some(counters) = proxy.metrics.deployment(id) {
                    counters.cooldowns.increment();
                }
                proxy.metrics.deployment_cooldowns.increment();
                // After the entry is written: a worker that sees the count move reads it anew.
                proxy.metrics.shared_changes.increment_now(host);
                return;
            }
        }
    }

    /// Root tick: cooldowns this worker knows of that ended are cleared from shared data; the
    /// worker that clears one logs that its deployment serves again.
    pub fn on_tick<H: Host>(&self, proxy: &Proxy<H>, now_ms: u64) {
        for (pool, state) in self.pools.iter().enumerate() {
            let ended = |u: &u64| *u != 0 && *u <= now_ms;
            if !state.until_ms.borrow().iter().any(ended) {
                continue;
            }
            for _ in 0..CAS_ATTEMPTS {
                let (bytes, cas) = proxy.host.shared_get(&state.key);
                let mut until = cooldown::decode(bytes.as_deref(), state.weights.len());
                let cleared: Vec<usize> = (0..until.len())
                    .filter(|&i| until.get(i).is_some_and(ended))
                    .collect();
                for &i in &cleared {
                    if let Some(slot) = until.get_mut(i) {
                        *slot = 0;
                    }
                }
                let written = cleared.is_empty()
                    || proxy
                        .host
                        .shared_set(&state.key, &cooldown::encode(&until), cas)
                        .is_ok();
                if written {
                    for index in cleared {
                        log::info!(
                            "vertex-passthrough: deployment {} left cooldown and serves again",
                            describe(proxy, DeploymentId { pool, index })
                        );
                    }
                    *state.until_ms.borrow_mut() = until;
                    break;
                }
            }
        }
    }
}

impl PoolState {
    fn refresh(&self, host: &impl Host) {
        let (bytes, _) = host.shared_get(&self.key);
        *self.until_ms.borrow_mut() = cooldown::decode(bytes.as_deref(), self.weights.len());
    }
}

/// `ALIAS#INDEX (PROJECT/LOCATION)` for log lines.
fn describe<H: Host>(proxy: &Proxy<H>, id: DeploymentId) -> String {
    let Some(pool) = proxy.config.pool(id) else {
        return format!("#{}", id.index);
    };
    let place = pool.deployments.get(id.index).map_or(String::new(), |d| {
        format!(
            " ({}/{})",
            d.alias.project.as_deref().unwrap_or("-"),
            d.alias.location
        )
    });
    format!("{}#{}{place}", pool.alias, id.index)
}

#[cfg(test)]
mod tests;

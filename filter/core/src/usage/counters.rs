//! Usage counters per client and model, as
//! `usage.client.<client>.model.<model>.{requests,prompt_tokens,response_tokens,total_tokens,errors}`
//! (a `.` in the model written `_`). Defined in a worker on the first use of a pair and held
//! by id after that. At most `MAX_PAIRS` pairs across all workers: the pairs in use are listed
//! in one shared-data entry, extended by compare-and-swap; a pair past the bound counts under
//! its client's model `other`.

use super::Usage;
use crate::host::{Host, MetricKind};
use crate::metrics::Metric;
use std::cell::RefCell;
use std::rc::Rc;

pub const MAX_PAIRS: usize = 256;
/// The model a pair past the bound counts under.
pub const OTHER: &str = "other";
const PAIRS_KEY: &str = "vertex_passthrough.usage.pairs";
/// Writes that lose a race are retried this often; then the pair counts under `other`.
const ATTEMPTS: usize = 8;

/// One client and model's counters.
pub struct PairMetrics {
    pub requests: Metric,
    pub prompt_tokens: Metric,
    pub response_tokens: Metric,
    pub total_tokens: Metric,
    /// Responses with an HTTP status of 400 or more.
    pub errors: Metric,
}

impl PairMetrics {
    fn define(host: &impl Host, client: &str, model: &str) -> PairMetrics {
        let prefix = [
            "usage.client.",
            client,
            ".model.",
            &model.replace('.', "_"),
            ".",
        ]
        .concat();
        let counter =
            |what: &str| Metric::define(host, MetricKind::Counter, &[&prefix, what].concat());
        PairMetrics {
            requests: counter("requests"),
            prompt_tokens: counter("prompt_tokens"),
            response_tokens: counter("response_tokens"),
            total_tokens: counter("total_tokens"),
            errors: counter("errors"),
        }
    }

    /// One request (or Live session) and the tokens it used.
    pub fn count(&self, usage: Option<Usage>, failed: bool) {
        self.requests.increment();
        if let Some(usage) = usage {
            self.prompt_tokens.add(usage.prompt_tokens);
            self.response_tokens.add(usage.response_tokens);
            self.total_tokens.add(usage.total_tokens);
        }
        if failed {
            self.errors.increment();
        }
    }

    fn flush(&self, host: &impl Host) {
        for metric in [
            &self.requests,
            &self.prompt_tokens,
            &self.response_tokens,
            &self.total_tokens,
            &self.errors,
        ] {
            metric.flush(host);
        }
    }
}

struct Pair {
    client: Rc<str>,
    model: Box<str>,
    metrics: Rc<PairMetrics>,
}

impl Pair {
    fn is(&self, client: &Rc<str>, model: &str) -> bool {
        self.client == *client && *self.model == *model
    }
}

/// One worker's usage counters.
#[derive(Default)]
pub struct UsageCounters {
    /// The pairs this worker has defined (`other` included): at most `MAX_PAIRS` and one
    /// `other` per client.
    pairs: RefCell<Vec<Pair>>,
    /// The shared list once it was found full: it no longer changes, so a pair this worker has
    /// not met yet is looked up here without a host call.
    full_list: RefCell<Option<Vec<u8>>>,
}

impl UsageCounters {
    /// Creates the shared list when there is none yet, so that every later write is a
    /// compare-and-swap against a version.
    pub fn prepare(host: &impl Host) {
        host.create_shared(PAIRS_KEY, b"");
    }

    /// The counters of `client` and `model`: defined on the pair's first use in this worker,
    /// `other`'s when the pair does not fit the bound.
    pub fn pair(&self, host: &impl Host, client: &Rc<str>, model: &str) -> Rc<PairMetrics> {
        if let Some(pair) = self.find(client, model) {
            return pair;
        }
        let model = if self.register(host, client, model) {
            model
        } else {
            OTHER
        };
        if let Some(other) = self.find(client, model) {
            return other;
        }
        let metrics = Rc::new(PairMetrics::define(host, client, model));
        self.pairs.borrow_mut().push(Pair {
            client: client.clone(),
            model: model.into(),
            metrics: metrics.clone(),
        });
        metrics
    }

    fn find(&self, client: &Rc<str>, model: &str) -> Option<Rc<PairMetrics>> {
        self.pairs
            .borrow()
            .iter()
            .find(|pair| pair.is(client, model))
            .map(|pair| pair.metrics.clone())
    }

    /// Whether the pair is (now) in the shared list.
    fn register(&self, host: &impl Host, client: &str, model: &str) -> bool {
        let entry = [client.as_bytes(), b"\t", model.as_bytes()].concat();
        if let Some(list) = self.full_list.borrow().as_deref() {
            return listed(list, &entry);
        }
        for _ in 0..ATTEMPTS {
            let (list, cas) = host.shared_get(PAIRS_KEY);
            let list = list.unwrap_or_default();
            if listed(&list, &entry) {
                return true;
            }
            if list.iter().filter(|&&b| b == b'\n').count() >= MAX_PAIRS {
                *self.full_list.borrow_mut() = Some(list);
                return false;
            }
            let mut longer = list;
            longer.extend_from_slice(&entry);
            longer.push(b'\n');
            if host.shared_set(PAIRS_KEY, &longer, cas).is_ok() {
                return true;
            }
        }
        false
    }

    /// Push the counts accumulated since the last tick.
    pub fn flush(&self, host: &impl Host) {
        for pair in self.pairs.borrow().iter() {
            pair.metrics.flush(host);
        }
    }
}

fn listed(list: &[u8], entry: &[u8]) -> bool {
    list.split(|&b| b == b'\n').any(|line| line == entry)
}

#[cfg(test)]
mod tests;

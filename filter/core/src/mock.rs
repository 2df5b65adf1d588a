//! A host for the tests: one `MockProxy` holds what Envoy keeps for the whole process (shared
//! data, metric totals, the clock); each `MockHost` on it is one worker, with its own requests,
//! callouts and tick period. Built with `MockProxy::new()` and `proxy.worker()`, then set up
//! with the `with_*` methods.

use crate::error_response::ErrorResponse;
use crate::host::{Body, DispatchRefused, Host, MetricKind, StoreConflict};
use crate::token::call::TokenCall;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

pub const T0: u64 = 1_700_000_000_000;

/// What every worker of one proxy shares.
pub struct MockProxy {
    now_ms: Cell<u64>,
    /// Shared data: value and CAS version per key.
    shared: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    /// Metrics by id: name and process-wide value.
    metrics: RefCell<Vec<(String, u64)>>,
    /// Workers made so far.
    workers: Cell<u64>,
}

impl MockProxy {
    pub fn new() -> Rc<MockProxy> {
        Rc::new(MockProxy {
            now_ms: Cell::new(T0),
            shared: RefCell::default(),
            metrics: RefCell::default(),
            workers: Cell::new(0),
        })
    }

    /// A worker of this proxy.
    pub fn worker(self: &Rc<Self>) -> MockHost {
        self.workers.set(self.workers.get() + 1);
        MockHost(Rc::new(MockWorker {
            seed: self.workers.get(),
            proxy: Rc::clone(self),
            current: Cell::new(0),
            requests: RefCell::default(),
            gone: RefCell::default(),
            callouts: RefCell::default(),
            next_callout: Cell::new(1),
            refuse_dispatch: Cell::new(false),
            call_response: RefCell::new((None, Vec::new())),
            tick: Cell::new(None),
            shared_reads: Cell::new(0),
            status_reads: Cell::new(0),
            body_reads: Cell::new(0),
            origin_reads: Cell::new(0),
            metric_reads: Cell::new(0),
            clock_reads: Cell::new(0),
        }))
    }

    pub fn advance(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }

    pub fn now(&self) -> u64 {
        self.now_ms.get()
    }

    /// The metric's process-wide value, by its name without the `vertex_passthrough.` prefix.
    pub fn metric(&self, name: &str) -> u64 {
        let full = format!("vertex_passthrough.{name}");
        self.metrics
            .borrow()
            .iter()
            .find(|(n, _)| *n == full)
            .map_or(0, |(_, v)| *v)
    }

    pub fn shared_keys(&self) -> usize {
        self.shared.borrow().len()
    }
}

/// One request as the worker's host sees it.
#[derive(Default, Clone, Debug)]
pub struct MockRequest {
    pub headers: Vec<(String, String)>,
    pub response_status: Option<u16>,
    /// The response was made by Envoy or a filter (a local reply), not by the upstream.
    pub local_reply: bool,
    pub request_body: Vec<u8>,
    pub response_body: Vec<u8>,
    /// The local response sent instead of forwarding.
    pub sent: Option<ErrorResponse>,
    pub resumed: bool,
    /// Properties set on the request, by name.
    pub properties: HashMap<String, Vec<u8>>,
}

impl MockRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A callout the worker dispatched.
#[derive(Clone, Debug)]
pub struct MockCallout {
    pub id: u32,
    pub cluster: String,
    pub path: String,
    pub body: Option<Vec<u8>>,
}

pub struct MockWorker {
    proxy: Rc<MockProxy>,
    seed: u64,
    /// The request host calls act on.
    current: Cell<u32>,
    requests: RefCell<HashMap<u32, MockRequest>>,
    /// Requests that went away: entering them fails.
    gone: RefCell<HashSet<u32>>,
    callouts: RefCell<Vec<MockCallout>>,
    next_callout: Cell<u32>,
    refuse_dispatch: Cell<bool>,
    /// The callout response being delivered: status and body.
    call_response: RefCell<(Option<u16>, Vec<u8>)>,
    tick: Cell<Option<Duration>>,
    /// Host calls that hand data back, counted: shared-data reads and response-status reads.
    shared_reads: Cell<usize>,
    status_reads: Cell<usize>,
    /// Reads of a request or response body.
    body_reads: Cell<usize>,
    origin_reads: Cell<usize>,
    /// Reads of a metric's process-wide value.
    metric_reads: Cell<usize>,
    /// Reads of the clock.
    clock_reads: Cell<usize>,
}

/// One worker's host: a handle, cloned freely.
#[derive(Clone)]
pub struct MockHost(Rc<MockWorker>);

impl MockHost {
    pub fn proxy(&self) -> &Rc<MockProxy> {
        &self.0.proxy
    }

    /// A request `context_id` with these headers; host calls act on it from now on.
    pub fn with_request(self, context_id: u32, headers: &[(&str, &str)]) -> MockHost {
        self.start_request(context_id, headers);
        self
    }

    pub fn with_dispatch_refused(self) -> MockHost {
        self.0.refuse_dispatch.set(true);
        self
    }

    pub fn start_request(&self, context_id: u32, headers: &[(&str, &str)]) {
        let request = MockRequest {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..MockRequest::default()
        };
        self.0.requests.borrow_mut().insert(context_id, request);
        self.0.current.set(context_id);
    }

    /// Make `context_id` the request later calls act on, as Envoy does before a callback.
    pub fn enter(&self, context_id: u32) {
        self.0.current.set(context_id);
    }

    /// The request went away (the client left).
    pub fn end(&self, context_id: u32) {
        self.0.gone.borrow_mut().insert(context_id);
    }

    pub fn request(&self, context_id: u32) -> MockRequest {
        self.0
            .requests
            .borrow()
            .get(&context_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_response_status(&self, context_id: u32, status: u16) {
        self.with_current(context_id, |r| r.response_status = Some(status));
    }

    /// The response to `context_id` is Envoy's own, e.g. its local rate limit's 429.
    pub fn set_local_reply(&self, context_id: u32) {
        self.with_current(context_id, |r| r.local_reply = true);
    }

    pub fn set_body(&self, context_id: u32, which: Body, bytes: &[u8]) {
        self.with_current(context_id, |r| match which {
            Body::Request => r.request_body = bytes.to_vec(),
            Body::Response => r.response_body = bytes.to_vec(),
        });
    }

    fn with_current(&self, context_id: u32, change: impl FnOnce(&mut MockRequest)) {
        change(self.0.requests.borrow_mut().entry(context_id).or_default());
    }

    pub fn callouts(&self) -> Vec<MockCallout> {
        self.0.callouts.borrow().clone()
    }

    /// The callout response the next `call_response_*` calls return.
    pub fn deliver(&self, status: Option<u16>, body: &[u8]) {
        *self.0.call_response.borrow_mut() = (status, body.to_vec());
    }

    pub fn tick_period(&self) -> Option<Duration> {
        self.0.tick.get()
    }

    /// Shared-data reads this worker made.
    pub fn shared_reads(&self) -> usize {
        self.0.shared_reads.get()
    }

    /// Bodies this worker read.
    pub fn body_reads(&self) -> usize {
        self.0.body_reads.get()
    }

    /// Metric values this worker read.
    pub fn metric_reads(&self) -> usize {
        self.0.metric_reads.get()
    }

    /// Clock reads this worker made.
    pub fn clock_reads(&self) -> usize {
        self.0.clock_reads.get()
    }

    /// Response-status reads this worker made.
    pub fn status_reads(&self) -> usize {
        self.0.status_reads.get()
    }

    /// Reads of where a response came from (`response_from_upstream`).
    pub fn origin_reads(&self) -> usize {
        self.0.origin_reads.get()
    }

    fn current(&self, change: impl FnOnce(&mut MockRequest)) {
        let id = self.0.current.get();
        self.with_current(id, change);
    }
}

impl Host for MockHost {
    fn now_ms(&self) -> u64 {
        self.0.clock_reads.set(self.0.clock_reads.get() + 1);
        self.0.proxy.now_ms.get()
    }

    fn random_seed(&self) -> u64 {
        // Distinct per worker, the same from run to run.
        self.0.seed
    }

    fn request_header_map(&self) -> Vec<u8> {
        let request = self.request(self.0.current.get());
        crate::request_headers::tests::serialize(
            request
                .headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        )
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) {
        self.current(|r| {
            let at = r.headers.iter().position(|(n, _)| n == name);
            r.headers.retain(|(n, _)| n != name);
            if let Some(value) = value {
                let pair = (name.to_string(), value.to_string());
                match at {
                    Some(at) if at <= r.headers.len() => r.headers.insert(at, pair),
                    _ => r.headers.push(pair),
                }
            }
        });
    }

    fn response_status(&self) -> Option<u16> {
        self.0.status_reads.set(self.0.status_reads.get() + 1);
        self.request(self.0.current.get()).response_status
    }

    fn response_from_upstream(&self) -> bool {
        self.0.origin_reads.set(self.0.origin_reads.get() + 1);
        !self.request(self.0.current.get()).local_reply
    }

    fn body(&self, which: Body, size: usize) -> Vec<u8> {
        self.0.body_reads.set(self.0.body_reads.get() + 1);
        let request = self.request(self.0.current.get());
        let body = match which {
            Body::Request => request.request_body,
            Body::Response => request.response_body,
        };
        body.into_iter().take(size).collect()
    }

    fn replace_body(&self, which: Body, size: usize, bytes: &[u8]) {
        self.current(|r| {
            let body = match which {
                Body::Request => &mut r.request_body,
                Body::Response => &mut r.response_body,
            };
            let size = size.min(body.len());
            body.splice(..size, bytes.iter().copied());
        });
    }

    fn set_property(&self, name: &str, value: &[u8]) {
        self.current(|r| {
            r.properties.insert(name.to_string(), value.to_vec());
        });
    }

    fn send_error(&self, error: &ErrorResponse) {
        self.current(|r| r.sent = Some(error.clone()));
    }

    fn enter_context(&self, context_id: u32) -> bool {
        if self.0.gone.borrow().contains(&context_id) {
            return false;
        }
        self.0.current.set(context_id);
        true
    }

    fn resume_request(&self) {
        self.current(|r| r.resumed = true);
    }

    fn dispatch(&self, call: &TokenCall, _timeout: Duration) -> Result<u32, DispatchRefused> {
        if self.0.refuse_dispatch.get() {
            return Err(DispatchRefused);
        }
        let id = self.0.next_callout.get();
        self.0.next_callout.set(id + 1);
        let path = call
            .headers
            .iter()
            .find(|(n, _)| *n == ":path")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.0.callouts.borrow_mut().push(MockCallout {
            id,
            cluster: call.cluster.to_string(),
            path,
            body: call.body.clone(),
        });
        Ok(id)
    }

    fn call_response_status(&self) -> Option<u16> {
        self.0.call_response.borrow().0
    }

    fn call_response_body(&self, size: usize) -> Vec<u8> {
        self.0
            .call_response
            .borrow()
            .1
            .iter()
            .copied()
            .take(size)
            .collect()
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.0.shared_reads.set(self.0.shared_reads.get() + 1);
        match self.0.proxy.shared.borrow().get(key) {
            Some((value, cas)) => (Some(value.clone()), Some(*cas)),
            None => (None, None),
        }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict> {
        let mut shared = self.0.proxy.shared.borrow_mut();
        let current = shared.get(key).map(|(_, c)| *c);
        if cas.is_some() && cas != current {
            return Err(StoreConflict);
        }
        shared.insert(key.to_string(), (value.to_vec(), current.unwrap_or(0) + 1));
        Ok(())
    }

    fn define_metric(&self, _kind: MetricKind, name: &str) -> Option<u32> {
        let mut metrics = self.0.proxy.metrics.borrow_mut();
        let at = match metrics.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                metrics.push((name.to_string(), 0));
                metrics.len() - 1
            }
        };
        u32::try_from(at).ok()
    }

    fn increment_metric(&self, id: u32, by: u64) {
        if let Some((_, value)) = self.0.proxy.metrics.borrow_mut().get_mut(id as usize) {
            *value += by;
        }
    }

    fn record_metric(&self, id: u32, value: u64) {
        if let Some((_, v)) = self.0.proxy.metrics.borrow_mut().get_mut(id as usize) {
            *v = value;
        }
    }

    fn metric_value(&self, id: u32) -> Option<u64> {
        self.0.metric_reads.set(self.0.metric_reads.get() + 1);
        self.0
            .proxy
            .metrics
            .borrow()
            .get(id as usize)
            .map(|(_, v)| *v)
    }

    fn set_tick_period(&self, period: Duration) {
        self.0.tick.set(Some(period));
    }
}

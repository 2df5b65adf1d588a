//! The host values one request's decision reads: the clock and the process-wide count of shared
//! changes, each read at most once however many steps of the decision need it.

use crate::host::Host;
use crate::worker::Proxy;
use std::cell::OnceCell;

pub struct Moment<'p, H: Host> {
    proxy: &'p Proxy<H>,
    now_ms: OnceCell<u64>,
    shared_changes: OnceCell<Option<u64>>,
}

impl<'p, H: Host> Moment<'p, H> {
    pub fn new(proxy: &'p Proxy<H>) -> Moment<'p, H> {
        Moment {
            proxy,
            now_ms: OnceCell::new(),
            shared_changes: OnceCell::new(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        *self.now_ms.get_or_init(|| self.proxy.host.now_ms())
    }

    /// `Metrics::shared_changes` for the whole proxy; `None` when the proxy cannot say. Read it
    /// before the shared data a copy is taken from: a change counted in between then voids the
    /// copy at once.
    pub fn shared_changes(&self) -> Option<u64> {
        *self.shared_changes.get_or_init(|| {
            self.proxy
                .metrics
                .shared_changes
                .process_total(&self.proxy.host)
        })
    }
}

//! A worker's own copy of a credential's shared token. Reading shared data hands bytes back
//! into the VM, which costs Envoy about as much as 5% of a forwarded request; the copy saves
//! that read on nearly every request. It stays correct across workers through a process-wide
//! count of shared changes (`Metrics::shared_changes`): a worker that sees Vertex refuse a token
//! marks the shared entry stale, then counts the change, and every copy taken at another count
//! is set aside.

use super::cache::may_hand_out;
use std::rc::Rc;

pub struct WorkerCopy {
    /// The `authorization` value: `Bearer <token>`.
    bearer: Rc<str>,
    generation: u64,
    expires_at_ms: u64,
    /// The process-wide count of shared changes read before the shared entry was.
    refusals_seen: u64,
}

impl WorkerCopy {
    /// `refusals_seen` must be read before the shared entry: a change counted in between
    /// then makes this copy unusable at once.
    pub fn new(bearer: Rc<str>, generation: u64, expires_at_ms: u64, refusals_seen: u64) -> Self {
        WorkerCopy {
            bearer,
            generation,
            expires_at_ms,
            refusals_seen,
        }
    }

    /// The `authorization` value and the token's generation, if the copy may still be used:
    /// nothing shared changed anywhere since it was taken, and it is not about to expire.
    pub fn usable(&self, now_ms: u64, refusals: u64) -> Option<(Rc<str>, u64)> {
        (refusals == self.refusals_seen && may_hand_out(self.expires_at_ms, now_ms))
            .then(|| (Rc::clone(&self.bearer), self.generation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn copy() -> WorkerCopy {
        WorkerCopy::new("Bearer ya29.a".into(), 3, T0 + 3_600_000, 5)
    }

    #[test]
    fn a_fresh_copy_gives_the_bearer_value_and_generation() {
        let (bearer, generation) = copy().usable(T0, 5).unwrap();
        assert_eq!(&*bearer, "Bearer ya29.a");
        assert_eq!(generation, 3);
    }

    #[test]
    fn a_refusal_anywhere_sets_the_copy_aside() {
        assert!(copy().usable(T0, 6).is_none());
    }

    #[test]
    fn a_copy_is_not_used_in_the_token_s_last_seconds() {
        assert!(copy().usable(T0 + 3_597_000, 5).is_some());
        assert!(copy().usable(T0 + 3_598_000, 5).is_none());
        assert!(copy().usable(T0 + 3_600_000, 5).is_none());
    }
}

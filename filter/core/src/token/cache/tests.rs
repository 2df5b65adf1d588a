use super::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Shared data as Envoy keeps it: a value and a CAS counter per key.
#[derive(Default)]
struct MemoryStore(RefCell<HashMap<String, (Vec<u8>, u32)>>);

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        match self.0.borrow().get(key) {
            Some((v, cas)) => (Some(v.clone()), Some(*cas)),
            None => (None, None),
        }
    }
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict> {
        let mut map = self.0.borrow_mut();
        let current = map.get(key).map(|(_, c)| *c);
        if cas.is_some() && cas != current {
            return Err(StoreConflict);
        }
        map.insert(key.to_string(), (value.to_vec(), current.unwrap_or(0) + 1));
        Ok(())
    }
}

const POLICY: Policy = Policy {
    refresh_margin_ms: 300_000,
    fetch_timeout_ms: 5_000,
};
const T0: u64 = 1_000_000_000;

fn cache(store: &MemoryStore) -> TokenCache<'_, MemoryStore> {
    TokenCache::new(store, "k", POLICY)
}

#[test]
fn first_request_fetches_and_the_rest_wait() {
    let store = MemoryStore::default();
    assert_eq!(cache(&store).lookup(T0), Lookup::Fetch);
    assert_eq!(cache(&store).lookup(T0 + 1), Lookup::Wait);
    assert_eq!(cache(&store).lookup(T0 + 2), Lookup::Wait);
}

#[test]
fn stored_token_is_served_to_everyone() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0 + 10, "ya29.a", 3600);
    assert_eq!(
        cache(&store).lookup(T0 + 20),
        Lookup::Ready {
            token: "ya29.a".into(),
            generation: 1,
            expires_at_ms: T0 + 10 + 3_600_000
        }
    );
    assert_eq!(
        cache(&store).peek(T0 + 20),
        Lookup::Ready {
            token: "ya29.a".into(),
            generation: 1,
            expires_at_ms: T0 + 10 + 3_600_000
        }
    );
}

#[test]
fn a_lease_whose_holder_vanished_lapses() {
    let store = MemoryStore::default();
    assert_eq!(cache(&store).lookup(T0), Lookup::Fetch);
    assert_eq!(
        cache(&store).lookup(T0 + POLICY.fetch_timeout_ms),
        Lookup::Wait
    );
    assert_eq!(
        cache(&store).lookup(T0 + POLICY.fetch_timeout_ms + LEASE_GRACE_MS + 1),
        Lookup::Fetch
    );
}

#[test]
fn failure_without_a_token_fails_fast_until_the_backoff_ends() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).record_failure(T0 + 5, "invalid_grant", 0);
    assert_eq!(
        cache(&store).lookup(T0 + 10),
        Lookup::Failed("invalid_grant".into())
    );
    assert_eq!(
        cache(&store).peek(T0 + 10),
        Lookup::Failed("invalid_grant".into())
    );
    assert_eq!(cache(&store).lookup(T0 + 5 + 1_000), Lookup::Fetch);
}

#[test]
fn backoff_doubles_to_a_minute() {
    assert_eq!(backoff_ms(1), 1_000);
    assert_eq!(backoff_ms(2), 2_000);
    assert_eq!(backoff_ms(6), 32_000);
    assert_eq!(backoff_ms(7), 60_000);
    assert_eq!(backoff_ms(u32::MAX), 60_000);
}

#[test]
fn a_valid_token_keeps_serving_while_refresh_fails() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0, "ya29.a", 3600);
    let due = T0 + 3_300_000 + 1;
    assert!(cache(&store).take_refresh_lease(due));
    cache(&store).record_failure(due, "http_500", 0);
    assert_eq!(
        cache(&store).lookup(due + 10),
        Lookup::Ready {
            token: "ya29.a".into(),
            generation: 1,
            expires_at_ms: T0 + 3_600_000
        }
    );
    assert!(!cache(&store).take_refresh_lease(due + 10), "backing off");
    assert!(cache(&store).take_refresh_lease(due + 1_000));
}

#[test]
fn refresh_is_due_only_inside_the_margin_and_only_once() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0, "ya29.a", 3600);
    assert!(!cache(&store).take_refresh_lease(T0 + 3_299_000));
    assert!(cache(&store).take_refresh_lease(T0 + 3_300_000));
    assert!(
        !cache(&store).take_refresh_lease(T0 + 3_300_001),
        "lease already held"
    );
    cache(&store).store_token(T0 + 3_300_100, "ya29.b", 3600);
    assert_eq!(
        cache(&store).lookup(T0 + 3_300_200),
        Lookup::Ready {
            token: "ya29.b".into(),
            generation: 2,
            expires_at_ms: T0 + 3_300_100 + 3_600_000
        }
    );
}

#[test]
fn unused_credentials_are_not_refreshed() {
    let store = MemoryStore::default();
    assert!(!cache(&store).take_refresh_lease(T0));
}

#[test]
fn tokens_are_not_handed_out_in_their_last_seconds() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0, "ya29.a", 10);
    assert!(matches!(
        cache(&store).lookup(T0 + 7_000),
        Lookup::Ready { .. }
    ));
    assert_eq!(cache(&store).lookup(T0 + 8_000), Lookup::Fetch);
}

#[test]
fn stale_marking_forces_a_fetch_only_for_that_generation() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0, "ya29.a", 3600);
    cache(&store).lookup(T0);
    cache(&store).mark_stale(7);
    assert!(
        matches!(cache(&store).lookup(T0 + 1), Lookup::Ready { .. }),
        "another generation is left alone"
    );
    cache(&store).mark_stale(1);
    assert_eq!(cache(&store).lookup(T0 + 2), Lookup::Fetch);
}

#[test]
fn concurrent_writer_is_detected_by_cas() {
    let store = MemoryStore::default();
    let (_, cas) = store.get("k");
    store.set("k", b"x", None).unwrap();
    assert!(store.set("k", b"y", cas).is_err() || cas.is_none());
    let (_, cas) = store.get("k");
    store.set("k", b"z", cas).unwrap();
    assert!(store.set("k", b"w", cas).is_err());
}

#[test]
fn remaining_lifetime_counts_down() {
    let store = MemoryStore::default();
    assert_eq!(cache(&store).remaining_ms(T0), 0);
    cache(&store).store_token(T0, "ya29.a", 60);
    assert_eq!(cache(&store).remaining_ms(T0 + 10_000), 50_000);
}

#[test]
fn ensure_exists_keeps_an_existing_token() {
    let store = MemoryStore::default();
    cache(&store).ensure_exists();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0, "ya29.a", 3600);
    cache(&store).ensure_exists();
    assert!(matches!(cache(&store).lookup(T0 + 1), Lookup::Ready { .. }));
}

#[test]
fn a_token_fetched_inside_the_margin_is_refreshed_after_half_its_life() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    // 200 s left, the margin is 300 s: due at once, were it not for the schedule.
    cache(&store).store_token(T0, "ya29.cached", 200);
    for now in [T0, T0 + 1_000, T0 + 50_000, T0 + 99_999] {
        assert!(
            !cache(&store).take_refresh_lease(now),
            "at +{} ms",
            now - T0
        );
    }
    assert!(cache(&store).take_refresh_lease(T0 + 100_000));
    cache(&store).store_token(T0 + 100_000, "ya29.cached-again", 100);
    assert!(!cache(&store).take_refresh_lease(T0 + 149_999));
    assert!(cache(&store).take_refresh_lease(T0 + 150_000));
}

#[test]
fn a_refused_token_fetched_inside_the_margin_is_replaced_at_once() {
    let store = MemoryStore::default();
    cache(&store).lookup(T0);
    cache(&store).store_token(T0, "ya29.cached", 200);
    cache(&store).mark_stale(1);
    assert!(cache(&store).take_refresh_lease(T0 + 1));
}

/// One worker's view of the shared store that lets another worker run a whole operation just
/// before this worker's `at`-th store call: each `at` is a point where Envoy may switch workers.
struct Interleaved<'a> {
    shared: &'a MemoryStore,
    at: usize,
    calls: Cell<usize>,
    conflicts: Cell<usize>,
    other: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl<'a> Interleaved<'a> {
    fn new(shared: &'a MemoryStore, at: usize, other: impl FnOnce() + 'a) -> Self {
        Interleaved {
            shared,
            at,
            calls: Cell::new(0),
            conflicts: Cell::new(0),
            other: RefCell::new(Some(Box::new(other))),
        }
    }

    fn before_call(&self) {
        let call = self.calls.get();
        self.calls.set(call + 1);
        if call == self.at {
            let other = self.other.borrow_mut().take();
            if let Some(other) = other {
                other();
            }
        }
    }

    /// Runs the other worker now if this one never reached its `at`-th call.
    fn finish(&self) {
        let other = self.other.borrow_mut().take();
        if let Some(other) = other {
            other();
        }
    }
}

impl SharedStore for Interleaved<'_> {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.before_call();
        self.shared.get(key)
    }
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict> {
        self.before_call();
        let result = self.shared.set(key, value, cas);
        if result.is_err() {
            self.conflicts.set(self.conflicts.get() + 1);
        }
        result
    }
}

/// Runs worker A's `a` with worker B's `b` slipped in before each of A's store calls in turn,
/// and checks `holds` on both results each time. True when some interleaving made A's write
/// lose the compare-and-swap (the race was really run).
fn race<A, B>(
    setup: impl Fn(&MemoryStore),
    a: impl Fn(&TokenCache<'_, Interleaved<'_>>) -> A,
    b: impl Fn(&TokenCache<'_, MemoryStore>) -> B,
    holds: impl Fn(&MemoryStore, &A, &B, usize),
) -> bool {
    let mut lost_a_race = false;
    for at in 0..2 * CAS_ATTEMPTS {
        let store = MemoryStore::default();
        cache(&store).ensure_exists();
        setup(&store);
        let b_result = RefCell::new(None);
        let worker_a = Interleaved::new(&store, at, || {
            *b_result.borrow_mut() = Some(b(&cache(&store)));
        });
        let a_result = a(&TokenCache::new(&worker_a, "k", POLICY));
        worker_a.finish();
        lost_a_race |= worker_a.conflicts.get() > 0;
        drop(worker_a);
        let b_result = b_result.into_inner().expect("worker B ran");
        holds(&store, &a_result, &b_result, at);
    }
    lost_a_race
}

#[test]
fn two_workers_racing_for_a_missing_token_fetch_it_once() {
    let raced = race(
        |_| {},
        |a| a.lookup(T0),
        |b| b.lookup(T0),
        |_, a, b, at| {
            let mut outcomes = [a.clone(), b.clone()];
            outcomes.sort_by_key(|o| format!("{o:?}"));
            assert_eq!(
                outcomes,
                [Lookup::Fetch, Lookup::Wait],
                "B before A's call {at}"
            );
        },
    );
    assert!(
        raced,
        "no interleaving made a write lose its compare-and-swap"
    );
}

#[test]
fn two_workers_racing_for_a_due_refresh_take_it_once() {
    let due = T0 + 3_300_000;
    let raced = race(
        |store| {
            cache(store).lookup(T0);
            cache(store).store_token(T0, "ya29.a", 3600);
        },
        |a| a.take_refresh_lease(due),
        |b| b.take_refresh_lease(due),
        |_, a, b, at| assert!(a ^ b, "A {a}, B {b}: B before A's call {at}"),
    );
    assert!(
        raced,
        "no interleaving made a write lose its compare-and-swap"
    );
}

#[test]
fn a_failure_recorded_by_one_worker_keeps_the_token_another_stored() {
    let raced = race(
        |store| {
            cache(store).lookup(T0);
        },
        |a| a.record_failure(T0 + 10, "timeout", 0),
        |b| b.store_token(T0 + 5, "ya29.b", 3600),
        |store, _, _, at| {
            assert!(
                matches!(cache(store).lookup(T0 + 20), Lookup::Ready { ref token, .. } if token == "ya29.b"),
                "B before A's call {at}: {:?}",
                cache(store).peek(T0 + 20)
            );
        },
    );
    assert!(
        raced,
        "no interleaving made a write lose its compare-and-swap"
    );
}

//! The process-wide token cache: one token per credential, one fetch in flight per credential
//! across all workers, refresh ahead of expiry, backoff after failures. Pure: shared data sits
//! behind `SharedStore` and the time is passed in.

use super::entry::Entry;
use crate::host::Host;

/// Compare-and-swap storage: the host's shared data.
pub trait SharedStore {
    /// The value and its CAS version.
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Fails when `cas` no longer matches (another worker wrote in between) or on a host error.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict>;
}

pub use crate::host::StoreConflict;

impl<H: Host> SharedStore for H {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        self.shared_get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreConflict> {
        self.shared_set(key, value, cas)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Refresh this long before expiry.
    pub refresh_margin_ms: u64,
    /// A fetch that has not answered by then counts as failed; its lease lapses a little later.
    pub fetch_timeout_ms: u64,
}

/// A token is not handed out in its last seconds: the request still has to reach Vertex.
const EXPIRY_SAFETY_MS: u64 = 2_000;
const LEASE_GRACE_MS: u64 = 1_000;
const BACKOFF_FIRST_MS: u64 = 1_000;
const BACKOFF_MAX_MS: u64 = 60_000;
/// With no usable token, waiting requests are demand: after a failure they may fetch again this
/// soon, whatever the background backoff says, so the proxy recovers within a second of the
/// token endpoint, yet sends it at most one fetch a second per credential.
const DEMAND_RETRY_MS: u64 = 1_000;
/// CAS retries before giving up for this round; contention is brief (a handful of workers).
const CAS_ATTEMPTS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Use this token; `generation` identifies it for `mark_stale`.
    Ready {
        token: String,
        generation: u64,
        expires_at_ms: u64,
    },
    /// This caller now holds the fetch lease and must fetch.
    Fetch,
    /// Another fetch is in flight: wait for it.
    Wait,
    /// No usable token, and the last fetch failed recently with this code.
    Failed(String),
}

pub struct TokenCache<'a, S: SharedStore> {
    store: &'a S,
    key: &'a str,
    policy: Policy,
}

impl<'a, S: SharedStore> TokenCache<'a, S> {
    pub fn new(store: &'a S, key: &'a str, policy: Policy) -> Self {
        TokenCache { store, key, policy }
    }

    fn read(&self) -> (Entry, Option<u32>) {
        let (bytes, cas) = self.store.get(self.key);
        let entry = bytes.as_deref().and_then(Entry::decode).unwrap_or_default();
        (entry, cas)
    }

    /// Create the entry if no worker has yet. Shared data offers no compare-and-swap on a key
    /// that does not exist, so entries are created at configuration time, before traffic, and
    /// every later write is a CAS.
    pub fn ensure_exists(&self) {
        if self.store.get(self.key).0.is_none() {
            // A concurrent creator writes the same empty entry: harmless.
            let _ = self.store.set(self.key, &Entry::default().encode(), None);
        }
    }

    /// Read, change, write back if nobody wrote in between; retried on contention.
    /// `change` returns what to report, and whether to write.
    fn update<T>(&self, mut change: impl FnMut(&mut Entry) -> (T, bool)) -> Option<T> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut entry, cas) = self.read();
            if cas.is_none() {
                self.ensure_exists();
                continue;
            }
            let (result, write) = change(&mut entry);
            if !write || self.store.set(self.key, &entry.encode(), cas).is_ok() {
                return Some(result);
            }
        }
        None
    }

    /// What a request should do for a token now.
    pub fn lookup(&self, now_ms: u64) -> Lookup {
        let timeout = self.policy.fetch_timeout_ms;
        self.update(|entry| {
            if let Some(ready) = ready(entry, now_ms) {
                return (ready, false);
            }
            if entry.lease_until_ms > now_ms {
                return (Lookup::Wait, false);
            }
            if let Some(code) = recent_failure(entry, now_ms) {
                return (Lookup::Failed(code), false);
            }
            entry.lease_until_ms = now_ms + timeout + LEASE_GRACE_MS;
            (Lookup::Fetch, true)
        })
        .unwrap_or(Lookup::Wait)
    }

    /// The token as it stands, without taking a lease: for requests already waiting.
    pub fn peek(&self, now_ms: u64) -> Lookup {
        let (entry, _) = self.read();
        match ready(&entry, now_ms) {
            Some(ready) => ready,
            None if entry.lease_until_ms > now_ms => Lookup::Wait,
            None => recent_failure(&entry, now_ms).map_or(Lookup::Fetch, Lookup::Failed),
        }
    }

    /// Background refresh: true when this caller took the lease and must fetch. Only a
    /// credential that has been used (has an entry) is refreshed.
    pub fn take_refresh_lease(&self, now_ms: u64) -> bool {
        let policy = self.policy;
        self.update(|entry| {
            let used = entry.generation > 0 || entry.failures > 0 || entry.lease_until_ms > 0;
            let due =
                entry.token.is_none() || now_ms + policy.refresh_margin_ms >= entry.expires_at_ms;
            let free = entry.lease_until_ms <= now_ms && entry.retry_at_ms <= now_ms;
            if used && due && free {
                entry.lease_until_ms = now_ms + policy.fetch_timeout_ms + LEASE_GRACE_MS;
                (true, true)
            } else {
                (false, false)
            }
        })
        .unwrap_or(false)
    }

    /// Store a fetched token and release the lease. A token already inside the refresh margin
    /// (a metadata server hands out its cached token until shortly before it expires) is next
    /// refreshed after about half its remaining life, not on every tick.
    pub fn store_token(&self, now_ms: u64, token: &str, expires_in_s: u64) {
        let life_ms = expires_in_s.saturating_mul(1000);
        let next_refresh_ms = if life_ms <= self.policy.refresh_margin_ms {
            now_ms.saturating_add(life_ms / 2)
        } else {
            0
        };
        self.update(|entry| {
            entry.token = Some(token.to_string());
            entry.generation += 1;
            entry.expires_at_ms = now_ms.saturating_add(life_ms);
            entry.lease_until_ms = 0;
            entry.failures = 0;
            entry.retry_at_ms = next_refresh_ms;
            entry.last_error = None;
            ((), true)
        });
    }

    /// Record a failed fetch: release the lease and back off (1 s doubling to 60 s, plus
    /// `jitter_ms`). A still-valid token keeps serving.
    pub fn record_failure(&self, now_ms: u64, code: &str, jitter_ms: u64) {
        self.update(|entry| {
            entry.failures = entry.failures.saturating_add(1);
            entry.failed_at_ms = now_ms;
            entry.lease_until_ms = 0;
            entry.retry_at_ms = now_ms + backoff_ms(entry.failures) + jitter_ms;
            entry.last_error = Some(code.replace('|', "_"));
            ((), true)
        });
    }

    /// Vertex refused the token of this generation: stop handing it out.
    pub fn mark_stale(&self, generation: u64) {
        self.update(|entry| {
            if entry.generation != generation || entry.token.is_none() {
                return ((), false);
            }
            entry.expires_at_ms = 0;
            entry.retry_at_ms = 0;
            ((), true)
        });
    }

    /// Milliseconds the current token has left, for the metrics.
    pub fn remaining_ms(&self, now_ms: u64) -> u64 {
        let (entry, _) = self.read();
        match entry.token {
            Some(_) => entry.expires_at_ms.saturating_sub(now_ms),
            None => 0,
        }
    }
}

/// The last failure's code while requests should not retry yet.
fn recent_failure(entry: &Entry, now_ms: u64) -> Option<String> {
    let code = entry.last_error.as_ref()?;
    (entry.failures > 0 && now_ms < entry.failed_at_ms + DEMAND_RETRY_MS).then(|| code.clone())
}

/// The entry's token as a `Lookup::Ready`, while it may still be handed out.
fn ready(entry: &Entry, now_ms: u64) -> Option<Lookup> {
    let token = entry.token.as_ref()?;
    may_hand_out(entry.expires_at_ms, now_ms).then(|| Lookup::Ready {
        token: token.clone(),
        generation: entry.generation,
        expires_at_ms: entry.expires_at_ms,
    })
}

/// A token expiring at `expires_at_ms` may go out with a request: it is not in its last seconds.
pub fn may_hand_out(expires_at_ms: u64, now_ms: u64) -> bool {
    now_ms + EXPIRY_SAFETY_MS < expires_at_ms
}

pub fn backoff_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    (BACKOFF_FIRST_MS << doublings).min(BACKOFF_MAX_MS)
}

#[cfg(test)]
mod tests;

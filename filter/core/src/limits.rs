//! A named key's `rpm` and `tpm`, per Envoy process: one shared-data entry per limited client
//! holds the current minute's requests and tokens, updated by compare-and-swap so every worker
//! counts against the same numbers. Keys without limits never touch it.

use crate::client_auth::Client;
use crate::error_response::{ErrorResponse, Status};
use crate::host::Host;

const MINUTE_MS: u64 = 60_000;
/// Writes that lose a race are retried this often; then the request is let through uncounted
/// rather than refused for another worker's activity.
const ATTEMPTS: usize = 8;

/// One minute's counts: the minute (since the epoch), requests, tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    minute: u64,
    requests: u64,
    tokens: u64,
}

impl Window {
    fn decode(bytes: &[u8]) -> Option<Window> {
        let word = |at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        Some(Window {
            minute: word(0)?,
            requests: word(8)?,
            tokens: word(16)?,
        })
    }

    fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        for (chunk, value) in out
            .chunks_mut(8)
            .zip([self.minute, self.requests, self.tokens])
        {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// This window as it stands in `minute`: a past one starts over.
    fn at(self, minute: u64) -> Window {
        if self.minute == minute {
            self
        } else {
            Window {
                minute,
                ..Window::default()
            }
        }
    }
}

/// Creates the entry of each limited client that has none yet, so that every later write is a
/// compare-and-swap against a version.
pub fn prepare<'c>(host: &impl Host, clients: impl Iterator<Item = &'c Client>) {
    for client in clients.filter(|c| c.is_limited()) {
        host.create_shared(&key(client), &Window::default().encode());
    }
}

fn key(client: &Client) -> String {
    format!("vertex_passthrough.limit.{}", client.name)
}

/// Counts a request for `client` at `now_ms`, or refuses it: `429 RESOURCE_EXHAUSTED` with the
/// seconds to the next minute when its `rpm` is reached or its `tpm` spent.
pub fn admit(host: &impl Host, client: &Client, now_ms: u64) -> Result<(), ErrorResponse> {
    if !client.is_limited() {
        return Ok(());
    }
    update(host, client, now_ms, |window| {
        match exhausted(client, &window) {
            Some(reason) => Err(ErrorResponse {
                retry_after_s: Some(seconds_to_next_minute(now_ms)),
                ..ErrorResponse::new(Status::ResourceExhausted, reason)
            }),
            None => Ok(Window {
                requests: window.requests.saturating_add(1),
                ..window
            }),
        }
    })
}

/// Adds `tokens` Vertex reported for `client` to the current minute.
pub fn spend_tokens(host: &impl Host, client: &Client, now_ms: u64, tokens: u64) {
    if client.tpm.is_none() || tokens == 0 {
        return;
    }
    let _ = update(host, client, now_ms, |window| {
        Ok::<_, ()>(Window {
            tokens: window.tokens.saturating_add(tokens),
            ..window
        })
    });
}

/// Replaces `client`'s window for the minute of `now_ms` with what `change` makes of it, by
/// compare-and-swap across workers (given up after `ATTEMPTS` lost races); `change`'s error is
/// returned untouched.
fn update<E>(
    host: &impl Host,
    client: &Client,
    now_ms: u64,
    change: impl Fn(Window) -> Result<Window, E>,
) -> Result<(), E> {
    let minute = now_ms / MINUTE_MS;
    let key = key(client);
    for _ in 0..ATTEMPTS {
        let (value, cas) = host.shared_get(&key);
        let window = value
            .as_deref()
            .and_then(Window::decode)
            .unwrap_or_default()
            .at(minute);
        if host
            .shared_set(&key, &change(window)?.encode(), cas)
            .is_ok()
        {
            return Ok(());
        }
    }
    Ok(())
}

fn exhausted(client: &Client, window: &Window) -> Option<String> {
    if client.rpm.is_some_and(|rpm| window.requests >= rpm) {
        return Some(format!(
            "this API key's limit of {} requests per minute is reached; retry after the minute",
            client.rpm.unwrap_or_default()
        ));
    }
    if client.tpm.is_some_and(|tpm| window.tokens >= tpm) {
        return Some(format!(
            "this API key's {} tokens per minute are spent; retry after the minute",
            client.tpm.unwrap_or_default()
        ));
    }
    None
}

/// Whole seconds until the next minute starts, at least 1.
fn seconds_to_next_minute(now_ms: u64) -> u64 {
    let left_ms = MINUTE_MS - now_ms % MINUTE_MS;
    left_ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests;

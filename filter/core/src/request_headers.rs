//! A request's headers as proxy-wasm hands them over in one host call, and the edits that turn
//! the request into Vertex's. Knowing every header lets the filter remove only those present.
//!
//! The wire format of `proxy_get_header_map_pairs`: a little-endian `u32` count `N`, then `N`
//! pairs of `u32` sizes (name, value), then each name and each value followed by a NUL.

use std::borrow::Cow;

/// Envoy's own request headers (`x-envoy-retry-on`, `x-envoy-upstream-rq-timeout-ms`, …): where
/// Envoy counts a caller as internal its router obeys them, so a client could make it retry a
/// generation (billed twice) or cut a stream. Every one a client sends is removed.
const ENVOY_HEADER_PREFIX: &[u8] = b"x-envoy-";

/// Marks requests the filter forwards to Vertex; the Vertex route matches on it
/// (docs/design.md "Routing after a rewrite"). A client's own is never passed on.
pub const MARKER_HEADER: &str = "x-vertex-passthrough";

/// The client's name and the model, set on every request forwarded to Vertex for Envoy's
/// rate-limit descriptors and access log (the Vertex route removes them). A client's own are
/// never passed on.
pub const CLIENT_HEADER: &str = "x-vertex-passthrough-client";
pub const MODEL_HEADER: &str = "x-vertex-passthrough-model";

/// The headers only the filter may set.
pub const FILTER_HEADERS: [&str; 3] = [MARKER_HEADER, CLIENT_HEADER, MODEL_HEADER];

/// The headers the filter looks up on every request, each found in the one pass `parse` makes;
/// looking one up then costs no comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    Path,
    Method,
    Upgrade,
    ContentLength,
    Authorization,
    LitellmApiKey,
    XApiKey,
    ApiKey,
    GoogApiKey,
    GoogUserProject,
    WebSocketExtensions,
    Marker,
    Client,
    Model,
}

/// Their names, in `Known`'s order.
const KNOWN: [&str; 14] = [
    ":path",
    ":method",
    "upgrade",
    "content-length",
    "authorization",
    "x-litellm-api-key",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-goog-user-project",
    "sec-websocket-extensions",
    MARKER_HEADER,
    CLIENT_HEADER,
    MODEL_HEADER,
];

/// `client_auth::KEY_HEADERS`, in its order.
const KEYS: [Known; 4] = [
    Known::Authorization,
    Known::LitellmApiKey,
    Known::XApiKey,
    Known::ApiKey,
];

/// Client headers that never reach Google: its credentials (`client_auth::CLIENT_CREDENTIAL_HEADERS`,
/// in its order) and `x-goog-user-project`, which would bill another project's quota.
const NEVER_UPSTREAM: [Known; 6] = [
    Known::Authorization,
    Known::XApiKey,
    Known::ApiKey,
    Known::LitellmApiKey,
    Known::GoogApiKey,
    Known::GoogUserProject,
];

impl Known {
    pub fn name(self) -> &'static str {
        KNOWN.get(self as usize).copied().unwrap_or_default()
    }
}

/// The `Known` header named `name`: a name is first told apart by its length, so most names
/// cost at most one comparison.
fn known(name: &[u8]) -> Option<Known> {
    let header = match name.len() {
        5 => Known::Path,
        7 => match name.first() {
            Some(b':') => Known::Method,
            Some(b'u') => Known::Upgrade,
            _ => Known::ApiKey,
        },
        14 => match name.first() {
            Some(b'c') => Known::ContentLength,
            _ => Known::GoogApiKey,
        },
        13 => Known::Authorization,
        17 => Known::LitellmApiKey,
        9 => Known::XApiKey,
        19 => Known::GoogUserProject,
        24 => Known::WebSocketExtensions,
        20 => Known::Marker,
        27 => Known::Client,
        26 => Known::Model,
        _ => return None,
    };
    (header.name().as_bytes() == name).then_some(header)
}

/// Marks a known header the request does not have.
const ABSENT: u32 = u32::MAX;

/// Borrowed (name, value) pairs, in the order Envoy holds them.
pub struct RequestHeaders<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
    /// Where in `pairs` each of `KNOWN` first appears, or `ABSENT`.
    known_at: [u32; KNOWN.len()],
    /// Whether any `x-envoy-*` header is present.
    has_envoy: bool,
}

/// Where a request forwarded to Vertex goes and what it carries: the input of `upstream_edits`.
#[derive(Clone, Copy)]
pub struct Upstream<'a> {
    pub path: &'a str,
    pub authority: &'a str,
    /// `Bearer …`, or `None` while the token is still being fetched (it is set on resume).
    pub authorization: Option<&'a str>,
    /// A WebSocket upgrade: its frames must stay uncompressed for the Live setup rewrite.
    pub upgrade: bool,
    /// The client's name.
    pub client: &'a str,
    /// The model as the client named it; `None` for a call that names none.
    pub model: Option<&'a str>,
}

impl<'a> RequestHeaders<'a> {
    /// `None` when `bytes` is not a well-formed header map; an empty buffer is an empty map.
    pub fn parse(bytes: &'a [u8]) -> Option<RequestHeaders<'a>> {
        let mut headers = RequestHeaders {
            pairs: Vec::new(),
            known_at: [ABSENT; KNOWN.len()],
            has_envoy: false,
        };
        if bytes.is_empty() {
            return Some(headers);
        }
        let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
        let sizes_end = count.checked_mul(8)?.checked_add(4)?;
        let sizes = bytes.get(4..sizes_end)?;
        headers.pairs.reserve_exact(count);
        let mut at = sizes_end;
        for (index, size) in (0u32..).zip(sizes.chunks_exact(8)) {
            let name_len = usize::try_from(read_u32(size, 0)?).ok()?;
            let value_len = usize::try_from(read_u32(size, 4)?).ok()?;
            let (name, after_name) = nul_terminated(bytes, at, name_len)?;
            let (value, after_value) = nul_terminated(bytes, after_name, value_len)?;
            if let Some(slot) = known(name).and_then(|k| headers.known_at.get_mut(k as usize)) {
                if *slot == ABSENT {
                    *slot = index;
                }
            }
            headers.has_envoy |= name.starts_with(ENVOY_HEADER_PREFIX);
            headers.pairs.push((name, value));
            at = after_value;
        }
        Some(headers)
    }

    /// The first value of a known header.
    fn first_known(&self, header: Known) -> Option<&'a [u8]> {
        let at = usize::try_from(*self.known_at.get(header as usize)?).ok()?;
        self.pairs.get(at).map(|&(_, value)| value)
    }

    /// Envoy keeps header names in lower case (its codecs lower them, HTTP/2 and 3 require it),
    /// so names compare byte for byte.
    fn first(&self, name: &str) -> Option<&'a [u8]> {
        match known(name.as_bytes()) {
            Some(header) => self.first_known(header),
            None => self
                .pairs
                .iter()
                .find(|(n, _)| *n == name.as_bytes())
                .map(|&(_, value)| value),
        }
    }

    /// The first value of header `name`, given in lower case. Bytes that are not
    /// UTF-8 are replaced, so such a value fails every check it is put to.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.first(name).map(text)
    }

    pub fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// `get` for a known header.
    pub fn value(&self, header: Known) -> Option<Cow<'a, str>> {
        self.first_known(header).map(text)
    }

    /// `has` for a known header.
    pub fn carries(&self, header: Known) -> bool {
        self.first_known(header).is_some()
    }

    /// Whether the request carries a header only the filter may set (`FILTER_HEADERS`).
    pub fn carries_filter_header(&self) -> bool {
        [Known::Marker, Known::Client, Known::Model]
            .into_iter()
            .any(|header| self.carries(header))
    }

    /// The value of each header a client key may arrive in. Only a header's first value counts,
    /// so a repeated key header is judged by the value Envoy shows first.
    pub fn presented_keys(&self) -> impl Iterator<Item = Cow<'a, str>> + Clone + '_ {
        KEYS.iter().filter_map(|&header| self.value(header))
    }

    /// The header edits that make this request Vertex's, in order: remove the client
    /// credentials it carries (its `authorization` is replaced instead when the token is at
    /// hand), its `x-goog-user-project`, every `x-envoy-*` header, on an upgrade its
    /// compression offer, and a model header when there is no model; then set `:path`,
    /// `:authority`, `authorization`, the marker, the client and the model (a set replaces a
    /// client's own). Only headers the request has are removed: each edit is a host
    /// call, and a whole-map replace costs Envoy more than these few.
    pub fn upstream_edits<'e>(
        &'e self,
        upstream: Upstream<'e>,
    ) -> impl Iterator<Item = (&'e str, Option<&'e str>)> + 'e {
        let removed = NEVER_UPSTREAM
            .iter()
            .copied()
            .filter(move |&header| {
                !(header == Known::Authorization && upstream.authorization.is_some())
            })
            .chain(upstream.upgrade.then_some(Known::WebSocketExtensions))
            .chain(upstream.model.is_none().then_some(Known::Model))
            .filter(move |&header| self.carries(header))
            .map(|header| header.name())
            .chain(self.envoy_headers())
            .map(|name| (name, None));
        let set = [
            (":path", Some(upstream.path)),
            (":authority", Some(upstream.authority)),
        ]
        .into_iter()
        .chain(upstream.authorization.map(|a| ("authorization", Some(a))))
        .chain([
            (MARKER_HEADER, Some("1")),
            (CLIENT_HEADER, Some(upstream.client)),
        ])
        .chain(upstream.model.map(|model| (MODEL_HEADER, Some(model))));
        removed.chain(set)
    }

    /// The names of the `x-envoy-*` headers present, each once.
    fn envoy_headers(&self) -> impl Iterator<Item = &'a str> + '_ {
        let pairs: &[_] = if self.has_envoy {
            self.pairs.as_slice()
        } else {
            &[]
        };
        pairs
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| name.starts_with(ENVOY_HEADER_PREFIX))
            .filter(|&(at, (name, _))| {
                !self
                    .pairs
                    .iter()
                    .take(at)
                    .any(|(earlier, _)| earlier == name)
            })
            .filter_map(|(_, (name, _))| std::str::from_utf8(name).ok())
    }
}

/// A header value as text; bytes that are not UTF-8 are replaced.
fn text(value: &[u8]) -> Cow<'_, str> {
    // `from_utf8` first: its ASCII fast path is several times cheaper than the lossy scan.
    match std::str::from_utf8(value) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value),
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

/// `len` bytes at `at` followed by a NUL; returns them and where the next text starts.
fn nul_terminated(bytes: &[u8], at: usize, len: usize) -> Option<(&[u8], usize)> {
    let end = at.checked_add(len)?;
    let text = bytes.get(at..end)?;
    (bytes.get(end) == Some(&0)).then_some((text, end + 1))
}

#[cfg(test)]
pub(crate) mod tests;

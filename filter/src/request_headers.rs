//! A request's headers as proxy-wasm hands them over in one host call, and the header map the
//! filter hands back for Vertex. Reading and writing the whole map once each costs two host calls
//! per request where reading and setting headers one by one cost a dozen (issue 6).
//!
//! The wire format of `proxy_{get,set}_header_map_pairs`: a little-endian `u32` count `N`, then
//! `N` pairs of `u32` sizes (name, value), then each name and each value followed by a NUL.

use crate::client_auth::{CLIENT_CREDENTIAL_HEADERS, KEY_HEADERS};
use std::borrow::Cow;

/// Marks requests the filter forwards to Vertex; the Vertex route matches on it
/// (DESIGN.md "Routing after a rewrite"). A client's own is never passed on.
pub const MARKER_HEADER: &str = "x-vertex-passthrough";

/// Borrowed (name, value) pairs, in the order Envoy holds them.
pub struct RequestHeaders<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

/// What replaces the client's headers on a request forwarded to Vertex.
pub struct Upstream<'a> {
    pub path: &'a str,
    pub authority: &'a str,
    /// `Bearer …`, or `None` while the token is still being fetched (it is set on resume).
    pub authorization: Option<&'a str>,
    /// A WebSocket upgrade: its frames must stay uncompressed for the Live setup rewrite.
    pub upgrade: bool,
}

impl<'a> RequestHeaders<'a> {
    /// `None` when `bytes` is not a well-formed header map; an empty buffer is an empty map.
    pub fn parse(bytes: &'a [u8]) -> Option<RequestHeaders<'a>> {
        if bytes.is_empty() {
            return Some(RequestHeaders { pairs: Vec::new() });
        }
        let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
        let sizes_end = count.checked_mul(8)?.checked_add(4)?;
        let sizes = bytes.get(4..sizes_end)?;
        let mut pairs = Vec::with_capacity(count);
        let mut at = sizes_end;
        for size in sizes.chunks_exact(8) {
            let name_len = usize::try_from(read_u32(size, 0)?).ok()?;
            let value_len = usize::try_from(read_u32(size, 4)?).ok()?;
            let (name, after_name) = nul_terminated(bytes, at, name_len)?;
            let (value, after_value) = nul_terminated(bytes, after_name, value_len)?;
            pairs.push((name, value));
            at = after_value;
        }
        Some(RequestHeaders { pairs })
    }

    /// Envoy keeps header names in lower case (its codecs lower them, HTTP/2 and 3 require it),
    /// so names compare byte for byte.
    fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|&(_, value)| value)
    }

    /// The first value of header `name`, given in lower case. Bytes that are not
    /// UTF-8 are replaced, so such a value fails every check it is put to.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.first(name).map(String::from_utf8_lossy)
    }

    pub fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// The value of each header a client key may arrive in. Only a header's first value counts,
    /// so a repeated key header is judged by the value Envoy shows first.
    pub fn presented_keys(&self) -> impl Iterator<Item = Cow<'a, str>> + '_ {
        KEY_HEADERS.iter().filter_map(|name| self.get(name))
    }

    /// The serialized map to send upstream: the client's headers in their order, without client
    /// credentials, the marker or (on an upgrade) `sec-websocket-extensions`; `:path` and
    /// `:authority` replaced (Envoy keeps pseudo-headers first, wherever they are added); then
    /// `authorization` and the marker.
    pub fn upstream(&self, upstream: &Upstream) -> Vec<u8> {
        let dropped = |name: &[u8]| {
            CLIENT_CREDENTIAL_HEADERS
                .iter()
                .chain([&MARKER_HEADER])
                .any(|d| name == d.as_bytes())
                || (upstream.upgrade && name == b"sec-websocket-extensions")
        };
        let kept = self.pairs.iter().filter(|(name, _)| !dropped(name));
        let rewritten = kept.map(|&(name, value)| match name {
            b":path" => (name, upstream.path.as_bytes()),
            b":authority" => (name, upstream.authority.as_bytes()),
            _ => (name, value),
        });
        // An HTTP/1.0 request may come without a host; Vertex needs one.
        let authority = (!self.has(":authority"))
            .then_some((&b":authority"[..], upstream.authority.as_bytes()));
        let authorization = upstream
            .authorization
            .map(|a| (&b"authorization"[..], a.as_bytes()));
        let added = authority
            .into_iter()
            .chain(authorization)
            .chain([(MARKER_HEADER.as_bytes(), &b"1"[..])]);
        serialize(rewritten.chain(added))
    }
}

/// Serialize pairs in the header-map wire format.
pub fn serialize<'p>(pairs: impl Iterator<Item = (&'p [u8], &'p [u8])> + Clone) -> Vec<u8> {
    let (count, text_len) = pairs
        .clone()
        .fold((0usize, 0usize), |(n, len), (name, value)| {
            (n + 1, len + name.len() + value.len() + 2)
        });
    let mut out = Vec::with_capacity(4 + count * 8 + text_len);
    out.extend_from_slice(&wire_u32(count));
    for (name, value) in pairs.clone() {
        out.extend_from_slice(&wire_u32(name.len()));
        out.extend_from_slice(&wire_u32(value.len()));
    }
    for (name, value) in pairs {
        for text in [name, value] {
            out.extend_from_slice(text);
            out.push(0);
        }
    }
    out
}

/// Lengths in the wire format are `u32`; a header map never comes near 4 GiB.
fn wire_u32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
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
mod tests;

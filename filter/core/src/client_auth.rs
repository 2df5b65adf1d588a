//! The proxy's own API keys: which client may use it.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The request headers a client key may arrive in (docs/design.md "Client keys").
pub const KEY_HEADERS: [&str; 4] = ["authorization", "x-litellm-api-key", "x-api-key", "api-key"];

/// Client credentials that never reach Google.
pub const CLIENT_CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "api-key",
    "x-litellm-api-key",
    "x-goog-api-key",
];

/// The longest key accepted, in bytes. A longer value is never hashed, so a client cannot make
/// each request cost a hash of tens of kilobytes.
pub const MAX_KEY_LEN: usize = 512;

pub enum ClientKeys {
    /// SHA-256 digests of the accepted keys; the plain keys are not kept.
    Required(Vec<[u8; 32]>),
    /// `allow_unauthenticated: true`: anyone who reaches the listener may use the proxy.
    Unauthenticated,
}

/// A configured key: `sha256:<64 hex>` or the plain key. Returns its digest.
pub fn parse_configured_key(entry: &str) -> Option<[u8; 32]> {
    if let Some(hex) = entry.strip_prefix("sha256:") {
        return decode_hex_digest(hex);
    }
    let usable = !entry.is_empty()
        && entry.len() <= MAX_KEY_LEN
        && entry.bytes().all(|b| b.is_ascii_graphic());
    usable.then(|| Sha256::digest(entry.as_bytes()).into())
}

fn decode_hex_digest(hex: &str) -> Option<[u8; 32]> {
    // `from_str_radix` alone would take "+f" for 0x0f.
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(digest)
}

/// Keys this worker has already matched against a configured digest. A client sends the same
/// key with every request, and comparing bytes costs far less than hashing again in Wasm.
/// A key is remembered
/// only after it matched, and at most as many as there are digests, so clients cannot make
/// the set grow.
#[derive(Default)]
pub struct VerifiedKeys(Vec<Box<[u8]>>);

impl VerifiedKeys {
    /// Compared with every remembered key, in constant time for keys of equal length.
    fn holds(&self, key: &str) -> bool {
        let found = self
            .0
            .iter()
            .fold(subtle::Choice::from(0u8), |found, known| {
                found | known.as_ref().ct_eq(key.as_bytes())
            });
        found.into()
    }

    fn remember(&mut self, key: &str, limit: usize) {
        if self.0.len() < limit && !self.holds(key) {
            self.0.push(key.as_bytes().into());
        }
    }
}

impl ClientKeys {
    /// True when any of the presented header values carries an accepted key. A key `verified`
    /// holds is accepted by its bytes; otherwise every candidate is hashed and compared against
    /// every configured digest, in constant time per comparison, and a match is remembered.
    pub fn accepts<V: AsRef<str>>(
        &self,
        presented: impl Iterator<Item = V> + Clone,
        verified: &mut VerifiedKeys,
    ) -> bool {
        let ClientKeys::Required(digests) = self else {
            return true;
        };
        // First the cheap check over every header: the google-genai SDK sends a placeholder
        // `Authorization` before the key header, and hashing it would cost what this saves.
        if presented
            .clone()
            .any(|value| verified.holds(client_key(value.as_ref())))
        {
            return true;
        }
        let mut accepted = subtle::Choice::from(0u8);
        for value in presented {
            let key = client_key(value.as_ref());
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                continue;
            }
            let candidate: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            let matched = digests
                .iter()
                .fold(subtle::Choice::from(0u8), |matched, digest| {
                    matched | candidate.ct_eq(digest)
                });
            if bool::from(matched) {
                verified.remember(key, digests.len());
            }
            accepted |= matched;
        }
        accepted.into()
    }
}

/// The key a header value carries: trimmed, without a `Bearer ` prefix; empty when none.
fn client_key(value: &str) -> &str {
    strip_bearer(value.trim())
}

/// `Bearer KEY` (any case) or the bare key: LiteLLM clients send both forms in every header.
fn strip_bearer(value: &str) -> &str {
    match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => {
            value.get(7..).unwrap_or("").trim()
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD_SHA256: &str =
        "sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn keys(entries: &[&str]) -> ClientKeys {
        ClientKeys::Required(
            entries
                .iter()
                .map(|e| parse_configured_key(e).unwrap())
                .collect(),
        )
    }

    /// `accepts` on a worker that has verified no key yet.
    fn accepts(keys: &ClientKeys, presented: &[&str]) -> bool {
        keys.accepts(presented.iter(), &mut VerifiedKeys::default())
    }

    #[test]
    fn hashed_key_accepts_the_plain_key() {
        assert!(accepts(&keys(&[PASSWORD_SHA256]), &["password"]));
    }

    #[test]
    fn plain_configured_key_is_hashed_and_accepted() {
        assert!(accepts(&keys(&["sk-1234"]), &["sk-1234"]));
        assert!(!accepts(&keys(&["sk-1234"]), &["sk-12345"]));
    }

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        let k = keys(&["sk-1234"]);
        assert!(accepts(&k, &["Bearer sk-1234"]));
        assert!(accepts(&k, &["bearer   sk-1234"]));
        assert!(!accepts(&k, &["Bearer"]));
    }

    #[test]
    fn one_valid_key_among_several_headers_authenticates() {
        assert!(accepts(
            &keys(&["sk-1234"]),
            &["Bearer placeholder-oauth", "sk-1234"]
        ));
    }

    #[test]
    fn nothing_presented_is_refused() {
        assert!(!accepts(&keys(&["sk-1234"]), &[]));
        assert!(!accepts(&keys(&["sk-1234"]), &[""]));
    }

    #[test]
    fn malformed_hash_entries_are_refused() {
        assert!(parse_configured_key("sha256:abc").is_none());
        assert!(parse_configured_key(&format!("sha256:{}", "zz".repeat(32))).is_none());
        assert!(parse_configured_key("has space").is_none());
        assert!(parse_configured_key("").is_none());
    }

    // A sign inside the hex digits must not be read as part of a number.
    #[test]
    fn hash_entries_with_signs_are_refused() {
        assert!(parse_configured_key(&format!("sha256:{}", "+f".repeat(32))).is_none());
        assert!(parse_configured_key(&format!("sha256:{}", "ab".repeat(32))).is_some());
    }

    #[test]
    fn a_verified_key_is_remembered_by_its_bytes() {
        let k = keys(&["sk-1234", "sk-5678"]);
        let mut verified = VerifiedKeys::default();
        assert!(k.accepts(["Bearer sk-1234"].iter(), &mut verified));
        assert!(verified.holds("sk-1234"));
        assert!(k.accepts(["sk-1234"].iter(), &mut verified));
        assert_eq!(verified.0.len(), 1);
    }

    #[test]
    fn a_remembered_key_is_accepted_without_hashing() {
        let mut verified = VerifiedKeys::default();
        verified.remember("sk-remembered", 1);
        assert!(
            keys(&["sk-other"]).accepts(["x-api-key-value", "sk-remembered"].iter(), &mut verified)
        );
    }

    #[test]
    fn a_refused_key_is_not_remembered() {
        let mut verified = VerifiedKeys::default();
        assert!(!keys(&["sk-1234"]).accepts(["sk-wrong"].iter(), &mut verified));
        assert!(verified.0.is_empty());
    }

    #[test]
    fn a_remembered_key_admits_neither_its_prefix_nor_a_longer_key() {
        let k = keys(&["sk-1234"]);
        let mut verified = VerifiedKeys::default();
        assert!(k.accepts(["sk-1234"].iter(), &mut verified));
        assert!(!k.accepts(["sk-123"].iter(), &mut verified));
        assert!(!k.accepts(["sk-12345"].iter(), &mut verified));
        assert!(!k.accepts([""].iter(), &mut verified));
    }

    #[test]
    fn no_more_keys_are_remembered_than_there_are_digests() {
        let mut verified = VerifiedKeys::default();
        verified.remember("sk-a", 1);
        verified.remember("sk-b", 1);
        verified.remember("sk-a", 2);
        assert!(verified.holds("sk-a"));
        assert!(!verified.holds("sk-b"));
        assert_eq!(verified.0.len(), 1);
    }

    #[test]
    fn a_key_longer_than_512_bytes_is_refused_even_when_its_digest_is_configured() {
        use std::fmt::Write;
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let digest: [u8; 32] = Sha256::digest(long.as_bytes()).into();
        let entry = digest.iter().fold(String::from("sha256:"), |mut hex, b| {
            write!(hex, "{b:02x}").unwrap();
            hex
        });
        assert!(!accepts(&keys(&[&entry]), &[&long]));
        assert!(!accepts(&keys(&[&entry]), &[&format!("Bearer {long}")]));
        let longest = "k".repeat(MAX_KEY_LEN);
        assert!(accepts(&keys(&[&longest]), &[&longest]));
    }

    #[test]
    fn a_configured_plain_key_longer_than_512_bytes_is_refused() {
        assert!(parse_configured_key(&"k".repeat(MAX_KEY_LEN + 1)).is_none());
    }

    #[test]
    fn unauthenticated_accepts_anything() {
        assert!(accepts(&ClientKeys::Unauthenticated, &[]));
    }
}

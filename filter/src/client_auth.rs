//! The proxy's own API keys: which client may use it.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The request headers a client key may arrive in (DESIGN.md "Client keys").
pub const KEY_HEADERS: [&str; 4] = ["authorization", "x-litellm-api-key", "x-api-key", "api-key"];

/// Client credentials that never reach Google.
pub const CLIENT_CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "api-key",
    "x-litellm-api-key",
    "x-goog-api-key",
];

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
    let usable = !entry.is_empty() && entry.bytes().all(|b| b.is_ascii_graphic());
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

impl ClientKeys {
    /// True when any of the presented header values carries an accepted key. Every candidate is
    /// compared against every configured digest, in constant time per comparison.
    pub fn accepts(&self, presented: impl IntoIterator<Item = impl AsRef<str>>) -> bool {
        let ClientKeys::Required(digests) = self else {
            return true;
        };
        let mut accepted = subtle::Choice::from(0u8);
        for value in presented {
            let key = strip_bearer(value.as_ref().trim());
            if key.is_empty() {
                continue;
            }
            let candidate: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            for digest in digests {
                accepted |= candidate.ct_eq(digest);
            }
        }
        accepted.into()
    }
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

    #[test]
    fn hashed_key_accepts_the_plain_key() {
        assert!(keys(&[PASSWORD_SHA256]).accepts(["password"]));
    }

    #[test]
    fn plain_configured_key_is_hashed_and_accepted() {
        assert!(keys(&["sk-1234"]).accepts(["sk-1234"]));
        assert!(!keys(&["sk-1234"]).accepts(["sk-12345"]));
    }

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        let k = keys(&["sk-1234"]);
        assert!(k.accepts(["Bearer sk-1234"]));
        assert!(k.accepts(["bearer   sk-1234"]));
        assert!(!k.accepts(["Bearer"]));
    }

    #[test]
    fn one_valid_key_among_several_headers_authenticates() {
        assert!(keys(&["sk-1234"]).accepts(["Bearer placeholder-oauth", "sk-1234"]));
    }

    #[test]
    fn nothing_presented_is_refused() {
        assert!(!keys(&["sk-1234"]).accepts([""; 0]));
        assert!(!keys(&["sk-1234"]).accepts([""]));
    }

    #[test]
    fn malformed_hash_entries_are_refused() {
        assert!(parse_configured_key("sha256:abc").is_none());
        assert!(parse_configured_key(&format!("sha256:{}", "zz".repeat(32))).is_none());
        assert!(parse_configured_key("has space").is_none());
        assert!(parse_configured_key("").is_none());
    }

    // Found in review for issue 5: a sign inside the hex digits was read as part of a number.
    #[test]
    fn hash_entries_with_signs_are_refused() {
        assert!(parse_configured_key(&format!("sha256:{}", "+f".repeat(32))).is_none());
        assert!(parse_configured_key(&format!("sha256:{}", "ab".repeat(32))).is_some());
    }

    #[test]
    fn unauthenticated_accepts_anything() {
        assert!(ClientKeys::Unauthenticated.accepts([""; 0]));
    }
}

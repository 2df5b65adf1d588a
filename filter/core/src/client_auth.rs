//! The proxy's own API keys: which client may use it.

use sha2::{Digest, Sha256};
use std::rc::Rc;
use subtle::{ConditionallySelectable, ConstantTimeEq};

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
    /// SHA-256 digests of the accepted keys (the plain keys are not kept), each with the client
    /// it names, at the same index.
    Required {
        digests: Vec<[u8; 32]>,
        clients: Vec<Rc<Client>>,
    },
    /// `allow_unauthenticated: true`: anyone who reaches the listener may use the proxy, as the
    /// client `anonymous`.
    Unauthenticated(Rc<Client>),
}

/// Who a key belongs to and what it may do (docs/design.md "Named client keys").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `name`, or `key-` and the first 8 hex digits of the key's SHA-256 for an unnamed key.
    pub name: Rc<str>,
    /// Aliases or model ids this client may use; `None`: all.
    pub models: Option<Vec<String>>,
    /// Projects this client may reach; `None`: all the proxy serves.
    pub projects: Option<Vec<String>>,
    /// Requests per minute, per Envoy process.
    pub rpm: Option<u64>,
    /// Tokens per minute, per Envoy process.
    pub tpm: Option<u64>,
    /// A named key: its usage is counted per model. Other clients' responses are not read.
    pub counts_usage: bool,
}

impl Client {
    /// A client that may use every model and project, without limits.
    pub fn unrestricted(name: &str) -> Client {
        Client {
            name: name.into(),
            models: None,
            projects: None,
            rpm: None,
            tpm: None,
            counts_usage: false,
        }
    }

    /// The name an unnamed key goes by.
    pub fn unnamed(digest: &[u8; 32]) -> Client {
        let mut name = String::from("key-");
        for byte in digest.iter().take(4) {
            name.push(hex_digit(byte >> 4));
            name.push(hex_digit(byte & 0x0f));
        }
        Client::unrestricted(&name)
    }

    pub fn may_use_model(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }

    pub fn may_reach_project(&self, project: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|projects| projects.iter().any(|p| p == project))
    }

    /// Whether this client has a limit to count against.
    pub fn is_limited(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some()
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(
        b"0123456789abcdef"
            .get(usize::from(nibble))
            .copied()
            .unwrap_or(b'0'),
    )
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
pub struct VerifiedKeys(Vec<(Box<[u8]>, u32)>);

/// A key's match: whether it matched, and the index of the configured digest it matched.
type Match = (subtle::Choice, u32);

const NO_MATCH: (u8, u32) = (0, 0);

impl VerifiedKeys {
    /// Compared with every remembered key, in constant time for keys of equal length; the
    /// index of the digest it matched.
    fn holds(&self, key: &str) -> Option<usize> {
        let (found, index) = self.0.iter().fold(
            (subtle::Choice::from(NO_MATCH.0), NO_MATCH.1),
            |(found, index), (known, at)| {
                let same = known.as_ref().ct_eq(key.as_bytes());
                (found | same, u32::conditional_select(&index, at, same))
            },
        );
        bool::from(found).then(|| usize::try_from(index).unwrap_or(usize::MAX))
    }

    fn remember(&mut self, key: &str, index: u32, limit: usize) {
        if self.0.len() < limit && self.holds(key).is_none() {
            self.0.push((key.as_bytes().into(), index));
        }
    }
}

impl ClientKeys {
    /// The client whose key one of the presented header values carries; `None` when none
    /// does. A key `verified` holds is accepted by its bytes; otherwise every candidate is
    /// hashed and compared against every configured digest, in constant time per comparison,
    /// and a match is remembered.
    pub fn authenticate<V: AsRef<str>>(
        &self,
        presented: impl Iterator<Item = V> + Clone,
        verified: &mut VerifiedKeys,
    ) -> Option<&Rc<Client>> {
        let (digests, clients) = match self {
            ClientKeys::Required { digests, clients } => (digests, clients),
            ClientKeys::Unauthenticated(anonymous) => return Some(anonymous),
        };
        // First the cheap check over every header: the google-genai SDK sends a placeholder
        // `Authorization` before the key header, and hashing it would cost what this saves.
        if let Some(index) = presented
            .clone()
            .find_map(|value| verified.holds(client_key(value.as_ref())))
        {
            return clients.get(index);
        }
        let mut accepted: Match = (subtle::Choice::from(NO_MATCH.0), NO_MATCH.1);
        for value in presented {
            let key = client_key(value.as_ref());
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                continue;
            }
            let candidate: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            let (matched, index) = digests.iter().zip(0u32..).fold(
                (subtle::Choice::from(NO_MATCH.0), NO_MATCH.1),
                |(matched, index), (digest, at)| {
                    let same = candidate.ct_eq(digest);
                    (matched | same, u32::conditional_select(&index, &at, same))
                },
            );
            if bool::from(matched) {
                verified.remember(key, index, digests.len());
            }
            let first = matched & !accepted.0;
            accepted = (
                accepted.0 | matched,
                u32::conditional_select(&accepted.1, &index, first),
            );
        }
        if bool::from(accepted.0) {
            clients.get(usize::try_from(accepted.1).ok()?)
        } else {
            None
        }
    }

    /// True when one of the presented header values carries an accepted key.
    pub fn accepts<V: AsRef<str>>(
        &self,
        presented: impl Iterator<Item = V> + Clone,
        verified: &mut VerifiedKeys,
    ) -> bool {
        self.authenticate(presented, verified).is_some()
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
        let digests: Vec<[u8; 32]> = entries
            .iter()
            .map(|e| parse_configured_key(e).unwrap())
            .collect();
        let clients = digests
            .iter()
            .map(|d| Rc::new(Client::unnamed(d)))
            .collect();
        ClientKeys::Required { digests, clients }
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
        assert_eq!(verified.holds("sk-1234"), Some(0));
        assert!(k.accepts(["sk-1234"].iter(), &mut verified));
        assert_eq!(verified.0.len(), 1);
    }

    #[test]
    fn a_remembered_key_is_accepted_without_hashing() {
        let mut verified = VerifiedKeys::default();
        verified.remember("sk-remembered", 0, 1);
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
        verified.remember("sk-a", 0, 1);
        verified.remember("sk-b", 0, 1);
        verified.remember("sk-a", 0, 2);
        assert!(verified.holds("sk-a").is_some());
        assert!(verified.holds("sk-b").is_none());
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
        assert!(accepts(
            &ClientKeys::Unauthenticated(Rc::new(Client::unrestricted("anonymous"))),
            &[]
        ));
    }

    fn client_of<'k>(
        keys: &'k ClientKeys,
        presented: &[&str],
        verified: &mut VerifiedKeys,
    ) -> Option<&'k str> {
        keys.authenticate(presented.iter(), verified)
            .map(|c| c.name.as_ref())
    }

    #[test]
    fn the_matching_key_names_its_client_hashed_and_remembered() {
        let k = keys(&["sk-one", "sk-two", "sk-three"]);
        let two = Client::unnamed(&parse_configured_key("sk-two").unwrap());
        let mut verified = VerifiedKeys::default();
        assert_eq!(client_of(&k, &["sk-two"], &mut verified), Some(&*two.name));
        assert_eq!(client_of(&k, &["sk-two"], &mut verified), Some(&*two.name));
        assert_eq!(verified.holds("sk-two"), Some(1));
    }

    #[test]
    fn of_two_valid_keys_presented_the_first_names_the_client() {
        let k = keys(&["sk-one", "sk-two"]);
        let one = Client::unnamed(&parse_configured_key("sk-one").unwrap());
        assert_eq!(
            client_of(&k, &["sk-one", "sk-two"], &mut VerifiedKeys::default()),
            Some(&*one.name)
        );
    }

    #[test]
    fn an_unnamed_key_is_named_for_its_digest() {
        assert_eq!(
            &*Client::unnamed(&parse_configured_key(PASSWORD_SHA256).unwrap()).name,
            "key-5e884898"
        );
    }
}

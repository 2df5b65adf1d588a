//! The query string: kept as the client sent it (SSE needs `alt=sse`), minus the parameters the
//! filter consumes.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// `model` selects a Live session's alias; `key` (Google also reads `$key`) is a client key
/// that must not travel on (and is not accepted: query strings end up in access logs);
/// `userProject` and `$userProject` would bill another project's quota.
const CONSUMED: [&str; 5] = ["model", "key", "$key", "userProject", "$userProject"];

/// The query to forward, `None` when nothing is left.
pub fn forwarded(query: &str) -> Option<Cow<'_, str>> {
    if !query.split('&').any(is_consumed) {
        return (!query.is_empty()).then_some(Cow::Borrowed(query));
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !is_consumed(p))
        .collect();
    (!kept.is_empty()).then(|| Cow::Owned(kept.join("&")))
}

/// The first value of `name`, percent-decoded; `None` when absent. A value that is not UTF-8
/// once decoded is kept with replacement characters, so the caller refuses it rather than
/// taking it for absent.
pub fn param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name_of(key) == name).then(|| percent_decode_str(value).decode_utf8_lossy())
    })
}

fn is_consumed(pair: &str) -> bool {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    let name = name_of(key);
    CONSUMED.contains(&name.as_ref())
}

/// A parameter's name as a server reads it: percent-decoded (`%6Bey` is `key`), and without
/// question marks in front (`??key=` leaves `?key` after the first `?`; some servers and logs
/// see `key`).
fn name_of(key: &str) -> Cow<'_, str> {
    let key = key.trim_start_matches('?');
    if key.contains('%') {
        Cow::Owned(percent_decode_str(key).decode_utf8_lossy().into_owned())
    } else {
        Cow::Borrowed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_query_is_kept_verbatim() {
        assert_eq!(
            forwarded("alt=sse&x=%20y").as_deref(),
            Some("alt=sse&x=%20y")
        );
    }

    #[test]
    fn model_and_key_are_removed() {
        assert_eq!(
            forwarded("model=gemini-live&alt=sse&key=sk-1").as_deref(),
            Some("alt=sse")
        );
        assert_eq!(forwarded("key=sk-1").as_deref(), None);
        assert_eq!(forwarded("").as_deref(), None);
    }

    // Found by the bad-input corpus: `??key=` and percent-encoded names carried the client's
    // key on to Google.
    #[test]
    fn disguised_key_and_model_names_are_removed_too() {
        assert_eq!(forwarded("?key=sk-1&alt=sse").as_deref(), Some("alt=sse"));
        assert_eq!(forwarded("%6Bey=sk-1&alt=sse").as_deref(), Some("alt=sse"));
        assert_eq!(forwarded("%6b%65%79=sk-1").as_deref(), None);
        assert_eq!(forwarded("alt=sse&??model=x").as_deref(), Some("alt=sse"));
        assert_eq!(
            forwarded("keys=1&monkey=2").as_deref(),
            Some("keys=1&monkey=2")
        );
    }

    #[test]
    fn dollar_key_and_user_project_are_removed() {
        assert_eq!(forwarded("$key=sk-1&alt=sse").as_deref(), Some("alt=sse"));
        assert_eq!(forwarded("%24key=sk-1&alt=sse").as_deref(), Some("alt=sse"));
        assert_eq!(forwarded("%24%6Bey=sk-1").as_deref(), None);
        assert_eq!(
            forwarded("alt=sse&userProject=other&$userProject=other").as_deref(),
            Some("alt=sse")
        );
        assert_eq!(forwarded("%24userProject=other").as_deref(), None);
        assert_eq!(
            forwarded("userProjects=1&$keys=2").as_deref(),
            Some("userProjects=1&$keys=2")
        );
    }

    #[test]
    fn disguised_model_names_are_read_like_the_plain_one() {
        assert_eq!(param("%6Dodel=flash", "model").as_deref(), Some("flash"));
        assert_eq!(param("?model=flash", "model").as_deref(), Some("flash"));
    }

    #[test]
    fn a_model_that_is_not_utf8_is_not_taken_for_absent() {
        let model = param("model=%FF", "model");
        assert_eq!(model.as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn param_is_decoded() {
        assert_eq!(
            param("a=1&model=publishers%2Fgoogle%2Fmodels%2Fm", "model").as_deref(),
            Some("publishers/google/models/m")
        );
        assert_eq!(param("a=1", "model"), None);
        assert_eq!(param("model", "model").as_deref(), Some(""));
    }
}

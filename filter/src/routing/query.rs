//! The query string: kept as the client sent it (SSE needs `alt=sse`), minus the parameters the
//! filter consumes.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// `model` selects a Live session's alias; `key` is a client key that must not travel on
/// (and is not accepted: query strings end up in access logs).
const CONSUMED: [&str; 2] = ["model", "key"];

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

/// The first value of `name`, percent-decoded; `None` when absent or not UTF-8.
pub fn param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name)
            .then(|| percent_decode_str(value).decode_utf8().ok())
            .flatten()
    })
}

fn is_consumed(pair: &str) -> bool {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    CONSUMED.contains(&key)
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

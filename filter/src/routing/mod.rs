//! Requests: which path forms are served, where they go, and what is refused.

pub mod host;
pub mod path;
pub mod query;
pub mod resolve;
pub mod segment;

use crate::config::Config;
use crate::error_response::{ErrorResponse, Status};
pub use resolve::{Forward, Route};

/// The part of `:path` after a configured route prefix, with the prefix that matched;
/// `None` when the request is not for this filter.
pub fn strip_prefix<'a, 'c>(config: &'c Config, path: &'a str) -> Option<(&'c str, &'a str)> {
    config.route_prefixes.iter().find_map(|prefix| {
        let rest = path.strip_prefix(prefix.as_str())?;
        matches!(rest.bytes().next(), None | Some(b'/') | Some(b'?'))
            .then_some((prefix.as_str(), rest))
    })
}

/// Decide where a request under the prefix goes. `rest` is the path after the prefix, query
/// included; `upgrade` is true for a WebSocket upgrade.
pub fn route(
    config: &Config,
    prefix: &str,
    rest: &str,
    upgrade: bool,
) -> Result<Forward, ErrorResponse> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let forwarded_query = query::forwarded(query);
    match path::parse(path, &config.methods)? {
        path::Target::Rest(target) => resolve::rest(config, &target, forwarded_query.as_deref()),
        path::Target::Live { version } if upgrade => {
            let model = query::param(query, "model");
            resolve::live(config, version, model.as_deref(), forwarded_query.as_deref())
        }
        path::Target::Live { .. } => Err(ErrorResponse::new(
            Status::FailedPrecondition,
            format!("this is the Gemini Live API: connect with a WebSocket upgrade, e.g. ws://HOST{prefix}/live?model=ALIAS"),
        )),
    }
}

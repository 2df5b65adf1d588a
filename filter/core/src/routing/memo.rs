//! A worker's memory of where the last few distinct REST paths went. Clients repeat a handful
//! of paths (one per model and method), and a remembered answer is the answer `route` would
//! give again: it depends only on the path and the configuration, and a memo lives no longer
//! than the configuration it was filled under. Only accepted plain HTTP requests are
//! remembered; refusals and Live upgrades are routed every time. A path to an alias with several
//! deployments is remembered once per deployment.

use super::{route_to, Routed};
use crate::config::Config;
use crate::error_response::ErrorResponse;

/// Distinct paths remembered; the oldest is forgotten first.
const CAPACITY: usize = 16;

#[derive(Default)]
pub struct RouteMemo {
    /// (the path after the prefix, query included; the deployment; where it goes).
    entries: Vec<(Box<str>, usize, Routed)>,
    /// The entry to forget next once the memo is full.
    oldest: usize,
}

impl RouteMemo {
    /// `route_to`, answered from memory for a REST path routed before. The prefix is not part
    /// of the key: it shapes only refusals, which are not remembered.
    pub fn route(
        &mut self,
        config: &Config,
        prefix: &str,
        rest: &str,
        upgrade: bool,
        deployment: usize,
    ) -> Result<Routed, ErrorResponse> {
        if upgrade {
            return route_to(config, prefix, rest, upgrade, deployment);
        }
        if let Some((_, _, routed)) = self
            .entries
            .iter()
            .find(|(known, d, _)| *d == deployment && **known == *rest)
        {
            return Ok(routed.clone());
        }
        let destination = route_to(config, prefix, rest, upgrade, deployment)?;
        let entry = (Box::from(rest), deployment, destination.clone());
        if self.entries.len() < CAPACITY {
            self.entries.push(entry);
        } else if let Some(slot) = self.entries.get_mut(self.oldest) {
            *slot = entry;
            self.oldest = (self.oldest + 1) % CAPACITY;
        }
        Ok(destination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::routing::{route, Destination};
    use std::rc::Rc;

    fn forwarded(routed: Routed) -> Rc<Destination> {
        match routed {
            Routed::Forward(destination) => destination,
            other => panic!("not forwarded: {other:?}"),
        }
    }

    const FLASH: &str = "/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";

    fn config() -> Config {
        Config::load(
            br#"{"vertex_project": "proj-alpha", "credentials": {"default": {"type": "access_token", "token": "t"}},
                 "model_list": [{"model_name": "flash", "litellm_params": {"model": "gemini-2.0-flash", "vertex_location": "global"}}],
                 "allow_unauthenticated": true}"#,
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn a_remembered_path_goes_where_routing_sends_it() {
        let config = config();
        let mut memo = RouteMemo::default();
        for rest in [
            FLASH,
            "/models/flash:generateContent",
            "/models/flash:streamGenerateContent?alt=sse",
        ] {
            let fresh = route(&config, "/vertex_ai", rest, false).unwrap();
            assert_eq!(
                memo.route(&config, "/vertex_ai", rest, false, 0).unwrap(),
                fresh
            );
            assert_eq!(
                memo.route(&config, "/vertex_ai", rest, false, 0).unwrap(),
                fresh,
                "{rest}"
            );
        }
        assert_eq!(memo.entries.len(), 3);
    }

    #[test]
    fn refusals_are_not_remembered() {
        let config = config();
        let mut memo = RouteMemo::default();
        let rest = "/v1/projects/proj-other/locations/us-central1/publishers/google/models/m:generateContent";
        let refusal = route(&config, "/vertex_ai", rest, false).unwrap_err();
        assert_eq!(
            memo.route(&config, "/vertex_ai", rest, false, 0)
                .unwrap_err(),
            refusal
        );
        assert!(memo.entries.is_empty());
    }

    #[test]
    fn live_upgrades_are_routed_every_time() {
        let config = config();
        let mut memo = RouteMemo::default();
        let destination = forwarded(
            memo.route(&config, "/vertex_ai", "/live?model=flash", true, 0)
                .unwrap(),
        );
        assert!(destination.live.is_some());
        assert!(memo.entries.is_empty());
    }

    #[test]
    fn the_oldest_path_is_forgotten_when_the_memo_is_full() {
        let config = config();
        let mut memo = RouteMemo::default();
        let path = |n: usize| format!("{FLASH}?n={n}");
        for n in 0..=CAPACITY {
            let destination = forwarded(
                memo.route(&config, "/vertex_ai", &path(n), false, 0)
                    .unwrap(),
            );
            assert!(destination.path.ends_with(&format!("?n={n}")));
        }
        assert_eq!(memo.entries.len(), CAPACITY);
        let remembered: Vec<&str> = memo.entries.iter().map(|(rest, _, _)| &**rest).collect();
        assert!(!remembered.contains(&path(0).as_str()));
        assert!(remembered.contains(&path(1).as_str()));
        assert!(remembered.contains(&path(CAPACITY).as_str()));
    }
}

//! `live::rewrite_setup` with the filter's own resolver (`resolve_setup_model`) for sessions
//! opened with each kind of `?model=`: a forwarded setup names a full model in a served project
//! at the session's location; anything else closes with 1007 or 1008 and a reason. Never panics.
#![no_main]

use fuzz_support::config;
use libfuzzer_sys::fuzz_target;
use vertex_passthrough_core::config::Config;
use vertex_passthrough_core::live::{close_frame, resolve_setup_model, rewrite_setup};
use vertex_passthrough_core::routing::{self, LiveTarget};

struct Fixture {
    config: Config,
    sessions: Vec<LiveTarget>,
}

/// Built once per thread (the config holds `Rc`s, so it is no `static`) and kept.
fn fixture() -> &'static Fixture {
    thread_local! {
        static FIXTURE: &'static Fixture = Box::leak(Box::new(build_fixture()));
    }
    FIXTURE.with(|fixture| *fixture)
}

fn build_fixture() -> Fixture {
    let config = config();
    let sessions = [
        "",
        "?model=flash",
        "?model=beta-pro",
        "?model=live",
        "?model=claude",
        "?model=projects%2Fproj-alpha%2Flocations%2Feu%2Fpublishers%2Fgoogle%2Fmodels%2Fm",
    ]
    .iter()
    .map(|query| {
        routing::route(&config, "/vertex_ai", &format!("/live{query}"), true)
            .map(|routed| match routed {
                routing::Routed::Forward(forward) => forward
                    .live
                    .clone()
                    .expect("an upgrade resolves a Live route"),
                routing::Routed::ReadBody(_) => panic!("an upgrade reads no body"),
            })
            .unwrap_or_else(|e| panic!("session {query}: {e:?}"))
    })
    .collect();
    Fixture { config, sessions }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let session = &fixture.sessions[usize::from(selector) % fixture.sessions.len()];
    // The selector's low bits pick the session; its high bit whether the bytes are the whole
    // message or only the model named in an otherwise well-formed setup.
    let payload = if selector & 0x80 == 0 {
        rest.to_vec()
    } else {
        serde_json::json!({"setup": {"model": String::from_utf8_lossy(rest), "generationConfig": {}}})
            .to_string()
            .into_bytes()
    };
    match rewrite_setup(&payload, |model| {
        resolve_setup_model(&fixture.config, session, model)
    }) {
        Ok(rewritten) => {
            let message: serde_json::Value =
                serde_json::from_slice(&rewritten).expect("the rewritten setup is JSON");
            let model = message["setup"]["model"]
                .as_str()
                .expect("setup.model is a string");
            let parts: Vec<&str> = model.split('/').collect();
            let ["projects", project, "locations", location, "publishers", publisher, "models", id] =
                parts.as_slice()
            else {
                panic!("not a full model name: {model}");
            };
            assert!(fixture.config.projects.contains_key(*project), "{model}");
            assert_eq!(*location, session.location, "{model}");
            assert!(!publisher.is_empty() && !id.is_empty());
        }
        Err(close) => {
            assert!(close.code == 1007 || close.code == 1008, "{close:?}");
            assert!(!close.reason.is_empty());
            let frame = close_frame(close.code, &close.reason, None);
            assert!(
                frame.len() <= 2 + 125,
                "close frame of {} bytes",
                frame.len()
            );
        }
    }
});

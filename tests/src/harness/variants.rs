//! Variants of the rendered test config, for tests that need Envoy set up otherwise than
//! production: edits applied to the rendered template, so the template stays the one production
//! mirrors.
use anyhow::Context;
use serde_json::{json, Value};

use super::envoy::EnvoyOptions;
use super::render::{apply_edits, to_yaml, Edit};

/// The edits the options ask for.
pub fn edits(opts: &EnvoyOptions) -> Vec<Edit> {
    let mut edits = Vec::new();
    if opts.trust_loopback_callers {
        // Callers on loopback count as internal: Envoy's router then obeys their `x-envoy-*`
        // headers, as it does for internal callers in meshes and older Envoy defaults.
        edits.push(Edit::ConnectionManager {
            key: "use_remote_address".to_string(),
            value: true.into(),
        });
        edits.push(Edit::ConnectionManager {
            key: "internal_address_config".to_string(),
            value: json!({"cidr_ranges": [{"address_prefix": "127.0.0.0", "prefix_len": 8}]}),
        });
    }
    if opts.allow_on_headers_stop_iteration {
        // Envoy then hands the filter request body while its headers are paused.
        edits.push(Edit::WasmPlugin {
            key: "allow_on_headers_stop_iteration".to_string(),
            value: true.into(),
        });
    }
    edits
}

/// The rendered config with the options' variants applied; unchanged when none is asked for.
pub fn apply(config: String, opts: &EnvoyOptions) -> anyhow::Result<String> {
    let edits = edits(opts);
    if edits.is_empty() {
        return Ok(config);
    }
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&config).context("parsing the rendered config")?;
    let mut doc: Value = serde_json::to_value(yaml).context("the rendered config as JSON")?;
    apply_edits(&mut doc, &edits)?;
    to_yaml(&doc)
}

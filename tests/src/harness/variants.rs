//! Variants of the rendered test config, for tests that need Envoy set up otherwise than
//! production: applied to the rendered YAML, so the template stays the one production mirrors.
use anyhow::{bail, Context};
use serde_yaml::Value;

use super::envoy::EnvoyOptions;

/// The rendered config with the options' variants applied; unchanged when none is asked for.
pub fn apply(config: String, opts: &EnvoyOptions) -> anyhow::Result<String> {
    if !opts.trust_loopback_callers && !opts.allow_on_headers_stop_iteration {
        return Ok(config);
    }
    let mut doc: Value = serde_yaml::from_str(&config).context("parsing the rendered config")?;
    let hcm = doc
        .get_mut("static_resources")
        .and_then(|r| r.get_mut("listeners"))
        .and_then(|l| l.get_mut(0))
        .and_then(|l| l.get_mut("filter_chains"))
        .and_then(|c| c.get_mut(0))
        .and_then(|c| c.get_mut("filters"))
        .and_then(|f| f.get_mut(0))
        .and_then(|f| f.get_mut("typed_config"))
        .and_then(Value::as_mapping_mut)
        .context("the rendered config has no HTTP connection manager where expected")?;
    if opts.trust_loopback_callers {
        // Callers on loopback count as internal: Envoy's router then obeys their `x-envoy-*`
        // headers, as it does for internal callers in meshes and older Envoy defaults.
        hcm.insert("use_remote_address".into(), true.into());
        hcm.insert(
            "internal_address_config".into(),
            serde_yaml::from_str("cidr_ranges: [{address_prefix: 127.0.0.0, prefix_len: 8}]")?,
        );
    }
    if opts.allow_on_headers_stop_iteration {
        let Some(wasm) = hcm
            .get_mut("http_filters")
            .and_then(|f| f.get_mut(0))
            .and_then(|f| f.get_mut("typed_config"))
            .and_then(|t| t.get_mut("config"))
            .and_then(Value::as_mapping_mut)
        else {
            bail!("the rendered config has no Wasm filter first in http_filters");
        };
        // Envoy then hands the filter request body while its headers are paused.
        wasm.insert("allow_on_headers_stop_iteration".into(), true.into());
    }
    serde_yaml::to_string(&doc).context("writing the config back")
}

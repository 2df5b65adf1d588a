//! Renders `tests/envoy/envoy.test.yaml`: each `{{NAME}}` becomes a JSON value, which YAML reads
//! as it is (YAML is a superset of JSON), so no value ever needs YAML escaping.
use anyhow::{bail, Context};
use serde_json::Value;

use super::envoy::EnvoyOptions;
use super::paths::{repo_root, wasm_path};

pub const TEMPLATE: &str = "tests/envoy/envoy.test.yaml";

/// The template with the options' values; listener and admin ports are 0 (Envoy picks them and
/// the harness reads them back, so parallel tests never race for a port).
pub fn render_test_config(opts: &EnvoyOptions) -> anyhow::Result<String> {
    let template_path = repo_root().join(TEMPLATE);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let vm_env: serde_json::Map<String, Value> = opts
        .vm_env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let values: [(&str, Value); 9] = [
        ("ADMIN_PORT", 0.into()),
        ("LISTEN_PORT", 0.into()),
        ("WASM_PATH", wasm_path().display().to_string().into()),
        ("PLUGIN_CONFIG", opts.plugin_config.clone().into()),
        ("VM_ENV", Value::Object(vm_env)),
        ("VERTEX_PORT", opts.upstreams.vertex.port().into()),
        (
            "VERTEX_CA",
            opts.upstreams.vertex_ca.display().to_string().into(),
        ),
        ("OAUTH_PORT", opts.upstreams.oauth.port().into()),
        ("METADATA_PORT", opts.upstreams.metadata.port().into()),
    ];
    for (name, addr) in [
        ("vertex", opts.upstreams.vertex),
        ("oauth", opts.upstreams.oauth),
        ("metadata", opts.upstreams.metadata),
    ] {
        // The template's clusters are on 127.0.0.1: an emulator elsewhere would not be reached.
        if !addr.ip().is_loopback() || addr.is_ipv6() {
            bail!("upstream {name} at {addr}: the test template expects 127.0.0.1");
        }
    }
    render(&template, &values)
}

pub fn render(template: &str, values: &[(&str, Value)]) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &value.to_string());
    }
    if let Some(at) = out.find("{{") {
        let rest = out.get(at..).unwrap_or_default();
        let placeholder: String = rest.chars().take_while(|c| *c != '}').collect();
        bail!("{TEMPLATE}: no value for {placeholder}}}}}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_so_yaml_needs_no_escaping() {
        let out = render(
            "a: {{A}}\nb: {{B}}\n",
            &[("A", "x: \"y\"\n# z".into()), ("B", 7.into())],
        )
        .unwrap();
        assert_eq!(out, "a: \"x: \\\"y\\\"\\n# z\"\nb: 7\n");
    }

    #[test]
    fn a_placeholder_without_value_is_an_error() {
        let err = render("a: {{A}}\nb: {{B}}\n", &[("A", 1.into())]).unwrap_err();
        assert!(err.to_string().contains("{{B}}"), "{err}");
    }
}

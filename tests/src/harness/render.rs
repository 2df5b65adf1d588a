//! Renders `tests/envoy/envoy.test.yaml`: each `{{NAME}}` becomes a JSON value, which YAML reads
//! as it is (YAML is a superset of JSON), so no value ever needs YAML escaping.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::envoy::{EnvoyOptions, PluginConfigForm};
use super::paths::{repo_root, wasm_path};

pub const TEMPLATE: &str = "tests/envoy/envoy.test.yaml";
pub const PRODUCTION: &str = "envoy/envoy.yaml";
/// Where envoy/envoy.yaml loads the filter from and which CA bundle it trusts.
pub const PRODUCTION_WASM: &str = "/etc/envoy/vertex_passthrough.wasm";
pub const PRODUCTION_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

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
    let (plugin_config_type, plugin_config) = match opts.plugin_config_form {
        PluginConfigForm::StringValue => ("StringValue", opts.plugin_config.clone().into()),
        PluginConfigForm::Struct => {
            let object: Value = serde_json::from_str(&opts.plugin_config)
                .context("a plugin config given as a Struct must be JSON")?;
            anyhow::ensure!(
                object.is_object(),
                "a plugin config given as a Struct must be a JSON object"
            );
            ("Struct", object)
        }
    };
    let values: [(&str, Value); 10] = [
        ("ADMIN_PORT", 0.into()),
        ("LISTEN_PORT", 0.into()),
        ("WASM_PATH", wasm_path().display().to_string().into()),
        (
            "PLUGIN_CONFIG_TYPE",
            format!("type.googleapis.com/google.protobuf.{plugin_config_type}").into(),
        ),
        ("PLUGIN_CONFIG", plugin_config),
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

/// What a test changes in envoy/envoy.yaml to run it on loopback against the emulators.
#[derive(Clone, Debug)]
pub struct ProductionEdits {
    /// The test CA that signs the emulators' certificates, trusted instead of the system bundle.
    pub ca: PathBuf,
    /// The DNS server that resolves Google's names to the emulators.
    pub dns: SocketAddr,
}

/// envoy/envoy.yaml as JSON, with only these edits (and `production_edit_paths` lists where):
///   - admin on port 0 and the listener on 127.0.0.1:0 (Envoy picks free ports, the harness
///     reads them back);
///   - the filter from the build (`wasm_path`) instead of /etc/envoy/;
///   - the test CA instead of the system CA bundle, wherever the config names it;
///   - DNS through `edits.dns`: c-ares with that one resolver, for the server (the LOGICAL_DNS
///     token cluster) and for the dynamic forward proxy's DNS cache.
///
/// Ports stay as shipped: Vertex and OAuth are reached on port 443 of the resolved address.
pub fn production_config(edits: &ProductionEdits) -> anyhow::Result<Value> {
    let mut config = load_yaml(&repo_root().join(PRODUCTION))?;
    let resolver = json!({
        "name": "envoy.network.dns_resolver.cares",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
            "resolvers": [{"socket_address": {"address": edits.dns.ip().to_string(), "port_value": edits.dns.port()}}],
            "use_resolvers_as_fallback": false,
            "dns_resolver_options": {"no_default_search_domain": true},
        },
    });

    let admin = config
        .pointer_mut("/admin/address/socket_address/port_value")
        .context("envoy.yaml: no admin port")?;
    *admin = 0.into();
    let listener = config
        .pointer_mut("/static_resources/listeners")
        .and_then(Value::as_array_mut)
        .and_then(|all| all.iter_mut().find(|l| l["name"] == "vertex_passthrough"))
        .context("envoy.yaml: no listener vertex_passthrough")?;
    listener["address"]["socket_address"] = json!({"address": "127.0.0.1", "port_value": 0});

    let wasm = wasm_path().display().to_string();
    let edited = replace_strings(&mut config, PRODUCTION_WASM, &wasm);
    anyhow::ensure!(
        edited == 1,
        "envoy.yaml names {PRODUCTION_WASM} {edited} times, not once"
    );
    let ca = edits.ca.display().to_string();
    let edited = replace_strings(&mut config, PRODUCTION_CA_BUNDLE, &ca);
    anyhow::ensure!(
        edited > 0,
        "envoy.yaml does not name {PRODUCTION_CA_BUNDLE}"
    );

    let caches = add_to_dns_caches(&mut config, &resolver);
    anyhow::ensure!(caches > 0, "envoy.yaml has no dns_cache_config");
    let root = config
        .as_object_mut()
        .context("envoy.yaml is not a mapping")?;
    anyhow::ensure!(
        root.insert("typed_dns_resolver_config".to_string(), resolver)
            .is_none(),
        "envoy.yaml already has a typed_dns_resolver_config"
    );
    Ok(config)
}

/// Where `production_config` changes envoy/envoy.yaml, as `json_diff` names the places (the
/// CA bundle and DNS cache entries once per place the config names them).
pub fn production_edit_paths(source: &Value) -> Vec<String> {
    let mut paths = vec![
        "admin.address.socket_address.port_value".to_string(),
        "typed_dns_resolver_config".to_string(),
    ];
    let listeners = source["static_resources"]["listeners"].as_array();
    for (index, listener) in listeners.into_iter().flatten().enumerate() {
        if listener["name"] == "vertex_passthrough" {
            paths.push(format!(
                "static_resources.listeners[{index}].address.socket_address.address"
            ));
            paths.push(format!(
                "static_resources.listeners[{index}].address.socket_address.port_value"
            ));
        }
    }
    let mut strings = Vec::new();
    let mut caches = Vec::new();
    collect_paths(
        source,
        String::new(),
        &mut |path, value| {
            if value == PRODUCTION_WASM || value == PRODUCTION_CA_BUNDLE {
                strings.push(path.to_string());
            }
        },
        &mut |path, key| {
            if key == "dns_cache_config" {
                caches.push(format!("{}.typed_dns_resolver_config", join_key(path, key)));
            }
        },
    );
    paths.extend(strings);
    paths.extend(caches);
    paths.sort();
    paths
}

/// A YAML file as JSON (anchors and aliases expanded).
pub fn load_yaml(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    serde_json::to_value(yaml).with_context(|| format!("{} as JSON", path.display()))
}

/// Where `a` and `b` differ, as paths like `static_resources.listeners[0].name`: a key or index
/// present in one only, or a different scalar. Empty when they are equal.
pub fn json_diff(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(a, b, String::new(), &mut out);
    out.sort();
    out
}

fn diff_into(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let sub = join_key(&path, key);
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => diff_into(p, q, sub, out),
                    _ => out.push(sub),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for index in 0..x.len().max(y.len()) {
                let sub = format!("{path}[{index}]");
                match (x.get(index), y.get(index)) {
                    (Some(p), Some(q)) => diff_into(p, q, sub, out),
                    _ => out.push(sub),
                }
            }
        }
        _ if a == b => {}
        _ => out.push(path),
    }
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Calls `on_string(path, s)` for every string and `on_key(path_of_object, key)` for every key.
fn collect_paths(
    value: &Value,
    path: String,
    on_string: &mut dyn FnMut(&str, &str),
    on_key: &mut dyn FnMut(&str, &str),
) {
    match value {
        Value::Object(map) => {
            for (key, sub) in map {
                on_key(&path, key);
                collect_paths(sub, join_key(&path, key), on_string, on_key);
            }
        }
        Value::Array(items) => {
            for (index, sub) in items.iter().enumerate() {
                collect_paths(sub, format!("{path}[{index}]"), on_string, on_key);
            }
        }
        Value::String(s) => on_string(&path, s),
        _ => {}
    }
}

/// Replaces every string equal to `from`; returns how many.
fn replace_strings(value: &mut Value, from: &str, to: &str) -> usize {
    match value {
        Value::String(s) if s == from => {
            *s = to.to_string();
            1
        }
        Value::Object(map) => map.values_mut().map(|v| replace_strings(v, from, to)).sum(),
        Value::Array(items) => items.iter_mut().map(|v| replace_strings(v, from, to)).sum(),
        _ => 0,
    }
}

/// Adds `resolver` as the `typed_dns_resolver_config` of every `dns_cache_config`; returns how
/// many (the filter's and each cluster's copy must agree, Envoy shares the cache by name).
fn add_to_dns_caches(value: &mut Value, resolver: &Value) -> usize {
    match value {
        Value::Object(map) => {
            let mut count = 0;
            if let Some(cache) = map
                .get_mut("dns_cache_config")
                .and_then(Value::as_object_mut)
            {
                cache.insert("typed_dns_resolver_config".to_string(), resolver.clone());
                count += 1;
            }
            count
                + map
                    .iter_mut()
                    .filter(|(key, _)| key.as_str() != "dns_cache_config")
                    .map(|(_, v)| add_to_dns_caches(v, resolver))
                    .sum::<usize>()
        }
        Value::Array(items) => items
            .iter_mut()
            .map(|v| add_to_dns_caches(v, resolver))
            .sum(),
        _ => 0,
    }
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

#[cfg(test)]
mod diff_tests {
    use super::*;

    #[test]
    fn json_diff_names_changed_added_and_removed_places() {
        let a = json!({"a": {"b": [1, 2], "c": "x"}, "d": 1});
        let b = json!({"a": {"b": [1, 3, 4], "c": "x"}, "e": 1});
        assert_eq!(json_diff(&a, &b), ["a.b[1]", "a.b[2]", "d", "e"]);
        assert!(json_diff(&a, &a).is_empty());
    }
}

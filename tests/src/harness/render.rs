//! Renders `tests/envoy/envoy.test.yaml`: each `{{NAME}}` becomes a JSON value, which YAML reads
//! as it is (YAML is a superset of JSON), so no value ever needs YAML escaping.
use std::collections::BTreeMap;
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
    let production = load_yaml(&repo_root().join(PRODUCTION))?;
    let values: [(&str, Value); 11] = [
        ("STATS_CONFIG", production["stats_config"].clone()),
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
    render(&template, &values).context(TEMPLATE)
}

/// The YAML file at `path` with its `{{NAME}}` placeholders filled, as JSON.
pub fn render_file(path: &Path, values: &[(&str, Value)]) -> anyhow::Result<Value> {
    let template =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let filled = render(&template, values).with_context(|| format!("{}", path.display()))?;
    let yaml: serde_yaml::Value = serde_yaml::from_str(&filled)
        .with_context(|| format!("parsing {} filled", path.display()))?;
    serde_json::to_value(yaml).with_context(|| format!("{} as JSON", path.display()))
}

/// `template` with each `{{NAME}}` replaced by its value as JSON; a placeholder left without a
/// value is an error.
pub fn render(template: &str, values: &[(&str, Value)]) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &value.to_string());
    }
    if let Some(at) = out.find("{{") {
        let rest = out.get(at..).unwrap_or_default();
        let placeholder: String = rest.chars().take_while(|c| *c != '}').collect();
        bail!("no value for {placeholder}}}}}");
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
    apply_edits(
        &mut config,
        &[
            Edit::AdminPort(0),
            Edit::Listener {
                name: "vertex_passthrough".to_string(),
                address: "127.0.0.1".to_string(),
                port: 0,
            },
            Edit::Replace {
                from: PRODUCTION_WASM.to_string(),
                to: wasm_path().display().to_string(),
                once: true,
            },
            Edit::Replace {
                from: PRODUCTION_CA_BUNDLE.to_string(),
                to: edits.ca.display().to_string(),
                once: false,
            },
            Edit::Resolver(edits.dns),
        ],
    )?;
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

/// One change to an Envoy bootstrap, by what it means rather than where it is written: the
/// renderer finds the place, and refuses a config where the place is missing or ambiguous.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// The admin interface on this port.
    AdminPort(u16),
    /// The listener `name` on this address and port.
    Listener {
        name: String,
        address: String,
        port: u16,
    },
    /// Every string equal to `from` becomes `to`: exactly one if `once`, else at least one.
    Replace {
        from: String,
        to: String,
        once: bool,
    },
    /// Every string that starts with `from` starts with `to` instead (e.g. a run directory).
    PathPrefix { from: String, to: String },
    /// Every `port_value` that is a key of the map becomes its value, all at once (so a new port
    /// that equals another old one is not changed again).
    Ports(BTreeMap<u16, u16>),
    /// DNS through this one server: c-ares for Envoy itself and for every DNS cache.
    Resolver(SocketAddr),
    /// The plugin config's credential `name` gets this `type` (the rest of it stays).
    CredentialType { name: String, kind: String },
    /// `key` set on the listener's HTTP connection manager.
    ConnectionManager { key: String, value: Value },
    /// `key` set on the Wasm filter's plugin `config`.
    WasmPlugin { key: String, value: Value },
    /// The plugin config replaced by this one, in the form the file gives it.
    PluginConfig(Value),
    /// This environment variable added to the VM's `host_env_keys`.
    VmEnv(String),
}

impl Edit {
    /// Edits from command-line arguments (`render-envoy-config`'s), in order; every `--port`
    /// joins one `Ports` edit, applied where the first one stands.
    pub fn from_args(args: &[String]) -> anyhow::Result<Vec<Edit>> {
        let mut edits = Vec::new();
        let mut ports: Option<usize> = None;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let pair = || {
                value
                    .split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .with_context(|| format!("{flag} {value}: expected FROM=TO"))
            };
            let port = |text: &str| {
                text.parse::<u16>()
                    .with_context(|| format!("{flag} {value}: {text:?} is not a port"))
            };
            let edit = match flag.as_str() {
                "--admin-port" => Edit::AdminPort(port(value)?),
                "--listener" => {
                    let (name, at) = pair()?;
                    let (address, number) = at
                        .rsplit_once(':')
                        .with_context(|| format!("{flag} {value}: expected NAME=ADDRESS:PORT"))?;
                    Edit::Listener {
                        name,
                        address: address.to_string(),
                        port: port(number)?,
                    }
                }
                "--replace" | "--replace-once" => {
                    let (from, to) = pair()?;
                    Edit::Replace {
                        from,
                        to,
                        once: flag == "--replace-once",
                    }
                }
                "--path-prefix" => {
                    let (from, to) = pair()?;
                    Edit::PathPrefix { from, to }
                }
                "--port" => {
                    let (from, to) = pair()?;
                    let (from, to) = (port(&from)?, port(&to)?);
                    match ports.and_then(|at| edits.get_mut(at)) {
                        Some(Edit::Ports(map)) => {
                            map.insert(from, to);
                        }
                        _ => {
                            ports = Some(edits.len());
                            edits.push(Edit::Ports(BTreeMap::from([(from, to)])));
                        }
                    }
                    continue;
                }
                "--resolver" => Edit::Resolver(
                    value
                        .parse()
                        .with_context(|| format!("{flag} {value}: expected ADDRESS:PORT"))?,
                ),
                "--credential-type" => {
                    let (name, kind) = pair()?;
                    Edit::CredentialType { name, kind }
                }
                "--plugin-config" => Edit::PluginConfig(
                    serde_json::from_str(value)
                        .with_context(|| format!("{flag}: not a JSON object"))?,
                ),
                "--vm-env" => Edit::VmEnv(value.clone()),
                other => bail!("unknown edit {other}"),
            };
            edits.push(edit);
        }
        Ok(edits)
    }
}

/// Applies `edits` in order.
pub fn apply_edits(config: &mut Value, edits: &[Edit]) -> anyhow::Result<()> {
    for edit in edits {
        apply_edit(config, edit).with_context(|| format!("{edit:?}"))?;
    }
    Ok(())
}

fn apply_edit(config: &mut Value, edit: &Edit) -> anyhow::Result<()> {
    match edit {
        Edit::AdminPort(port) => {
            let admin = config
                .pointer_mut("/admin/address/socket_address/port_value")
                .context("the config has no admin port")?;
            *admin = (*port).into();
        }
        Edit::Listener {
            name,
            address,
            port,
        } => {
            let listener = listener_mut(config, name)?;
            listener["address"]["socket_address"] = json!({"address": address, "port_value": port});
        }
        Edit::Replace { from, to, once } => {
            let edited = replace_strings(config, &|s| (s == from).then(|| to.clone()));
            if *once {
                anyhow::ensure!(
                    edited == 1,
                    "the config names {from} {edited} times, not once"
                );
            } else {
                anyhow::ensure!(edited > 0, "the config does not name {from}");
            }
        }
        Edit::PathPrefix { from, to } => {
            let edited = replace_strings(config, &|s| {
                s.strip_prefix(from.as_str())
                    .map(|rest| format!("{to}{rest}"))
            });
            anyhow::ensure!(edited > 0, "no path in the config starts with {from}");
        }
        Edit::Ports(ports) => {
            let edited = replace_ports(config, ports);
            anyhow::ensure!(edited > 0, "the config has none of the ports {ports:?}");
        }
        Edit::Resolver(dns) => {
            let resolver = json!({
                "name": "envoy.network.dns_resolver.cares",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
                    "resolvers": [{"socket_address": {"address": dns.ip().to_string(), "port_value": dns.port()}}],
                    "use_resolvers_as_fallback": false,
                    "dns_resolver_options": {"no_default_search_domain": true},
                },
            });
            let caches = add_to_dns_caches(config, &resolver);
            anyhow::ensure!(caches > 0, "the config has no dns_cache_config");
            let root = config
                .as_object_mut()
                .context("the config is not a mapping")?;
            anyhow::ensure!(
                root.insert("typed_dns_resolver_config".to_string(), resolver)
                    .is_none(),
                "the config already has a typed_dns_resolver_config"
            );
        }
        Edit::CredentialType { name, kind } => {
            let configuration = wasm_plugin_mut(config)?
                .get_mut("configuration")
                .context("the Wasm filter has no plugin configuration")?;
            edit_plugin_config(configuration, |plugin| {
                let credential = plugin
                    .pointer_mut(&format!("/credentials/{name}"))
                    .and_then(Value::as_object_mut)
                    .with_context(|| format!("the plugin config has no credential {name}"))?;
                credential.insert("type".to_string(), kind.clone().into());
                Ok(())
            })?;
        }
        Edit::ConnectionManager { key, value } => {
            let hcm = connection_manager_mut(config)?
                .as_object_mut()
                .context("the connection manager is not a mapping")?;
            hcm.insert(key.clone(), value.clone());
        }
        Edit::WasmPlugin { key, value } => {
            let plugin = wasm_plugin_mut(config)?
                .as_object_mut()
                .context("the Wasm plugin config is not a mapping")?;
            plugin.insert(key.clone(), value.clone());
        }
        Edit::PluginConfig(value) => {
            let configuration = wasm_plugin_mut(config)?
                .get_mut("configuration")
                .context("the Wasm filter has no plugin configuration")?;
            edit_plugin_config(configuration, |plugin| {
                *plugin = value.clone();
                Ok(())
            })?;
        }
        Edit::VmEnv(name) => {
            let keys = wasm_plugin_mut(config)?
                .pointer_mut("/vm_config/environment_variables/host_env_keys")
                .and_then(Value::as_array_mut)
                .context("the Wasm VM has no host_env_keys")?;
            if !keys.iter().any(|k| k == name.as_str()) {
                keys.push(name.clone().into());
            }
        }
    }
    Ok(())
}

/// The plugin config a bootstrap hands its Wasm filter, as JSON, whichever form it is written
/// in (JSON text in a StringValue, or a Struct).
pub fn plugin_config_of(config: &Value) -> anyhow::Result<Value> {
    let mut config = config.clone();
    let configuration = wasm_plugin_mut(&mut config)?
        .get_mut("configuration")
        .context("the Wasm filter has no plugin configuration")?;
    let mut found = Value::Null;
    edit_plugin_config(configuration, |plugin| {
        found = plugin.clone();
        Ok(())
    })?;
    Ok(found)
}

/// Runs `edit` on the plugin config inside `configuration` and writes it back in its form.
fn edit_plugin_config(
    configuration: &mut Value,
    edit: impl FnOnce(&mut Value) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let kind = configuration["@type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let value = configuration
        .get_mut("value")
        .context("the plugin configuration has no value")?;
    if kind.ends_with("google.protobuf.StringValue") {
        let text = value.as_str().context("the StringValue is not a string")?;
        let mut plugin: Value =
            serde_json::from_str(text).context("the plugin config is not JSON")?;
        edit(&mut plugin)?;
        *value = serde_json::to_string_pretty(&plugin)?.into();
        Ok(())
    } else if kind.ends_with("google.protobuf.Struct") {
        edit(value)
    } else {
        bail!("a plugin configuration of type {kind:?}")
    }
}

fn listener_mut<'a>(config: &'a mut Value, name: &str) -> anyhow::Result<&'a mut Value> {
    config
        .pointer_mut("/static_resources/listeners")
        .and_then(Value::as_array_mut)
        .and_then(|all| all.iter_mut().find(|l| l["name"] == name))
        .with_context(|| format!("the config has no listener {name}"))
}

/// The HTTP connection manager of the first listener's first filter chain.
fn connection_manager_mut(config: &mut Value) -> anyhow::Result<&mut Value> {
    config
        .pointer_mut("/static_resources/listeners/0/filter_chains/0/filters/0")
        .filter(|f| f["name"] == "envoy.filters.network.http_connection_manager")
        .and_then(|f| f.get_mut("typed_config"))
        .context("the config has no HTTP connection manager first in its first listener")
}

/// The Wasm filter's `config` (first in the connection manager's `http_filters`).
fn wasm_plugin_mut(config: &mut Value) -> anyhow::Result<&mut Value> {
    connection_manager_mut(config)?
        .pointer_mut("/http_filters/0")
        .filter(|f| f["name"] == "envoy.filters.http.wasm")
        .and_then(|f| f.pointer_mut("/typed_config/config"))
        .context("the config has no Wasm filter first in http_filters")
}

/// The config as YAML, for a file Envoy reads.
pub fn to_yaml(config: &Value) -> anyhow::Result<String> {
    serde_yaml::to_string(config).context("writing the config as YAML")
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

/// Replaces every string `with` has a replacement for; returns how many.
fn replace_strings(value: &mut Value, with: &dyn Fn(&str) -> Option<String>) -> usize {
    match value {
        Value::String(s) => match with(s) {
            Some(to) => {
                *s = to;
                1
            }
            None => 0,
        },
        Value::Object(map) => map.values_mut().map(|v| replace_strings(v, with)).sum(),
        Value::Array(items) => items.iter_mut().map(|v| replace_strings(v, with)).sum(),
        _ => 0,
    }
}

/// Maps every `port_value` found in `ports`; returns how many.
fn replace_ports(value: &mut Value, ports: &BTreeMap<u16, u16>) -> usize {
    match value {
        Value::Object(map) => map
            .iter_mut()
            .map(|(key, v)| {
                let new = (key == "port_value")
                    .then(|| v.as_u64())
                    .flatten()
                    .and_then(|old| u16::try_from(old).ok())
                    .and_then(|old| ports.get(&old));
                match new {
                    Some(port) => {
                        *v = (*port).into();
                        1
                    }
                    None => replace_ports(v, ports),
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(|v| replace_ports(v, ports)).sum(),
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
mod edit_tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn config() -> Value {
        json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}},
            "static_resources": {
                "listeners": [{
                    "name": "l",
                    "address": {"socket_address": {"address": "0.0.0.0", "port_value": 4000}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {"http_filters": [{
                            "name": "envoy.filters.http.wasm",
                            "typed_config": {"config": {"configuration": {
                                "@type": "type.googleapis.com/google.protobuf.StringValue",
                                "value": "{\"credentials\": {\"default\": {\"type\": \"service_account\", \"key_env\": \"K\"}}}"
                            }}}
                        }]}
                    }]}]
                }],
                "clusters": [
                    {"name": "a", "port_value": 8081, "ca": ".run/ca.pem"},
                    {"name": "b", "port_value": 8082, "ca": "/etc/ca.pem"}
                ]
            }
        })
    }

    #[test]
    fn ports_are_mapped_all_at_once() {
        let mut c = config();
        let edits = Edit::from_args(&args("--port 4000=8081 --port 8081=8082")).unwrap();
        assert_eq!(edits.len(), 1, "{edits:?}");
        apply_edits(&mut c, &edits).unwrap();
        assert_eq!(
            c["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"],
            8081
        );
        assert_eq!(c["static_resources"]["clusters"][0]["port_value"], 8082);
        assert_eq!(c["static_resources"]["clusters"][1]["port_value"], 8082);
    }

    #[test]
    fn listener_admin_paths_and_strings_are_edited_where_named() {
        let mut c = config();
        let edits = Edit::from_args(&args(
            "--listener l=127.0.0.1:4100 --admin-port 0 --path-prefix .run/=/tmp/r/ --replace-once /etc/ca.pem=/x.pem",
        ))
        .unwrap();
        apply_edits(&mut c, &edits).unwrap();
        assert_eq!(
            json_diff(&config(), &c),
            [
                "admin.address.socket_address.port_value",
                "static_resources.clusters[0].ca",
                "static_resources.clusters[1].ca",
                "static_resources.listeners[0].address.socket_address.address",
                "static_resources.listeners[0].address.socket_address.port_value",
            ]
        );
        assert_eq!(c["static_resources"]["clusters"][0]["ca"], "/tmp/r/ca.pem");
        assert_eq!(c["static_resources"]["clusters"][1]["ca"], "/x.pem");
    }

    #[test]
    fn an_edit_whose_place_is_missing_is_refused() {
        for text in [
            "--listener other=127.0.0.1:1",
            "--replace /nowhere=/x",
            "--path-prefix /nowhere/=/x/",
            "--port 1=2",
            "--credential-type other=authorized_user",
        ] {
            let mut c = config();
            let edits = Edit::from_args(&args(text)).unwrap();
            assert!(apply_edits(&mut c, &edits).is_err(), "{text}");
        }
        let mut c = config();
        let twice = Edit::from_args(&args("--replace-once .run/ca.pem=/a --replace-once /a=/b --replace-once /b=/etc/ca.pem --replace-once /etc/ca.pem=/c")).unwrap();
        let err = apply_edits(&mut c, &twice).unwrap_err();
        assert!(format!("{err:#}").contains("2 times"), "{err:#}");
    }

    #[test]
    fn the_credential_type_is_changed_in_either_plugin_config_form() {
        let mut c = config();
        let edit = Edit::from_args(&args("--credential-type default=authorized_user")).unwrap();
        apply_edits(&mut c, &edit).unwrap();
        let expected =
            json!({"credentials": {"default": {"type": "authorized_user", "key_env": "K"}}});
        assert_eq!(plugin_config_of(&c).unwrap(), expected);

        let mut c = config();
        let configuration = c.pointer_mut("/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters/0/typed_config/config/configuration").unwrap();
        *configuration = json!({
            "@type": "type.googleapis.com/google.protobuf.Struct",
            "value": {"credentials": {"default": {"type": "service_account", "key_env": "K"}}}
        });
        apply_edits(&mut c, &edit).unwrap();
        assert_eq!(plugin_config_of(&c).unwrap(), expected);
    }

    #[test]
    fn unknown_or_malformed_edits_are_refused() {
        for text in [
            "--frobnicate x",
            "--port 4000",
            "--port x=1",
            "--listener l=nowhere",
            "--admin-port",
        ] {
            assert!(Edit::from_args(&args(text)).is_err(), "{text}");
        }
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

//! The Envoy harness: runs the real Envoy (installed by `make setup`) with the built filter and a
//! rendered copy of `tests/envoy/envoy.test.yaml`, pointed at the local Google emulators.
//!
//! ```ignore
//! let envoy = Envoy::start(EnvoyOptions::new(plugin_json, upstreams)).await?;
//! let resp = reqwest::get(envoy.url("/vertex_ai/v1/...")).await?;
//! ```
mod admin;
mod envoy;
mod paths;
mod render;
mod validate;
mod variants;

pub use envoy::{tail, Envoy, EnvoyOptions, PluginConfigForm, Upstreams};
pub use paths::{bin_dir, envoy_binary, repo_root, wasm_path, without_proxy_env};
pub use render::{
    apply_edits, json_diff, load_yaml, plugin_config_of, production_config, production_edit_paths,
    render, render_file, render_test_config, to_yaml, Edit, ProductionEdits, PRODUCTION,
    PRODUCTION_CA_BUNDLE, PRODUCTION_WASM, TEMPLATE,
};
pub use validate::{validate_config, validate_config_with};

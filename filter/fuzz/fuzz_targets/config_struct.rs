//! The plugin configuration as a serialized `google.protobuf.Struct` (what Envoy makes of YAML):
//! `proto_struct::decode` on arbitrary bytes decodes, or is refused naming a field and a reason;
//! never panics. What decodes encodes back to the same value, and `Config::load` of the bytes
//! gives what it gives for the JSON text they carry: the same error, or the same config.
#![no_main]

use fuzz_support::{env, SecretWindows};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vertex_passthrough_core::config::{proto_struct, Config, ConfigError};

fn secrets() -> &'static SecretWindows {
    static SECRETS: OnceLock<SecretWindows> = OnceLock::new();
    SECRETS.get_or_init(SecretWindows::new)
}

fuzz_target!(|data: &[u8]| {
    let value = match proto_struct::decode(data) {
        Ok(value) => value,
        Err(error) => {
            assert!(
                !error.field.is_empty() && !error.reason.is_empty(),
                "{error}"
            );
            assert!(
                secrets().found_in(data) || !secrets().found_in(error.to_string().as_bytes()),
                "the error repeats a secret (field {})",
                error.field
            );
            return;
        }
    };
    let Some(object) = value.as_object() else {
        panic!("a Struct decoded to {value}, not an object");
    };
    let again = proto_struct::decode(&proto_struct::encode(object));
    assert!(
        again.as_ref().ok() == Some(&value),
        "encode then decode gave {again:?}"
    );

    // Bytes of another beginning are not taken for a Struct by `Config::load`.
    if data.first() == Some(&0x0a) {
        let from_struct = Config::load(data, &env);
        let from_json = Config::load(value.to_string().as_bytes(), &env);
        assert_eq!(summary(&from_struct), summary(&from_json));
    }
});

/// What a load gave, enough to tell two loads apart: the error, or the config's names.
fn summary(loaded: &Result<Config, ConfigError>) -> Result<String, ConfigError> {
    let config = loaded.as_ref().map_err(Clone::clone)?;
    let mut aliases: Vec<_> = config
        .aliases
        .iter()
        .map(|(name, a)| format!("{name}={:?}@{}", a.alias, a.credential))
        .collect();
    aliases.sort();
    let mut projects: Vec<_> = config.projects.iter().collect();
    projects.sort();
    let credentials: Vec<_> = config.credentials.iter().map(|c| &c.cache_key).collect();
    Ok(format!(
        "{:?} {} {aliases:?} {projects:?} {credentials:?} {:?} {:?} {} {}",
        config.default_project,
        config.default_location,
        config.route_prefixes,
        config.methods,
        config.token_refresh_margin_s,
        config.token_fetch_timeout_ms
    ))
}

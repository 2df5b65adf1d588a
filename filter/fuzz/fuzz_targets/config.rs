//! `Config::load` on arbitrary bytes: loads, or is refused naming a field; never panics. An
//! error never repeats a secret the configuration reaches through the environment, nor one it
//! holds inline (unless the input also holds pieces of it elsewhere, e.g. as a key name: those
//! are the user's own words, which errors quote when short).
#![no_main]

use fuzz_support::{env, SecretWindows};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vertex_passthrough_core::config::Config;

fn secrets() -> &'static SecretWindows {
    static SECRETS: OnceLock<SecretWindows> = OnceLock::new();
    SECRETS.get_or_init(SecretWindows::new)
}

fuzz_target!(|data: &[u8]| {
    match Config::load(data, &env) {
        Ok(config) => {
            assert!(!config.route_prefixes.is_empty());
            assert!(!config.methods.is_empty());
            assert!(!config.credentials.is_empty());
            for alias in config.aliases.values() {
                assert!(alias.credential < config.credentials.len());
            }
            for credential in config.projects.values() {
                assert!(*credential < config.credentials.len());
            }
        }
        Err(error) => {
            assert!(!error.field.is_empty(), "no field named: {error}");
            assert!(!error.reason.is_empty(), "no reason given: {error}");
            let line = error.to_string();
            let inline = secrets().found_in(data) && !is_whole_key_file_only(data);
            assert!(
                inline || !secrets().found_in(line.as_bytes()),
                "the error repeats a secret (field {})",
                error.field
            );
        }
    }
});

/// True when the secrets in the input sit only where they belong: the inline key files of the
/// seeds, unchanged. Then an error must still not repeat them.
fn is_whole_key_file_only(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let mut rest = text.to_string();
    for secret in fuzz_support::secrets() {
        let escaped = serde_json::to_string(&secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        rest = rest.replace(escaped, "").replace(&secret, "");
    }
    !secrets().found_in(rest.as_bytes())
}

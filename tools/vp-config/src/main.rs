//! vp-config: the filter's plugin config outside Envoy.
//!
//!   vp-config check FILE          validate a plugin config (YAML or JSON) as the filter does,
//!                                 reading key_env/token_env from this process's environment
//!   vp-config hash KEY            the `sha256:` form of a client key, for api_keys
//!   vp-config from-litellm FILE   a LiteLLM config.yaml as a plugin config (YAML, on stdout);
//!                                 what was dropped and which env vars Envoy needs, on stderr
//!   vp-config configs [--check]   writes envoy/plugin-config.yaml into each file that embeds a
//!                                 copy (README.md, envoy/*.yaml, the mesh manifests), run from
//!                                 the repository root; --check only lists the copies that differ
//!   vp-config plugin FILE         for scripts/run.sh: the plugin config FILE stands for (a
//!                                 LiteLLM config.yaml converted) as one line of JSON, then one
//!                                 line `env NAME TYPE [KEY_FILE]` for each variable it reads

use std::path::Path;
use std::process::ExitCode;
use vp_config::{check, hash_key, litellm, to_yaml};

const USAGE: &str = "usage: vp-config check FILE | vp-config hash KEY | vp-config from-litellm FILE | vp-config configs [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |name: &str| std::env::var(name).ok();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["check", file] => {
            let text = match read(file) {
                Ok(text) => text,
                Err(code) => return code,
            };
            match check(&text, &env) {
                Ok(_) => {
                    eprintln!("{file}: valid plugin configuration");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("{file}: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        ["hash", key] => match hash_key(key) {
            Some(hashed) => {
                println!("{hashed}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("vp-config hash: the filter accepts keys of printable ASCII without spaces, at most 256 characters, not already sha256:");
                ExitCode::FAILURE
            }
        },
        ["from-litellm", file] => {
            let text = match read(file) {
                Ok(text) => text,
                Err(code) => return code,
            };
            let read_file = |path: &Path| std::fs::read_to_string(path).ok();
            match litellm::convert(&text, &env, &read_file) {
                Ok(conversion) => {
                    print!("{}", to_yaml(&conversion.config));
                    for line in &conversion.dropped {
                        eprintln!("{line}");
                    }
                    for need in &conversion.env {
                        eprintln!("{}", need.describe());
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("{file}: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        ["plugin", file] => {
            let text = match read(file) {
                Ok(text) => text,
                Err(code) => return code,
            };
            let read_file = |path: &Path| std::fs::read_to_string(path).ok();
            match vp_config::plugin(&text, &env, &read_file) {
                Ok(plugin) => {
                    println!("{}", plugin.config);
                    for (name, kind, file) in &plugin.env {
                        println!("env {name} {kind} {}", file.as_deref().unwrap_or(""));
                    }
                    for line in &plugin.notes {
                        eprintln!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("{file}: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        ["configs"] => configs(false),
        ["configs", "--check"] => configs(true),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn read(file: &str) -> Result<String, ExitCode> {
    std::fs::read_to_string(file).map_err(|e| {
        eprintln!("{file}: {e}");
        ExitCode::FAILURE
    })
}

/// `make configs`: the copies of the plugin config brought in step with envoy/plugin-config.yaml.
fn configs(check_only: bool) -> ExitCode {
    let stale = match vp_config::embedded::stale(Path::new(".")) {
        Ok(stale) => stale,
        Err(error) => {
            eprintln!("vp-config configs: {error} (run it from the repository root)");
            return ExitCode::FAILURE;
        }
    };
    let canonical = vp_config::embedded::CANONICAL;
    if check_only {
        for (file, _) in &stale {
            eprintln!("{file}: its plugin config differs from {canonical}: run `make configs`");
        }
        return if stale.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    for (file, text) in &stale {
        if let Err(error) = std::fs::write(file, text) {
            eprintln!("vp-config configs: {file}: {error}");
            return ExitCode::FAILURE;
        }
        eprintln!("{file}: plugin config written from {canonical}");
    }
    if stale.is_empty() {
        eprintln!("every copy of {canonical} is up to date");
    }
    ExitCode::SUCCESS
}

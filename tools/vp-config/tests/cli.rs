//! The `vp-config` command line: exit codes and where each output goes.

use std::process::{Command, Output};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/litellm/config.yaml"
);
const SERVICE_ACCOUNT: &str = include_str!("../../../tests/fixtures/service_account_a.json");

fn vp_config(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vp-config"));
    cmd.args(args).env_remove("VERTEX_CREDENTIALS");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

fn converted_example(dir: &tempfile::TempDir) -> String {
    let out = vp_config(&["from-litellm", EXAMPLE], &[]);
    assert!(out.status.success());
    let path = dir.path().join("converted.yaml");
    std::fs::write(&path, &out.stdout).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn from_litellm_prints_the_config_on_stdout_and_the_dropped_settings_on_stderr() {
    let out = vp_config(&["from-litellm", EXAMPLE], &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout.contains("api_keys:") && !stdout.contains("dropped"),
        "{stdout}"
    );
    assert!(
        stderr.contains("litellm_settings.drop_params: dropped: "),
        "{stderr}"
    );
    assert!(stderr.contains("env VERTEX_CREDENTIALS: "), "{stderr}");
}

#[test]
fn check_passes_with_the_credential_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = converted_example(&dir);
    let out = vp_config(
        &["check", &file],
        &[("VERTEX_CREDENTIALS", SERVICE_ACCOUNT)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_fails_with_the_field_when_the_credential_is_not_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = converted_example(&dir);
    let out = vp_config(&["check", &file], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("`credentials.default.key_env`") && stderr.contains("VERTEX_CREDENTIALS"),
        "{stderr}"
    );
}

#[test]
fn hash_prints_the_sha256_form() {
    let out = vp_config(&["hash", "sk-litellm-master-1234"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        vp_config::hash_key("sk-litellm-master-1234").unwrap()
    );
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = vp_config(&["convert", EXAMPLE], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: vp-config"));
}

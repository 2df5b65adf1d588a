//! `envoy --mode validate`: checks a config the way Envoy would load it, without serving.
//!
//! Learned on Envoy 1.40: validate mode loads the Wasm module and runs the plugin's
//! `on_configure`, so the `vm_config.code` file must exist and the plugin config must be one the
//! filter accepts, with the VM env it reads (e.g. the `key_env` variable) present.
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::paths::envoy_binary;

/// Validates `path` with Envoy started in the current directory and environment.
pub fn validate_config(path: &Path) -> anyhow::Result<()> {
    validate_config_with(path, None, &[])
}

/// Validates `path` with Envoy started in `cwd` (relative paths in the config resolve there) and
/// with `env` added to its environment (what `host_env_keys` hands to the VM).
pub fn validate_config_with(
    path: &Path,
    cwd: Option<&Path>,
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut cmd = Command::new(envoy_binary());
    cmd.arg("--mode").arg("validate").arg("-c").arg(path);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.envs(env.iter().copied());
    let out = cmd
        .output()
        .with_context(|| format!("running {}", envoy_binary().display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        out.status.success(),
        "envoy --mode validate {} failed ({}):\n{text}",
        path.display(),
        out.status
    );
    Ok(())
}

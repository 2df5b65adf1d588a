//! Writes an Envoy bootstrap: a YAML file with named edits, the same renderer the test harness
//! and the bench use. `scripts/run.sh` renders `make run`'s configs with it.
//!
//!   render-envoy-config FILE [EDIT VALUE]...   (the config, as YAML, on stdout)
//!
//! Edits, applied in order:
//!   --admin-port PORT                 the admin interface's port
//!   --listener NAME=ADDRESS:PORT      where the listener NAME listens
//!   --replace FROM=TO                 every string FROM (at least one)
//!   --replace-once FROM=TO            the one string FROM
//!   --path-prefix FROM=TO             every string starting with FROM (at least one)
//!   --port FROM=TO                    every port_value FROM; all --port edits apply at once
//!   --resolver ADDRESS:PORT           DNS through this one server
//!   --credential-type NAME=TYPE       the plugin config's credential NAME gets this type
//!   --plugin-config JSON              the plugin config replaced by this one
//!   --vm-env NAME                     NAME added to the VM's host_env_keys
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vertex_passthrough_tests::harness::{apply_edits, load_yaml, to_yaml, Edit};

fn main() -> ExitCode {
    match run() {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("render-envoy-config: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, edits) = args
        .split_first()
        .context("usage: render-envoy-config FILE [EDIT VALUE]...")?;
    let file = PathBuf::from(file);
    let mut config = load_yaml(&file)?;
    apply_edits(&mut config, &Edit::from_args(edits)?)
        .with_context(|| format!("editing {}", file.display()))?;
    let mut out = format!(
        "# {} with these edits (render-envoy-config):\n",
        file.display()
    );
    for pair in edits.chunks(2) {
        out.push_str(&format!("#   {}\n", pair.join(" ")));
    }
    out.push_str(&to_yaml(&config)?);
    Ok(out)
}

//! `vp-config plugin`: the plugin config `make run` and docker-compose load for a VP_CONFIG file,
//! and each env var it reads in the Wasm VM.

use std::path::Path;
use vp_config::{plugin, CLIENT_KEY};

fn no_env(_: &str) -> Option<String> {
    None
}

fn no_files(_: &Path) -> Option<String> {
    None
}

#[test]
fn a_named_keys_key_env_is_an_env_var_holding_a_client_key() {
    let text = "credentials:\n  default: { type: service_account, key_env: VERTEX_SA_KEY }\nmodel_list:\n  - model_name: flash\n    litellm_params: { model: vertex_ai/gemini-2.5-flash, vertex_project: p1 }\napi_keys:\n  - name: team-a\n    key_env: TEAM_A_KEY\n    models: [flash]\n";
    let plugin = plugin(text, &no_env, &no_files).unwrap();
    assert_eq!(
        plugin.env,
        vec![
            (
                "VERTEX_SA_KEY".to_string(),
                "service_account".to_string(),
                None
            ),
            ("TEAM_A_KEY".to_string(), CLIENT_KEY.to_string(), None),
        ]
    );
    assert!(plugin.notes.is_empty(), "a plugin config is not converted");
}

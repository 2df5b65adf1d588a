//! `make configs`: envoy/plugin-config.yaml is the one place to edit the plugin config; every file
//! that embeds a copy must carry it as `vp-config configs` writes it.

use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use vp_config::check;
use vp_config::embedded::{render, splice, stale, CANONICAL, COPIES, MARKER};

const SERVICE_ACCOUNT: &str = include_str!("../../../tests/fixtures/service_account_a.json");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vm_env(name: &str) -> Option<String> {
    (name == "VERTEX_SA_KEY").then(|| SERVICE_ACCOUNT.to_string())
}

/// The plugin config embedded in a file: the marker's block, as YAML.
fn embedded(text: &str) -> Json {
    let start = text.find(MARKER).unwrap();
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = start - line_start;
    let block: String = text[line_start..]
        .lines()
        .take_while(|l| {
            l.trim().is_empty()
                || (l.len() - l.trim_start().len() >= indent && !l.starts_with("```"))
        })
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect();
    serde_yaml::from_str(&block).unwrap()
}

#[test]
fn every_copy_of_the_plugin_config_is_the_one_in_envoy_plugin_config_yaml() {
    let stale = stale(&repo_root()).unwrap();
    let files: Vec<&str> = stale.iter().map(|(file, _)| *file).collect();
    assert!(
        files.is_empty(),
        "{files:?} differ from {CANONICAL}: run `make configs`"
    );
    let canonical = std::fs::read_to_string(repo_root().join(CANONICAL)).unwrap();
    check(&canonical, &vm_env).unwrap_or_else(|e| panic!("{CANONICAL}: {e}"));
}

#[test]
fn an_edit_of_the_plugin_config_reaches_every_copy_through_make_configs_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut originals = Vec::new();
    for file in std::iter::once(CANONICAL).chain(COPIES.iter().map(|c| c.file)) {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
        std::fs::write(root.join(file), &text).unwrap();
        originals.push((file, text));
    }
    let canonical = std::fs::read_to_string(root.join(CANONICAL)).unwrap();
    let edited = canonical.replace(
        "model_list:\n",
        "model_list:\n  - model_name: gemini-pro\n    litellm_params: { model: vertex_ai/gemini-2.5-pro }\n",
    );
    assert_ne!(edited, canonical);
    std::fs::write(root.join(CANONICAL), &edited).unwrap();

    let stale_files: Vec<&str> = stale(root).unwrap().iter().map(|(f, _)| *f).collect();
    let every: Vec<&str> = COPIES.iter().map(|c| c.file).collect();
    assert_eq!(
        stale_files, every,
        "every copy differs from the edited file"
    );

    for (file, text) in stale(root).unwrap() {
        std::fs::write(root.join(file), text).unwrap();
    }
    assert!(stale(root).unwrap().is_empty());
    for copy in &COPIES {
        let written = std::fs::read_to_string(root.join(copy.file)).unwrap();
        let config = embedded(&written);
        assert_eq!(
            config["model_list"][0]["model_name"], "gemini-pro",
            "{}",
            copy.file
        );
        // The copy is the file plus what the copy sets itself, and it loads in the filter.
        let mut expected: Json = serde_yaml::from_str(&edited).unwrap();
        for (key, text) in copy.overlay {
            let set: Json = serde_yaml::from_str(text).unwrap();
            expected[*key] = set[*key].clone();
        }
        assert_eq!(config, expected, "{}", copy.file);
        check(&serde_json::to_string(&config).unwrap(), &vm_env)
            .unwrap_or_else(|e| panic!("{}: {e}", copy.file));
        // Outside the copy, the file is as it was.
        let original = &originals.iter().find(|(f, _)| *f == copy.file).unwrap().1;
        let before = embedded_lines(original);
        let after = embedded_lines(&written);
        assert_eq!(before.0, after.0, "{}: the lines above the copy", copy.file);
        assert_eq!(before.1, after.1, "{}: the lines below the copy", copy.file);
    }
}

/// The lines above and below the embedded copy.
fn embedded_lines(text: &str) -> (String, String) {
    let copy = COPIES.iter().find(|c| c.overlay.is_empty()).unwrap();
    let block = render("", copy);
    let blanked = splice("file", text, &block).unwrap();
    let marker = blanked.find(MARKER).unwrap();
    let line_start = blanked[..marker].rfind('\n').map_or(0, |i| i + 1);
    let line_end = blanked[marker..]
        .find('\n')
        .map_or(blanked.len(), |i| marker + i);
    (
        blanked[..line_start].to_string(),
        blanked[line_end..].to_string(),
    )
}

#[test]
fn a_file_without_the_marker_is_an_error_naming_it() {
    let error = splice("envoy/envoy.yaml", "admin: {}\n", "# x\n").unwrap_err();
    assert!(
        error.contains("envoy/envoy.yaml") && error.contains(MARKER),
        "{error}"
    );
}

//! One place to edit the plugin config: `envoy/plugin-config.yaml`. Envoy cannot include a file,
//! so `make configs` (`vp-config configs`) writes a copy of it into each file that embeds one, in
//! the block that starts with the marker line; a copy may differ from the file only by whole
//! top-level keys it replaces or adds, listed here per file. `vp-config configs --check` (and the
//! tests) fail while any copy differs.

use std::path::Path;

/// The plugin config, relative to the repository root.
pub const CANONICAL: &str = "envoy/plugin-config.yaml";

/// The first line of every embedded copy; the copy is the lines after it that are indented at
/// least as far (blank lines included), up to a Markdown fence.
pub const MARKER: &str = "# envoy/plugin-config.yaml";

/// A file that embeds the plugin config, and the top-level keys its copy replaces or adds.
pub struct Copy {
    pub file: &'static str,
    /// What the marker line says after [`MARKER`]; for a copy, what it sets itself follows.
    pub note: &'static str,
    /// `(key, YAML of that key)`: replaces the key's block (with the comments right above it),
    /// or comes first when the file has no such key.
    pub overlay: &'static [(&'static str, &'static str)],
}

const COPIED: &str = ", copied by `make configs`: edit that file";

const MESH_DEFAULTS: [(&str, &str); 2] = [
    ("vertex_project", "vertex_project: my-project\n"),
    ("vertex_location", "vertex_location: us-central1\n"),
];

pub const COPIES: [Copy; 5] = [
    Copy {
        file: "README.md",
        note: " (`make configs` copies it into the shipped configs)",
        overlay: &[],
    },
    Copy {
        file: "envoy/envoy.yaml",
        note: COPIED,
        overlay: &[],
    },
    Copy {
        file: "envoy/envoy.local.yaml",
        note: COPIED,
        overlay: &[
            ("vertex_project", "vertex_project: proj-alpha\n"),
            ("vertex_location", "vertex_location: us-central1\n"),
            (
                "api_keys",
                "# sha256(\"sk-local-demo\"), the local stack's client key.\napi_keys:\n  - sha256:4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f\n",
            ),
        ],
    },
    Copy {
        file: "envoy/istio/wasm-plugin.yaml",
        note: COPIED,
        overlay: &[
            MESH_DEFAULTS[0],
            MESH_DEFAULTS[1],
            (
                "credentials",
                "credentials:\n  default:\n    type: service_account\n    key_env: VERTEX_SA_KEY\n    cluster: \"outbound|443||oauth2.googleapis.com\"\n",
            ),
        ],
    },
    Copy {
        file: "envoy/envoy-gateway/extension-policy.yaml",
        note: COPIED,
        overlay: &MESH_DEFAULTS,
    },
];

/// The plugin config as `copy` embeds it (not yet indented), marker line first.
pub fn render(canonical: &str, copy: &Copy) -> String {
    let mut blocks = top_level_blocks(canonical);
    let mut first = Vec::new();
    for (key, text) in copy.overlay {
        match blocks.iter_mut().find(|(k, _)| k == key) {
            Some(block) => block.1 = text.to_string(),
            None => first.push(text.to_string()),
        }
    }
    let mut out = format!("{MARKER}{}", copy.note);
    if !copy.overlay.is_empty() {
        let keys: Vec<&str> = copy.overlay.iter().map(|(key, _)| *key).collect();
        out.push_str(&format!(" (set here: {})", keys.join(", ")));
    }
    out.push('\n');
    for text in first.iter().chain(blocks.iter().map(|(_, text)| text)) {
        out.push_str(text);
    }
    out
}

/// The canonical text cut into top-level keys, each with the comment lines right above it (what
/// comes before the first key is a block of its own, with no key).
fn top_level_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks: Vec<(String, String)> = vec![(String::new(), String::new())];
    let mut comments = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            comments.push_str(line);
            comments.push('\n');
            continue;
        }
        let is_key = !line.starts_with([' ', '-']) && !line.trim().is_empty();
        if is_key {
            let key = line
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            blocks.push((key, std::mem::take(&mut comments)));
        }
        if let Some((_, block)) = blocks.last_mut() {
            block.push_str(&std::mem::take(&mut comments));
            block.push_str(line);
            block.push('\n');
        }
    }
    if let Some((_, block)) = blocks.last_mut() {
        block.push_str(&comments);
    }
    blocks
}

/// `file`'s text with its embedded copy replaced by `block` (marker line first, unindented).
pub fn splice(file: &str, text: &str, block: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.trim_start().starts_with(MARKER))
        .ok_or_else(|| {
            format!("{file}: no line starting with `{MARKER}` marks the plugin config")
        })?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut end = start + 1;
    while end < lines.len() {
        let line = lines[end];
        let inside = line.trim().is_empty()
            || (line.len() - line.trim_start().len() >= indent && !line.starts_with("```"));
        if !inside {
            break;
        }
        end += 1;
    }
    // Blank lines after the copy belong to the file.
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let pad = " ".repeat(indent);
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    out.extend(block.lines().map(|line| {
        if line.is_empty() {
            String::new()
        } else {
            format!("{pad}{line}")
        }
    }));
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    Ok(joined)
}

/// Each copy under `root` that differs from what `make configs` would write, with that text.
pub fn stale(root: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let read =
        |file: &str| std::fs::read_to_string(root.join(file)).map_err(|e| format!("{file}: {e}"));
    let canonical = read(CANONICAL)?;
    let mut out = Vec::new();
    for copy in &COPIES {
        let text = read(copy.file)?;
        let wanted = splice(copy.file, &text, &render(&canonical, copy))?;
        if wanted != text {
            out.push((copy.file, wanted));
        }
    }
    Ok(out)
}

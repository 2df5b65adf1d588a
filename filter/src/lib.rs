//! vertex-passthrough: see DESIGN.md

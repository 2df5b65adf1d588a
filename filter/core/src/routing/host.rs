//! `host(L)`: which Vertex AI host serves a location.

/// `global` → `aiplatform.googleapis.com`; the multi-regions `us`, `eu` →
/// `aiplatform.{L}.rep.googleapis.com`; any other location → `{L}-aiplatform.googleapis.com`.
/// Built by concatenation, not `format!`: it runs on every request.
pub fn vertex_host(location: &str) -> String {
    match location {
        "global" => "aiplatform.googleapis.com".to_string(),
        "us" | "eu" => ["aiplatform.", location, ".rep.googleapis.com"].concat(),
        regional => [regional, "-aiplatform.googleapis.com"].concat(),
    }
}

/// Vertex AI Search (Discovery Engine): `global` → `discoveryengine.googleapis.com`; `us`, `eu`
/// → `{L}-discoveryengine.googleapis.com`; it has no other locations.
pub fn discovery_host(location: &str) -> Option<String> {
    match location {
        "global" => Some("discoveryengine.googleapis.com".to_string()),
        "us" | "eu" => Some([location, "-discoveryengine.googleapis.com"].concat()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_hosts_exist_for_global_us_and_eu_only() {
        assert_eq!(
            discovery_host("global").as_deref(),
            Some("discoveryengine.googleapis.com")
        );
        assert_eq!(
            discovery_host("eu").as_deref(),
            Some("eu-discoveryengine.googleapis.com")
        );
        assert_eq!(discovery_host("us-central1"), None);
    }

    #[test]
    fn global_uses_the_unprefixed_host() {
        assert_eq!(vertex_host("global"), "aiplatform.googleapis.com");
    }

    #[test]
    fn multi_regions_use_regional_endpoints() {
        assert_eq!(vertex_host("us"), "aiplatform.us.rep.googleapis.com");
        assert_eq!(vertex_host("eu"), "aiplatform.eu.rep.googleapis.com");
    }

    #[test]
    fn regions_prefix_the_host() {
        assert_eq!(
            vertex_host("us-central1"),
            "us-central1-aiplatform.googleapis.com"
        );
        assert_eq!(
            vertex_host("europe-west4"),
            "europe-west4-aiplatform.googleapis.com"
        );
    }
}

//! What a project, location, publisher or model segment may contain (docs/design.md "Requests").
//! Anything else is refused before it can reach a URL we build.

pub const MAX_SEGMENT: usize = 128;
/// A location becomes part of a host name (`{L}-aiplatform.googleapis.com`): one DNS label.
pub const MAX_LOCATION: usize = 63;

/// Projects: `[a-z0-9-]`, at most 128 characters.
pub fn is_valid_project(segment: &str) -> bool {
    valid(segment, lower_digit_or_dash)
}

/// Locations: `[a-z0-9-]`, at most 63 characters.
pub fn is_valid_location(segment: &str) -> bool {
    segment.len() <= MAX_LOCATION && valid(segment, lower_digit_or_dash)
}

fn lower_digit_or_dash(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// Publishers and models: `[A-Za-z0-9._@-]`, at most 128 characters, and never a dot-segment.
pub fn is_valid_publisher_or_model(segment: &str) -> bool {
    !segment.contains("..")
        && segment != "."
        && valid(segment, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-')
        })
}

fn valid(segment: &str, allowed: impl Fn(u8) -> bool) -> bool {
    !segment.is_empty() && segment.len() <= MAX_SEGMENT && segment.bytes().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_projects_are_lowercase_digits_and_dashes() {
        assert!(is_valid_location("us-central1"));
        assert!(is_valid_project("my-project-123"));
        assert!(!is_valid_location("US-central1"));
        assert!(!is_valid_project("a_b"));
        assert!(!is_valid_project(""));
        assert!(!is_valid_location(""));
        assert!(!is_valid_project(&"a".repeat(129)));
        assert!(is_valid_project(&"a".repeat(128)));
    }

    #[test]
    fn a_location_is_at_most_one_dns_label() {
        assert!(is_valid_location(&"a".repeat(63)));
        assert!(!is_valid_location(&"a".repeat(64)));
    }

    #[test]
    fn models_allow_version_tags_but_not_traversal() {
        assert!(is_valid_publisher_or_model("gemini-2.0-flash-001"));
        assert!(is_valid_publisher_or_model("claude-3-5-sonnet@20240620"));
        assert!(!is_valid_publisher_or_model(".."));
        assert!(!is_valid_publisher_or_model("a..b"));
        assert!(!is_valid_publisher_or_model("."));
        assert!(!is_valid_publisher_or_model("gemini%2fx"));
        assert!(!is_valid_publisher_or_model("gémini"));
    }
}

//! Which Vertex paths exist and which host serves which location.

/// A parsed `/{v1,v1beta1}/projects/P/locations/L/publishers/PUB/models/M:METHOD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCall {
    pub version: String,
    pub project: String,
    pub location: String,
    pub publisher: String,
    pub model: String,
    pub method: String,
}

/// The Live API's WebSocket paths.
pub const LIVE_PATHS: [&str; 2] = [
    "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
    "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
];

const MAX_SEGMENT_LEN: usize = 128;

fn is_location_or_project(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= MAX_SEGMENT_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_publisher_or_model(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= MAX_SEGMENT_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// The Vertex host for a location, as Google publishes them.
pub fn vertex_host(location: &str) -> String {
    match location {
        "global" => "aiplatform.googleapis.com".to_owned(),
        "us" | "eu" => format!("aiplatform.{location}.rep.googleapis.com"),
        other => format!("{other}-aiplatform.googleapis.com"),
    }
}

/// The location a Vertex host serves, or None for a host that is not a Vertex host.
pub fn location_of_host(host: &str) -> Option<String> {
    if host == "aiplatform.googleapis.com" {
        return Some("global".to_owned());
    }
    if let Some(region) = host
        .strip_prefix("aiplatform.")
        .and_then(|rest| rest.strip_suffix(".rep.googleapis.com"))
    {
        return matches!(region, "us" | "eu").then(|| region.to_owned());
    }
    host.strip_suffix("-aiplatform.googleapis.com")
        .filter(|location| is_location_or_project(location))
        .map(str::to_owned)
}

impl ModelCall {
    /// `projects/P/locations/L/publishers/PUB/models/M`.
    pub fn name(&self) -> String {
        format!(
            "projects/{}/locations/{}/publishers/{}/models/{}",
            self.project, self.location, self.publisher, self.model
        )
    }
}

pub fn parse_model_call(path: &str) -> Option<ModelCall> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let [version, "projects", project, "locations", location, "publishers", publisher, "models", model_and_method] =
        segments.as_slice()
    else {
        return None;
    };
    let (model, method) = model_and_method.split_once(':')?;
    let valid = matches!(*version, "v1" | "v1beta1")
        && is_location_or_project(project)
        && is_location_or_project(location)
        && is_publisher_or_model(publisher)
        && is_publisher_or_model(model)
        && !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_alphabetic());
    valid.then(|| ModelCall {
        version: (*version).to_owned(),
        project: (*project).to_owned(),
        location: (*location).to_owned(),
        publisher: (*publisher).to_owned(),
        model: model.to_owned(),
        method: method.to_owned(),
    })
}

/// A model named in a Live setup: it must be the full `projects/P/locations/L/publishers/PUB/models/M`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelName {
    pub project: String,
    pub location: String,
    pub publisher: String,
    pub model: String,
}

pub fn parse_model_name(name: &str) -> Option<ModelName> {
    let segments: Vec<&str> = name.split('/').collect();
    let ["projects", project, "locations", location, "publishers", publisher, "models", model] =
        segments.as_slice()
    else {
        return None;
    };
    let valid = is_location_or_project(project)
        && is_location_or_project(location)
        && is_publisher_or_model(publisher)
        && is_publisher_or_model(model);
    valid.then(|| ModelName {
        project: (*project).to_owned(),
        location: (*location).to_owned(),
        publisher: (*publisher).to_owned(),
        model: (*model).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_locations_round_trip() {
        for location in ["global", "us", "eu", "us-central1", "europe-west4"] {
            assert_eq!(
                location_of_host(&vertex_host(location)).as_deref(),
                Some(location)
            );
        }
        assert_eq!(vertex_host("us"), "aiplatform.us.rep.googleapis.com");
        assert_eq!(location_of_host("aiplatform.asia.rep.googleapis.com"), None);
        assert_eq!(location_of_host("oauth2.googleapis.com"), None);
    }

    #[test]
    fn model_call_paths_parse_and_odd_ones_do_not() {
        let call = parse_model_call(
            "/v1beta1/projects/p-1/locations/us/publishers/anthropic/models/claude-3@2024:rawPredict",
        );
        assert_eq!(
            call.map(|c| (c.model, c.method)),
            Some(("claude-3@2024".to_owned(), "rawPredict".to_owned()))
        );
        for bad in [
            "/v2/projects/p/locations/l/publishers/g/models/m:generateContent",
            "/v1/projects/P/locations/l/publishers/g/models/m:generateContent",
            "/v1/projects/p/locations/l/publishers/g/models/m",
            "/v1/projects/p/locations/l/publishers/g/models/m:",
            "/v1/projects/p/locations/l/publishers/g/models/m:generateContent/x",
            "/v1/projects/p/locations/../publishers/g/models/m:generateContent",
        ] {
            assert_eq!(parse_model_call(bad), None, "{bad}");
        }
    }

    #[test]
    fn live_model_must_be_a_full_resource_name() {
        assert!(
            parse_model_name("projects/p/locations/global/publishers/google/models/m").is_some()
        );
        assert!(parse_model_name("publishers/google/models/m").is_none());
        assert!(parse_model_name("m").is_none());
    }
}

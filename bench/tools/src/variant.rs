//! The Envoys compared: the same listener, routes, upstreams and worker count; they differ only
//! in the Wasm filter in front of the router.

/// The token the bare Envoy's route adds and the floor filter and our filter (its
/// `access_token` credential) set; the upstream only checks that some bearer token arrived.
pub const STATIC_TOKEN: &str = "ya29.bench-static-token";
/// The client key every request carries; our filter's config holds its sha256.
pub const CLIENT_KEY: &str = "sk-bench-client-key";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// No filter: a route that adds a static `authorization` header.
    Bare,
    /// The trivial Wasm filter under bench/floor-filter: the toll of Wasm itself.
    Floor,
    /// vertex-passthrough with an `access_token` credential.
    Ours,
    /// vertex-passthrough with a `service_account` credential (token from the emulator's OAuth
    /// endpoint, then served from the worker's copy of the shared cache): the production hot
    /// path.
    OursSa,
    /// Optional (`BENCH_CANDIDATE_WASM=FILE`): another build of our filter, e.g. a proposed
    /// change, measured side by side with the others; `access_token` like `Ours`.
    Candidate,
    /// The candidate with the `service_account` credential, like `OursSa`.
    CandidateSa,
    /// `Ours` with requests to an alias with two deployments (`POOL_PATH`): each request picks
    /// one. Measured in the instructions phase only.
    OursPool,
    /// The same with the `service_account` credential, like `OursSa`.
    OursPoolSa,
    /// `Ours` with a resource call (`RESOURCE_PATH`, a GET without a body). Instructions phase
    /// only.
    OursResource,
    /// `Ours` with an OpenAI-compatible chat call (`OPENAI_PATH`, whose body's `model` is an
    /// alias). Instructions phase only.
    OursOpenai,
    /// `Ours` with a named client key limited to some `models`: its usage is counted (the
    /// response read as it passes). Instructions phase only.
    OursNamed,
    /// The named key on an SSE stream (`SSE_PATH`), its usage read from the last event.
    /// Instructions phase only.
    OursNamedSse,
}

static WITH_CANDIDATE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

impl Variant {
    const BASE: [Variant; 4] = [
        Variant::Bare,
        Variant::Floor,
        Variant::Ours,
        Variant::OursSa,
    ];
    const WITH_CANDIDATE: [Variant; 6] = [
        Variant::Bare,
        Variant::Floor,
        Variant::Ours,
        Variant::OursSa,
        Variant::Candidate,
        Variant::CandidateSa,
    ];

    /// Measured in the instructions phase only, after `all()`.
    pub const PICKS: [Variant; 6] = [
        Variant::OursPool,
        Variant::OursPoolSa,
        Variant::OursResource,
        Variant::OursOpenai,
        Variant::OursNamed,
        Variant::OursNamedSse,
    ];

    /// Called once at startup: whether a candidate build is measured too.
    pub fn include_candidate(yes: bool) {
        let _ = WITH_CANDIDATE.set(yes);
    }

    /// The ones every load phase drives, in their base order.
    pub fn all() -> &'static [Variant] {
        if WITH_CANDIDATE.get().copied().unwrap_or(false) {
            &Self::WITH_CANDIDATE
        } else {
            &Self::BASE
        }
    }

    /// A short name: file names, progress lines.
    pub fn key(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::Floor => "floor",
            Variant::Ours => "ours",
            Variant::OursSa => "ours-sa",
            Variant::Candidate => "cand",
            Variant::CandidateSa => "cand-sa",
            Variant::OursPool => "ours-pool",
            Variant::OursPoolSa => "ours-pool-sa",
            Variant::OursResource => "ours-resource",
            Variant::OursOpenai => "ours-openai",
            Variant::OursNamed => "ours-named",
            Variant::OursNamedSse => "ours-named-sse",
        }
    }

    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Bare => "bare Envoy (route adds `authorization`)",
            Variant::Floor => "floor Wasm filter",
            Variant::Ours => "vertex-passthrough (`access_token`)",
            Variant::OursSa => "vertex-passthrough (`service_account`, cached)",
            Variant::Candidate => "candidate build (`access_token`)",
            Variant::CandidateSa => "candidate build (`service_account`, cached)",
            Variant::OursPool => "vertex-passthrough, alias with two deployments (`access_token`)",
            Variant::OursPoolSa => {
                "vertex-passthrough, alias with two deployments (`service_account`, cached)"
            }
            Variant::OursResource => {
                "vertex-passthrough, resource call `GET cachedContents/ID` (`access_token`)"
            }
            Variant::OursOpenai => {
                "vertex-passthrough, OpenAI-compatible chat call (`access_token`)"
            }
            Variant::OursNamed => {
                "vertex-passthrough, named key with `models`, usage counted (`access_token`)"
            }
            Variant::OursNamedSse => {
                "vertex-passthrough, named key with `models`, usage counted on an SSE stream (`access_token`)"
            }
        }
    }

    /// Whether requests pass through a Wasm filter that marks them (the routes then match on
    /// the marker header, as in production).
    pub fn marks(self) -> bool {
        self != Variant::Bare
    }

    /// The REST call this variant's requests make.
    pub fn call(self) -> Call {
        match self {
            Variant::OursPool | Variant::OursPoolSa => Call::model(POOL_PATH),
            Variant::OursResource => Call {
                method: reqwest::Method::GET,
                path: RESOURCE_PATH,
                body: None,
            },
            Variant::OursOpenai => Call {
                method: reqwest::Method::POST,
                path: OPENAI_PATH,
                body: Some(OPENAI_BODY),
            },
            Variant::OursNamedSse => Call::model(SSE_PATH),
            _ => Call::model(REST_PATH),
        }
    }

    /// Whether the client key is a named one, limited to some models, whose usage is counted.
    pub fn named_key(self) -> bool {
        matches!(self, Variant::OursNamed | Variant::OursNamedSse)
    }

    /// Whether the filter reads the request body before it picks the upstream, so Envoy must
    /// hand it the body while the headers are held (`allow_on_headers_stop_iteration`).
    pub fn reads_body_first(self) -> bool {
        self == Variant::OursOpenai
    }

    /// Whether the credential is the `service_account` one.
    pub fn service_account(self) -> bool {
        matches!(
            self,
            Variant::OursSa | Variant::CandidateSa | Variant::OursPoolSa
        )
    }

    /// The load phases rotate the order every round so no variant always runs first or last.
    pub fn rotated(round: usize) -> Vec<Variant> {
        let mut order = Variant::all().to_vec();
        let by = round % order.len();
        order.rotate_left(by);
        order
    }
}

/// The REST call every variant gets: the google-genai SDK's path form, under our prefix (the
/// bare Envoy forwards it as is, the floor filter strips the prefix, ours rewrites it).
pub const REST_PATH: &str =
    "/vertex_ai/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";
/// `REST_PATH` with the model an alias of two deployments (the plugin config's `gemini-pool`).
pub const POOL_PATH: &str =
    "/vertex_ai/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-pool:generateContent";
/// A resource call: a cached content read, no body.
pub const RESOURCE_PATH: &str =
    "/vertex_ai/v1beta1/projects/proj-alpha/locations/us-central1/cachedContents/bench-cache-1";
/// The OpenAI-compatible chat endpoint, as the OpenAI SDK calls it with our `base_url`.
pub const OPENAI_PATH: &str = "/vertex_ai/openai/chat/completions";
/// A small chat body whose `model` is the plugin config's alias `gemini-flash`.
pub const OPENAI_BODY: &str =
    r#"{"model":"gemini-flash","messages":[{"role":"user","content":"Hello"}]}"#;
pub const SSE_PATH: &str =
    "/vertex_ai/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse";
pub const LIVE_PATH: &str =
    "/vertex_ai/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent";
/// A small generateContent body.
pub const REST_BODY: &str = r#"{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}"#;
/// The Live setup every session sends first (the google-genai SDK's full model form).
pub const LIVE_SETUP: &str = r#"{"setup":{"model":"projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash-live-preview-04-09"}}"#;

/// One request as a client sends it: the client key in `x-api-key`, and a body, if any, as JSON.
pub struct Call {
    pub method: reqwest::Method,
    /// Under our prefix.
    pub path: &'static str,
    pub body: Option<&'static str>,
}

impl Call {
    /// A model call as the google-genai SDK sends it: a POST of `REST_BODY`.
    pub fn model(path: &'static str) -> Call {
        Call {
            method: reqwest::Method::POST,
            path,
            body: Some(REST_BODY),
        }
    }

    /// The request to `base` (the Envoy's address, no path).
    pub fn request(&self, client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let request = client
            .request(self.method.clone(), format!("{base}{}", self.path))
            .header("x-api-key", CLIENT_KEY);
        match self.body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(body),
            None => request,
        }
    }
}

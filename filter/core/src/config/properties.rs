//! Property tests: arbitrary configurations, most of them close to the real shape, either load
//! or are refused with an error that names a field and says why, and never repeat a secret the
//! environment gave them. A panic here would be a worker's Wasm VM going down at `on_configure`.

use super::*;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const TOP_LEVEL: [&str; 11] = [
    "vertex_project",
    "vertex_location",
    "credentials",
    "model_list",
    "api_keys",
    "allow_unauthenticated",
    "route_prefixes",
    "methods",
    "token_refresh_margin_s",
    "token_fetch_timeout_ms",
    "cooldown_s",
];

const SERVICE_ACCOUNT: &str = include_str!("../../../../tests/fixtures/service_account_a.json");
const AUTHORIZED_USER: &str = include_str!("../../../../tests/fixtures/authorized_user.json");
const ENV_TOKEN: &str = "ya29.secret-token-from-the-environment";

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some(ENV_TOKEN.to_string()),
        "SA_KEY" | "GOOGLE_APPLICATION_CREDENTIALS_JSON" => Some(SERVICE_ACCOUNT.to_string()),
        "AU_KEY" => Some(AUTHORIZED_USER.to_string()),
        "VERTEXAI_PROJECT" => Some("proj-env".to_string()),
        "EMPTY" => Some(String::new()),
        "NOT_JSON" => Some("{not json".to_string()),
        _ => None,
    }
}

/// Secret material: the env token, the key's PEM body, the authorized user's secrets.
fn secrets() -> Vec<String> {
    let sa: Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    let au: Value = serde_json::from_str(AUTHORIZED_USER).unwrap();
    let pem_body: String = sa["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    vec![
        ENV_TOKEN.to_string(),
        pem_body,
        au["client_secret"].as_str().unwrap().to_string(),
        au["refresh_token"].as_str().unwrap().to_string(),
    ]
}

fn repeats_a_secret(text: &str, secrets: &[String]) -> bool {
    secrets.iter().any(|secret| {
        secret
            .as_bytes()
            .windows(16.min(secret.len()))
            .filter_map(|w| std::str::from_utf8(w).ok())
            .any(|w| text.contains(w))
    })
}

/// Strings a user might write, right and wrong.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("proj-alpha".to_string()),
        Just("us-central1".to_string()),
        Just("global".to_string()),
        Just("default".to_string()),
        Just("flash".to_string()),
        Just("vertex_ai/gemini-2.0-flash".to_string()),
        Just("publishers/anthropic/models/claude@1".to_string()),
        Just("service_account".to_string()),
        Just("authorized_user".to_string()),
        Just("metadata_server".to_string()),
        Just("access_token".to_string()),
        Just("SA_KEY".to_string()),
        Just("AU_KEY".to_string()),
        Just("TOKEN".to_string()),
        Just("EMPTY".to_string()),
        Just("NOT_JSON".to_string()),
        Just("/vertex_ai".to_string()),
        Just("generateContent".to_string()),
        Just(format!("sha256:{}", "ab".repeat(32))),
        Just(format!("sha256:{}", "+f".repeat(32))),
        Just("https://oauth2.googleapis.com/token".to_string()),
        Just(SERVICE_ACCOUNT.to_string()),
        Just(AUTHORIZED_USER.to_string()),
        Just(String::new()),
        Just("..".to_string()),
        Just("a".repeat(129)),
        Just("Ünïcödé ✓".to_string()),
        Just("a\u{0}b\r\n".to_string()),
        "[a-z0-9_./@:-]{0,12}",
        any::<String>(),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..70_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
}

/// Any JSON value, a few levels deep.
fn anything() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a field that takes a string: mostly a string, sometimes anything.
fn string_or_anything() -> impl Strategy<Value = Value> {
    prop_oneof![4 => text().prop_map(Value::String), 1 => anything()]
}

fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let strategies: Vec<_> = fields
        .into_iter()
        .map(|(name, value)| prop::option::weighted(0.6, value).prop_map(move |v| (name, v)))
        .collect();
    (
        strategies,
        prop::option::weighted(0.1, (text(), anything())),
    )
        .prop_map(|(fields, extra)| {
            let mut object = Map::new();
            for (name, value) in fields {
                if let Some(value) = value {
                    object.insert(name.to_string(), value);
                }
            }
            if let Some((key, value)) = extra {
                object.insert(key, value);
            }
            Value::Object(object)
        })
}

fn credential() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => Just(serde_json::from_str::<Value>(SERVICE_ACCOUNT).unwrap()),
        2 => Just(serde_json::from_str::<Value>(AUTHORIZED_USER).unwrap()),
        1 => Just(json!({"type": "service_account", "client_email": "x@y", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})),
        2 => anything(),
    ];
    prop_oneof![
        4 => object(vec![
            ("type", string_or_anything().boxed()),
            ("key", key.boxed()),
            ("key_env", string_or_anything().boxed()),
            ("cluster", string_or_anything().boxed()),
            ("token", string_or_anything().boxed()),
            ("token_env", string_or_anything().boxed()),
        ]),
        1 => anything(),
    ]
}

fn model_entry() -> impl Strategy<Value = Value> {
    let params = object(vec![
        ("model", string_or_anything().boxed()),
        ("vertex_project", string_or_anything().boxed()),
        ("vertex_location", string_or_anything().boxed()),
        ("vertex_credentials", string_or_anything().boxed()),
        ("weight", prop_oneof![number(), anything()].boxed()),
        ("rpm", prop_oneof![number(), anything()].boxed()),
    ]);
    prop_oneof![
        4 => object(vec![
            ("model_name", string_or_anything().boxed()),
            ("litellm_params", params.boxed()),
            ("model_info", anything().boxed()),
        ]),
        1 => anything(),
    ]
}

fn list_of(item: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => prop::collection::vec(item, 0..4).prop_map(Value::Array),
        1 => anything(),
    ]
    .boxed()
}

fn config() -> impl Strategy<Value = Value> {
    let credentials = prop_oneof![
        4 => prop::collection::btree_map(text(), credential(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => anything(),
    ];
    object(vec![
        ("vertex_project", string_or_anything().boxed()),
        ("vertex_location", string_or_anything().boxed()),
        ("credentials", credentials.boxed()),
        ("model_list", list_of(model_entry().boxed())),
        ("api_keys", list_of(string_or_anything().boxed())),
        (
            "allow_unauthenticated",
            prop_oneof![any::<bool>().prop_map(Value::Bool), anything()].boxed(),
        ),
        ("route_prefixes", list_of(string_or_anything().boxed())),
        ("methods", list_of(string_or_anything().boxed())),
        (
            "token_refresh_margin_s",
            prop_oneof![number(), anything()].boxed(),
        ),
        (
            "token_fetch_timeout_ms",
            prop_oneof![number(), anything()].boxed(),
        ),
        ("cooldown_s", prop_oneof![number(), anything()].boxed()),
    ])
}

/// The field an error names must be one the user can find: a key of the config (or a path
/// under one; a key that is not name-like is given by its length), the top level, or an
/// environment variable.
fn names_a_field(error: &ConfigError, config: &Value) -> bool {
    let field = error.field.as_str();
    let under = |key: &str| {
        field
            .strip_prefix(key)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    let given = config.as_object().into_iter().flat_map(|o| o.keys());
    field == "(top level)"
        || field.starts_with("(a key of ")
        || field.ends_with("(environment)")
        || TOP_LEVEL.iter().copied().any(under)
        || given.map(String::as_str).any(under)
}

fn check(config: &Value, bytes: &[u8], secrets: &[String]) -> Result<(), TestCaseError> {
    match Config::load(bytes, &env) {
        Ok(loaded) => {
            prop_assert!(!loaded.credentials.is_empty());
            prop_assert!(!loaded.route_prefixes.is_empty());
            prop_assert!(loaded
                .aliases
                .values()
                .chain(loaded.pools.iter().flat_map(|p| &p.deployments))
                .all(|a| a.credential < loaded.credentials.len()));
            prop_assert!(loaded
                .projects
                .values()
                .all(|c| *c < loaded.credentials.len()));
        }
        Err(error) => {
            prop_assert!(!error.field.is_empty(), "no field: {}", error);
            prop_assert!(!error.reason.is_empty(), "no reason: {}", error);
            prop_assert!(
                names_a_field(&error, config),
                "{} names no field of {}",
                error,
                config
            );
            prop_assert!(
                !repeats_a_secret(&error.to_string(), secrets),
                "the error repeats a secret: {}",
                error
            );
        }
    }
    Ok(())
}

/// What a load gave, to compare two loads: the error, or what the config holds.
pub(super) fn outcome(bytes: &[u8], env: Env) -> String {
    match Config::load(bytes, env) {
        Err(e) => format!("refused: {e}"),
        Ok(c) => {
            let mut aliases: Vec<_> = c
                .aliases
                .iter()
                .map(|(name, a)| format!("{name}: {:?} via {}", a.alias, a.credential))
                .collect();
            aliases.sort();
            let mut projects: Vec<_> = c.projects.iter().collect();
            projects.sort();
            let credentials: Vec<_> = c
                .credentials
                .iter()
                .map(|c| (&c.name, &c.cache_key, c.kind()))
                .collect();
            let keys = match &c.client_keys {
                crate::client_auth::ClientKeys::Required { digests, clients } => {
                    format!("{digests:?} {clients:?}")
                }
                crate::client_auth::ClientKeys::Unauthenticated(_) => "none".to_string(),
            };
            format!(
                "{:?} {} {aliases:?} {projects:?} {credentials:?} {keys} {:?} {:?} {} {}",
                c.default_project,
                c.default_location,
                c.route_prefixes,
                c.methods,
                c.token_refresh_margin_s,
                c.token_fetch_timeout_ms
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn configs_near_the_real_shape_load_or_name_a_field(config in config()) {
        check(&config, config.to_string().as_bytes(), &secrets())?;
    }

    #[test]
    fn any_json_value_loads_or_names_a_field(value in anything()) {
        check(&value, value.to_string().as_bytes(), &secrets())?;
    }

    /// The Struct form (what Envoy makes of YAML) loads exactly as the JSON text of what it
    /// carries: numbers become doubles on the way, nothing else changes.
    #[test]
    fn a_struct_loads_as_the_json_text_it_carries(config in config()) {
        let Some(object) = config.as_object() else { return Ok(()) };
        let bytes = proto_struct::encode(object);
        check(&config, &bytes, &secrets())?;
        let carried = proto_struct::decode(&bytes).map(|v| v.to_string());
        prop_assert!(carried.is_ok(), "{:?}", carried.err());
        let carried = carried.unwrap_or_default();
        prop_assert_eq!(outcome(&bytes, &env), outcome(carried.as_bytes(), &env));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&Value::Null, &bytes, &secrets())?;
    }
}

//! Named token sources (`credentials:` in the plugin config), validated into what the token
//! fetcher needs. Nothing here derives `Debug`: these values hold keys and tokens.

use super::error::{shown, ConfigError};
use super::raw::{AuthorizedUserKeyFile, KeyFile, RawCredential, ServiceAccountKeyFile};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};

pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_OAUTH_CLUSTER: &str = "google_oauth";
pub const DEFAULT_METADATA_CLUSTER: &str = "gce_metadata";
const METADATA_HOST: &str = "metadata.google.internal";
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The env var (through `vm_config.environment_variables`) the ADC default reads a key file from.
pub const ADC_KEY_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS_JSON";

/// Where a token request goes: the Envoy cluster, and the `:authority` and `:path` to send.
pub struct Endpoint {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    /// The full URI, used as the JWT `aud`.
    pub uri: String,
}

pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: Option<String>,
    pub private_key: RsaPrivateKey,
    pub endpoint: Endpoint,
}

pub struct AuthorizedUser {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub endpoint: Endpoint,
}

pub enum TokenSource {
    ServiceAccount(Box<ServiceAccount>),
    AuthorizedUser(AuthorizedUser),
    MetadataServer(Endpoint),
    /// A fixed bearer token: nothing to fetch.
    Static(String),
}

pub struct Credential {
    pub name: String,
    /// Identifies the token this credential yields in the process-wide cache: the name plus a
    /// fingerprint of the identity, so two configs that reuse a name for another account never
    /// share a token.
    pub cache_key: String,
    pub source: TokenSource,
}

impl Credential {
    fn new(name: &str, identity: &str, source: TokenSource) -> Self {
        let digest = Sha256::digest(identity.as_bytes());
        let fingerprint: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Credential {
            name: name.to_string(),
            cache_key: format!("{name}.{fingerprint}"),
            source,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.source {
            TokenSource::ServiceAccount(_) => "service_account",
            TokenSource::AuthorizedUser(_) => "authorized_user",
            TokenSource::MetadataServer(_) => "metadata_server",
            TokenSource::Static(_) => "access_token",
        }
    }
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn is_valid_credential_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn build(name: &str, raw: RawCredential, env: Env) -> Result<Credential, ConfigError> {
    let field = format!("credentials.{name}");
    if !is_valid_credential_name(name) {
        return Err(ConfigError::new(
            "credentials",
            format!(
                "credential names use letters, digits, '_' and '-' (at most 64): {} does not",
                shown(name)
            ),
        ));
    }
    match raw {
        RawCredential::ServiceAccount {
            key,
            key_env,
            cluster,
        } => {
            let text = key_text(&field, key, key_env, env)?;
            service_account(name, &field, &text, cluster)
        }
        RawCredential::AuthorizedUser {
            key,
            key_env,
            cluster,
        } => {
            let text = key_text(&field, key, key_env, env)?;
            authorized_user(name, &field, &text, cluster)
        }
        RawCredential::MetadataServer { cluster } => {
            let cluster = cluster_name(&field, cluster, DEFAULT_METADATA_CLUSTER)?;
            Ok(metadata_server(name, cluster))
        }
        RawCredential::AccessToken { token, token_env } => {
            let token = one_of(&field, "token", token, "token_env", token_env, env)?;
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::new(
                    format!("{field}.token"),
                    "must be a non-empty bearer token without spaces or control characters",
                ));
            }
            Ok(Credential::new(
                name,
                "access_token",
                TokenSource::Static(token),
            ))
        }
    }
}

/// The credential used when the config names none (Application Default Credentials, in the
/// order that makes sense inside Envoy): a key file in `GOOGLE_APPLICATION_CREDENTIALS_JSON`,
/// else the metadata server.
pub fn application_default(env: Env) -> Result<Credential, ConfigError> {
    let Some(text) = env(ADC_KEY_ENV) else {
        return Ok(metadata_server(
            "default",
            DEFAULT_METADATA_CLUSTER.to_string(),
        ));
    };
    let field = format!("{ADC_KEY_ENV} (environment)");
    match key_file_type(&text).as_deref() {
        Some("service_account") => service_account("default", &field, &text, None),
        Some("authorized_user") => authorized_user("default", &field, &text, None),
        Some(other) => Err(ConfigError::new(
            field,
            format!("key files of type {} are not supported; use service_account or authorized_user", shown(other)),
        )),
        None => Err(ConfigError::new(
            field,
            "must hold a Google key file (JSON with a \"type\" of service_account or authorized_user)",
        )),
    }
}

fn metadata_server(name: &str, cluster: String) -> Credential {
    let identity = format!("metadata_server:{cluster}");
    Credential::new(
        name,
        &identity,
        TokenSource::MetadataServer(Endpoint {
            cluster,
            authority: METADATA_HOST.to_string(),
            path: METADATA_TOKEN_PATH.to_string(),
            uri: format!("http://{METADATA_HOST}{METADATA_TOKEN_PATH}"),
        }),
    )
}

fn service_account(
    name: &str,
    field: &str,
    text: &str,
    cluster: Option<String>,
) -> Result<Credential, ConfigError> {
    expect_type(field, key_file_type(text).as_deref(), "service_account")?;
    let key: ServiceAccountKeyFile = parse_key_file(field, text)?;
    let private_key = parse_private_key(&key.private_key).ok_or_else(|| {
        ConfigError::new(
            format!("{field}.key.private_key"),
            "is not an RSA private key in PEM (PKCS#8 \"BEGIN PRIVATE KEY\" or PKCS#1)",
        )
    })?;
    if !key.client_email.contains('@') {
        return Err(ConfigError::new(
            format!("{field}.key.client_email"),
            "must be the service account's e-mail address",
        ));
    }
    let endpoint = token_endpoint(field, key.token_uri, cluster)?;
    let identity = format!(
        "service_account:{}:{}",
        key.client_email,
        key.private_key_id.as_deref().unwrap_or("")
    );
    Ok(Credential::new(
        name,
        &identity,
        TokenSource::ServiceAccount(Box::new(ServiceAccount {
            client_email: key.client_email,
            private_key_id: key.private_key_id,
            private_key,
            endpoint,
        })),
    ))
}

fn authorized_user(
    name: &str,
    field: &str,
    text: &str,
    cluster: Option<String>,
) -> Result<Credential, ConfigError> {
    expect_type(field, key_file_type(text).as_deref(), "authorized_user")?;
    let key: AuthorizedUserKeyFile = parse_key_file(field, text)?;
    for (value, sub) in [
        (&key.client_id, "client_id"),
        (&key.client_secret, "client_secret"),
        (&key.refresh_token, "refresh_token"),
    ] {
        if value.is_empty() {
            return Err(ConfigError::new(
                format!("{field}.key.{sub}"),
                "must not be empty",
            ));
        }
    }
    let endpoint = token_endpoint(field, key.token_uri, cluster)?;
    let identity = format!(
        "authorized_user:{}:{:x}",
        key.client_id,
        Sha256::digest(key.refresh_token.as_bytes())
    );
    Ok(Credential::new(
        name,
        &identity,
        TokenSource::AuthorizedUser(AuthorizedUser {
            client_id: key.client_id,
            client_secret: key.client_secret,
            refresh_token: key.refresh_token,
            endpoint,
        }),
    ))
}

/// The key file's text, from exactly one of `key` (inline) or `key_env`.
fn key_text(
    field: &str,
    key: Option<KeyFile>,
    key_env: Option<String>,
    env: Env,
) -> Result<String, ConfigError> {
    let inline = match key {
        Some(KeyFile::Text(text)) => Some(text),
        Some(KeyFile::Object(object)) => Some(serde_json::Value::Object(object).to_string()),
        None => None,
    };
    one_of(field, "key", inline, "key_env", key_env, env)
}

/// A value given inline or through an env var, never both.
pub(crate) fn one_of(
    field: &str,
    inline_name: &str,
    inline: Option<String>,
    env_name: &str,
    env_var: Option<String>,
    env: Env,
) -> Result<String, ConfigError> {
    match (inline, env_var) {
        (Some(value), None) => Ok(value),
        (None, Some(var)) => env(&var).filter(|v| !v.is_empty()).ok_or_else(|| {
            ConfigError::new(
                format!("{field}.{env_name}"),
                format!("environment variable {} is not set in the Wasm VM (add it to vm_config.environment_variables)", shown(&var)),
            )
        }),
        (Some(_), Some(_)) => Err(ConfigError::new(
            field,
            format!("give either `{inline_name}` or `{env_name}`, not both"),
        )),
        (None, None) => Err(ConfigError::new(
            field,
            format!("`{inline_name}` or `{env_name}` is required"),
        )),
    }
}

fn parse_key_file<T: serde::de::DeserializeOwned>(
    field: &str,
    text: &str,
) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = ConfigError::from_serde(e.path(), e.inner());
        let sub = if inner.field == "(top level)" {
            String::new()
        } else {
            format!(".{}", inner.field)
        };
        ConfigError::new(format!("{field}.key{sub}"), inner.reason)
    })
}

fn key_file_type(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_str::<Kind>(text).ok()?.kind
}

fn expect_type(field: &str, found: Option<&str>, expected: &str) -> Result<(), ConfigError> {
    match found {
        None => Ok(()),
        Some(kind) if kind == expected => Ok(()),
        Some(kind) => Err(ConfigError::new(
            format!("{field}.key.type"),
            format!("the key file is of type {}; set the credential's `type` to it or give a {expected} key", shown(kind)),
        )),
    }
}

fn parse_private_key(pem: &str) -> Option<RsaPrivateKey> {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .ok()
        .or_else(|| RsaPrivateKey::from_pkcs1_pem(pem).ok())
}

fn cluster_name(
    field: &str,
    cluster: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let cluster = cluster.unwrap_or_else(|| default.to_string());
    let ok = !cluster.is_empty()
        && cluster.len() <= 256
        && cluster.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(cluster)
    } else {
        Err(ConfigError::new(
            format!("{field}.cluster"),
            "must be the name of an Envoy cluster (printable, no spaces)",
        ))
    }
}

fn token_endpoint(
    field: &str,
    token_uri: Option<String>,
    cluster: Option<String>,
) -> Result<Endpoint, ConfigError> {
    let uri = token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.to_string());
    let invalid = || {
        ConfigError::new(
            format!("{field}.key.token_uri"),
            "must be an absolute http(s) URL such as https://oauth2.googleapis.com/token",
        )
    };
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (rest.get(..slash), rest.get(slash..)),
        None => (Some(rest), Some("/")),
    };
    let (Some(authority), Some(path)) = (authority, path) else {
        return Err(invalid());
    };
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if authority.is_empty() || !printable(authority) || !printable(path) {
        return Err(invalid());
    }
    Ok(Endpoint {
        cluster: cluster_name(field, cluster, DEFAULT_OAUTH_CLUSTER)?,
        authority: authority.to_string(),
        path: path.to_string(),
        uri: uri.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn raw(json: serde_json::Value) -> RawCredential {
        serde_json::from_value(json).unwrap()
    }

    fn error_of(result: Result<Credential, ConfigError>) -> ConfigError {
        match result {
            Ok(_) => panic!("expected a config error"),
            Err(e) => e,
        }
    }

    #[test]
    fn service_account_key_as_object_reads_email_and_token_endpoint() {
        let key: serde_json::Value =
            serde_json::from_str(&fixture("service_account_a.json")).unwrap();
        let cred = build(
            "default",
            raw(serde_json::json!({"type": "service_account", "key": key})),
            &no_env,
        )
        .unwrap();
        let TokenSource::ServiceAccount(sa) = &cred.source else {
            panic!("wrong kind")
        };
        assert_eq!(
            sa.client_email,
            "vertex-a@proj-alpha.iam.gserviceaccount.com"
        );
        assert_eq!(sa.endpoint.cluster, "google_oauth");
        assert_eq!(sa.endpoint.authority, "oauth2.googleapis.com");
        assert_eq!(sa.endpoint.path, "/token");
        assert_eq!(sa.endpoint.uri, "https://oauth2.googleapis.com/token");
    }

    #[test]
    fn service_account_key_as_string_or_env_is_the_same_account() {
        let text = fixture("service_account_a.json");
        let from_string = build(
            "a",
            raw(serde_json::json!({"type": "service_account", "key": text})),
            &no_env,
        )
        .unwrap();
        let env = |name: &str| (name == "SA").then(|| fixture("service_account_a.json"));
        let from_env = build(
            "a",
            raw(serde_json::json!({"type": "service_account", "key_env": "SA"})),
            &env,
        )
        .unwrap();
        assert_eq!(from_string.cache_key, from_env.cache_key);
    }

    #[test]
    fn two_accounts_under_one_name_get_different_cache_keys() {
        let a = build("default", raw(serde_json::json!({"type": "service_account", "key": fixture("service_account_a.json")})), &no_env).unwrap();
        let b = build("default", raw(serde_json::json!({"type": "service_account", "key": fixture("service_account_b.json")})), &no_env).unwrap();
        assert_ne!(a.cache_key, b.cache_key);
    }

    #[test]
    fn missing_env_var_names_the_field_and_the_variable() {
        let e = error_of(build(
            "default",
            raw(serde_json::json!({"type": "service_account", "key_env": "NOPE"})),
            &no_env,
        ));
        assert_eq!(e.field, "credentials.default.key_env");
        assert!(e.reason.contains("NOPE"));
    }

    #[test]
    fn key_without_private_key_names_the_missing_field() {
        let e = error_of(build(
            "default",
            raw(serde_json::json!({"type": "service_account", "key": {"client_email": "x@y"}})),
            &no_env,
        ));
        assert_eq!(e.field, "credentials.default.key");
        assert!(e.reason.contains("private_key"), "{}", e.reason);
    }

    #[test]
    fn garbage_private_key_is_refused_without_echoing_it() {
        let e = error_of(build(
            "default",
            raw(
                serde_json::json!({"type": "service_account", "key": {"client_email": "x@y", "private_key": "SECRETSECRET"}}),
            ),
            &no_env,
        ));
        assert_eq!(e.field, "credentials.default.key.private_key");
        assert!(!e.to_string().contains("SECRETSECRET"));
    }

    #[test]
    fn authorized_user_key_given_as_service_account_says_which_type_to_set() {
        let e = error_of(build(
            "default",
            raw(
                serde_json::json!({"type": "service_account", "key": fixture("authorized_user.json")}),
            ),
            &no_env,
        ));
        assert!(e.reason.contains("authorized_user"), "{}", e.reason);
    }

    #[test]
    fn authorized_user_posts_to_googles_token_endpoint() {
        let cred = build("user", raw(serde_json::json!({"type": "authorized_user", "key": fixture("authorized_user.json")})), &no_env).unwrap();
        let TokenSource::AuthorizedUser(user) = &cred.source else {
            panic!("wrong kind")
        };
        assert_eq!(user.endpoint.authority, "oauth2.googleapis.com");
        assert_eq!(user.endpoint.cluster, "google_oauth");
    }

    #[test]
    fn access_token_needs_exactly_one_source() {
        let e = error_of(build(
            "s",
            raw(serde_json::json!({"type": "access_token", "token": "a", "token_env": "B"})),
            &no_env,
        ));
        assert_eq!(e.field, "credentials.s");
        let e = error_of(build(
            "s",
            raw(serde_json::json!({"type": "access_token"})),
            &no_env,
        ));
        assert!(e.reason.contains("required"));
    }

    #[test]
    fn application_default_prefers_the_env_key_and_falls_back_to_metadata() {
        let env = |name: &str| (name == ADC_KEY_ENV).then(|| fixture("service_account_b.json"));
        assert_eq!(application_default(&env).unwrap().kind(), "service_account");
        let env = |name: &str| (name == ADC_KEY_ENV).then(|| fixture("authorized_user.json"));
        assert_eq!(application_default(&env).unwrap().kind(), "authorized_user");
        let metadata = application_default(&no_env).unwrap();
        let TokenSource::MetadataServer(endpoint) = &metadata.source else {
            panic!("wrong kind")
        };
        assert_eq!(endpoint.cluster, "gce_metadata");
    }
}

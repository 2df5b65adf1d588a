//! The credentials the emulated Google endpoints accept: service-account key files and
//! `authorized_user` files, in the shapes Google's tooling writes them.
use anyhow::{bail, Context};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A service-account key file (`"type": "service_account"`), reduced to what the token endpoint needs.
/// Its `Debug` leaves the private key out.
#[derive(Clone)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key_id: String,
    pub private_key_pem: String,
    pub token_uri: String,
    /// The key file's `project_id`: the one project the emulated Vertex lets this account use.
    pub project_id: Option<String>,
}

#[derive(Deserialize)]
struct ServiceAccountFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key_id: String,
    private_key: String,
    token_uri: String,
    project_id: Option<String>,
}

impl ServiceAccountKey {
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let file: ServiceAccountFile =
            serde_json::from_str(text).context("not a service-account key file")?;
        if let Some(kind) = file.kind.as_deref() {
            if kind != "service_account" {
                bail!("key file has type {kind:?}, expected \"service_account\"");
            }
        }
        let key = ServiceAccountKey {
            client_email: file.client_email,
            private_key_id: file.private_key_id,
            private_key_pem: file.private_key,
            token_uri: file.token_uri,
            project_id: file.project_id,
        };
        // Refuse an unusable key here rather than at the first token request.
        key.public_key()?;
        Ok(key)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The private key, as Google writes it (PKCS#8) or in the older PKCS#1 form.
    pub fn private_key(&self) -> anyhow::Result<RsaPrivateKey> {
        RsaPrivateKey::from_pkcs8_pem(&self.private_key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&self.private_key_pem))
            .with_context(|| format!("private key of {} is not an RSA PEM key", self.client_email))
    }

    /// The public half, which is all Google keeps and all the token endpoint verifies with.
    pub fn public_key(&self) -> anyhow::Result<RsaPublicKey> {
        Ok(RsaPublicKey::from(&self.private_key()?))
    }
}

/// An `authorized_user` file, as `gcloud auth application-default login` writes it.
/// Its `Debug` leaves the secret and the refresh token out.
#[derive(Clone, Deserialize)]
pub struct AuthorizedUser {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// When set, the one project the emulated Vertex lets this user use.
    #[serde(default)]
    pub quota_project_id: Option<String>,
}

impl AuthorizedUser {
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        serde_json::from_str(text).context("not an authorized_user file")
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("in {}", path.display()))
    }
}

const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key_pem", &REDACTED)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish()
    }
}

impl std::fmt::Debug for AuthorizedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedUser")
            .field("client_id", &self.client_id)
            .field("client_secret", &REDACTED)
            .field("refresh_token", &REDACTED)
            .field("quota_project_id", &self.quota_project_id)
            .finish()
    }
}

/// `tests/fixtures`, wherever the repository was built.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The fixture files, compiled in so the emulator does not depend on the working directory.
pub const SERVICE_ACCOUNT_A_JSON: &str = include_str!("../../fixtures/service_account_a.json");
pub const SERVICE_ACCOUNT_B_JSON: &str = include_str!("../../fixtures/service_account_b.json");
pub const AUTHORIZED_USER_JSON: &str = include_str!("../../fixtures/authorized_user.json");

/// A service account together with the public key derived from it, ready for verification.
#[derive(Clone, Debug)]
pub(crate) struct KnownAccount {
    pub key: ServiceAccountKey,
    pub public_key: RsaPublicKey,
}

impl KnownAccount {
    pub fn new(key: ServiceAccountKey) -> anyhow::Result<Self> {
        let public_key = key.public_key()?;
        Ok(KnownAccount { key, public_key })
    }
}

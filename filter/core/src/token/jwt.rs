//! The service-account JWT-bearer assertion (RFC 7523) Google's token endpoint expects.

use crate::config::credential::ServiceAccount;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::OsRng;
use rsa::Pkcs1v15Sign;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const ASSERTION_LIFETIME_S: u64 = 3600;

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'static str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// A signed RS256 JWT: `kid` = private_key_id; `iss` = client_email; `aud` = token_uri;
/// `exp` = `iat` + 3600. `None` only if signing fails (it does not for a key that parsed).
pub fn assertion(account: &ServiceAccount, now_s: u64) -> Option<String> {
    let header = Header {
        alg: "RS256",
        typ: "JWT",
        kid: account.private_key_id.as_deref(),
    };
    let claims = Claims {
        iss: &account.client_email,
        scope: CLOUD_PLATFORM_SCOPE,
        aud: &account.endpoint.uri,
        iat: now_s,
        exp: now_s + ASSERTION_LIFETIME_S,
    };
    let mut jwt = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).ok()?);
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?));
    let digest = Sha256::digest(jwt.as_bytes());
    // Blinded, so the time a signature takes says nothing about the key. The random source is
    // the host's (WASI `random_get` in Envoy); if it fails, so does the signature.
    let signature = account
        .private_key
        .sign_with_rng(&mut OsRng, Pkcs1v15Sign::new::<Sha256>(), &digest)
        .ok()?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Some(jwt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::credential::{Endpoint, ServiceAccount};
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::RsaPrivateKey;

    fn account() -> ServiceAccount {
        let text = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/service_account_a.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let key: serde_json::Value = serde_json::from_str(&text).unwrap();
        ServiceAccount {
            client_email: key["client_email"].as_str().unwrap().to_string(),
            private_key_id: Some(key["private_key_id"].as_str().unwrap().to_string()),
            private_key: RsaPrivateKey::from_pkcs8_pem(key["private_key"].as_str().unwrap())
                .unwrap(),
            endpoint: Endpoint {
                cluster: "google_oauth".into(),
                authority: "oauth2.googleapis.com".into(),
                path: "/token".into(),
                uri: "https://oauth2.googleapis.com/token".into(),
            },
        }
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn header_and_claims_are_what_google_checks() {
        let account = account();
        let jwt = assertion(&account, 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            header["kid"],
            account.private_key_id.clone().unwrap().as_str()
        );
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "vertex-a@proj-alpha.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_003_600u64);
    }

    #[test]
    fn signature_verifies_with_the_public_half() {
        let account = account();
        let jwt = assertion(&account, 1_700_000_000).unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let public = account.private_key.to_public_key();
        let digest = Sha256::digest(signed.as_bytes());
        public
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &digest,
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }
}

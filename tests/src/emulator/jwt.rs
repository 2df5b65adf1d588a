//! Verification of a JWT-bearer assertion the way Google's token endpoint does it: RS256 with the
//! account's public key, the right `kid`, `aud`, `scope`, and a short, current `iat`/`exp` window.
use super::credentials::KnownAccount;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::Pkcs1v15Sign;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How far in the future `iat` may be (clock skew Google tolerates).
const MAX_CLOCK_SKEW_S: f64 = 60.0;
/// How old `iat` may be.
const MAX_ASSERTION_AGE_S: f64 = 300.0;
/// Google accepts assertions valid for at most an hour.
const MAX_ASSERTION_LIFETIME_S: f64 = 3600.0;

const SHORT_LIVED: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                           reasonable timeframe. Check your iat and exp values in the JWT claim.";

struct Parts<'a> {
    header: Value,
    claims: Value,
    signed_input: &'a str,
    signature: Vec<u8>,
}

fn decode_json(part: &str, what: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| format!("Invalid JWT: {what} is not base64url"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|_| format!("Invalid JWT: {what} is not JSON"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!("Invalid JWT: {what} is not a JSON object"))
    }
}

fn split(assertion: &str) -> Result<Parts<'_>, String> {
    let pieces: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = pieces.as_slice() else {
        return Err("Invalid JWT: expected three dot-separated parts".to_owned());
    };
    let signed_len = header.len() + 1 + claims.len();
    Ok(Parts {
        header: decode_json(header, "header")?,
        claims: decode_json(claims, "claims")?,
        signed_input: &assertion[..signed_len],
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "Invalid JWT Signature.".to_owned())?,
    })
}

/// The `iss` claim, read without verifying anything, to say who a refused request claimed to be.
pub fn unverified_issuer(assertion: &str) -> Option<String> {
    let claims = assertion.split('.').nth(1)?;
    let claims = decode_json(claims, "claims").ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

fn number(claims: &Value, name: &str) -> Result<f64, String> {
    claims
        .get(name)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("Invalid JWT: claim {name} is missing or not a number"))
}

/// Checks `assertion` against the known accounts at `now_unix`; on success, the account it
/// authenticates. The error is Google's `error_description` for an `invalid_grant`.
pub(crate) fn verify_assertion<'a>(
    assertion: &str,
    accounts: &'a [KnownAccount],
    now_unix: f64,
) -> Result<&'a KnownAccount, String> {
    let parts = split(assertion)?;

    if parts.header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("Invalid JWT: alg must be RS256".to_owned());
    }
    if let Some(typ) = parts.header.get("typ") {
        if typ.as_str() != Some("JWT") {
            return Err("Invalid JWT: typ must be JWT".to_owned());
        }
    }

    let issuer = parts
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or("Invalid JWT: claim iss is missing")?;
    let account = accounts
        .iter()
        .find(|account| account.key.client_email == issuer)
        .ok_or("Invalid grant: account not found")?;

    if parts.header.get("kid").and_then(Value::as_str) != Some(account.key.private_key_id.as_str())
    {
        return Err("Invalid JWT Signature.".to_owned());
    }
    let digest = Sha256::digest(parts.signed_input.as_bytes());
    account
        .public_key
        .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &parts.signature)
        .map_err(|_| "Invalid JWT Signature.".to_owned())?;

    let audience = parts.claims.get("aud").and_then(Value::as_str);
    if audience != Some(account.key.token_uri.as_str()) {
        return Err(format!(
            "Invalid JWT: Failed audience check. The right audience is {}",
            account.key.token_uri
        ));
    }

    let scopes = parts
        .claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !scopes.split(' ').any(|scope| scope == CLOUD_PLATFORM_SCOPE) {
        return Err(format!(
            "Invalid JWT: scope must include {CLOUD_PLATFORM_SCOPE}"
        ));
    }

    let issued_at = number(&parts.claims, "iat")?;
    let expires_at = number(&parts.claims, "exp")?;
    let too_new = issued_at > now_unix + MAX_CLOCK_SKEW_S;
    let too_old = issued_at < now_unix - MAX_ASSERTION_AGE_S;
    let expired = expires_at <= now_unix;
    let too_long = expires_at - issued_at > MAX_ASSERTION_LIFETIME_S || expires_at <= issued_at;
    if too_new || too_old || expired || too_long {
        return Err(SHORT_LIVED.to_owned());
    }

    Ok(account)
}

//! Reading a token endpoint's answer: a token and its lifetime, or an error code safe to show.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedToken {
    pub access_token: String,
    pub expires_in_s: u64,
}

/// Why no token came back: a short code for the 503 message and the logs. It is the OAuth
/// `error` code when the endpoint gave one, else a code of ours; never a description (those can
/// echo what was sent) and never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

#[derive(Deserialize)]
struct Success {
    access_token: Option<String>,
    expires_in: Option<ExpiresIn>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

/// `status` is `None` when the call got no response at all (timeout, reset, no upstream).
pub fn parse(status: Option<u16>, body: &[u8]) -> Result<FetchedToken, FetchError> {
    let status = status.ok_or_else(|| FetchError("no_response".into()))?;
    if status != 200 {
        let code = serde_json::from_slice::<OAuthError>(body)
            .ok()
            .map(|e| e.error)
            .filter(|code| is_safe_code(code))
            .unwrap_or_else(|| format!("http_{status}"));
        return Err(FetchError(code));
    }
    let success: Success =
        serde_json::from_slice(body).map_err(|_| FetchError("malformed_token_response".into()))?;
    let access_token = success
        .access_token
        .filter(|t| !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| FetchError("malformed_token_response".into()))?;
    let expires_in_s = match success.expires_in {
        Some(ExpiresIn::Number(n)) => n,
        Some(ExpiresIn::Text(t)) => t
            .trim()
            .parse()
            .map_err(|_| FetchError("malformed_token_response".into()))?,
        None => return Err(FetchError("malformed_token_response".into())),
    };
    if expires_in_s == 0 {
        return Err(FetchError("malformed_token_response".into()));
    }
    Ok(FetchedToken {
        access_token,
        expires_in_s,
    })
}

fn is_safe_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_and_string_lifetimes_are_read() {
        let t = parse(
            Some(200),
            br#"{"access_token":"ya29.a","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(
            t,
            FetchedToken {
                access_token: "ya29.a".into(),
                expires_in_s: 3599
            }
        );
        let t = parse(
            Some(200),
            br#"{"access_token":"ya29.a","expires_in":"3599"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in_s, 3599);
    }

    #[test]
    fn oauth_error_code_is_kept_and_description_dropped() {
        let e = parse(
            Some(400),
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature. key=SECRET"}"#,
        )
        .unwrap_err();
        assert_eq!(e, FetchError("invalid_grant".into()));
    }

    #[test]
    fn non_json_errors_become_the_http_status() {
        assert_eq!(
            parse(Some(500), b"<html>oops</html>").unwrap_err(),
            FetchError("http_500".into())
        );
        assert_eq!(
            parse(Some(400), br#"{"error":"<script>"}"#).unwrap_err(),
            FetchError("http_400".into())
        );
    }

    #[test]
    fn malformed_success_bodies_are_refused() {
        for body in [
            &b"garbage"[..],
            br#"{"expires_in":10}"#,
            br#"{"access_token":"a b","expires_in":10}"#,
            br#"{"access_token":"a"}"#,
            br#"{"access_token":"a","expires_in":"soon"}"#,
            br#"{"access_token":"a\r\nx: y","expires_in":10}"#,
        ] {
            assert_eq!(
                parse(Some(200), body).unwrap_err(),
                FetchError("malformed_token_response".into()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn no_response_is_its_own_code() {
        assert_eq!(
            parse(None, b"").unwrap_err(),
            FetchError("no_response".into())
        );
    }
}

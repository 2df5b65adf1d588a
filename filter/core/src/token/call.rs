//! The HTTP call that fetches a token, per credential type (docs/design.md "Google tokens").

use super::jwt;
use crate::config::credential::{Endpoint, TokenSource};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Form values keep RFC 3986's unreserved characters; everything else is percent-encoded.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Everything `dispatch_http_call` needs.
pub struct TokenCall<'a> {
    pub cluster: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

/// `None` for a static token (nothing to fetch) or when a JWT cannot be signed.
pub fn token_call(source: &TokenSource, now_s: u64) -> Option<TokenCall<'_>> {
    match source {
        TokenSource::ServiceAccount(account) => {
            let assertion = jwt::assertion(account, now_s)?;
            Some(form_post(
                &account.endpoint,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &assertion),
                ],
            ))
        }
        TokenSource::AuthorizedUser(user) => Some(form_post(
            &user.endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &user.client_id),
                ("client_secret", &user.client_secret),
                ("refresh_token", &user.refresh_token),
            ],
        )),
        TokenSource::MetadataServer(endpoint) => Some(TokenCall {
            cluster: &endpoint.cluster,
            headers: vec![
                (":method", "GET".to_string()),
                (":path", endpoint.path.clone()),
                (":authority", endpoint.authority.clone()),
                ("metadata-flavor", "Google".to_string()),
            ],
            body: None,
        }),
        TokenSource::Static(_) => None,
    }
}

fn form_post<'a>(endpoint: &'a Endpoint, fields: &[(&str, &str)]) -> TokenCall<'a> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM_VALUE)))
        .collect::<Vec<_>>()
        .join("&");
    TokenCall {
        cluster: &endpoint.cluster,
        headers: vec![
            (":method", "POST".to_string()),
            (":path", endpoint.path.clone()),
            (":authority", endpoint.authority.clone()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ],
        body: Some(body.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::credential::AuthorizedUser;

    fn header<'a>(call: &'a TokenCall, name: &str) -> &'a str {
        &call.headers.iter().find(|(k, _)| *k == name).unwrap().1
    }

    #[test]
    fn authorized_user_posts_the_refresh_grant_form_encoded() {
        let source = TokenSource::AuthorizedUser(AuthorizedUser {
            client_id: "id.apps".into(),
            client_secret: "s&cret".into(),
            refresh_token: "1//r=t".into(),
            endpoint: Endpoint {
                cluster: "google_oauth".into(),
                authority: "oauth2.googleapis.com".into(),
                path: "/token".into(),
                uri: "https://oauth2.googleapis.com/token".into(),
            },
        });
        let call = token_call(&source, 0).unwrap();
        assert_eq!(call.cluster, "google_oauth");
        assert_eq!(header(&call, ":method"), "POST");
        assert_eq!(header(&call, ":authority"), "oauth2.googleapis.com");
        let body = String::from_utf8(call.body.unwrap()).unwrap();
        assert_eq!(body, "grant_type=refresh_token&client_id=id.apps&client_secret=s%26cret&refresh_token=1%2F%2Fr%3Dt");
    }

    #[test]
    fn metadata_server_is_a_get_with_the_flavor_header() {
        let source = TokenSource::MetadataServer(Endpoint {
            cluster: "gce_metadata".into(),
            authority: "metadata.google.internal".into(),
            path: "/computeMetadata/v1/instance/service-accounts/default/token".into(),
            uri: String::new(),
        });
        let call = token_call(&source, 0).unwrap();
        assert_eq!(header(&call, ":method"), "GET");
        assert_eq!(header(&call, "metadata-flavor"), "Google");
        assert!(call.body.is_none());
    }

    #[test]
    fn static_token_needs_no_call() {
        assert!(token_call(&TokenSource::Static("t".into()), 0).is_none());
    }
}

//! `https://oauth2.googleapis.com/token`: the JWT-bearer grant for service accounts and the
//! refresh-token grant for authorized users, verified as Google verifies them.
use super::http::{authority, header_pairs, header_text, host_of, read_body, Body};
use super::jwt::{unverified_issuer, verify_assertion};
use super::record::{TokenEndpoint, TokenRequest};
use super::state::{lock, Shared};
use super::token_reply::{answer_verified, oauth_error, plain_refusal, TokenAnswer};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";
/// The host of the token URI in Google's key files; another host is another service.
pub const OAUTH_HOST: &str = "oauth2.googleapis.com";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let arrival = shared.next_arrival();
    let at = SystemTime::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let authority = authority(&request);
    let headers = header_pairs(request.headers());
    let is_form = header_text(request.headers(), "content-type")
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE));
    let body = read_body(request.into_body()).await;
    let form = Form::parse(body.as_deref().unwrap_or_default());

    let grant_type = form.get("grant_type").map(str::to_owned);
    let subject = match grant_type.as_deref() {
        Some(JWT_BEARER_GRANT) => form.get("assertion").and_then(unverified_issuer),
        Some(REFRESH_TOKEN_GRANT) => form.get("client_id").map(str::to_owned),
        _ => None,
    };

    let answer = if host_of(&authority) == OAUTH_HOST {
        decide(&shared, &method, &path, is_form, &body, &form)
    } else {
        plain_refusal(
            404,
            "wrong_host",
            "<html><body>404. That's an error. The requested URL was not found on this server.</body></html>",
        )
    };
    shared.log("oauth", method.as_str(), &path, answer.status());
    lock(&shared.records).token_requests.push(TokenRequest {
        arrival,
        at,
        endpoint: TokenEndpoint::OAuth,
        grant_type,
        subject,
        outcome: answer.outcome.clone(),
        headers,
        authority,
        method: method.to_string(),
        path,
    });
    let mut held = shared.token_answers_held.subscribe();
    // The sender lives as long as `shared`: this returns once the answers are released.
    let _ = held.wait_for(|held| !held).await;
    match answer.response {
        Some(response) => response,
        None => std::future::pending().await,
    }
}

fn decide(
    shared: &Shared,
    method: &Method,
    path: &str,
    is_form: bool,
    body: &Result<Bytes, String>,
    form: &Form,
) -> TokenAnswer {
    if path != "/token" {
        return plain_refusal(
            404,
            "not_found",
            "<html><body>404. Not Found.</body></html>",
        );
    }
    if method != Method::POST {
        return oauth_error(
            405,
            "invalid_request",
            "the token endpoint accepts only POST",
        );
    }
    if let Err(why) = body {
        return oauth_error(400, "invalid_request", why);
    }
    if !is_form {
        return oauth_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    match form.get("grant_type") {
        None => oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
        Some(JWT_BEARER_GRANT) => jwt_bearer(shared, form),
        Some(REFRESH_TOKEN_GRANT) => refresh_token(shared, form),
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
    }
}

fn jwt_bearer(shared: &Shared, form: &Form) -> TokenAnswer {
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or_default();
    match verify_assertion(assertion, &shared.accounts, now) {
        Ok(account) => answer_verified(shared, &account.key.client_email),
        Err(why) => oauth_error(400, "invalid_grant", &why),
    }
}

fn refresh_token(shared: &Shared, form: &Form) -> TokenAnswer {
    let client = form.get("client_id").and_then(|client_id| {
        shared
            .authorized_users
            .iter()
            .find(|user| user.client_id == client_id)
    });
    let Some(user) = client else {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    };
    if form.get("client_secret") != Some(user.client_secret.as_str()) {
        return oauth_error(401, "invalid_client", "Unauthorized");
    }
    match form.get("refresh_token") {
        None => oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: refresh_token",
        ),
        Some(token) if token == user.refresh_token => answer_verified(shared, &user.client_id),
        Some(_) => oauth_error(400, "invalid_grant", "Bad Request"),
    }
}

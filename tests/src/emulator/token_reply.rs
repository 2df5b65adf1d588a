//! The answers both token endpoints give: a fresh token, an OAuth error, or whatever failure
//! the test asked for with `TokenBehaviour`.
use super::http::{json_response, raw_response, Body};
use super::record::TokenOutcome;
use super::state::{lock, Shared};
use super::tokens::TokenBehaviour;
use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::Response;
use std::time::SystemTime;

/// A decided answer. `response` is None when the request is to be left hanging.
pub(crate) struct TokenAnswer {
    pub response: Option<Response<Body>>,
    pub outcome: TokenOutcome,
}

impl TokenAnswer {
    pub fn status(&self) -> u16 {
        self.response
            .as_ref()
            .map(|response| response.status().as_u16())
            .unwrap_or(0)
    }
}

/// An OAuth 2 error body (RFC 6749 §5.2), as Google's token endpoint writes it.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> TokenAnswer {
    TokenAnswer {
        response: Some(json_response(
            status,
            &serde_json::json!({"error": error, "error_description": description}),
        )),
        outcome: TokenOutcome::Refused {
            status,
            error: error.to_owned(),
        },
    }
}

/// A refusal that is not an OAuth error body (404 pages, the metadata server's 403).
pub(crate) fn plain_refusal(status: u16, error: &str, text: &str) -> TokenAnswer {
    TokenAnswer {
        response: Some(raw_response(
            status,
            "text/html; charset=UTF-8",
            text.to_owned(),
        )),
        outcome: TokenOutcome::Refused {
            status,
            error: error.to_owned(),
        },
    }
}

/// The failure the test configured, or None when tokens are to be issued normally.
fn configured_failure(shared: &Shared) -> Option<TokenAnswer> {
    let behaviour = lock(&shared.controls).token_behaviour.clone();
    let answer = match behaviour {
        TokenBehaviour::Issue => return None,
        TokenBehaviour::OAuthError { status, error } => {
            oauth_error(status, &error, "emulated token endpoint failure")
        }
        TokenBehaviour::ServerError => plain_refusal(
            500,
            "server_error",
            "<!DOCTYPE html><html><body><h1>500. That's an error.</h1></body></html>",
        ),
        TokenBehaviour::Garbage => TokenAnswer {
            response: Some(raw_response(200, "text/plain", "this is not JSON {")),
            outcome: TokenOutcome::Refused {
                status: 200,
                error: "garbage".to_owned(),
            },
        },
        TokenBehaviour::MissingToken => TokenAnswer {
            response: Some(json_response(
                200,
                &serde_json::json!({"expires_in": 3599, "token_type": "Bearer"}),
            )),
            outcome: TokenOutcome::Refused {
                status: 200,
                error: "missing_access_token".to_owned(),
            },
        },
        TokenBehaviour::Hang => TokenAnswer {
            response: None,
            outcome: TokenOutcome::Unanswered,
        },
    };
    Some(answer)
}

/// The answer to a request that passed every check: the failure the test configured, else a
/// token for `subject`. A canned failure thus never hides a request Google would refuse.
pub(crate) fn answer_verified(shared: &Shared, subject: &str) -> TokenAnswer {
    configured_failure(shared).unwrap_or_else(|| issue(shared, subject))
}

/// Issues a token to `subject` with the current lifetime and answers with it.
fn issue(shared: &Shared, subject: &str) -> TokenAnswer {
    let (lifetime_s, as_string) = {
        let controls = lock(&shared.controls);
        (controls.token_lifetime_s, controls.expires_in_as_string)
    };
    let issued = lock(&shared.tokens).issue(subject, lifetime_s, SystemTime::now());
    let expires_in = if as_string {
        serde_json::Value::from(lifetime_s.to_string())
    } else {
        serde_json::Value::from(lifetime_s)
    };
    let mut response = json_response(
        200,
        &serde_json::json!({
            "access_token": issued.token,
            "expires_in": expires_in,
            "token_type": "Bearer",
        }),
    );
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    TokenAnswer {
        response: Some(response),
        outcome: TokenOutcome::Issued {
            token: issued.token,
        },
    }
}

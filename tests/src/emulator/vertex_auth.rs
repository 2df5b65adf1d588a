//! The bearer-token check in front of Vertex, REST and Live alike.
use super::http::{google_error, Body};
use super::state::{lock, Shared};
use super::tokens::TokenCheck;
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::Response;
use std::time::SystemTime;

const MISSING_CREDENTIALS: &str = "Request is missing required authentication credential. \
    Expected OAuth 2 access token, login cookie or other valid authentication credential. \
    See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials. \
    Expected OAuth 2 access token, login cookie or other valid authentication credential. \
    See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// Who is calling, as far as the bearer token says.
pub(crate) struct Caller {
    /// Whom this emulator issued the token to (also for expired or revoked tokens).
    pub subject: Option<String>,
    pub expired: bool,
    /// The 401 to answer, when the token is missing, unknown, expired or revoked.
    pub refusal: Option<Response<Body>>,
}

fn unauthenticated(message: &str) -> Response<Body> {
    let mut response = google_error(401, "UNAUTHENTICATED", message);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
    );
    response
}

pub(crate) fn authenticate(shared: &Shared, bearer: Option<&str>) -> Caller {
    let Some(token) = bearer else {
        return Caller {
            subject: None,
            expired: false,
            refusal: Some(unauthenticated(MISSING_CREDENTIALS)),
        };
    };
    let check = lock(&shared.tokens).check(token, SystemTime::now());
    Caller {
        subject: check.subject().map(str::to_owned),
        expired: matches!(check, TokenCheck::Expired { .. }),
        refusal: match check {
            TokenCheck::Valid { .. } => None,
            _ => Some(unauthenticated(INVALID_CREDENTIALS)),
        },
    }
}

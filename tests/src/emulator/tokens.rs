//! The access tokens this emulator has issued, and how a bearer token is judged at Vertex.
use super::record::IssuedToken;
use rand::distributions::{Alphanumeric, DistString};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// What the token endpoints (OAuth and metadata) do with the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenBehaviour {
    /// Verify the request like Google and issue a token.
    Issue,
    /// `{"error": error, "error_description": ...}` with this status.
    OAuthError { status: u16, error: String },
    /// 500 with an HTML body, as a front end in trouble answers.
    ServerError,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 JSON without `access_token`.
    MissingToken,
    /// Accept the request and never answer it.
    Hang,
}

/// The verdict on a bearer token presented to Vertex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid { subject: String },
    Expired { subject: String },
    Revoked { subject: String },
    Unknown,
}

impl TokenCheck {
    pub fn subject(&self) -> Option<&str> {
        match self {
            TokenCheck::Valid { subject }
            | TokenCheck::Expired { subject }
            | TokenCheck::Revoked { subject } => Some(subject),
            TokenCheck::Unknown => None,
        }
    }
}

struct StoredToken {
    issued: IssuedToken,
    revoked: bool,
}

/// Issued tokens in issue order, with an index by token value.
#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: Vec<StoredToken>,
    by_value: HashMap<String, usize>,
}

/// Google's access tokens start `ya29.`; the `emu-` marks them as ours in logs and dumps.
fn new_access_token() -> String {
    format!(
        "ya29.emu-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 48)
    )
}

impl TokenStore {
    pub fn issue(&mut self, subject: &str, lifetime_s: u64, now: SystemTime) -> IssuedToken {
        let issued = IssuedToken {
            token: new_access_token(),
            subject: subject.to_owned(),
            issued_at: now,
            expires_at: now + Duration::from_secs(lifetime_s),
        };
        self.by_value
            .insert(issued.token.clone(), self.tokens.len());
        self.tokens.push(StoredToken {
            issued: issued.clone(),
            revoked: false,
        });
        issued
    }

    pub fn check(&self, token: &str, now: SystemTime) -> TokenCheck {
        let Some(stored) = self.by_value.get(token).and_then(|&i| self.tokens.get(i)) else {
            return TokenCheck::Unknown;
        };
        let subject = stored.issued.subject.clone();
        if stored.revoked {
            TokenCheck::Revoked { subject }
        } else if now >= stored.issued.expires_at {
            TokenCheck::Expired { subject }
        } else {
            TokenCheck::Valid { subject }
        }
    }

    pub fn revoke_all(&mut self) {
        for stored in &mut self.tokens {
            stored.revoked = true;
        }
    }

    pub fn issued(&self) -> Vec<IssuedToken> {
        self.tokens.iter().map(|s| s.issued.clone()).collect()
    }
}

//! Responses the filter makes itself, in Google's error shape so Vertex clients parse them.

use serde::Serialize;

/// The gRPC-style status names Google puts beside the HTTP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    FailedPrecondition,
    /// A request body over the filter's bound (`413`).
    PayloadTooLarge,
    /// A client key over its `rpm` or `tpm` (`429`).
    ResourceExhausted,
    Unavailable,
}

impl Status {
    pub fn http_code(self) -> u32 {
        match self {
            Status::InvalidArgument => 400,
            Status::Unauthenticated => 401,
            Status::PermissionDenied => 403,
            Status::NotFound => 404,
            Status::FailedPrecondition => 426,
            Status::PayloadTooLarge => 413,
            Status::ResourceExhausted => 429,
            Status::Unavailable => 503,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::Unauthenticated => "UNAUTHENTICATED",
            Status::PermissionDenied => "PERMISSION_DENIED",
            Status::NotFound => "NOT_FOUND",
            Status::FailedPrecondition => "FAILED_PRECONDITION",
            Status::PayloadTooLarge => "INVALID_ARGUMENT",
            Status::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Status::Unavailable => "UNAVAILABLE",
        }
    }
}

/// An error the filter answers itself instead of forwarding the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: Status,
    pub message: String,
    /// Seconds for a `retry-after` header.
    pub retry_after_s: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: u32,
    message: &'a str,
    status: &'static str,
}

impl ErrorResponse {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        ErrorResponse {
            status,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn http_code(&self) -> u32 {
        self.status.http_code()
    }

    /// `{"error": {"code": 401, "message": "...", "status": "UNAUTHENTICATED"}}`
    pub fn body(&self) -> String {
        let body = Body {
            error: Inner {
                code: self.http_code(),
                message: &self.message,
                status: self.status.name(),
            },
        };
        // Serialising a struct of strings and integers cannot fail; keep a fallback anyway.
        serde_json::to_string(&body).unwrap_or_else(|_| {
            format!(
                r#"{{"error":{{"code":{},"message":"internal error","status":"{}"}}}}"#,
                self.http_code(),
                self.status.name()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_googles_shape() {
        let e = ErrorResponse::new(Status::Unauthenticated, "missing or invalid API key");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": 401, "message": "missing or invalid API key", "status": "UNAUTHENTICATED"}})
        );
    }

    #[test]
    fn message_is_escaped_as_json() {
        let e = ErrorResponse::new(Status::InvalidArgument, "bad \"quote\"\n");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["message"], "bad \"quote\"\n");
        assert_eq!(e.http_code(), 400);
    }
}

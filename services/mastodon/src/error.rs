//! Errors as Mastodon sends them: `{"error", "error_description"?}` with
//! Mastodon's status codes (422 for values it refuses, 404 "Record not
//! found", ...), always JSON.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use rookery_gateway::client::ApiFailure;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct MastoError {
    pub status: StatusCode,
    pub error: String,
    pub description: Option<String>,
    pub retry_after: Option<u64>,
}

pub type MastoResult<T> = Result<T, MastoError>;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

impl MastoError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            description: None,
            retry_after: None,
        }
    }

    /// An OAuth error (RFC 6749 5.2): a code and a sentence.
    pub fn oauth(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            error: error.to_string(),
            description: Some(description.into()),
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Record not found")
    }

    /// A value Mastodon would refuse as "Validation failed".
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Validation failed: {}", message.into()),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "The access token is invalid")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
}

impl From<ApiFailure> for MastoError {
    /// What the public API refused, in Mastodon's terms.
    fn from(f: ApiFailure) -> Self {
        let status = match f.status {
            StatusCode::NOT_FOUND => return Self::not_found(),
            StatusCode::UNAUTHORIZED => return Self::unauthorized(),
            // Mastodon answers values it refuses, conflicts included, with 422.
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT => StatusCode::UNPROCESSABLE_ENTITY,
            s if s.is_server_error() => StatusCode::SERVICE_UNAVAILABLE,
            s => s,
        };
        let error = match status {
            StatusCode::UNPROCESSABLE_ENTITY => format!("Validation failed: {}", f.message),
            StatusCode::TOO_MANY_REQUESTS => "Too many requests".to_string(),
            _ => f.message,
        };
        Self {
            status,
            error,
            description: None,
            retry_after: f.retry_after,
        }
    }
}

impl From<crate::store::StoreError> for MastoError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::warn!(error = %e, "mastodon store");
        Self::unavailable("the database is unavailable")
    }
}

impl From<anyhow::Error> for MastoError {
    /// A direct read of another service's store that failed (`rookery serve`).
    fn from(e: anyhow::Error) -> Self {
        tracing::warn!(error = %e, "direct read");
        Self::unavailable("the database is unavailable")
    }
}

impl IntoResponse for MastoError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: &self.error,
                error_description: self.description.as_deref(),
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            if self.status == StatusCode::TOO_MANY_REQUESTS {
                // Mastodon's X-RateLimit-Reset is a timestamp, not seconds.
                let reset = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
                if let Ok(v) = HeaderValue::from_str(&crate::entities::timestamp(reset)) {
                    headers.insert("x-ratelimit-reset", v);
                }
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Doorkeeper\", error=\"invalid_token\""),
            );
        }
        response
    }
}

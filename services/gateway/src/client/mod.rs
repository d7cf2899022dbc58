//! A small client of the public JSON API, over an [`Upstream`]: the gateway's
//! API router in process (`rookery serve`), or the gateway over HTTP (scaled
//! out). Either way the gateway's authentication and rate limits apply to
//! every call, as they do to any other client. The web client and the
//! Mastodon API use it.

use std::net::SocketAddr;

use crate::Upstream;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub mod views;

/// Largest API response read (a page of 100 community posts is far below it).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    upstream: Upstream,
}

/// Who a call is made for: the client's token and address (so per-IP limits,
/// login failures included, count the person's device, not the caller).
#[derive(Clone, Default)]
pub struct Caller {
    pub token: Option<String>,
    pub client: Option<SocketAddr>,
    /// What the browser's request said about earlier hops (scaled out).
    pub forwarded_for: Option<String>,
}

/// A call the API refused (or could not answer).
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable".into(),
            message: message.into(),
            field: None,
            retry_after: Some(1),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiFailure>;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    field: Option<String>,
}

impl Api {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    /// Sends one request; 2xx bodies are returned as bytes, others as failures.
    pub async fn call(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> ApiResult<(StatusCode, Bytes)> {
        self.call_with_headers(caller, method, path, body, &[])
            .await
    }

    /// [`Self::call`] with more request headers (e.g. `Idempotency-Key`).
    pub async fn call_with_headers(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(http::HeaderName, HeaderValue)],
    ) -> ApiResult<(StatusCode, Bytes)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if let Some(token) = &caller.token
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            req = req.header(header::AUTHORIZATION, value);
        }
        let body = match body {
            Some(json) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        match (&self.upstream, caller.client) {
            // In process the gateway reads the client's address from the
            // connection info, as for a request from the network.
            (Upstream::InProcess(_), Some(addr)) => {
                req = req.extension(ConnectInfo(addr));
            }
            (Upstream::Http(_), Some(addr)) => {
                let chain = match &caller.forwarded_for {
                    Some(previous) => format!("{previous}, {}", addr.ip()),
                    None => addr.ip().to_string(),
                };
                if let Ok(value) = HeaderValue::from_str(&chain) {
                    req = req.header("x-forwarded-for", value);
                }
            }
            _ => {}
        }
        let req = req
            .body(body)
            .map_err(|e| ApiFailure::unavailable(format!("bad request to the API: {e}")))?;
        let response = self
            .upstream
            .send(req)
            .await
            .map_err(|e| ApiFailure::unavailable(e.to_string()))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|_| ApiFailure::unavailable("the API's answer could not be read"))?
            .to_bytes();
        if status.is_success() {
            return Ok((status, bytes));
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
            error: String::new(),
            code: String::new(),
            field: None,
        });
        Err(ApiFailure {
            status,
            code: error.code,
            message: if error.error.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                error.error
            },
            field: error.field,
            retry_after,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, caller: &Caller, path: &str) -> ApiResult<T> {
        let (_, bytes) = self.call(caller, Method::GET, path, None).await?;
        decode(&bytes)
    }

    /// A call whose answer matters only by its status.
    pub async fn send(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> ApiResult<StatusCode> {
        self.call(caller, method, path, body).await.map(|(s, _)| s)
    }

    pub async fn send_json<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> ApiResult<T> {
        let (_, bytes) = self.call(caller, method, path, body).await?;
        decode(&bytes)
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiFailure::unavailable(format!("unexpected answer from the API: {e}")))
}

/// Percent-encodes one path segment or query value.
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

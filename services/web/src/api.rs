//! A small typed client of the public JSON API, over an [`Upstream`]: the
//! gateway's API router in process (`rookery serve`), or the gateway over
//! HTTP (scaled out). Either way the gateway's authentication and rate limits
//! apply to every call, as they do to any other client.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use rookery_gateway::Upstream;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Largest API response the web client reads (a page of 100 community
/// posts is far below it).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    upstream: Upstream,
}

/// Who a call is made for: the session's token and the browser's address
/// (so per-IP limits, login failures included, count the person's browser).
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
    fn unavailable(message: impl Into<String>) -> Self {
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
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json");
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

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiFailure::unavailable(format!("unexpected answer from the API: {e}")))
}

/// Percent-encodes one path segment or query value.
pub fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub username: String,
    #[serde(default)]
    pub bio: String,
    #[serde(default)]
    pub karma: i64,
    pub created_at: String,
    #[serde(default)]
    pub followers_count: i64,
    #[serde(default)]
    pub following_count: i64,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RepostOf {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Post {
    pub id: String,
    pub author: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub community: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub edited_at: Option<String>,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub repost_of: Option<RepostOf>,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default)]
    pub repost_count: i64,
    #[serde(default)]
    pub score: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tally {
    pub score: i64,
    #[serde(default)]
    pub my_vote: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub expires_in: u64,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PollOption {
    pub text: String,
    pub votes: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Poll {
    pub id: String,
    pub author: String,
    pub question: String,
    pub options: Vec<PollOption>,
    pub total_votes: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub created_at: String,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub quick_replies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub read: bool,
    pub account: User,
    #[serde(default)]
    pub post: Option<Post>,
    #[serde(default)]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Count {
    pub count: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagCount {
    pub name: String,
    pub post_count: i64,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SearchResults {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub posts: Vec<Post>,
    #[serde(default)]
    pub tags: Vec<TagCount>,
}

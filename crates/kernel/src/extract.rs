//! Extractors whose rejections are API errors (never axum's plain-text ones).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body any service accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON (or form-encoded) request body. Malformed JSON, wrong types, invalid
/// UTF-8 and empty bodies give 400 with the offending `field` where known;
/// over 1 MiB gives 413.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::bad_request("could not read the request body")
            }
        })?;
        parse_body(&bytes, is_form).map(JsonBody)
    }
}

/// Parses a request body as JSON or, when `form`, as `application/x-www-form-urlencoded`.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8], form: bool) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; expected a JSON object",
        ));
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::bad_request("request body is not valid UTF-8"));
    }
    // `curl -d '{...}'` labels JSON as a form: a body that opens like JSON is JSON.
    let looks_like_json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[');
    if form && !looks_like_json {
        return serde_urlencoded::from_bytes(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid form body: {e}")));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON: {inner}")
            }
            _ => format!("invalid value: {inner}"),
        };
        let e = ApiError::bad_request(message);
        if path.is_empty() || path == "." || path == "?" {
            e
        } else {
            e.with_field(path)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Query string parameters; a bad value gives 400 naming the parameter.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let field = err.path().to_string();
                let e = ApiError::bad_request(format!("invalid query: {}", err.into_inner()));
                if field.is_empty() || field == "." {
                    e
                } else {
                    e.with_field(field)
                }
            })
    }
}

//! Extractors whose rejections are API errors (never axum's plain-text ones).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body any service accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A body past the limit is still read and dropped up to this much, so a
/// client that sends all of it before reading the answer (Python's urllib
/// and requests do) reads the 413 instead of a connection reset under it.
pub const DISCARD_MAX_BYTES: usize = 16 * 1024 * 1024;
/// ... and for at most this long (a slow sender is not waited for).
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The whole request body, at most [`MAX_BODY_BYTES`]; beyond it 413, after
/// the rest was read and dropped (bounded by [`DISCARD_MAX_BYTES`] and ten
/// seconds), unless the client waits for `100 Continue` before sending it
/// (then it is never asked for). A body that breaks off is 400.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let waits_for_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        if !waits_for_continue && declared.is_some_and(|len| len <= DISCARD_MAX_BYTES) {
            discard(body, MAX_BODY_BYTES.max(declared.unwrap_or(0))).await;
        }
        return Err(ApiError::payload_too_large());
    }
    let mut body = body;
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::bad_request("could not read the request body"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if collected.len() + data.len() > MAX_BODY_BYTES {
            discard(body, DISCARD_MAX_BYTES).await;
            return Err(ApiError::payload_too_large());
        }
        collected.extend_from_slice(&data);
    }
    Ok(collected.freeze())
}

/// Reads and drops up to `limit` bytes of `body`, for at most [`DISCARD_TIME`].
async fn discard(mut body: axum::body::Body, limit: usize) {
    use http_body_util::BodyExt;
    let _ = tokio::time::timeout(DISCARD_TIME, async {
        let mut read = 0usize;
        while read <= limit {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                _ => return,
            }
        }
    })
    .await;
}

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

/// An integer member of a request body. The OpenAPI document says
/// `"type": "integer"`, which in JSON Schema includes integral numbers such as
/// `1.0`; those are taken, other fractions and out-of-range numbers are a 400.
struct Integral(i64);

impl<'de> serde::Deserialize<'de> for Integral {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = i64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| E::custom("integer out of range"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
                // i64::MIN is exact in f64; 2^63 is the first value past i64::MAX.
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v < 9_223_372_036_854_775_808.0 {
                    Ok(v as i64)
                } else {
                    Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        // Asked for as an i64: serde_json hands over any number (and refuses
        // strings), serde_urlencoded parses the form's text.
        d.deserialize_i64(Visitor).map(Integral)
    }
}

/// `#[serde(deserialize_with = "rookery_kernel::extract::integer")]`: see [`Integral`].
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    <Integral as serde::Deserialize>::deserialize(d).map(|i| i.0)
}

/// [`integer`] for an optional member (with `#[serde(default)]`).
pub fn optional_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    <Option<Integral> as serde::Deserialize>::deserialize(d).map(|o| o.map(|i| i.0))
}

/// The members of a comma-separated list parameter, exactly what its
/// OpenAPI pattern accepts (`^ *[0-9]{1,18} *(, *[0-9]{1,18} *){0,99}$` for
/// ids, the same with `[A-Za-z0-9_]{1,30}` for usernames): 1..=100 members, spaces around each trimmed,
/// each `valid`; each once, in the order given. Anything else is a 400
/// naming `field`.
fn comma_list<'a>(
    field: &str,
    raw: &'a str,
    valid: impl Fn(&str) -> bool,
    what: &str,
) -> Result<Vec<&'a str>, ApiError> {
    let members: Vec<&str> = raw.split(',').map(|m| m.trim_matches(' ')).collect();
    if members.len() > 100 || !members.iter().all(|m| valid(m)) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to 100 comma-separated {what}"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    Ok(members
        .into_iter()
        .filter(|m| seen.insert(m.to_ascii_lowercase()))
        .collect())
}

/// Post, message or poll ids: 1..=18 decimal digits each.
pub fn id_list(field: &str, raw: &str) -> Result<Vec<i64>, ApiError> {
    let members = comma_list(
        field,
        raw,
        |m| (1..=18).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit()),
        "ids (decimal digits)",
    )?;
    Ok(members.into_iter().filter_map(|m| m.parse().ok()).collect())
}

/// Usernames: `[A-Za-z0-9_]{1,30}` each, once each case-insensitively.
pub fn name_list(field: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    let members = comma_list(
        field,
        raw,
        |m| {
            (1..=30).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        },
        "usernames",
    )?;
    Ok(members.into_iter().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::integer")]
        n: i64,
        #[serde(default, deserialize_with = "super::optional_integer")]
        m: Option<i64>,
    }

    #[test]
    fn integers_take_integral_numbers_only() {
        let parse = |json: &str| super::parse_body::<Body>(json.as_bytes(), false);
        let ok = parse(r#"{"n": 3, "m": 2.0}"#).unwrap();
        assert_eq!((ok.n, ok.m), (3, Some(2)));
        let ok = parse(r#"{"n": -1.0, "m": null}"#).unwrap();
        assert_eq!((ok.n, ok.m), (-1, None));
        assert_eq!(parse(r#"{"n": 0}"#).unwrap().m, None);
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": "1"}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": 9223372036854775808}"#,
            r#"{"n": 0, "m": 0.5}"#,
        ] {
            let err = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was taken"));
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
        let form = super::parse_body::<Body>(b"n=4&m=5", true).unwrap();
        assert_eq!((form.n, form.m), (4, Some(5)));
    }
}

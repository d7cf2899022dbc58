//! Cursor pagination: `limit` (alias `n`, 1..=100, default 20) and an opaque
//! `cursor`; responses are `{"items", "next_cursor"}` plus `Link: <..>; rel="next"`.

use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
const CURSOR_PREFIX: &str = "c1:";

/// Wraps a list position so clients cannot depend on its shape.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::invalid("cursor", "invalid cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(CURSOR_PREFIX)
        .map(str::to_owned)
        .ok_or_else(invalid)
}

/// Parses a decoded cursor key of the form `a:b` into two integers (e.g. `score:id`).
pub fn split_key_i64(key: &str) -> Result<(i64, i64), ApiError> {
    let invalid = || ApiError::invalid("cursor", "invalid cursor");
    let (a, b) = key.split_once(':').ok_or_else(invalid)?;
    Ok((
        a.parse().map_err(|_| invalid())?,
        b.parse().map_err(|_| invalid())?,
    ))
}

/// The page a client asked for, with what is needed to link the next one.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: usize,
    /// The decoded cursor key, if any.
    pub after: Option<String>,
    next_base: String,
}

impl PageRequest {
    /// For code that lists without an HTTP request (seeders, tests).
    pub fn first(limit: usize) -> Self {
        Self {
            limit,
            after: None,
            next_base: String::new(),
        }
    }

    /// `after` parsed as an integer key (ids, follow ids).
    pub fn after_i64(&self) -> Result<Option<i64>, ApiError> {
        self.after
            .as_deref()
            .map(|k| {
                k.parse::<i64>()
                    .map_err(|_| ApiError::invalid("cursor", "invalid cursor"))
            })
            .transpose()
    }

    /// Builds the response from up to `limit + 1` fetched rows: the extra row
    /// only tells that there is a next page; `key` gives a row's cursor key.
    pub fn respond<T>(self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let next_cursor = if rows.len() > self.limit {
            rows.truncate(self.limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        let link = next_cursor
            .as_ref()
            .filter(|_| !self.next_base.is_empty())
            .map(|c| format!("<{}cursor={}>; rel=\"next\"", self.next_base, c));
        Page {
            items: rows,
            next_cursor,
            link,
        }
    }
}

/// A list's `limit` parameter (named `name`): absent means the default;
/// anything but an integer in 1..=100 (an empty value too) is a 400.
pub fn parse_limit(name: &str, raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    // Digits only: `+3` and ` 3` are not integers to a schema either.
    match raw
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.parse::<usize>())
    {
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            name,
            format!("limit must be an integer from 1 to {MAX_LIMIT}"),
        )),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let mut limit = None;
        let mut cursor = None;
        let mut kept = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "limit" | "n" => {
                    // One limit: a list of them is not an integer.
                    if limit.is_some() {
                        return Err(ApiError::invalid(k.as_ref(), "give limit once"));
                    }
                    limit = Some((k.into_owned(), v.into_owned()))
                }
                "cursor" => cursor = Some(v.into_owned()),
                _ => kept.push((k.into_owned(), v.into_owned())),
            }
        }
        let limit = match &limit {
            None => DEFAULT_LIMIT,
            Some((name, v)) => parse_limit(name, Some(v))?,
        };
        let after = match cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        let mut next = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &kept {
            next.append_pair(k, v);
        }
        next.append_pair("limit", &limit.to_string());
        let scheme = header_str(parts, "x-forwarded-proto").unwrap_or("http");
        let host = header_str(parts, "host").unwrap_or("127.0.0.1:8080");
        let next_base = format!("{scheme}://{host}{}?{}&", parts.uri.path(), next.finish());
        Ok(Self {
            limit,
            after,
            next_base,
        })
    }
}

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A list response body: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    #[serde(skip)]
    pub link: Option<String>,
}

impl<T> Page<T> {
    /// Converts the items (e.g. stored rows into views), keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            link: self.link,
        }
    }
}

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        let link = self.link.clone();
        let mut response = axum::Json(self).into_response();
        if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LINK, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = encode_cursor("12345");
        assert_eq!(decode_cursor(&c).unwrap(), "12345");
        assert!(decode_cursor("not a cursor!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x")).is_err());
    }

    #[test]
    fn respond_cuts_the_extra_row() {
        let req = PageRequest {
            limit: 2,
            after: None,
            next_base: "http://h/p?limit=2&".into(),
        };
        let page = req.respond(vec![3, 2, 1], |n| n.to_string());
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(
            decode_cursor(page.next_cursor.as_ref().unwrap()).unwrap(),
            "2"
        );
        assert!(page.link.unwrap().ends_with("rel=\"next\""));
    }
}

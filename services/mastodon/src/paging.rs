//! Mastodon's pagination over Rookery's lists: `max_id` (older than),
//! `since_id` (newer than, newest first), `min_id` (the page just newer
//! than, newest first), `limit` (default 20, at most 40), and the Link
//! header exactly as Mastodon writes it (`next` first, quoted `rel`,
//! absolute URLs, none on an empty page).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header;
use rookery_kernel::pagination::encode_cursor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ctx::Ctx;
use crate::error::{MastoError, MastoResult};
use crate::native::Page;
use crate::params::Params;

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 40;
/// How many native pages a `min_id` or filtered window reads at most.
const MAX_ROUNDS: usize = 10;
/// Rows per native page while scanning.
const SCAN_LIMIT: usize = 100;

#[derive(Debug, Clone, Default)]
pub struct Window {
    pub limit: usize,
    pub max_id: Option<i64>,
    pub since_id: Option<i64>,
    pub min_id: Option<i64>,
}

fn id_param(params: &Params, key: &str) -> MastoResult<Option<i64>> {
    match params.text(key) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .map(Some)
            .map_err(|_| MastoError::bad_request(format!("{key} must be a status id"))),
    }
}

/// `limit` as Mastodon reads it: out-of-range values are clamped.
pub fn limit(params: &Params, default: usize, max: usize) -> MastoResult<usize> {
    Ok(match params.int("limit")? {
        None => default,
        Some(n) if n < 1 => 1,
        Some(n) => (n as usize).min(max),
    })
}

impl Window {
    pub fn parse(params: &Params) -> MastoResult<Self> {
        Ok(Self {
            limit: limit(params, DEFAULT_LIMIT, MAX_LIMIT)?,
            max_id: id_param(params, "max_id")?,
            since_id: id_param(params, "since_id")?,
            min_id: id_param(params, "min_id")?,
        })
    }
}

fn with_params(path: &str, pairs: &[(&str, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{}", query.finish())
}

/// Reads the window `w` of a native list keyed by id, newest first
/// (`path` may carry its own query). `keep` drops items the client did not
/// ask for (the window is filled from further pages). `id` gives an item's id.
pub async fn id_window<T: DeserializeOwned>(
    ctx: &Ctx,
    path: &str,
    w: &Window,
    anonymous: bool,
    id: impl Fn(&T) -> i64,
    keep: impl Fn(&T) -> bool,
) -> MastoResult<Vec<T>> {
    let caller = if anonymous {
        ctx.anonymous()
    } else {
        ctx.caller()
    };
    let caller = &caller;
    window_of(
        w,
        id,
        keep,
        w.max_id.map(|m| encode_cursor(&m.to_string())),
        move |cursor: Option<String>, want: usize| async move {
            let mut pairs = vec![("limit", want.to_string())];
            if let Some(c) = cursor {
                pairs.push(("cursor", c));
            }
            let page: Page<T> = ctx.svc.api.get(caller, &with_params(path, &pairs)).await?;
            Ok((page.items, page.next_cursor))
        },
    )
    .await
}

/// The window `w` of a list read a page at a time by `fetch(cursor, limit)`,
/// which answers the page and the next page's cursor, if any. `start` is
/// the cursor of `w.max_id` (`None`: the newest page).
pub async fn window_of<T, Cursor, Fetch, Fut>(
    w: &Window,
    id: impl Fn(&T) -> i64,
    keep: impl Fn(&T) -> bool,
    start: Option<Cursor>,
    mut fetch: Fetch,
) -> MastoResult<Vec<T>>
where
    Fetch: FnMut(Option<Cursor>, usize) -> Fut,
    Fut: std::future::Future<Output = MastoResult<(Vec<T>, Option<Cursor>)>>,
{
    let lower = w.min_id.or(w.since_id);
    let scanning = w.min_id.is_some();
    let mut cursor = start;
    let mut collected: Vec<T> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let want = if scanning {
            SCAN_LIMIT
        } else {
            (w.limit - collected.len()).max(1)
        };
        let (items, next_cursor) = fetch(cursor.take(), want).await?;
        let mut reached = false;
        for item in items {
            if lower.is_some_and(|bound| id(&item) <= bound) {
                reached = true;
                break;
            }
            if keep(&item) {
                collected.push(item);
            }
        }
        if reached || next_cursor.is_none() || (!scanning && collected.len() >= w.limit) {
            break;
        }
        cursor = next_cursor;
    }
    if scanning {
        // The page just newer than min_id: the oldest `limit` found.
        let skip = collected.len().saturating_sub(w.limit);
        collected.drain(..skip);
    } else {
        collected.truncate(w.limit);
    }
    Ok(collected)
}

/// The request's query without the paging parameters.
fn kept_pairs(ctx: &Ctx) -> Vec<(String, String)> {
    form_urlencoded::parse(ctx.raw_query.as_bytes())
        .filter(|(k, _)| {
            !matches!(
                k.as_ref(),
                "max_id" | "since_id" | "min_id" | "limit" | "access_token"
            )
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn url_with(ctx: &Ctx, limit: usize, key: &str, value: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in kept_pairs(ctx) {
        query.append_pair(&k, &v);
    }
    query.append_pair("limit", &limit.to_string());
    query.append_pair(key, value);
    format!("{}{}?{}", ctx.origin, ctx.path, query.finish())
}

/// `next` (older than `last`) and `prev` (newer than `first`).
pub fn id_link(ctx: &Ctx, limit: usize, first: Option<&str>, last: Option<&str>) -> Option<String> {
    let (first, last) = (first?, last?);
    Some(format!(
        "<{}>; rel=\"next\", <{}>; rel=\"prev\"",
        url_with(ctx, limit, "max_id", last),
        url_with(ctx, limit, "min_id", first)
    ))
}

/// Lists whose positions are not ids (followers, blocks): `next` carries the
/// native cursor as `max_id`.
pub fn cursor_link(ctx: &Ctx, limit: usize, next_cursor: Option<&str>) -> Option<String> {
    next_cursor.map(|c| format!("<{}>; rel=\"next\"", url_with(ctx, limit, "max_id", c)))
}

/// A JSON array written already (`items` is its elements' JSON) with its
/// Link header (none on an empty page).
pub fn paged_raw(items: &[String], link: Option<String>) -> Response {
    let mut body = String::with_capacity(2 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    body.push('[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push(']');
    let response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    with_link(response, items.is_empty(), link)
}

/// A JSON array with its Link header (none on an empty page).
pub fn paged<T: Serialize>(items: Vec<T>, link: Option<String>) -> Response {
    let empty = items.is_empty();
    with_link(Json(items).into_response(), empty, link)
}

/// `response` with the Link header, unless its page is `empty`.
fn with_link(mut response: Response, empty: bool, link: Option<String>) -> Response {
    if !empty && let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, v);
    }
    response
}

//! The Mastodon API's handlers, one file per group of endpoints.

pub mod accounts;
pub mod instance;
pub mod notifications;
pub mod oauth;
pub mod statuses;
pub mod timelines;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};

use crate::error::MastoResult;

/// A handler's JSON answer.
pub type JsonResult = MastoResult<Response>;

pub fn json<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// A body as handlers receive it (any content type; read by [`crate::params`]).
pub type RawBody = Bytes;

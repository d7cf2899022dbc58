//! The stylesheet and script, compiled into the binary and served with a
//! version in their URL so browsers may keep them for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use sha2::{Digest, Sha256};

pub const CSS: &str = include_str!("../static/app.css");
pub const JS: &str = include_str!("../static/app.js");

fn version(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/static/app.css?v={}", version(CSS)))
}

pub fn js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/static/app.js?v={}", version(JS)))
}

pub async fn static_file(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return crate::pages::not_found_page().into_response(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

pub async fn avatar(Path(file): Path<String>) -> Response {
    let Some(name) = file
        .strip_suffix(".svg")
        .filter(|n| !n.is_empty() && n.len() <= 64)
    else {
        return crate::pages::not_found_page().into_response();
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        crate::views::avatar_svg(name),
    )
        .into_response()
}

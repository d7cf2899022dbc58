//! The instance documents and the small endpoints apps call at start-up.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::{JsonResult, RawBody, json};
use crate::ctx::Ctx;
use crate::entities::Tag;
use crate::error::MastoError;
use crate::native::{Items, TagCount};
use crate::render::links;

/// Rookery's limits, as the instance documents state them.
const MAX_CHARACTERS: usize = 500;
const POLL_MAX_OPTIONS: usize = 10;
const POLL_MAX_CHARACTERS: usize = 100;

fn host(ctx: &Ctx) -> String {
    ctx.origin
        .split_once("://")
        .map(|(_, h)| h.to_string())
        .unwrap_or_else(|| ctx.origin.clone())
}

fn streaming_url(ctx: &Ctx) -> String {
    ctx.origin
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1)
}

fn statuses_config() -> Value {
    json!({
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": 0,
        "characters_reserved_per_url": 23,
    })
}

fn media_config() -> Value {
    json!({
        "supported_mime_types": [],
        "image_size_limit": 0,
        "image_matrix_limit": 0,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
        "description_limit": 0,
    })
}

fn polls_config() -> Value {
    json!({
        "max_options": POLL_MAX_OPTIONS,
        "max_characters_per_option": POLL_MAX_CHARACTERS,
        "min_expiration": 300,
        "max_expiration": 2629746,
    })
}

/// `GET /api/v1/instance`.
pub async fn v1(ctx: Ctx) -> JsonResult {
    let config = &ctx.svc.config;
    Ok(json(&json!({
        "uri": host(&ctx),
        "title": config.title,
        "short_description": "A Rookery instance",
        "description": "Microblogging and communities on Rookery.",
        "email": "",
        "version": config.version(),
        "urls": { "streaming_api": streaming_url(&ctx) },
        "stats": { "user_count": 0, "status_count": 0, "domain_count": 1 },
        "thumbnail": null,
        "languages": ["en"],
        "registrations": false,
        "approval_required": false,
        "invites_enabled": false,
        "configuration": {
            "accounts": { "max_featured_tags": 0 },
            "statuses": statuses_config(),
            "media_attachments": media_config(),
            "polls": polls_config(),
        },
        "contact_account": null,
        "rules": [],
        // Hides toot tui's Translate menu (Rookery does not translate).
        "translation": { "enabled": false },
    })))
}

/// `GET /api/v2/instance`.
pub async fn v2(ctx: Ctx) -> JsonResult {
    let config = &ctx.svc.config;
    Ok(json(&json!({
        "domain": host(&ctx),
        "title": config.title,
        "version": config.version(),
        "source_url": "https://github.com/rookery-social/rookery",
        "description": "Microblogging and communities on Rookery.",
        "usage": { "users": { "active_month": 0 } },
        "thumbnail": { "url": format!("{}/headers/original/missing.png", ctx.origin), "blurhash": null, "versions": {} },
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": { "streaming": streaming_url(&ctx), "status": null, "about": null, "privacy_policy": null, "terms_of_service": null },
            "vapid": { "public_key": "" },
            "accounts": { "max_featured_tags": 0, "max_pinned_statuses": 0 },
            "statuses": statuses_config(),
            "media_attachments": media_config(),
            "polls": polls_config(),
            "translation": { "enabled": false },
            "timelines_access": {
                "live_feeds": { "local": "public", "remote": "public" },
                "hashtag_feeds": { "local": "public", "remote": "public" },
                "trending_link_feeds": { "local": "public", "remote": "public" },
            },
        },
        "registrations": { "enabled": false, "approval_required": false, "message": null, "url": null, "min_age": null, "reason_required": false },
        "api_versions": { "mastodon": 2 },
        "contact": { "email": "", "account": null },
        "rules": [],
    })))
}

pub async fn custom_emojis() -> Response {
    json(&json!([]))
}

pub async fn empty_list(ctx: Ctx) -> JsonResult {
    ctx.require("read")?;
    Ok(json(&json!([])))
}

/// `GET /api/v1/preferences` (what Rookery has: everything is public).
pub async fn preferences(ctx: Ctx) -> JsonResult {
    ctx.require("read:accounts")?;
    ctx.verified_username().await?;
    Ok(json(&json!({
        "posting:default:visibility": "public",
        "posting:default:sensitive": false,
        "posting:default:language": null,
        "posting:default:quote_policy": "public",
        "reading:expand:media": "default",
        "reading:expand:spoilers": false,
        "reading:autoplay:gifs": false,
    })))
}

/// `GET /api/v1/markers`: Rookery keeps no reading positions (`{}`, as
/// Mastodon answers for an account that saved none).
pub async fn markers(ctx: Ctx) -> JsonResult {
    ctx.require("read:statuses")?;
    ctx.verified_username().await?;
    Ok(json(&json!({})))
}

/// `POST /api/v1/markers`: accepted, not kept.
pub async fn save_markers(ctx: Ctx, _headers: HeaderMap, _body: RawBody) -> JsonResult {
    ctx.require("write:statuses")?;
    ctx.verified_username().await?;
    Ok(json(&json!({})))
}

/// `GET /api/v1/trends/tags`: the trending tags of the last 24 hours.
pub async fn trending_tags(ctx: Ctx) -> JsonResult {
    let limit = crate::paging::limit(&ctx.query, 10, 20)?;
    let tags: Items<TagCount> = ctx
        .svc
        .api
        .get(
            &ctx.anonymous(),
            &format!("/api/v1/tags?sort=trending&limit={limit}"),
        )
        .await?;
    let links = links(&ctx);
    let today = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0);
    let out: Vec<Tag> = tags
        .items
        .iter()
        .map(|t| {
            let mut tag = Tag::new(&t.name, &links);
            tag.history.push(crate::entities::TagHistory {
                day: today.to_string(),
                uses: t.recent_count.to_string(),
                accounts: t.recent_count.to_string(),
            });
            tag
        })
        .collect();
    Ok(json(&out))
}

/// The header image of every account (Rookery has none): one transparent pixel.
pub async fn missing_header() -> Response {
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        PNG,
    )
        .into_response()
}

pub async fn not_found() -> Response {
    MastoError::new(StatusCode::NOT_FOUND, "Record not found").into_response()
}

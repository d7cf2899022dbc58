//! HTTP handlers of the notifications service. Every route is the caller's
//! own notifications (auth); accounts hidden from the caller (blocks either
//! way, and mutes) are left out at read time by the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::{Query, parse_body};
use rookery_kernel::identity::Identity;
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::schema;
use rookery_kernel::time::rfc3339;
use rookery_kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::NotificationsService;
use crate::domain::{Kind, parse_types, parse_unread};
use crate::store::{ListQuery, Notification};

/// A notification as its recipient sees it.
#[derive(Debug, Serialize)]
pub struct NotificationView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub created_at: String,
    pub read: bool,
    /// The public view of who caused it.
    pub account: Arc<RawValue>,
    /// The post concerned (list item), or null.
    pub post: Option<Arc<RawValue>>,
    /// Type `message` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl utoipa::PartialSchema for NotificationView {
    fn schema() -> RefOr<Schema> {
        schema::from_json(serde_json::json!({
            "type": "object",
            "description": "A notification. `post` is the post concerned: the reply (reply), the mentioning post (mention), your post (repost, like); null for follow and message.",
            "required": ["id", "type", "created_at", "read", "account", "post"],
            "properties": {
                "id": {"type": "string", "example": "7214859302147"},
                "type": {"type": "string", "enum": ["follow", "reply", "mention", "repost", "like", "message"]},
                "created_at": {"type": "string", "description": "RFC 3339 UTC."},
                "read": {"type": "boolean"},
                "account": {"$ref": "#/components/schemas/UserView"},
                "post": {"oneOf": [{"$ref": "#/components/schemas/PostView"}, {"type": "null"}]},
                "message_id": {"type": "string", "description": "The direct message (type `message` only)."},
            },
        }))
    }
}

impl utoipa::ToSchema for NotificationView {}

/// A page of notifications (documentation shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
}

/// The unread count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountView {
    pub count: i64,
}

/// Body of `POST /notifications/read` (optional as a whole).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReadRequest {
    /// Mark notifications with ids up to this one as read (default: all of them).
    #[schema(value_type = Option<String>, pattern = "^[0-9]{1,19}$")]
    pub up_to: Option<Value>,
}

#[derive(Deserialize)]
pub struct ListParams {
    pub types: Option<String>,
    pub unread: Option<String>,
}

impl NotificationsService {
    /// The views of a page: its accounts and posts asked in one batch each;
    /// a notification whose account or post is gone is left out.
    async fn render(&self, page: Page<Notification>) -> ApiResult<Page<NotificationView>> {
        let mut actors: Vec<i64> = page.items.iter().map(|n| n.actor_id).collect();
        actors.sort_unstable();
        actors.dedup();
        let mut posts: Vec<i64> = page.items.iter().filter_map(|n| n.post_id).collect();
        posts.sort_unstable();
        posts.dedup();
        let unavailable = |e: anyhow::Error| {
            tracing::warn!(error = %e, "rendering notifications");
            ApiError::unavailable("could not load the notifications' accounts or posts")
        };
        let (accounts, post_views) = tokio::join!(
            async {
                match actors.is_empty() {
                    true => Ok(HashMap::new()),
                    false => self.accounts.accounts(&actors).await,
                }
            },
            async {
                match posts.is_empty() {
                    true => Ok(HashMap::new()),
                    false => self.posts.posts(&posts).await,
                }
            }
        );
        let (accounts, post_views) = (
            accounts.map_err(unavailable)?,
            post_views.map_err(unavailable)?,
        );
        let items = page
            .items
            .into_iter()
            .filter_map(|n| {
                let account = accounts.get(&n.actor_id)?.clone();
                let post = match n.post_id {
                    Some(id) => Some(post_views.get(&id)?.clone()),
                    None => None,
                };
                Some(NotificationView {
                    id: n.id.to_string(),
                    kind: n.kind.name(),
                    created_at: rfc3339(n.created_at),
                    read: n.read,
                    account,
                    post,
                    message_id: (n.kind == Kind::Message).then(|| n.object_id.to_string()),
                })
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
            link: page.link,
        })
    }
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(
        ("types" = Option<String>, Query,
            pattern = "^\\s*(?:(?:follow|reply|mention|repost|like|message)?\\s*(?:,\\s*|$))*$",
            description = "Comma-separated: `follow`, `reply`, `mention`, `repost`, `like`, `message` (default: all)"),
        ("unread" = Option<String>, Query, pattern = "^(?:true|false)?$",
            description = "`true`: only unread notifications; `false` or empty: all"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = NotificationPage),
        (status = 400, body = ErrorBody, description = "unknown type, bad `unread`, `limit` or `cursor`"),
        (status = 401, body = ErrorBody)))]
pub async fn list_notifications(
    State(svc): State<Arc<NotificationsService>>,
    caller: Identity,
    Query(params): Query<ListParams>,
    page: PageRequest,
) -> ApiResult<Page<NotificationView>> {
    let query = ListQuery {
        user_id: caller.user_id,
        kinds: parse_types(params.types.as_deref())?,
        unread_only: parse_unread(params.unread.as_deref())?,
        before: page.after_i64()?,
        limit: page.limit + 1,
    };
    let rows = svc.store.list(&query).await?;
    let page = page.respond(rows, |n| n.id.to_string());
    svc.render(page).await
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/api/v1/notifications/unread_count", tag = "notifications",
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = CountView), (status = 401, body = ErrorBody)))]
pub async fn unread_count(
    State(svc): State<Arc<NotificationsService>>,
    caller: Identity,
) -> ApiResult<Json<CountView>> {
    let count = svc.store.unread_count(caller.user_id).await?;
    Ok(Json(CountView { count }))
}

/// The `up_to` of a read request: a notification id, a string of digits
/// (ids are strings everywhere in the API).
fn parse_up_to(raw: Option<&Value>) -> ApiResult<Option<i64>> {
    let invalid = || ApiError::invalid("up_to", "up_to must be a notification id");
    match raw {
        None | Some(Value::Null) => Ok(None),
        // Any 1..=19 digits (the schema's rule): 0 is below every id, and
        // a number past the largest id marks everything read.
        Some(Value::String(s)) => {
            let digits = s.trim();
            let valid =
                (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
            valid
                .then(|| digits.parse::<u64>().ok())
                .flatten()
                .map(|v| Some(v.min(i64::MAX as u64) as i64))
                .ok_or_else(invalid)
        }
        Some(_) => Err(invalid()),
    }
}

/// Marks the caller's notifications read up to `up_to` (default: all);
/// never marks read ones unread. Answers the unread count afterwards.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications",
    request_body(content = Option<ReadRequest>, description = "Optional; an empty body marks everything read"),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = CountView),
        (status = 400, body = ErrorBody, description = "`up_to` is not an id, or a malformed body"),
        (status = 401, body = ErrorBody)))]
pub async fn mark_read(
    State(svc): State<Arc<NotificationsService>>,
    caller: Identity,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CountView>> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
        _ => ApiError::bad_request("could not read the request body"),
    })?;
    let up_to = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        // `null` is no request, as the document allows.
        let request: Option<ReadRequest> = parse_body(&body, form)?;
        parse_up_to(request.and_then(|r| r.up_to).as_ref())?
    };
    let count = svc.store.mark_read(caller.user_id, up_to).await?;
    Ok(Json(CountView { count }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn up_to_is_an_id() {
        assert_eq!(parse_up_to(None).unwrap(), None);
        assert_eq!(parse_up_to(Some(&json!(null))).unwrap(), None);
        assert_eq!(parse_up_to(Some(&json!(" 42 "))).unwrap(), Some(42));
        assert_eq!(parse_up_to(Some(&json!("0"))).unwrap(), Some(0));
        assert_eq!(
            parse_up_to(Some(&json!("9999999999999999999"))).unwrap(),
            Some(i64::MAX)
        );
        for bad in [
            json!("x"),
            json!(""),
            json!(-1),
            json!(42),
            json!(1.5),
            json!([1]),
            json!(true),
        ] {
            let err = parse_up_to(Some(&bad)).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("up_to"), "{bad}");
        }
    }
}

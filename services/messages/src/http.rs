//! HTTP handlers of the messages service. Only the two participants of a
//! message can see it: to anyone else, and to a participant who deleted it,
//! it does not exist (404, never 403).

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::{JsonBody, Query};
use rookery_kernel::identity::Identity;
use rookery_kernel::ids::parse_id;
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::schema;
use rookery_kernel::time::rfc3339;
use rookery_kernel::{ApiError, ApiResult};
use serde::Deserialize;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::MessagesService;
use crate::domain::{
    parse_box, parse_favorite, parse_quick_replies, parse_recipient, parse_text, quick_reply,
};
use crate::store::{BoxQuery, Message, NewMessage};

/// A message as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    #[schema(example = "7214859302147")]
    pub id: String,
    /// The sender's username.
    pub from: String,
    /// The recipient's username.
    pub to: String,
    pub text: String,
    pub created_at: String,
    /// The id of the message this one answers.
    pub in_reply_to: Option<String>,
    /// Canned answers the sender offers (may be empty).
    pub quick_replies: Vec<String>,
    /// The caller's own flag.
    pub favorite: bool,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.to_string(),
            from: m.sender,
            to: m.recipient,
            text: m.text,
            created_at: rfc3339(m.created_at),
            in_reply_to: m.in_reply_to.map(|id| id.to_string()),
            quick_replies: m.quick_replies,
            favorite: m.favorite,
        }
    }
}

/// A page of messages (documentation shape).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

/// Documented by hand (see the `PartialSchema` impl), as is `ReplyRequest`:
/// the derive cannot put rules on the quick replies themselves.
#[derive(Deserialize)]
pub struct SendRequest {
    pub to: Option<String>,
    pub text: Option<String>,
    pub quick_replies: Option<Vec<String>>,
}

fn text_schema() -> serde_json::Value {
    serde_json::json!({"type": "string", "maxLength": 2000, "pattern": schema::NOT_BLANK,
        "description": "1..=2000 characters"})
}

fn quick_replies_schema() -> serde_json::Value {
    serde_json::json!({
        "type": ["array", "null"], "maxItems": 5,
        "description": "At most 5 canned answers of 1..=100 characters",
        "items": {"type": "string", "maxLength": 100, "pattern": schema::NOT_BLANK},
    })
}

/// Strings are trimmed before these rules apply (`crate::domain`).
impl utoipa::PartialSchema for SendRequest {
    fn schema() -> RefOr<Schema> {
        schema::from_json(serde_json::json!({
            "type": "object",
            "required": ["to", "text"],
            "properties": {
                "to": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,30}$",
                    "description": "The recipient's username (not the caller's)"},
                "text": text_schema(),
                "quick_replies": quick_replies_schema(),
            },
        }))
    }
}

impl utoipa::ToSchema for SendRequest {}

/// `{"text"}` or `{"quick_reply"}`, not both.
impl utoipa::PartialSchema for ReplyRequest {
    fn schema() -> RefOr<Schema> {
        let offer = quick_replies_schema();
        schema::from_json(serde_json::json!({
            "description": "A reply in words (`text`) or one of the replied message's quick replies (`quick_reply`).",
            "oneOf": [
                {
                    "title": "TextReply",
                    "type": "object",
                    "required": ["text"],
                    "properties": {
                        "text": text_schema(),
                        "quick_reply": {"type": "null"},
                        "quick_replies": offer,
                    },
                },
                {
                    "title": "QuickReply",
                    "type": "object",
                    "required": ["quick_reply"],
                    "properties": {
                        "text": {"type": "null"},
                        "quick_reply": {"type": "integer", "minimum": 0, "maximum": 4,
                            "description": "0-based index into the replied message's `quick_replies`; only its recipient may answer so (400 otherwise)"},
                        "quick_replies": offer,
                    },
                },
            ],
        }))
    }
}

/// Named apart from the posts service's `ReplyRequest` (one document holds both).
impl utoipa::ToSchema for ReplyRequest {
    fn name() -> std::borrow::Cow<'static, str> {
        "MessageReplyRequest".into()
    }
}

#[derive(Deserialize)]
pub struct ReplyRequest {
    /// Free text, 1..=2000 characters.
    pub text: Option<String>,
    /// 0-based index into the replied message's `quick_replies`; only its
    /// recipient may answer so.
    #[serde(
        default,
        deserialize_with = "rookery_kernel::extract::optional_integer"
    )]
    pub quick_reply: Option<i64>,
    /// Canned answers this reply offers in turn (at most 5 of 1..=100 characters).
    pub quick_replies: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(rename = "box")]
    pub mailbox: Option<String>,
    pub favorite: Option<String>,
}

/// The `{id}` of a message route. Anything that is not an id (not even
/// UTF-8) names no message: 404.
pub struct MessageId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for MessageId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::not_found("no such message");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        parse_id(raw.trim()).map(MessageId).ok_or_else(not_found)
    }
}

/// A page of messages keyed by id (the cursor is the last id shown).
fn message_page(page: PageRequest, rows: Vec<Message>) -> Page<MessageView> {
    page.respond(rows, |m| m.id.to_string())
        .map(MessageView::from)
}

/// 201 with `Location` and the new message.
fn created(message: Message) -> Response {
    let location = format!("/api/v1/messages/{}", message.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(MessageView::from(message)),
    )
        .into_response()
}

/// Sends a message to an active user (not to oneself).
#[utoipa::path(post, path = "/api/v1/messages", tag = "messages",
    request_body = SendRequest, security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = MessageView, headers(("Location" = String))),
        (status = 400, body = ErrorBody, description = "invalid, or `to` is the caller"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`blocked`: one of you blocks the other"),
        (status = 404, body = ErrorBody, description = "`to` unknown or deactivated")))]
pub async fn send_message(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    JsonBody(body): JsonBody<SendRequest>,
) -> ApiResult<Response> {
    let to = parse_recipient(body.to.as_deref(), &caller.username)?;
    let text = parse_text(body.text.as_deref())?;
    let quick_replies = parse_quick_replies(body.quick_replies.as_deref())?;
    let recipient = svc
        .active_account(&to)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user").with_field("to"))?;
    if recipient.id == caller.user_id {
        return Err(ApiError::invalid(
            "to",
            "you cannot send a message to yourself",
        ));
    }
    let message = svc
        .store
        .send(NewMessage {
            sender_id: caller.user_id,
            sender: caller.username,
            recipient_id: recipient.id,
            recipient: recipient.username,
            text,
            quick_replies,
            in_reply_to: None,
        })
        .await?;
    Ok(created(message))
}

/// The caller's messages, newest first: `box` = `inbox` (default), `sent`
/// or `all`; `favorite=true` for the caller's favorites only.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages",
    params(
        ("box" = Option<String>, Query, pattern = "^(?:inbox|sent|all)?$",
            description = "`inbox` (the default, also when empty), `sent` or `all`"),
        ("favorite" = Option<String>, Query, pattern = "^(?:true|false)?$",
            description = "`true`: only the caller's favorites; `false` or empty: every message"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list_messages(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    Query(params): Query<ListParams>,
    page: PageRequest,
) -> ApiResult<Page<MessageView>> {
    let query = BoxQuery {
        owner_id: caller.user_id,
        mailbox: parse_box(params.mailbox.as_deref())?,
        favorites_only: parse_favorite(params.favorite.as_deref())?,
        before: page.after_i64()?,
        limit: page.limit + 1,
    };
    let rows = svc.store.list(&query).await?;
    Ok(message_page(page, rows))
}

/// One message; 404 unless the caller is a participant who has not deleted it.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = MessageView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_message(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    MessageId(id): MessageId,
) -> ApiResult<Json<MessageView>> {
    svc.store
        .message(caller.user_id, id)
        .await?
        .map(|m| Json(m.into()))
        .ok_or_else(|| ApiError::not_found("no such message"))
}

/// Deletes the message from the caller's view only; the other participant keeps it.
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_message(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    MessageId(id): MessageId,
) -> ApiResult<StatusCode> {
    svc.store.delete(caller.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

enum Answer {
    Text(String),
    QuickReply(i64),
}

/// Answers a message: the reply goes to the other participant (either
/// participant may reply with text; only the recipient may pick one of the
/// message's quick replies).
#[utoipa::path(post, path = "/api/v1/messages/{id}/replies", tag = "messages",
    params(("id" = String, Path)), request_body = ReplyRequest,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = MessageView, headers(("Location" = String))),
        (status = 400, body = ErrorBody, description = "invalid, or a bad quick_reply index"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`blocked`: one of you blocks the other"),
        (status = 404, body = ErrorBody, description = "no such message, or the other participant is deactivated")))]
pub async fn reply(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    MessageId(id): MessageId,
    JsonBody(body): JsonBody<ReplyRequest>,
) -> ApiResult<Response> {
    let answer = match (body.text.as_deref(), body.quick_reply) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "quick_reply",
                "send either text or quick_reply, not both",
            ));
        }
        (_, Some(index)) => Answer::QuickReply(index),
        (text, None) => Answer::Text(parse_text(text)?),
    };
    let quick_replies = parse_quick_replies(body.quick_replies.as_deref())?;
    let parent = svc
        .store
        .message(caller.user_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    let text = match answer {
        Answer::Text(text) => text,
        Answer::QuickReply(index) => {
            // The offer is made to the recipient; the sender answers in words.
            if parent.recipient_id != caller.user_id {
                return Err(ApiError::invalid(
                    "quick_reply",
                    "only the recipient of a message can answer with one of its quick replies",
                ));
            }
            quick_reply(&parent.quick_replies, index)?
        }
    };
    let (_, other) = parent.other_participant(caller.user_id);
    let recipient = svc.active_account(other).await?.ok_or_else(|| {
        ApiError::not_found("the other participant can no longer receive messages")
    })?;
    let message = svc
        .store
        .send(NewMessage {
            sender_id: caller.user_id,
            sender: caller.username,
            recipient_id: recipient.id,
            recipient: recipient.username,
            text,
            quick_replies,
            in_reply_to: Some(id),
        })
        .await?;
    Ok(created(message))
}

/// Replies to a message that the caller has, oldest first.
#[utoipa::path(get, path = "/api/v1/messages/{id}/replies", tag = "messages",
    params(("id" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_replies(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    MessageId(id): MessageId,
    page: PageRequest,
) -> ApiResult<Page<MessageView>> {
    let rows = svc
        .store
        .replies(caller.user_id, id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(message_page(page, rows))
}

/// Marks the message as one of the caller's favorites (the other participant's flag is theirs).
#[utoipa::path(post, path = "/api/v1/messages/{id}/favorite", tag = "messages",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = MessageView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn favorite(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    MessageId(id): MessageId,
) -> ApiResult<Json<MessageView>> {
    let message = svc.store.set_favorite(caller.user_id, id, true).await?;
    Ok(Json(message.into()))
}

/// Removes the caller's favorite mark.
#[utoipa::path(delete, path = "/api/v1/messages/{id}/favorite", tag = "messages",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = MessageView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn unfavorite(
    State(svc): State<Arc<MessagesService>>,
    caller: Identity,
    MessageId(id): MessageId,
) -> ApiResult<Json<MessageView>> {
    let message = svc.store.set_favorite(caller.user_id, id, false).await?;
    Ok(Json(message.into()))
}

//! One post: create, read, edit (with history), delete, repost, replies.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::JsonBody;
use rookery_kernel::identity::Identity;
use rookery_kernel::ids::parse_id;
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::schema;
use rookery_kernel::time::rfc3339;
use rookery_kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use super::{PostPage, PostView};
use crate::PostsService;
use crate::domain::{PostBody, PostInput};
use crate::store::{IdempotencyKey, NewPost, Post};

const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Documented by hand (see the `PartialSchema` impl): a micro-post and a
/// community post are alternatives with different rules.
#[derive(Deserialize)]
pub struct CreatePostRequest {
    /// Micro-post text (1..=500), or a community post's body (<= 40,000).
    pub text: Option<String>,
    /// Community posts: 1..=300 characters.
    pub title: Option<String>,
    /// Community posts: `^[a-z0-9_]{1,50}$`.
    pub community: Option<String>,
    /// Community posts: absolute http(s) URL.
    pub url: Option<String>,
    /// Id of the post this replies to.
    pub in_reply_to: Option<String>,
}

/// `POST /api/v1/posts`: `oneOf` a micro-post and a community post. Strings
/// are trimmed before these rules apply (`crate::domain::PostBody::parse`).
impl utoipa::PartialSchema for CreatePostRequest {
    fn schema() -> RefOr<Schema> {
        let in_reply_to = serde_json::json!({
            "type": ["string", "null"],
            "description": "Id of the post this replies to (404 if there is none)",
        });
        let absent = serde_json::json!({"type": "null"});
        schema::from_json(serde_json::json!({
            "description": "A micro-post (`text`) or a community post (`title` and `community`).",
            "oneOf": [
                {
                    "title": "MicroPost",
                    "type": "object",
                    "required": ["text"],
                    "properties": {
                        "text": {"type": "string", "maxLength": 500, "pattern": schema::NOT_BLANK,
                            "description": "1..=500 characters"},
                        "title": absent, "community": absent, "url": absent,
                        "in_reply_to": in_reply_to,
                    },
                },
                {
                    "title": "CommunityPost",
                    "type": "object",
                    "required": ["title", "community"],
                    "properties": {
                        "title": {"type": "string", "maxLength": 300, "pattern": schema::NOT_BLANK,
                            "description": "1..=300 characters"},
                        "community": {"type": "string", "pattern": COMMUNITY},
                        "text": {"type": ["string", "null"], "maxLength": 40_000,
                            "description": "At most 40,000 characters"},
                        "url": {"type": ["string", "null"], "maxLength": 2000, "pattern": URL,
                            "description": "An absolute http(s) URL"},
                        "in_reply_to": in_reply_to,
                    },
                },
            ],
        }))
    }
}

impl utoipa::ToSchema for CreatePostRequest {}

/// `^[a-z0-9_]{1,50}$`
pub(crate) const COMMUNITY: &str = "^[a-z0-9_]{1,50}$";
/// What the documentation promises is taken for an absolute http(s) URL
/// (the server takes more: anything `url::Url` parses with an http(s)
/// scheme and a host).
const URL: &str = r"^(?:https?://(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?)?$";

#[derive(Deserialize, ToSchema)]
pub struct EditPostRequest {
    /// A micro-post's text (1..=500) or a community post's body (<= 40,000).
    #[schema(max_length = 40000)]
    pub text: Option<String>,
    /// Community posts only: 1..=300 characters.
    #[schema(max_length = 300)]
    pub title: Option<String>,
    /// Community posts only: an absolute http(s) URL.
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    /// Not editable: anything but null is a 400.
    #[schema(schema_with = schema::null)]
    pub community: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ReplyRequest {
    /// 1..=500 characters.
    #[schema(value_type = String, max_length = 500,
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    pub text: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    pub text: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    /// When this version was replaced.
    pub edited_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryList {
    pub items: Vec<HistoryView>,
}

/// A post id from the path; anything that is not one names no post.
pub(crate) fn post_id(raw: &str) -> ApiResult<i64> {
    parse_id(raw.trim()).ok_or_else(|| ApiError::not_found("no such post"))
}

pub(crate) async fn existing(svc: &PostsService, id: i64) -> ApiResult<Post> {
    svc.store
        .post(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such post"))
}

fn idempotency_key(headers: &HeaderMap, caller: &Identity) -> ApiResult<Option<IdempotencyKey>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "Idempotency-Key must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > 64 {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 64 characters",
        ));
    }
    Ok(Some(IdempotencyKey {
        user_id: caller.user_id,
        key: key.to_string(),
        window_ms: IDEMPOTENCY_WINDOW_MS,
    }))
}

fn created(post: Post) -> Response {
    let location = format!("/api/v1/posts/{}", post.id);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(PostView::full(post)),
    )
        .into_response()
}

async fn create(
    svc: &PostsService,
    caller: &Identity,
    body: PostBody,
    in_reply_to: Option<i64>,
    repost_of: Option<i64>,
    key: Option<IdempotencyKey>,
) -> ApiResult<Response> {
    // No replies between accounts where one blocks the other (an unknown
    // parent is the store's 404).
    if let Some(parent) = in_reply_to
        && let Some(parent) = svc.store.post(parent).await?
        && svc
            .store
            .blocked_either_way(caller.user_id, parent.author_id)
            .await?
    {
        return Err(rookery_kernel::relations::blocked());
    }
    svc.remember_author(caller).await?;
    if repost_of.is_none() {
        svc.learn_mentioned(&body).await?;
    }
    let (post, _replayed) = svc
        .store
        .create_post(
            NewPost {
                author_id: caller.user_id,
                author: caller.username.clone(),
                body,
                in_reply_to,
                repost_of,
            },
            key,
        )
        .await?;
    Ok(created(post))
}

/// Create a micro-post or a community post (or a reply with `in_reply_to`).
#[utoipa::path(post, path = "/api/v1/posts", tag = "posts",
    request_body = CreatePostRequest,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 64,
        pattern = "^[!-~](?:[ -~]*[!-~])?$",
        description = "1..=64 visible ASCII characters: a retry within 24 h returns the first post")),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = PostView, headers(("Location" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: the replied post's author blocks you or you block them", body = ErrorBody),
        (status = 404, description = "`in_reply_to` unknown", body = ErrorBody),
    ))]
pub async fn create_post(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CreatePostRequest>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers, &caller)?;
    let body = PostBody::parse(&PostInput {
        text: req.text,
        title: req.title,
        community: req.community,
        url: req.url,
    })?;
    let in_reply_to = match req.in_reply_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(parse_id(raw).ok_or_else(|| {
            ApiError::not_found("the post replied to does not exist").with_field("in_reply_to")
        })?),
    };
    create(&svc, &caller, body, in_reply_to, None, key).await
}

/// Read a post.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts",
    params(("id" = String, Path)),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
pub async fn get_post(
    State(svc): State<Arc<PostsService>>,
    Path(id): Path<String>,
) -> ApiResult<Json<PostView>> {
    Ok(Json(PostView::full(existing(&svc, post_id(&id)?).await?)))
}

/// The caller's own post, or 403 (another's) / 404.
async fn own_post(svc: &PostsService, caller: &Identity, raw_id: &str) -> ApiResult<Post> {
    let post = existing(svc, post_id(raw_id)?).await?;
    if post.author_id != caller.user_id {
        return Err(ApiError::forbidden("only the author can change this post"));
    }
    Ok(post)
}

/// Edit your post; the previous version goes to its history.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "posts",
    params(("id" = String, Path)),
    request_body = EditPostRequest,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = PostView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn edit_post(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<EditPostRequest>,
) -> ApiResult<Json<PostView>> {
    let post = own_post(&svc, &caller, &id).await?;
    if post.repost_of.is_some() {
        return Err(ApiError::invalid("text", "a repost cannot be edited"));
    }
    let current = PostBody {
        text: post.text.clone(),
        title: post.title.clone(),
        community: post.community.clone(),
        url: post.url.clone(),
    };
    let body = current.edit(&PostInput {
        text: req.text,
        title: req.title,
        community: req.community,
        url: req.url,
    })?;
    svc.learn_mentioned(&body).await?;
    Ok(Json(PostView::full(
        svc.store.edit_post(post.id, body).await?,
    )))
}

/// Earlier versions of a post, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/history", tag = "posts",
    params(("id" = String, Path)),
    responses((status = 200, body = HistoryList), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(svc): State<Arc<PostsService>>,
    Path(id): Path<String>,
) -> ApiResult<Json<HistoryList>> {
    let post = existing(&svc, post_id(&id)?).await?;
    let items = svc
        .store
        .history(post.id)
        .await?
        .into_iter()
        .map(|h| HistoryView {
            text: h.text,
            title: h.title,
            url: h.url,
            edited_at: rfc3339(h.edited_at),
        })
        .collect();
    Ok(Json(HistoryList { items }))
}

/// Delete your post (and its reposts); it leaves every timeline and list.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "posts",
    params(("id" = String, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn delete_post(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let post = own_post(&svc, &caller, &id).await?;
    svc.store.delete_post(post.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Repost a post: a new post by the caller with `repost_of`.
#[utoipa::path(post, path = "/api/v1/posts/{id}/repost", tag = "posts",
    params(("id" = String, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = PostView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`already_reposted`", body = ErrorBody),
    ))]
pub async fn repost(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let original = existing(&svc, post_id(&id)?).await?;
    let body = PostBody {
        text: original.text.clone(),
        title: None,
        community: None,
        url: None,
    };
    create(&svc, &caller, body, None, Some(original.id), None).await
}

/// Direct replies, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/replies", tag = "posts",
    params(("id" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn replies(
    State(svc): State<Arc<PostsService>>,
    Path(id): Path<String>,
    page: PageRequest,
) -> ApiResult<Page<PostView>> {
    let post = existing(&svc, post_id(&id)?).await?;
    let rows = svc
        .store
        .replies(post.id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(page
        .respond(rows, |p| p.id.to_string())
        .map(PostView::list_item))
}

/// Reply to a post (the same as POST /posts with `in_reply_to`).
#[utoipa::path(post, path = "/api/v1/posts/{id}/replies", tag = "posts",
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, max_length = 64,
            pattern = "^[!-~](?:[ -~]*[!-~])?$",
            description = "1..=64 visible ASCII characters: a retry within 24 h returns the first reply")),
    request_body = ReplyRequest,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = PostView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: the post's author blocks you or you block them", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn reply(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReplyRequest>,
) -> ApiResult<Response> {
    let parent = post_id(&id)?;
    let key = idempotency_key(&headers, &caller)?;
    let body = PostBody::parse(&PostInput {
        text: req.text,
        ..Default::default()
    })?;
    create(&svc, &caller, body, Some(parent), None, key).await
}

#[derive(Deserialize)]
pub struct RepostsParams {
    pub of: Option<String>,
}

/// One of the caller's reposts.
#[derive(Serialize, ToSchema)]
pub struct RepostEntry {
    /// The caller's repost (a post of theirs).
    #[schema(example = "7214859302199")]
    pub id: String,
    /// The original it reposts (one of the ids asked about).
    #[schema(example = "7214859302147")]
    pub repost_of: String,
}

#[derive(Serialize, ToSchema)]
pub struct RepostList {
    pub items: Vec<RepostEntry>,
}

/// Which of the given originals the caller has reposted, with their reposts.
#[utoipa::path(get, path = "/api/v1/reposts", tag = "posts",
    params(("of" = String, Query, pattern = r"^ *[0-9]{1,18} *(, *[0-9]{1,18} *){0,99}$", example = "7214859302147,7214859302150",
        description = "Comma-separated ids of original posts (1..=100, decimal, none empty)")),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The caller's reposts of those of the given posts they reposted, \
            in the order asked (the others are left out)", body = RepostList),
        (status = 400, description = "`of` missing, a malformed id, or more than 100 (`field`: `of`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn my_reposts(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    rookery_kernel::extract::Query(params): rookery_kernel::extract::Query<RepostsParams>,
) -> ApiResult<Json<RepostList>> {
    let raw = params
        .of
        .as_deref()
        .ok_or_else(|| ApiError::invalid("of", "of is required: comma-separated post ids"))?;
    let originals = super::parse_id_list("of", raw)?;
    let mut reposts: std::collections::HashMap<i64, i64> = svc
        .store
        .reposts_by(caller.user_id, &originals)
        .await?
        .into_iter()
        .map(|(repost, original)| (original, repost))
        .collect();
    let items = originals
        .iter()
        .filter_map(|original| {
            reposts.remove(original).map(|repost| RepostEntry {
                id: repost.to_string(),
                repost_of: original.to_string(),
            })
        })
        .collect();
    Ok(Json(RepostList { items }))
}

/// For other services (not routed by the gateway): what they keep of a post
/// (the payload of `post.*` events). The votes service asks on a miss.
pub async fn internal_post_facts(
    State(svc): State<Arc<PostsService>>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let post = existing(&svc, post_id(&id)?).await?;
    Ok(Json(crate::events::post_facts(&post)))
}

/// Ids a batch lookup may carry at most (a page of a list).
const BATCH_MAX: usize = 100;

#[derive(Deserialize)]
pub struct BatchParams {
    /// Comma-separated post ids.
    pub ids: Option<String>,
}

/// For other services (not routed by the gateway): the list items of the
/// given posts, in the order asked; unknown and deleted ones are left out.
/// The votes service builds a user's likes with it.
pub async fn internal_posts_batch(
    State(svc): State<Arc<PostsService>>,
    rookery_kernel::extract::Query(params): rookery_kernel::extract::Query<BatchParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let ids: Vec<i64> = params
        .ids
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_id(s.trim()).ok_or_else(|| ApiError::invalid("ids", "not a post id")))
        .collect::<ApiResult<_>>()?;
    if ids.len() > BATCH_MAX {
        return Err(ApiError::invalid("ids", "at most 100 ids"));
    }
    let mut found: std::collections::HashMap<i64, Post> = svc
        .store
        .posts_by_ids(&ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let items: Vec<PostView> = ids
        .iter()
        .filter_map(|id| found.remove(id))
        .map(PostView::list_item)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

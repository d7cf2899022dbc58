//! `GET /api/v1/search`: users (asked of the users service), posts (full
//! text) and tags (by prefix).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::Query;
use rookery_kernel::identity::MaybeIdentity;
use rookery_kernel::pagination::parse_limit;
use rookery_kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PostView;
use crate::PostsService;
use crate::search::{tag_prefix, words};

/// Characters a query may have (after trimming).
const Q_MAX: usize = 200;

#[derive(Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub limit: Option<String>,
}

/// An account found (its public view).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SearchUser {
    #[schema(example = "alice")]
    pub username: String,
    pub bio: String,
    pub karma: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub followers_count: i64,
    pub following_count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TagView {
    #[schema(example = "rust")]
    pub name: String,
    pub post_count: i64,
}

/// Every kind is present; kinds not asked for are empty.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    #[schema(value_type = Vec<SearchUser>)]
    pub users: Vec<serde_json::Value>,
    pub posts: Vec<PostView>,
    pub tags: Vec<TagView>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Users,
    Posts,
    Tags,
}

/// Search users (username prefix, then bio words), posts (every word of
/// `q` in text or title, best match first, ties newest first) and tags (by
/// prefix). With credentials, accounts that block the caller or that the
/// caller blocks, and their posts, are left out.
#[utoipa::path(get, path = "/api/v1/search", tag = "search",
    params(
        ("q" = String, Query, max_length = 200, pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
            description = "1..=200 characters (trimmed); its words (letters and digits) are searched"),
        ("type" = Option<String>, Query, pattern = "^(?:users|posts|tags)?$",
            description = "`users`, `posts` or `tags`; default (also when empty) all three"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100,
            description = "Per kind: 1..=100, default 20")),
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(svc): State<Arc<PostsService>>,
    MaybeIdentity(caller): MaybeIdentity,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let q = params.q.as_deref().unwrap_or_default().trim();
    if q.is_empty() {
        return Err(ApiError::invalid("q", "q is required"));
    }
    if q.chars().count() > Q_MAX {
        return Err(ApiError::invalid(
            "q",
            format!("q must be at most {Q_MAX} characters"),
        ));
    }
    let only = match params.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("users") => Some(Kind::Users),
        Some("posts") => Some(Kind::Posts),
        Some("tags") => Some(Kind::Tags),
        Some(_) => {
            return Err(ApiError::invalid(
                "type",
                "type must be users, posts or tags",
            ));
        }
    };
    let limit = parse_limit("limit", params.limit.as_deref())?;
    let wanted = |kind: Kind| only.is_none_or(|k| k == kind);
    let viewer = caller.map(|c| c.user_id);

    let users = async {
        match &svc.users {
            Some(directory) if wanted(Kind::Users) => {
                match directory.search_users(q, limit, viewer).await {
                    Ok(users) => users.into_iter().map(public_view).collect(),
                    // Posts and tags are still worth answering.
                    Err(err) => {
                        tracing::warn!(error = %err, "users search failed");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        }
    };
    let posts = async {
        if !wanted(Kind::Posts) {
            return Ok(Vec::new());
        }
        svc.store.search_posts(&words(q), viewer, limit).await
    };
    let tags = async {
        match tag_prefix(q) {
            Some(prefix) if wanted(Kind::Tags) => svc.store.search_tags(&prefix, limit).await,
            _ => Ok(Vec::new()),
        }
    };
    let (users, posts, tags) = tokio::join!(users, posts, tags);
    Ok(Json(SearchResults {
        users,
        posts: posts?.into_iter().map(PostView::list_item).collect(),
        tags: tags?
            .into_iter()
            .map(|t| TagView {
                name: t.name,
                post_count: t.post_count,
            })
            .collect(),
    }))
}

/// The public view of an account: internal ids stay inside.
fn public_view(mut user: serde_json::Value) -> serde_json::Value {
    if let Some(map) = user.as_object_mut() {
        map.remove("user_id");
    }
    user
}

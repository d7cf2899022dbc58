//! Hashtags: the posts of a tag, and tags by trend or name.

use std::sync::Arc;

use axum::extract::{Path, State};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::Query;
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::time::now_ms;
use rookery_kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PostPage, PostView};
use crate::PostsService;
use crate::domain::{TagSort, first_id_at, parse_tag};
use crate::store::TagCount;

/// The trending window: posts of the last 24 hours.
const TRENDING_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
pub struct TagsParams {
    pub sort: Option<String>,
}

/// A tag: its posts, and those of the last 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    #[schema(example = "rust")]
    pub name: String,
    pub post_count: i64,
    /// Posts with the tag in the last 24 hours.
    pub recent_count: i64,
}

impl From<TagCount> for TagView {
    fn from(t: TagCount) -> Self {
        Self {
            name: t.name,
            post_count: t.post_count,
            recent_count: t.recent_count,
        }
    }
}

/// A page of tags (documentation shape).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TagPage {
    pub items: Vec<TagView>,
    /// Only `sort=name` pages on; trending is one page of `limit` tags.
    pub next_cursor: Option<String>,
}

/// Posts carrying a tag, newest first (the tag is case-insensitive; an
/// unknown tag has no posts).
#[utoipa::path(get, path = "/api/v1/tags/{tag}/posts", tag = "tags",
    params(("tag" = String, Path, pattern = "^[A-Za-z0-9_]{1,50}$",
            description = "Without the `#`; case-insensitive"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = PostPage),
        (status = 400, description = "Not a tag name, or a bad limit or cursor", body = ErrorBody)))]
pub async fn tag_posts(
    State(svc): State<Arc<PostsService>>,
    Path(tag): Path<String>,
    page: PageRequest,
) -> ApiResult<Page<PostView>> {
    let tag = parse_tag(&tag)?;
    let rows = svc
        .store
        .tag_posts(&tag, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(page
        .respond(rows, |p| p.id.to_string())
        .map(PostView::list_item))
}

/// Tags: `trending` (the default) is the tags with the most posts in the
/// last 24 hours (ties by name), one page of `limit`; `name` is every tag by
/// name ascending, paged with `cursor`.
#[utoipa::path(get, path = "/api/v1/tags", tag = "tags",
    params(
        ("sort" = Option<String>, Query, pattern = "^(?:trending|name)?$",
            description = "`trending` (the default, also when empty) or `name`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "`sort=name` only: a previous page's `next_cursor`")),
    responses((status = 200, body = TagPage),
        (status = 400, description = "Bad sort, limit or cursor", body = ErrorBody)))]
pub async fn list_tags(
    State(svc): State<Arc<PostsService>>,
    Query(params): Query<TagsParams>,
    page: PageRequest,
) -> ApiResult<Page<TagView>> {
    let sort = TagSort::parse(params.sort.as_deref())?;
    let since_id = first_id_at(now_ms() - TRENDING_WINDOW_MS);
    match sort {
        TagSort::Trending => {
            if page.after.is_some() {
                return Err(ApiError::invalid(
                    "cursor",
                    "trending tags are one page: a cursor only pages sort=name",
                ));
            }
            let rows = svc.store.trending_tags(since_id, page.limit).await?;
            Ok(page.respond(rows, |t| t.name.clone()).map(TagView::from))
        }
        TagSort::Name => {
            let rows = svc
                .store
                .tags_by_name(page.after.as_deref(), since_id, page.limit + 1)
                .await?;
            Ok(page.respond(rows, |t| t.name.clone()).map(TagView::from))
        }
    }
}

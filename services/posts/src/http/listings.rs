//! Listings and timelines, all keyset-paginated (no OFFSET).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::Query;
use rookery_kernel::identity::Identity;
use rookery_kernel::pagination::{Page, PageRequest, split_key_i64};
use rookery_kernel::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{PostPage, PostView, in_order, parse_id_list};
use crate::PostsService;
use crate::domain::{Sort, parse_community};
use crate::store::{ListCursor, ListQuery, Post};

#[derive(Deserialize)]
pub struct ListParams {
    pub community: Option<String>,
    pub author: Option<String>,
    pub sort: Option<String>,
    pub ids: Option<String>,
}

#[derive(Deserialize)]
pub struct SortParam {
    pub sort: Option<String>,
}

/// A listing's cursor key: the id for `new`; `rank:id` otherwise, where the
/// rank is the score (top) or the bits of the float rank (hot, controversial).
fn cursor_key(sort: Sort, post: &Post) -> String {
    match sort {
        Sort::New => post.id.to_string(),
        Sort::Top => format!("{}:{}", post.score, post.id),
        Sort::Hot => format!("{}:{}", post.hot.to_bits() as i64, post.id),
        Sort::Controversial => format!("{}:{}", post.controversy.to_bits() as i64, post.id),
    }
}

fn parse_cursor(sort: Sort, key: Option<&str>) -> ApiResult<Option<ListCursor>> {
    let Some(key) = key else { return Ok(None) };
    let invalid = || ApiError::invalid("cursor", "invalid cursor for this sort");
    Ok(Some(match sort {
        Sort::New => ListCursor::Id(key.parse().map_err(|_| invalid())?),
        Sort::Top => {
            let (score, id) = split_key_i64(key).map_err(|_| invalid())?;
            ListCursor::Ranked(score as f64, id)
        }
        Sort::Hot | Sort::Controversial => {
            let (bits, id) = split_key_i64(key).map_err(|_| invalid())?;
            let rank = f64::from_bits(bits as u64);
            if !rank.is_finite() {
                return Err(invalid());
            }
            ListCursor::Ranked(rank, id)
        }
    }))
}

async fn listing(
    svc: &PostsService,
    community: Option<String>,
    author_id: Option<i64>,
    sort: Sort,
    page: PageRequest,
) -> ApiResult<Page<PostView>> {
    let query = ListQuery {
        community,
        author_id,
        sort,
        after: parse_cursor(sort, page.after.as_deref())?,
        limit: page.limit + 1,
    };
    let rows = svc.store.list(&query).await?;
    Ok(page
        .respond(rows, |p| cursor_key(sort, p))
        .map(PostView::list_item))
}

/// Top-level posts (not replies or reposts), by `new`, `hot`, `top` or
/// `controversial`; or, with `ids`, the posts with those ids.
#[utoipa::path(get, path = "/api/v1/posts", tag = "listings",
    params(
        ("ids" = Option<String>, Query, pattern = r"^ *[0-9]{1,18} *(, *[0-9]{1,18} *){0,99}$", example = "7214859302147,7214859302150",
            description = "Comma-separated post ids (1..=100, decimal, none empty): the answer is \
                those posts as `GET /api/v1/posts/{id}` gives them (`text` and `url` included for \
                community posts too), in the order asked, each once, unknown and deleted ones left \
                out, `next_cursor` null. The other parameters are checked but not used with it."),
        ("community" = Option<String>, Query, pattern = "^[a-z0-9_]{1,50}$",
            description = "Only this community's posts"),
        ("author" = Option<String>, Query, description = "Only this user's posts"),
        ("sort" = Option<String>, Query, pattern = "^(?:new|hot|top|controversial)?$",
            description = "`new` (the default, also when empty), `hot`, `top` or `controversial`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = PostPage),
        (status = 400, description = "An invalid parameter; with `ids`, a malformed id or more than 100 (`field`: `ids`)", body = ErrorBody)))]
pub async fn list_posts(
    State(svc): State<Arc<PostsService>>,
    Query(params): Query<ListParams>,
    page: Result<PageRequest, ApiError>,
) -> ApiResult<Page<PostView>> {
    // Every parameter is checked, also where `ids` makes it unused.
    let page = page?;
    let sort = Sort::parse(params.sort.as_deref())?;
    let community = params
        .community
        .as_deref()
        .map(parse_community)
        .transpose()?;
    if let Some(raw) = params.ids.as_deref() {
        let ids = parse_id_list("ids", raw)?;
        let found = svc.store.posts_by_ids(&ids).await?;
        return Ok(Page {
            items: in_order(&ids, found)
                .into_iter()
                .map(PostView::full)
                .collect(),
            next_cursor: None,
            link: None,
        });
    }
    let author_id = match params.author.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => match svc.account(name).await? {
            Some(author) => Some(author.id),
            // No such author: an empty list, not every post.
            None => {
                return Ok(page
                    .respond(Vec::new(), |p: &Post| p.id.to_string())
                    .map(PostView::list_item));
            }
        },
    };
    listing(&svc, community, author_id, sort, page).await
}

/// A community's posts (the same as `GET /posts?community={name}`).
#[utoipa::path(get, path = "/api/v1/communities/{name}/posts", tag = "listings",
    params(("name" = String, Path, pattern = "^[a-z0-9_]{1,50}$"),
        ("sort" = Option<String>, Query, pattern = "^(?:new|hot|top|controversial)?$",
            description = "`new` (the default, also when empty), `hot`, `top` or `controversial`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"), ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody)))]
pub async fn community_posts(
    State(svc): State<Arc<PostsService>>,
    Path(name): Path<String>,
    Query(params): Query<SortParam>,
    page: PageRequest,
) -> ApiResult<Page<PostView>> {
    let sort = Sort::parse(params.sort.as_deref())?;
    let community = parse_community(&name)?;
    listing(&svc, Some(community), None, sort, page).await
}

/// A user's posts and reposts, newest first.
#[utoipa::path(get, path = "/api/v1/users/{username}/posts", tag = "timelines",
    params(("username" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"), ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn user_posts(
    State(svc): State<Arc<PostsService>>,
    Path(username): Path<String>,
    page: PageRequest,
) -> ApiResult<Page<PostView>> {
    let author = svc.active_account(&username).await?;
    let rows = svc
        .store
        .user_timeline(author.id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(page
        .respond(rows, |p| p.id.to_string())
        .map(PostView::list_item))
}

/// Every post, newest first.
#[utoipa::path(get, path = "/api/v1/timelines/public", tag = "timelines",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"), ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody)))]
pub async fn public_timeline(
    State(svc): State<Arc<PostsService>>,
    page: PageRequest,
) -> ApiResult<Page<PostView>> {
    let rows = svc
        .store
        .public_timeline(page.after_i64()?, page.limit + 1)
        .await?;
    Ok(page
        .respond(rows, |p| p.id.to_string())
        .map(PostView::list_item))
}

/// Posts and reposts by the accounts the caller follows and by the caller, newest first.
#[utoipa::path(get, path = "/api/v1/timelines/home", tag = "timelines",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"), ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn home_timeline(
    State(svc): State<Arc<PostsService>>,
    caller: Identity,
    page: PageRequest,
) -> ApiResult<Response> {
    let rows = svc
        .home_posts(caller.user_id, page.after_i64()?, page.limit + 1)
        .await?;
    let page = page.respond(rows, |p| p.id.to_string());
    let views: Vec<&RawValue> = page
        .items
        .iter()
        .map(|p| PostsService::list_view(p))
        .collect::<ApiResult<_>>()?;
    Ok(Page {
        items: views,
        next_cursor: page.next_cursor.clone(),
        link: page.link.clone(),
    }
    .into_response())
}

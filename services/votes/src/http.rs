//! HTTP handlers of the votes service.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::{JsonBody, Query};
use rookery_kernel::identity::{Identity, MaybeIdentity};
use rookery_kernel::ids::parse_id;
use rookery_kernel::pagination::{Page, PageRequest, parse_limit};
use rookery_kernel::schema;
use rookery_kernel::time::rfc3339;
use rookery_kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::VotesService;
use crate::store::{Direction, NewPoll, Poll, Ranked, StoreError, Tally};

/// Ids a sort request may carry at most.
const SORT_MAX: usize = 1000;

#[derive(Serialize, ToSchema)]
pub struct TallyView {
    #[schema(example = "7214859302147")]
    pub post_id: String,
    pub upvotes: i64,
    pub downvotes: i64,
    pub score: i64,
    /// `up`, `down`, or null (no vote, or no caller).
    #[schema(value_type = Option<String>)]
    pub my_vote: Option<Direction>,
}

impl From<Tally> for TallyView {
    fn from(t: Tally) -> Self {
        Self {
            post_id: t.post_id.to_string(),
            upvotes: t.upvotes,
            downvotes: t.downvotes,
            score: t.score(),
            my_vote: t.my_vote,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct VoteRequest {
    #[schema(value_type = VoteDirection)]
    pub direction: String,
}

/// `up` or `down` (documentation of `direction`).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum VoteDirection {
    Up,
    Down,
}

#[derive(Serialize, ToSchema)]
pub struct RankedView {
    pub post_id: String,
    pub score: i64,
    pub upvotes: i64,
    pub downvotes: i64,
    pub title: Option<String>,
    pub community: Option<String>,
    pub author: String,
}

impl From<Ranked> for RankedView {
    fn from(r: Ranked) -> Self {
        Self {
            post_id: r.id.to_string(),
            score: r.score,
            upvotes: r.upvotes,
            downvotes: r.downvotes,
            title: r.title,
            community: r.community,
            author: r.author,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TopList {
    pub items: Vec<RankedView>,
}

#[derive(Deserialize)]
pub struct TopParams {
    pub community: Option<String>,
    pub limit: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct SortRequest {
    /// At most 1000 post ids.
    pub post_ids: Vec<String>,
}

/// Documented by hand (see the `PartialSchema` impl): the derive cannot put
/// rules on the options themselves.
#[derive(Deserialize)]
pub struct CreatePollRequest {
    pub question: String,
    pub options: Vec<String>,
}

/// Strings are trimmed before these rules apply.
impl utoipa::PartialSchema for CreatePollRequest {
    fn schema() -> RefOr<Schema> {
        schema::from_json(serde_json::json!({
            "type": "object",
            "required": ["question", "options"],
            "properties": {
                "question": {"type": "string", "maxLength": 300, "pattern": schema::NOT_BLANK,
                    "description": "1..=300 characters"},
                "options": {
                    "type": "array", "minItems": 2, "maxItems": 10,
                    "description": "2..=10 options of 1..=100 characters each",
                    "items": {"type": "string", "maxLength": 100, "pattern": schema::NOT_BLANK},
                },
            },
        }))
    }
}

impl utoipa::ToSchema for CreatePollRequest {}

#[derive(Deserialize, ToSchema)]
pub struct PollVoteRequest {
    /// 0-based index into the poll's options (400 past the last one).
    #[schema(minimum = 0, maximum = 9)]
    #[serde(deserialize_with = "rookery_kernel::extract::integer")]
    pub choice: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PollOptionView {
    pub text: String,
    pub votes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PollView {
    pub id: String,
    pub author: String,
    pub question: String,
    pub options: Vec<PollOptionView>,
    pub total_votes: i64,
    pub created_at: String,
    /// The caller's 0-based choice; null when they have not voted, or
    /// without credentials.
    #[schema(minimum = 0, maximum = 9)]
    pub my_choice: Option<i64>,
}

impl PollView {
    /// The poll as `my_choice`'s voter sees it.
    fn new(p: Poll, my_choice: Option<i64>) -> Self {
        Self {
            id: p.id.to_string(),
            author: p.author,
            question: p.question,
            options: p
                .options
                .into_iter()
                .map(|o| PollOptionView {
                    text: o.text,
                    votes: o.votes,
                })
                .collect(),
            total_votes: p.total_votes,
            created_at: rfc3339(p.created_at),
            my_choice,
        }
    }
}

/// A post id from the path; anything that is not one names no post.
fn post_id(raw: &str) -> ApiResult<i64> {
    parse_id(raw.trim()).ok_or_else(|| ApiError::not_found("no such post"))
}

fn poll_id(raw: &str) -> ApiResult<i64> {
    parse_id(raw.trim()).ok_or_else(|| ApiError::not_found("no such poll"))
}

async fn cast(
    svc: &VotesService,
    caller: &Identity,
    raw_id: &str,
    direction: Option<Direction>,
) -> ApiResult<Json<TallyView>> {
    let id = post_id(raw_id)?;
    let tally = match svc.store.vote(caller.user_id, id, direction).await {
        // Not in the replica yet: ask the posts service once, then retry.
        Err(StoreError::NotFound) => {
            svc.known_post(id).await?;
            svc.store.vote(caller.user_id, id, direction).await?
        }
        other => other?,
    };
    Ok(Json(tally.into()))
}

/// Votes up or down; voting the same way again changes nothing, the other way moves the vote.
#[utoipa::path(put, path = "/api/v1/posts/{id}/vote", tag = "votes",
    params(("id" = String, Path)), request_body = VoteRequest,
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TallyView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: one of you blocks the other", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_vote(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VoteRequest>,
) -> ApiResult<Json<TallyView>> {
    let direction = match body.direction.trim() {
        "up" => Direction::Up,
        "down" => Direction::Down,
        _ => {
            return Err(ApiError::invalid(
                "direction",
                "direction must be \"up\" or \"down\"",
            ));
        }
    };
    cast(&svc, &caller, &id, Some(direction)).await
}

/// Removes the caller's vote (or like).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/vote", tag = "votes",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TallyView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_vote(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TallyView>> {
    cast(&svc, &caller, &id, None).await
}

/// The same as voting up.
#[utoipa::path(post, path = "/api/v1/posts/{id}/upvote", tag = "votes",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TallyView), (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: one of you blocks the other", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn upvote(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TallyView>> {
    cast(&svc, &caller, &id, Some(Direction::Up)).await
}

/// The same as voting down.
#[utoipa::path(post, path = "/api/v1/posts/{id}/downvote", tag = "votes",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TallyView), (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: one of you blocks the other", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn downvote(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TallyView>> {
    cast(&svc, &caller, &id, Some(Direction::Down)).await
}

/// A like is an up vote.
#[utoipa::path(post, path = "/api/v1/posts/{id}/like", tag = "votes",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TallyView), (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: one of you blocks the other", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn like(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TallyView>> {
    cast(&svc, &caller, &id, Some(Direction::Up)).await
}

/// Removes the caller's like (their vote).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/like", tag = "votes",
    params(("id" = String, Path)), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = TallyView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn unlike(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
) -> ApiResult<Json<TallyView>> {
    cast(&svc, &caller, &id, None).await
}

/// A post's tallies; `my_vote` is the caller's when authenticated.
#[utoipa::path(get, path = "/api/v1/posts/{id}/votes", tag = "votes",
    params(("id" = String, Path)),
    responses((status = 200, body = TallyView), (status = 404, body = ErrorBody)))]
pub async fn tally(
    State(svc): State<Arc<VotesService>>,
    MaybeIdentity(caller): MaybeIdentity,
    Path(id): Path<String>,
) -> ApiResult<Json<TallyView>> {
    let id = post_id(&id)?;
    let viewer = caller.map(|c| c.user_id);
    let tally = match svc.store.tally(id, viewer).await? {
        Some(tally) => tally,
        None => {
            svc.known_post(id).await?;
            svc.store
                .tally(id, viewer)
                .await?
                .ok_or_else(|| ApiError::not_found("no such post"))?
        }
    };
    Ok(Json(tally.into()))
}

#[derive(Deserialize)]
pub struct TalliesParams {
    pub post_ids: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TallyList {
    pub items: Vec<TallyView>,
}

/// `post_ids`: 1..=100 comma-separated decimal ids, each once, in the
/// order given.
fn parse_post_ids(raw: Option<&str>) -> ApiResult<Vec<i64>> {
    let raw = raw.ok_or_else(|| {
        ApiError::invalid("post_ids", "post_ids is required: comma-separated post ids")
    })?;
    rookery_kernel::extract::id_list("post_ids", raw)
}

/// Several posts' tallies at once (each as `GET /api/v1/posts/{id}/votes`
/// gives it); `my_vote` is the caller's when authenticated.
#[utoipa::path(get, path = "/api/v1/votes/tallies", tag = "votes",
    params(("post_ids" = String, Query, pattern = r"^ *[0-9]{1,18} *(, *[0-9]{1,18} *){0,99}$", example = "7214859302147,7214859302150",
        description = "Comma-separated post ids (1..=100, decimal, none empty)")),
    responses(
        (status = 200, description = "The tallies in the order asked, each post once; unknown and \
            deleted posts are left out (so is a post created too recently for the votes service to \
            know it yet: it has no votes)",
            body = TallyList),
        (status = 400, description = "`post_ids` missing, a malformed id, or more than 100 (`field`: `post_ids`)",
            body = ErrorBody),
    ))]
pub async fn tallies(
    State(svc): State<Arc<VotesService>>,
    MaybeIdentity(caller): MaybeIdentity,
    Query(params): Query<TalliesParams>,
) -> ApiResult<Json<TallyList>> {
    let ids = parse_post_ids(params.post_ids.as_deref())?;
    let viewer = caller.map(|c| c.user_id);
    let mut found: std::collections::HashMap<i64, Tally> = svc
        .store
        .tallies(&ids, viewer)
        .await?
        .into_iter()
        .map(|t| (t.post_id, t))
        .collect();
    let items = ids
        .iter()
        .filter_map(|id| found.remove(id))
        .map(TallyView::from)
        .collect();
    Ok(Json(TallyList { items }))
}

/// Highest-scoring posts, overall or in one community (ties: newer first).
#[utoipa::path(get, path = "/api/v1/votes/top", tag = "votes",
    params(("community" = Option<String>, Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20")),
    responses((status = 200, body = TopList), (status = 400, body = ErrorBody)))]
pub async fn top(
    State(svc): State<Arc<VotesService>>,
    Query(params): Query<TopParams>,
) -> ApiResult<Json<TopList>> {
    let limit = parse_limit("limit", params.limit.as_deref())?;
    let community = params
        .community
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let rows = svc.store.top(community, limit).await?;
    Ok(Json(TopList {
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

/// The given ids ordered by score, highest first; ties keep their input
/// order and unknown ids count as 0.
#[utoipa::path(post, path = "/api/v1/votes/sort", tag = "votes",
    request_body = SortRequest,
    responses((status = 200, body = SortRequest), (status = 400, body = ErrorBody)))]
pub async fn sort(
    State(svc): State<Arc<VotesService>>,
    JsonBody(body): JsonBody<SortRequest>,
) -> ApiResult<Json<SortRequest>> {
    if body.post_ids.len() > SORT_MAX {
        return Err(ApiError::invalid("post_ids", "at most 1000 post ids"));
    }
    let parsed: Vec<Option<i64>> = body.post_ids.iter().map(|s| parse_id(s.trim())).collect();
    let known: Vec<i64> = parsed.iter().flatten().copied().collect();
    let scores: std::collections::HashMap<i64, i64> =
        svc.store.scores(&known).await?.into_iter().collect();
    let mut ranked: Vec<(i64, String)> = body
        .post_ids
        .into_iter()
        .zip(parsed)
        .map(|(raw, id)| (id.and_then(|i| scores.get(&i).copied()).unwrap_or(0), raw))
        .collect();
    // A stable sort keeps the input order of equal scores.
    ranked.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    Ok(Json(SortRequest {
        post_ids: ranked.into_iter().map(|(_, raw)| raw).collect(),
    }))
}

/// Posts the user upvoted (liked), most recent vote first.
#[utoipa::path(get, path = "/api/v1/users/{username}/likes", tag = "votes",
    params(("username" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = ref("#/components/schemas/PostPage")),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn likes(
    State(svc): State<Arc<VotesService>>,
    Path(username): Path<String>,
    page: PageRequest,
) -> ApiResult<Page<serde_json::Value>> {
    let account = svc.active_account(&username).await?;
    let rows = svc
        .store
        .likes(account.id, page.after_i64()?, page.limit + 1)
        .await?;
    // The cursor is the vote's id: a user's likes are ordered by when they voted.
    let page = page.respond(rows, |like| like.vote_id.to_string());
    let ids: Vec<i64> = page.items.iter().map(|like| like.post_id).collect();
    Ok(Page {
        items: svc.list_items(&ids).await?,
        next_cursor: page.next_cursor,
        link: page.link,
    })
}

/// Creates a poll.
#[utoipa::path(post, path = "/api/v1/polls", tag = "polls",
    request_body = CreatePollRequest, security(("basic" = []), ("bearer" = [])),
    responses((status = 201, body = PollView,
            headers(("Location" = String, description = "/api/v1/polls/{id}"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_poll(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    JsonBody(body): JsonBody<CreatePollRequest>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, String); 1],
    Json<PollView>,
)> {
    let question = body.question.trim().to_string();
    let chars = question.chars().count();
    if !(1..=300).contains(&chars) {
        return Err(ApiError::invalid(
            "question",
            "question must be 1..=300 characters",
        ));
    }
    if !(2..=10).contains(&body.options.len()) {
        return Err(ApiError::invalid("options", "a poll has 2..=10 options"));
    }
    let options: Vec<String> = body.options.iter().map(|o| o.trim().to_string()).collect();
    if options
        .iter()
        .any(|o| !(1..=100).contains(&o.chars().count()))
    {
        return Err(ApiError::invalid(
            "options",
            "each option is 1..=100 characters",
        ));
    }
    let poll = svc
        .polls
        .create_poll(NewPoll {
            author_id: caller.user_id,
            author: caller.username.clone(),
            question,
            options,
        })
        .await?;
    let location = format!("/api/v1/polls/{}", poll.id);
    // A new poll has no votes, the author's included.
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(PollView::new(poll, None)),
    ))
}

/// A poll with its counts; `my_choice` is the caller's when authenticated.
#[utoipa::path(get, path = "/api/v1/polls/{id}", tag = "polls",
    params(("id" = String, Path)),
    responses((status = 200, body = PollView), (status = 404, body = ErrorBody)))]
pub async fn get_poll(
    State(svc): State<Arc<VotesService>>,
    MaybeIdentity(caller): MaybeIdentity,
    Path(id): Path<String>,
) -> ApiResult<Json<PollView>> {
    let poll = svc
        .polls
        .poll(poll_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("no such poll"))?;
    let my_choice = match caller {
        Some(caller) => svc.polls.poll_choice(poll.id, caller.user_id).await?,
        None => None,
    };
    Ok(Json(PollView::new(poll, my_choice)))
}

/// Votes in a poll, once per user; the answer's `my_choice` is the choice made.
#[utoipa::path(post, path = "/api/v1/polls/{id}/votes", tag = "polls",
    params(("id" = String, Path)), request_body = PollVoteRequest,
    security(("basic" = []), ("bearer" = [])),
    responses((status = 201, body = PollView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already_voted")))]
pub async fn vote_in_poll(
    State(svc): State<Arc<VotesService>>,
    caller: Identity,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PollVoteRequest>,
) -> ApiResult<(StatusCode, Json<PollView>)> {
    let poll = svc
        .polls
        .vote_in_poll(poll_id(&id)?, caller.user_id, body.choice)
        .await?;
    // The vote just counted is the caller's choice.
    Ok((
        StatusCode::CREATED,
        Json(PollView::new(poll, Some(body.choice))),
    ))
}

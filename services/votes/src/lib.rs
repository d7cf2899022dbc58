//! The votes service: up/down votes and likes on posts, tallies, top lists,
//! score sorting, and polls. It keeps a replica of post facts from `post.*`
//! events and publishes `vote.changed` through its outbox.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::middleware;
use axum::routing::{get, post, put};
use rookery_kernel::directory::{AccountDirectory, replica_or_directory};
use rookery_kernel::http::{ReadyCheck, finish_router, ops_routes};
use rookery_kernel::identity::{IdentityKeys, verify_identity};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::{ApiError, ApiResult};
use utoipa::OpenApi;

pub mod events;
pub mod http;
pub mod store;

use store::{Account, PostFacts};

/// Where the votes service asks about a post its replica does not know yet
/// (created a moment ago, its event still on the way): the posts service.
#[async_trait]
pub trait PostDirectory: Send + Sync {
    /// The post's facts; `None` if it does not exist (or was deleted).
    async fn facts(&self, id: i64) -> anyhow::Result<Option<PostFacts>>;
    /// The posts' list items (JSON as the posts service shows them), in the
    /// order of `ids`; unknown and deleted ones are left out.
    async fn list_items(&self, ids: &[i64]) -> anyhow::Result<Vec<serde_json::Value>>;
}

pub struct VotesService {
    pub store: Arc<dyn VoteStore>,
    pub polls: Arc<dyn PollStore>,
    pub identity: IdentityKeys,
    directory: Arc<dyn PostDirectory>,
    accounts: Arc<dyn AccountDirectory>,
}

impl VotesService {
    pub fn new(
        store: Arc<dyn VoteStore>,
        polls: Arc<dyn PollStore>,
        identity: IdentityKeys,
        directory: Arc<dyn PostDirectory>,
        accounts: Arc<dyn AccountDirectory>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            polls,
            identity,
            directory,
            accounts,
        })
    }

    /// The active account of `username`: the replica first, then (after a
    /// miss) the users service, whose answer is remembered.
    pub(crate) async fn active_account(&self, username: &str) -> ApiResult<Account> {
        let username = username.trim();
        replica_or_directory(
            username,
            self.store.account(username),
            self.accounts.as_ref(),
            async |account| self.store.remember_account(account).await,
        )
        .await?
        .filter(|a| a.active)
        .ok_or_else(|| ApiError::not_found("no such user"))
    }

    /// List items of posts for a page, from the posts service.
    pub(crate) async fn list_items(&self, ids: &[i64]) -> ApiResult<Vec<serde_json::Value>> {
        self.directory.list_items(ids).await.map_err(|err| {
            tracing::warn!(error = %err, "asking the posts service failed");
            ApiError::unavailable("the posts service is unavailable, try again")
        })
    }

    /// After a miss in the replica: asks the posts service and remembers
    /// the post; 404 when it does not exist.
    pub(crate) async fn known_post(&self, id: i64) -> ApiResult<()> {
        let facts = self.directory.facts(id).await.map_err(|err| {
            tracing::warn!(error = %err, post = id, "asking the posts service failed");
            ApiError::unavailable("the posts service is unavailable, try again")
        })?;
        match facts {
            Some(facts) => Ok(self.store.remember_post(&facts).await?),
            None => Err(ApiError::not_found("no such post")),
        }
    }
}

pub fn router(svc: Arc<VotesService>) -> Router {
    use http as h;
    let (store, polls) = (svc.store.clone(), svc.polls.clone());
    let ready: ReadyCheck = Arc::new(move || {
        let (store, polls) = (store.clone(), polls.clone());
        Box::pin(async move {
            store.ping().await.map_err(|e| e.to_string())?;
            polls.ping().await.map_err(|e| e.to_string())
        })
    });
    let api = Router::new()
        .route(
            "/api/v1/posts/{id}/vote",
            put(h::put_vote).delete(h::delete_vote),
        )
        .route("/api/v1/posts/{id}/upvote", post(h::upvote))
        .route("/api/v1/posts/{id}/downvote", post(h::downvote))
        .route("/api/v1/posts/{id}/like", post(h::like).delete(h::unlike))
        .route("/api/v1/posts/{id}/votes", get(h::tally))
        .route("/api/v1/votes/top", get(h::top))
        .route("/api/v1/votes/tallies", get(h::tallies))
        .route("/api/v1/users/{username}/likes", get(h::likes))
        .route("/api/v1/votes/sort", post(h::sort))
        .route("/api/v1/polls", post(h::create_poll))
        .route("/api/v1/polls/{id}", get(h::get_poll))
        .route("/api/v1/polls/{id}/votes", post(h::vote_in_poll))
        .layer(middleware::from_fn_with_state(
            svc.identity.clone(),
            verify_identity,
        ))
        .with_state(svc);
    finish_router(api.merge(ops_routes(ready)), "votes")
}

/// The votes part of the public OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        http::put_vote, http::delete_vote, http::upvote, http::downvote, http::like,
        http::unlike, http::tally, http::tallies, http::top, http::sort, http::likes, http::create_poll,
        http::get_poll, http::vote_in_poll,
    ),
    tags(
        (name = "votes", description = "Up/down votes, likes, tallies and top lists"),
        (name = "polls", description = "Polls"),
    )
)]
pub struct VotesApi;

pub use store::{DynamoPollStore, PollStore, PostgresVoteStore, SqliteVoteStore, VoteStore};

/// The service's store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str, ids: Arc<IdGenerator>) -> anyhow::Result<OpenedStore> {
    let pg_ids = ids.clone();
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, signal| Arc::new(SqliteVoteStore::new(db, ids, signal)) as Arc<dyn VoteStore>,
        |pool, signal| Arc::new(PostgresVoteStore::new(pool, pg_ids, signal)) as Arc<dyn VoteStore>,
    )
    .await
}

/// The polls store: on `polls_url` when given (a `dynamodb://` URL: polls
/// in DynamoDB, votes in SQL), else the votes store's own database.
pub async fn open_poll_store(
    polls_url: Option<&str>,
    votes: &OpenedStore,
    ids: Arc<IdGenerator>,
) -> anyhow::Result<Arc<dyn PollStore>> {
    match polls_url {
        None => Ok(votes.store.clone().polls()),
        Some(url) if url.starts_with("dynamodb://") => {
            let url = rookery_kernel::dynamo::DynamoUrl::parse(url)?;
            Ok(Arc::new(DynamoPollStore::open(&url, ids).await?))
        }
        Some(url) => anyhow::bail!(
            "a separate polls database is a dynamodb:// URL (got {url:?}); \
             on SQL the polls live with the votes"
        ),
    }
}

/// An opened store of this service.
pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn VoteStore>;

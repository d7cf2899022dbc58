//! The posts service: posts, edits, reposts, replies, communities, listings
//! and timelines (home timelines fanned out on write).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use rookery_kernel::directory::{AccountDirectory, replica_or_directory};
use rookery_kernel::http::{ReadyCheck, finish_router, ops_routes};
use rookery_kernel::identity::{Identity, IdentityKeys, verify_identity};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::{ApiError, ApiResult};
use serde_json::value::RawValue;
use tokio::sync::RwLock;
use utoipa::OpenApi;

pub mod domain;
pub mod events;
pub mod http;
pub mod search;
pub mod store;
pub mod timeline;

pub use events::TimelineConfig;
pub use store::{PostStore, PostgresPostStore, SqlitePostStore};

use store::{Account, HomeMerge, Post, StoreError};
use timeline::RedisTimelines;

/// Users service lookups per post at most, for mentioned names the replica lacks.
const MENTION_LOOKUPS: usize = 10;

/// How often the set of high-follower authors is re-read.
const CELEBRITY_REFRESH: Duration = Duration::from_secs(5);

pub struct PostsService {
    pub store: Arc<dyn PostStore>,
    pub identity: IdentityKeys,
    pub timelines: TimelineConfig,
    /// Home timelines in Redis instead of the database, when configured.
    pub redis: Option<RedisTimelines>,
    celebrities: RwLock<(Option<Instant>, Arc<Vec<i64>>)>,
    known_authors: moka::sync::Cache<i64, ()>,
    /// The users service, asked about accounts the author replica does not
    /// know yet; without it the replica alone answers.
    accounts: Option<Arc<dyn AccountDirectory>>,
    /// The users service's account search, for `GET /search`; without it
    /// searches find no users.
    pub(crate) users: Option<Arc<dyn search::UserSearch>>,
}

/// Home timeline pages read at most to fill one page when the viewer has
/// hidden accounts (blocks, mutes), and the rows each read asks for at least.
const HIDDEN_ROUNDS: usize = 8;
const HIDDEN_BATCH: usize = 50;

impl PostsService {
    pub fn new(
        store: Arc<dyn PostStore>,
        identity: IdentityKeys,
        timelines: TimelineConfig,
        redis: Option<RedisTimelines>,
        accounts: Option<Arc<dyn AccountDirectory>>,
        users: Option<Arc<dyn search::UserSearch>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            identity,
            timelines,
            redis,
            celebrities: RwLock::new((None, Arc::new(Vec::new()))),
            known_authors: moka::sync::Cache::new(1_000_000),
            accounts,
            users,
        })
    }

    /// The account named `username` (case-insensitively, deactivated ones
    /// included): the author replica first; after a miss (its
    /// `user.registered` may still be on the way, or no bus brings it) the
    /// users service when one is configured, whose answer is remembered.
    /// `None` for an unknown account.
    pub(crate) async fn account(&self, username: &str) -> ApiResult<Option<Account>> {
        let username = username.trim();
        let replica = async {
            let author = self.store.author_by_username(username).await?;
            Ok::<_, StoreError>(author.map(|a| Account {
                id: a.id,
                username: a.username,
                active: a.active,
            }))
        };
        let Some(directory) = &self.accounts else {
            return Ok(replica.await?);
        };
        replica_or_directory(username, replica, directory.as_ref(), async |account| {
            self.store.remember_account(account).await
        })
        .await
    }

    /// The active account named `username`; 404 for an unknown or
    /// deactivated one.
    pub(crate) async fn active_account(&self, username: &str) -> ApiResult<Account> {
        self.account(username)
            .await?
            .filter(|a| a.active)
            .ok_or_else(|| ApiError::not_found("no such user"))
    }

    /// Makes sure the author replica knows the accounts `body` mentions, as
    /// the store resolves mentions from it (in the write's transaction):
    /// names it lacks (their `user.registered` may still be on the way) are
    /// asked of the users service, at most `MENTION_LOOKUPS` per post. One
    /// the users service cannot confirm now is left out, not a failed post.
    pub(crate) async fn learn_mentioned(&self, body: &domain::PostBody) -> ApiResult<()> {
        let Some(directory) = &self.accounts else {
            return Ok(());
        };
        let candidates = domain::mention_candidates(body);
        if candidates.is_empty() {
            return Ok(());
        }
        let known = self.store.authors_by_usernames(&candidates).await?;
        let missing = candidates
            .iter()
            .filter(|name| !known.iter().any(|k| k.username.eq_ignore_ascii_case(name)))
            .take(MENTION_LOOKUPS);
        let answers = futures::future::join_all(missing.map(|name| directory.account(name))).await;
        for answer in answers {
            match answer {
                Ok(Some(account)) => self.store.remember_account(&account).await?,
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "asking the users service about a mention failed")
                }
            }
        }
        Ok(())
    }

    /// Makes sure the author replica knows the caller (their registration
    /// event may still be on its way).
    pub(crate) async fn remember_author(&self, caller: &Identity) -> ApiResult<()> {
        if self.known_authors.get(&caller.user_id).is_none() {
            self.store
                .upsert_author(caller.user_id, &caller.username)
                .await?;
            self.known_authors.insert(caller.user_id, ());
        }
        Ok(())
    }

    /// Up to `limit` home timeline posts below `before`, newest first,
    /// without posts (and reposts of posts) by accounts hidden from `user`
    /// (blocks either way, the user's mutes): pages are read on until
    /// `limit` are kept or the timeline ends (at most `HIDDEN_ROUNDS` reads).
    pub async fn home_posts(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> ApiResult<Vec<Arc<Post>>> {
        let hidden = self.store.hidden_from(user).await?;
        if hidden.is_empty() {
            return self.home_page(user, before, limit).await;
        }
        let hidden: std::collections::HashSet<i64> = hidden.into_iter().collect();
        let batch = limit.max(HIDDEN_BATCH);
        let (mut kept, mut cursor) = (Vec::new(), before);
        for _ in 0..HIDDEN_ROUNDS {
            let page = self.home_page(user, cursor, batch).await?;
            let ended = page.len() < batch;
            cursor = page.last().map(|p| p.id);
            kept.extend(self.visible(&hidden, page).await?);
            if ended || kept.len() >= limit {
                break;
            }
        }
        kept.truncate(limit);
        Ok(kept)
    }

    /// `posts` without those by `hidden` accounts or reposting theirs
    /// (the originals' authors read in one batch).
    async fn visible(
        &self,
        hidden: &std::collections::HashSet<i64>,
        mut posts: Vec<Arc<Post>>,
    ) -> ApiResult<Vec<Arc<Post>>> {
        posts.retain(|p| !hidden.contains(&p.author_id));
        let originals: Vec<i64> = posts.iter().filter_map(|p| p.repost_of).collect();
        if originals.is_empty() {
            return Ok(posts);
        }
        let hidden_originals: std::collections::HashSet<i64> = self
            .store
            .posts_by_ids(&originals)
            .await?
            .into_iter()
            .filter(|o| hidden.contains(&o.author_id))
            .map(|o| o.id)
            .collect();
        posts.retain(|p| p.repost_of.is_none_or(|o| !hidden_originals.contains(&o)));
        Ok(posts)
    }

    /// Up to `limit` home timeline posts below `before`, newest first, from
    /// the database or from Redis (ids there, posts hydrated from the database).
    async fn home_page(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> ApiResult<Vec<Arc<Post>>> {
        let merge = self.home_merge(user).await?;
        let Some(redis) = &self.redis else {
            return Ok(self
                .store
                .shared_home_timeline(user, before, limit, &merge)
                .await?);
        };
        let ids = redis
            .page(user, before, limit)
            .await
            .map_err(|e| StoreError::Timelines(e.to_string()))?;
        let mut posts = self.store.shared_posts_by_ids(&ids).await?;
        posts.extend(
            self.store
                .posts_by_authors(&merge.celebrities, before, limit)
                .await?
                .into_iter()
                .map(Arc::new),
        );
        posts.sort_unstable_by_key(|p| std::cmp::Reverse(p.id));
        posts.dedup_by_key(|p| p.id);
        posts.truncate(limit);
        Ok(posts)
    }

    /// The list view of `post` (as `GET` listings show it), written once
    /// per value: a cached post's view is reused for as long as the cache
    /// hands out that post.
    pub(crate) fn list_view(post: &Post) -> ApiResult<&RawValue> {
        post.list_view
            .get_or_write(|| {
                serde_json::value::to_raw_value(&http::PostView::list_item(post.clone()))
            })
            .map_err(ApiError::internal)
    }

    /// The high-follower accounts `user` follows, whose posts are merged into
    /// the home timeline at read time. Costs nothing while there are none.
    pub(crate) async fn home_merge(&self, user: i64) -> ApiResult<HomeMerge> {
        let celebrities = {
            let cached = self.celebrities.read().await;
            match cached.0 {
                Some(at) if at.elapsed() < CELEBRITY_REFRESH => Some(cached.1.clone()),
                _ => None,
            }
        };
        let celebrities = match celebrities {
            Some(c) => c,
            None => {
                let fresh = Arc::new(
                    self.store
                        .celebrities(self.timelines.fanout_threshold)
                        .await?,
                );
                *self.celebrities.write().await = (Some(Instant::now()), fresh.clone());
                fresh
            }
        };
        if celebrities.is_empty() {
            return Ok(HomeMerge::default());
        }
        Ok(HomeMerge {
            celebrities: self.store.followed_among(user, &celebrities).await?,
        })
    }
}

/// The service's store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str, ids: Arc<IdGenerator>) -> anyhow::Result<OpenedStore> {
    let pg_ids = ids.clone();
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, signal| Arc::new(SqlitePostStore::new(db, ids, signal)) as Arc<dyn PostStore>,
        |pool, signal| Arc::new(PostgresPostStore::new(pool, pg_ids, signal)) as Arc<dyn PostStore>,
    )
    .await
}

/// An opened store of this service.
pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn PostStore>;

pub fn router(svc: Arc<PostsService>) -> Router {
    use http::{listings as l, posts as p};
    let store = svc.store.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    let api = Router::new()
        .route("/api/v1/posts", post(p::create_post).get(l::list_posts))
        .route(
            "/api/v1/posts/{id}",
            get(p::get_post).patch(p::edit_post).delete(p::delete_post),
        )
        .route("/api/v1/posts/{id}/history", get(p::history))
        .route("/api/v1/posts/{id}/repost", post(p::repost))
        .route("/api/v1/posts/{id}/replies", get(p::replies).post(p::reply))
        .route("/api/v1/reposts", get(p::my_reposts))
        .route("/api/v1/communities/{name}/posts", get(l::community_posts))
        .route("/api/v1/users/{username}/posts", get(l::user_posts))
        .route("/api/v1/timelines/public", get(l::public_timeline))
        .route("/api/v1/timelines/home", get(l::home_timeline))
        .route("/api/v1/tags", get(http::tags::list_tags))
        .route("/api/v1/tags/{tag}/posts", get(http::tags::tag_posts))
        .route("/api/v1/search", get(http::search::search))
        .route("/internal/v1/posts", get(p::internal_posts_batch))
        .route("/internal/v1/posts/{id}", get(p::internal_post_facts))
        .layer(middleware::from_fn_with_state(
            svc.identity.clone(),
            verify_identity,
        ))
        .with_state(svc);
    finish_router(api.merge(ops_routes(ready)), "posts")
}

/// The posts part of the public OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        http::posts::create_post, http::posts::get_post, http::posts::edit_post,
        http::posts::history, http::posts::delete_post, http::posts::repost,
        http::posts::replies, http::posts::reply, http::posts::my_reposts,
        http::listings::list_posts,
        http::listings::community_posts, http::listings::user_posts,
        http::listings::public_timeline, http::listings::home_timeline,
        http::tags::tag_posts, http::tags::list_tags,
        http::search::search,
    ),
    tags(
        (name = "posts", description = "Posts, edits, reposts and replies"),
        (name = "listings", description = "Ranked listings of posts and communities"),
        (name = "timelines", description = "User, public and home timelines"),
        (name = "tags", description = "Hashtags: posts by tag, trending tags"),
        (name = "search", description = "Search of users, posts and tags"),
    )
)]
pub struct PostsApi;

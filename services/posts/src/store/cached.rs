//! In-process caches in front of a [`PostStore`], for embedded mode only:
//! they are exact because this process makes every write to the database
//! (scaled-out instances run without them, as each instance writes too).
//!
//! Caches: posts by id, the newest post ids of each home timeline and of
//! each author, authors by username, and listing pages. Timeline reads are
//! then served without a database round trip.
//!
//! Home timelines live here, not in the `home_timeline` table: the fan-out
//! (the consumer's events pass through here) hands over who receives each
//! post, and cached timelines are updated in place. A timeline not in memory
//! (after a restart, or evicted) is computed from the follow graph and the
//! posts. Writing the table instead cost ~40 random b-tree pages per post on
//! SQLite's one writer, and creates queued behind those commits.
//!
//! A read that misses loads from the database and stores the result only if
//! nothing touched that key (or everything) in between: each key hashes to a
//! stripe whose version every change bumps, so a load that raced a write
//! never leaves a stale copy behind.

use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use futures::future::BoxFuture;

use super::{
    Account, Applied, Author, Change, HistoryEntry, HomeMerge, IdempotencyKey, ListQuery, NewPost,
    Post, PostStore, StoreResult, TagCount, TimelineEffect, TimelineSink,
};
use crate::domain::PostBody;
use crate::events::TimelineConfig;

/// Timeline ids kept per reader or author: enough for the first pages (a page is at most 100).
const KEPT: usize = 200;
const STRIPES: usize = 1024;

/// The newest ids of one timeline, newest first.
#[derive(Debug, Clone)]
struct NewestIds {
    ids: Vec<i64>,
    /// The timeline has no entries beyond `ids`.
    complete: bool,
}

impl NewestIds {
    /// The newest `KEPT` ids read from the database (all of them when fewer).
    fn loaded(ids: Vec<i64>) -> Self {
        Self {
            complete: ids.len() < KEPT,
            ids,
        }
    }

    /// Adds new entries of the timeline, keeping `ids` an exact prefix of it.
    fn add(&mut self, post_ids: &[i64]) {
        for &id in post_ids {
            let oldest = self.ids.last().copied();
            if !self.complete && oldest.is_none_or(|o| id < o) {
                continue; // beyond what is kept
            }
            if let Err(at) = self.ids.binary_search_by(|probe| id.cmp(probe)) {
                self.ids.insert(at, id);
            }
        }
        if self.ids.len() > KEPT {
            self.ids.truncate(KEPT);
            self.complete = false;
        }
    }

    fn remove(&mut self, post_ids: &[i64]) {
        self.ids.retain(|id| !post_ids.contains(id));
    }
}

/// A bounded cache whose fills cannot overwrite a newer change.
struct CoherentCache<V> {
    entries: quick_cache::sync::Cache<i64, Arc<V>>,
    stripes: Box<[Mutex<u64>]>,
}

/// What a load saw before reading the database.
struct LoadTicket {
    generation: u64,
    version: u64,
}

impl<V: Send + Sync + 'static> CoherentCache<V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
        }
    }

    fn stripe(&self, key: i64) -> &Mutex<u64> {
        &self.stripes[(key as u64 % STRIPES as u64) as usize]
    }

    fn version(&self, key: i64) -> u64 {
        *self.stripe(key).lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes (or drops, with `None`) an entry, so that racing loads discard what they read.
    fn change(&self, key: i64, update: impl FnOnce(Option<Arc<V>>) -> Option<V>) {
        let mut version = self.stripe(key).lock().unwrap_or_else(|e| e.into_inner());
        *version += 1;
        match update(self.entries.get(&key)) {
            Some(value) => self.entries.insert(key, Arc::new(value)),
            None => {
                self.entries.remove(&key);
            }
        }
    }
}

impl<V: Clone + Send + Sync + 'static> CoherentCache<V> {
    /// Edits a copy of a cached entry and stores it; an absent entry stays absent.
    fn edit(&self, key: i64, edit: impl FnOnce(&mut V)) {
        self.change(key, |cached| {
            cached.map(|cached| {
                let mut value = (*cached).clone();
                edit(&mut value);
                value
            })
        });
    }
}

/// A cached post handed out by value: whoever gets it may change it, so
/// its written view goes.
fn owned(post: Arc<Post>) -> Post {
    let mut post = Arc::unwrap_or_clone(post);
    post.list_view.clear();
    post
}

/// The ids of one listing page, as of a version of its community's listings.
struct ListingIds {
    version: (u64, u64),
    ids: Vec<i64>,
}

/// Pages of listings (`GET /posts`, communities) by query. Every change that
/// can add to a listing or reorder it bumps the version of its community's
/// listings and of the all-communities listing; a page is served only while
/// the version it was loaded at is current, so it is never stale. The posts
/// themselves come from the posts cache.
struct Listings {
    pages: quick_cache::sync::Cache<String, Arc<ListingIds>>,
    /// (generation, per-listing counters); the generation moves on `drop_all`.
    versions: Mutex<(u64, std::collections::HashMap<Option<String>, u64>)>,
}

impl Listings {
    fn version(&self, community: &Option<String>) -> (u64, u64) {
        let versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        (versions.0, versions.1.get(community).copied().unwrap_or(0))
    }

    /// A listed post of `community` (None: a micro-post) appeared or moved.
    fn bump(&self, community: Option<&str>) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        *versions.1.entry(None).or_default() += 1;
        if let Some(c) = community {
            *versions.1.entry(Some(c.to_string())).or_default() += 1;
        }
    }

    fn drop_all(&self) {
        self.versions.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        self.pages.clear();
    }

    fn key(query: &ListQuery) -> String {
        format!(
            "{:?}|{:?}|{:?}|{}",
            query.community, query.sort, query.after, query.limit
        )
    }
}

/// Authors by username: the username's id, and the id's replica row. A
/// change of a row drops it; one that can move a username to another id
/// (a registration, a remembered account) drops every username. A load
/// stores what it read only if nothing changed meanwhile (one version for
/// all: such changes are rare next to reads).
struct Authors {
    names: quick_cache::sync::Cache<String, i64>,
    rows: quick_cache::sync::Cache<i64, Arc<Author>>,
    version: Mutex<u64>,
}

impl Authors {
    fn new(capacity: usize) -> Self {
        Self {
            names: quick_cache::sync::Cache::new(capacity),
            rows: quick_cache::sync::Cache::new(capacity),
            version: Mutex::default(),
        }
    }

    fn get(&self, key: &str) -> Option<Author> {
        let id = self.names.get(key)?;
        self.rows.get(&id).map(|row| (*row).clone())
    }

    fn version(&self) -> u64 {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a loaded row unless something changed since `version`.
    fn fill(&self, key: String, author: &Author, version: u64) {
        let current = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if *current == version {
            self.names.insert(key, author.id);
            self.rows.insert(author.id, Arc::new(author.clone()));
        }
    }

    fn change(&self, id: i64, names_moved: bool) {
        let mut version = self.version.lock().unwrap_or_else(|e| e.into_inner());
        *version += 1;
        self.rows.remove(&id);
        if names_moved {
            self.names.clear();
        }
    }
}

/// How far the trending window may have slid past a cached page's.
const TRENDING_FOR_MS: i64 = 5_000;

/// Trending tags by page size. Like the listings, a page is served only
/// while its version is current: every write that can change a post's tags
/// bumps it, so no page outlives a change; and only while the window it was
/// read for is at most `TRENDING_FOR_MS` older than the one asked for (the
/// window slides with time, not with writes).
#[derive(Default)]
struct Trending {
    version: Mutex<u64>,
    pages: Mutex<std::collections::HashMap<usize, Arc<TrendingPage>>>,
}

struct TrendingPage {
    version: u64,
    since_id: i64,
    tags: Vec<TagCount>,
}

impl Trending {
    fn version(&self) -> u64 {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, since_id: i64, limit: usize) -> Option<Vec<TagCount>> {
        let version = self.version();
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let page = pages.get(&limit)?;
        let slid = rookery_kernel::ids::id_time_ms(since_id)
            - rookery_kernel::ids::id_time_ms(page.since_id);
        (page.version == version && since_id >= page.since_id && slid < TRENDING_FOR_MS)
            .then(|| page.tags.clone())
    }

    /// Stores a loaded page unless a write came in since `version` was read.
    fn fill(&self, version: u64, since_id: i64, limit: usize, tags: &[TagCount]) {
        let current = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if *current == version {
            let page = TrendingPage {
                version,
                since_id,
                tags: tags.to_vec(),
            };
            self.pages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(limit, Arc::new(page));
        }
    }

    fn bump(&self) {
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }
}

pub struct CachedPostStore {
    inner: Arc<dyn PostStore>,
    posts: CoherentCache<Post>,
    homes: CoherentCache<NewestIds>,
    /// Each author's newest post ids (user timelines).
    authored: CoherentCache<NewestIds>,
    authors: Authors,
    listings: Listings,
    trending: Trending,
    /// Each viewer's hidden accounts (blocks either way, mutes); dropped for
    /// both accounts of every relation change applied.
    hidden: CoherentCache<Vec<i64>>,
    /// Bumped (under the write lock) when everything is dropped at once.
    generation: RwLock<u64>,
    searches: Searches,
}

/// Ranked search results (post ids) by query. Any create, edit or delete
/// of a post, and any block, mute or deactivation, moves the one version;
/// results are served only while the version they were ranked at holds, so
/// they are never stale (the posts themselves come from the posts cache,
/// with their current counts). Moved after the change, read before the load.
struct Searches {
    ranked: quick_cache::sync::Cache<SearchKey, Arc<(u64, Vec<i64>)>>,
    version: std::sync::atomic::AtomicU64,
}

type SearchKey = (Vec<String>, Option<i64>, usize);

impl Searches {
    fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl CachedPostStore {
    pub fn new(inner: Arc<dyn PostStore>) -> Self {
        Self {
            inner,
            // At most ~30 MB of posts and ~32 MB of timeline ids.
            posts: CoherentCache::new(100_000),
            homes: CoherentCache::new(20_000),
            authored: CoherentCache::new(20_000),
            authors: Authors::new(100_000),
            // Pages of ids: at most ~20 MB.
            listings: Listings {
                pages: quick_cache::sync::Cache::new(10_000),
                versions: Mutex::default(),
            },
            trending: Trending::default(),
            hidden: CoherentCache::new(100_000),
            generation: RwLock::new(0),
            // Lists of at most 100 ids: at most ~10 MB.
            searches: Searches {
                ranked: quick_cache::sync::Cache::new(10_000),
                version: Default::default(),
            },
        }
    }

    fn ticket<V: Send + Sync + 'static>(&self, cache: &CoherentCache<V>, key: i64) -> LoadTicket {
        LoadTicket {
            generation: *self.generation.read().unwrap_or_else(|e| e.into_inner()),
            version: cache.version(key),
        }
    }

    /// Stores a loaded value unless the key (or everything) changed since `ticket`.
    fn fill<V: Send + Sync + 'static>(
        &self,
        cache: &CoherentCache<V>,
        key: i64,
        ticket: &LoadTicket,
        value: Arc<V>,
    ) {
        let generation = self.generation.read().unwrap_or_else(|e| e.into_inner());
        if *generation != ticket.generation {
            return;
        }
        let version = cache.stripe(key).lock().unwrap_or_else(|e| e.into_inner());
        if *version == ticket.version {
            cache.entries.insert(key, value);
        }
    }

    /// Drops every cached timeline, and with `posts` every cached post.
    fn drop_all(&self, posts: bool) {
        let mut generation = self.generation.write().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        if posts {
            self.posts.entries.clear();
        }
        self.homes.entries.clear();
        self.authored.entries.clear();
        self.listings.drop_all();
    }

    /// Posts by id in the order of `ids`; missing (deleted) ones are left out.
    async fn posts_in_order(&self, ids: &[i64]) -> StoreResult<Vec<Post>> {
        let shared = self.shared_posts_in_order(ids).await?;
        Ok(shared.into_iter().map(owned).collect())
    }

    /// The cache's own entries (see [`PostStore::shared_posts_by_ids`]).
    async fn shared_posts_in_order(&self, ids: &[i64]) -> StoreResult<Vec<Arc<Post>>> {
        let mut found: Vec<Option<Arc<Post>>> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for &id in ids {
            match self.posts.entries.get(&id) {
                Some(post) => found.push(Some(post)),
                None => {
                    found.push(None);
                    missing.push(id);
                }
            }
        }
        if !missing.is_empty() {
            let tickets: Vec<LoadTicket> = missing
                .iter()
                .map(|id| self.ticket(&self.posts, *id))
                .collect();
            let loaded = self.inner.posts_by_ids(&missing).await?;
            for (id, ticket) in missing.iter().zip(&tickets) {
                if let Some(post) = loaded.iter().find(|p| p.id == *id) {
                    let post = Arc::new(post.clone());
                    self.fill(&self.posts, *id, ticket, post.clone());
                    let slot = ids.iter().position(|i| i == id).expect("asked for");
                    found[slot] = Some(post);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// The newest ids of `user`'s home timeline, computed from the follow
    /// graph when not in memory. Authors merged at read time are included,
    /// so an author who stops being merged keeps their earlier posts here.
    async fn home_ids_cached(&self, user: i64) -> StoreResult<Arc<NewestIds>> {
        if let Some(home) = self.homes.entries.get(&user) {
            return Ok(home);
        }
        let ticket = self.ticket(&self.homes, user);
        let ids = self.inner.followed_post_ids(user, None, KEPT).await?;
        let home = Arc::new(NewestIds::loaded(ids));
        self.fill(&self.homes, user, &ticket, home.clone());
        Ok(home)
    }

    /// The page of a cached timeline below `before`: `None` when it reaches
    /// past the kept ids, or a post went away since they were cached.
    async fn page_of(
        &self,
        timeline: &NewestIds,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Arc<Post>>>> {
        let window: Vec<i64> = timeline
            .ids
            .iter()
            .copied()
            .filter(|id| before.is_none_or(|b| *id < b))
            .take(limit)
            .collect();
        if window.len() < limit && !timeline.complete {
            return Ok(None);
        }
        let posts = self.shared_posts_in_order(&window).await?;
        Ok((posts.len() == window.len()).then_some(posts))
    }

    /// Drops the cached authors whose replica rows `changes` touched.
    fn forget_authors(&self, changes: &[Applied]) {
        for applied in changes {
            match &applied.change {
                Change::UserRegistered { id, .. } => self.authors.change(*id, true),
                Change::UserDeactivated { id } => self.authors.change(*id, false),
                // The followee's followers_count moved.
                Change::Follow { followee, .. } | Change::Unfollow { followee, .. } => {
                    self.authors.change(*followee, false)
                }
                _ => {}
            }
        }
    }

    /// Applies what the fan-out computed to the cached home timelines.
    fn apply_effects(&self, effects: &[TimelineEffect]) {
        for effect in effects {
            match effect {
                TimelineEffect::Add { readers, post_ids } => {
                    for reader in readers {
                        self.homes.edit(*reader, |home| home.add(post_ids));
                    }
                }
                TimelineEffect::Remove { reader, post_ids } => {
                    self.homes.edit(*reader, |home| home.remove(post_ids));
                }
            }
        }
    }
}

/// Collects the fan-out's effects (instead of the table being written).
#[derive(Default)]
struct Collected {
    effects: Mutex<Vec<TimelineEffect>>,
}

impl TimelineSink for Collected {
    fn apply<'a>(&'a self, effects: &'a [TimelineEffect]) -> BoxFuture<'a, Result<(), String>> {
        self.effects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(effects);
        Box::pin(async { Ok(()) })
    }
}

#[async_trait]
impl PostStore for CachedPostStore {
    async fn create_post(
        &self,
        new: NewPost,
        idempotency: Option<IdempotencyKey>,
    ) -> StoreResult<(Post, bool)> {
        let counted = [new.in_reply_to, new.repost_of];
        let listed = counted.iter().all(Option::is_none);
        let community = new.body.community.clone();
        let created = self.inner.create_post(new, idempotency).await;
        // After the commit (or the failure: part of a group may have committed).
        self.searches.bump();
        let created = created?;
        let id = created.0.id;
        self.authored
            .edit(created.0.author_id, |newest| newest.add(&[id]));
        // The parent's reply_count or the original's repost_count moved.
        for id in counted.into_iter().flatten() {
            self.posts.change(id, |_| None);
        }
        if listed {
            self.listings.bump(community.as_deref());
            // The author sees their own post at once; the fan-out adds it
            // again later (a no-op) for them and first for their followers.
            self.homes.edit(created.0.author_id, |home| home.add(&[id]));
        }
        if !created.0.tags.is_empty() {
            self.trending.bump();
        }
        Ok(created)
    }

    async fn post(&self, id: i64) -> StoreResult<Option<Post>> {
        if let Some(post) = self.posts.entries.get(&id) {
            return Ok(Some((*post).clone()));
        }
        let ticket = self.ticket(&self.posts, id);
        let post = self.inner.post(id).await?;
        if let Some(post) = &post {
            self.fill(&self.posts, id, &ticket, Arc::new(post.clone()));
        }
        Ok(post)
    }

    async fn posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Post>> {
        self.posts_in_order(ids).await
    }

    async fn shared_posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Arc<Post>>> {
        self.shared_posts_in_order(ids).await
    }

    async fn reposts_by(&self, author_id: i64, originals: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        // Not cached: always the table's answer.
        self.inner.reposts_by(author_id, originals).await
    }

    async fn edit_post(&self, id: i64, body: PostBody) -> StoreResult<Post> {
        let edited = self.inner.edit_post(id, body).await;
        self.posts.change(id, |_| None);
        self.searches.bump();
        self.trending.bump();
        edited
    }

    async fn delete_post(&self, id: i64) -> StoreResult<bool> {
        let deleted = self.inner.delete_post(id).await;
        // Reposts, counters of the parent or original, and timelines all
        // change: rare enough to start over.
        self.drop_all(true);
        self.trending.bump();
        self.searches.bump();
        deleted
    }

    async fn history(&self, id: i64) -> StoreResult<Vec<HistoryEntry>> {
        self.inner.history(id).await
    }

    async fn tag_posts(
        &self,
        tag: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>> {
        self.inner.tag_posts(tag, before, limit).await
    }

    async fn tags_by_name(
        &self,
        after: Option<&str>,
        since_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<TagCount>> {
        self.inner.tags_by_name(after, since_id, limit).await
    }

    async fn trending_tags(&self, since_id: i64, limit: usize) -> StoreResult<Vec<TagCount>> {
        if let Some(tags) = self.trending.get(since_id, limit) {
            return Ok(tags);
        }
        // Read before the database, so a write racing the load outdates it.
        let version = self.trending.version();
        let tags = self.inner.trending_tags(since_id, limit).await?;
        self.trending.fill(version, since_id, limit, &tags);
        Ok(tags)
    }

    /// Asked for every post that mentions someone: from the authors cache,
    /// the misses in one query.
    async fn authors_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<Author>> {
        let mut found = Vec::with_capacity(usernames.len());
        let mut missing = Vec::new();
        for name in usernames {
            let key = name.trim().to_lowercase();
            match self.authors.get(&key) {
                Some(author) => found.push(author),
                None => missing.push(key),
            }
        }
        if !missing.is_empty() {
            let version = self.authors.version();
            for author in self.inner.authors_by_usernames(&missing).await? {
                self.authors
                    .fill(author.username.to_lowercase(), &author, version);
                found.push(author);
            }
        }
        Ok(found)
    }

    async fn replies(&self, id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
        self.inner.replies(id, after, limit).await
    }

    async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Post>> {
        if query.author_id.is_some() {
            // One author's posts: rarely asked twice; not worth versioning.
            return self.inner.list(query).await;
        }
        let key = Listings::key(query);
        // Read before the database, so a change racing the load outdates it.
        let version = self.listings.version(&query.community);
        if let Some(page) = self.listings.pages.get(&key)
            && page.version == version
        {
            let posts = self.posts_in_order(&page.ids).await?;
            if posts.len() == page.ids.len() {
                return Ok(posts);
            }
            // A post went away since: ask the database.
        }
        let posts = self.inner.list(query).await?;
        let ids = posts.iter().map(|p| p.id).collect();
        self.listings
            .pages
            .insert(key, Arc::new(ListingIds { version, ids }));
        Ok(posts)
    }

    async fn user_timeline(
        &self,
        author_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>> {
        if let Some(newest) = self.authored.entries.get(&author_id) {
            if let Some(posts) = self.page_of(&newest, before, limit).await? {
                return Ok(posts.into_iter().map(owned).collect());
            }
            return self.inner.user_timeline(author_id, before, limit).await;
        }
        // A miss reads the author's newest posts once: their ids are kept,
        // and the page is cut from them.
        let ticket = self.ticket(&self.authored, author_id);
        let posts = self.inner.user_timeline(author_id, None, KEPT).await?;
        let newest = NewestIds::loaded(posts.iter().map(|p| p.id).collect());
        let complete = newest.complete;
        self.fill(&self.authored, author_id, &ticket, Arc::new(newest));
        let page: Vec<Post> = posts
            .into_iter()
            .filter(|p| before.is_none_or(|b| p.id < b))
            .take(limit)
            .collect();
        if page.len() < limit && !complete {
            return self.inner.user_timeline(author_id, before, limit).await;
        }
        Ok(page)
    }

    async fn public_timeline(&self, before: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
        self.inner.public_timeline(before, limit).await
    }

    async fn home_timeline(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
        merge: &HomeMerge,
    ) -> StoreResult<Vec<Post>> {
        let posts = self
            .shared_home_timeline(user_id, before, limit, merge)
            .await?;
        Ok(posts.into_iter().map(owned).collect())
    }

    async fn shared_home_timeline(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
        merge: &HomeMerge,
    ) -> StoreResult<Vec<Arc<Post>>> {
        let home = self.home_ids_cached(user_id).await?;
        let mut posts = match self.page_of(&home, before, limit).await? {
            Some(posts) => posts,
            None => {
                let ids = self.inner.followed_post_ids(user_id, before, limit).await?;
                self.shared_posts_in_order(&ids).await?
            }
        };
        if !merge.celebrities.is_empty() {
            posts.extend(
                self.inner
                    .posts_by_authors(&merge.celebrities, before, limit)
                    .await?
                    .into_iter()
                    .map(Arc::new),
            );
            posts.sort_unstable_by_key(|p| std::cmp::Reverse(p.id));
            posts.dedup_by_key(|p| p.id);
            posts.truncate(limit);
        }
        Ok(posts)
    }

    async fn followed_post_ids(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<i64>> {
        self.inner.followed_post_ids(user_id, before, limit).await
    }

    async fn upsert_author(&self, id: i64, username: &str) -> StoreResult<()> {
        let outcome = self.inner.upsert_author(id, username).await;
        self.authors.change(id, true);
        outcome
    }

    async fn author_by_username(&self, username: &str) -> StoreResult<Option<Author>> {
        let key = username.trim().to_lowercase();
        if let Some(author) = self.authors.get(&key) {
            return Ok(Some(author));
        }
        let version = self.authors.version();
        let author = self.inner.author_by_username(&key).await?;
        if let Some(author) = &author {
            self.authors.fill(key, author, version);
        }
        Ok(author)
    }

    async fn remember_account(&self, account: &Account) -> StoreResult<()> {
        let outcome = self.inner.remember_account(account).await;
        self.authors.change(account.id, true);
        outcome
    }

    async fn apply_events(
        &self,
        changes: &[Applied],
        config: &TimelineConfig,
        sink: Option<&dyn TimelineSink>,
    ) -> StoreResult<()> {
        let collected = Collected::default();
        // Timelines elsewhere (Redis) get the sink; only posts are cached then.
        let sink = sink.unwrap_or(&collected);
        let outcome = self.inner.apply_events(changes, config, Some(sink)).await;
        for applied in changes {
            if let Change::VoteChanged {
                post_id, community, ..
            } = &applied.change
            {
                self.posts.change(*post_id, |_| None);
                // Ranks moved: after the commit (or the failure), so no page
                // loaded before it stays current.
                self.listings.bump(community.as_deref());
            }
        }
        self.forget_authors(changes);
        // After the commit: a load that raced it stores nothing.
        for applied in changes {
            if let Change::Relation(rel) = &applied.change {
                self.hidden.change(rel.user_id, |_| None);
                self.hidden.change(rel.target_id, |_| None);
            }
        }
        // What searches show moves with blocks, deactivations and posts.
        if changes.iter().any(|a| {
            matches!(
                a.change,
                Change::Relation(_)
                    | Change::UserDeactivated { .. }
                    | Change::PostCreated { .. }
                    | Change::PostDeleted { .. }
            )
        }) {
            self.searches.bump();
        }
        // On failure, whatever was collected never committed.
        outcome?;
        let effects = collected
            .effects
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        self.apply_effects(&effects);
        // A follow or unfollow changes which posts the timeline holds, old
        // ones included: it is computed again when next read.
        for applied in changes {
            if let Change::Follow { follower, .. } | Change::Unfollow { follower, .. } =
                applied.change
            {
                self.homes.change(follower, |_| None);
            }
        }
        Ok(())
    }

    async fn posts_by_authors(
        &self,
        authors: &[i64],
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>> {
        self.inner.posts_by_authors(authors, before, limit).await
    }

    /// Nothing to trim: home timelines are kept here, not in the table.
    async fn trim_timelines(&self, _cap: usize, _slack: usize) -> StoreResult<usize> {
        Ok(0)
    }

    async fn celebrities(&self, threshold: i64) -> StoreResult<Vec<i64>> {
        self.inner.celebrities(threshold).await
    }

    async fn followed_among(&self, user: i64, candidates: &[i64]) -> StoreResult<Vec<i64>> {
        self.inner.followed_among(user, candidates).await
    }

    async fn search_posts(
        &self,
        words: &[String],
        viewer: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>> {
        let key: SearchKey = (words.to_vec(), viewer, limit);
        let version = self.searches.version();
        if let Some(ranked) = self.searches.ranked.get(&key)
            && ranked.0 == version
        {
            return self.posts_in_order(&ranked.1).await;
        }
        let posts = self.inner.search_posts(words, viewer, limit).await?;
        let ids = posts.iter().map(|p| p.id).collect();
        self.searches.ranked.insert(key, Arc::new((version, ids)));
        Ok(posts)
    }

    async fn search_tags(&self, prefix: &str, limit: usize) -> StoreResult<Vec<TagCount>> {
        self.inner.search_tags(prefix, limit).await
    }

    /// Asked on every home timeline read: kept per viewer.
    async fn hidden_from(&self, viewer: i64) -> StoreResult<Vec<i64>> {
        if let Some(hidden) = self.hidden.entries.get(&viewer) {
            return Ok((*hidden).clone());
        }
        let ticket = self.ticket(&self.hidden, viewer);
        let hidden = self.inner.hidden_from(viewer).await?;
        self.fill(&self.hidden, viewer, &ticket, Arc::new(hidden.clone()));
        Ok(hidden)
    }

    async fn blocked_either_way(&self, a: i64, b: i64) -> StoreResult<bool> {
        self.inner.blocked_either_way(a, b).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_keeps_an_exact_prefix() {
        let mut full = NewestIds {
            ids: (1..=KEPT as i64).rev().collect(),
            complete: false,
        };
        full.add(&[0]); // older than everything kept: beyond the prefix
        assert!(!full.ids.contains(&0));
        full.add(&[10_000]);
        assert_eq!(full.ids[0], 10_000);
        assert_eq!(full.ids.len(), KEPT);

        let mut short = NewestIds {
            ids: vec![9, 5],
            complete: true,
        };
        short.add(&[7, 1, 9]);
        assert_eq!(short.ids, vec![9, 7, 5, 1]);
        short.remove(&[7]);
        assert_eq!(short.ids, vec![9, 5, 1]);
    }
}

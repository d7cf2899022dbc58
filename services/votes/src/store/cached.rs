//! The viewer's own votes held in memory, for a process that is the only
//! writer of its votes (`rookery serve`): pages of posts ask which of
//! their posts the caller voted on, and that answer is the same until the
//! caller votes again, which this store sees (every vote goes through
//! [`VoteStore::vote`], nothing else writes the votes table).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    Account, Applied, Change, Direction, Like, PollStore, PostFacts, Ranked, StoreResult, Tally,
    VoteStore,
};

/// Viewers whose answers are kept (the least used are dropped first).
const VIEWERS: usize = 10_000;
/// Posts remembered per viewer; past this a viewer's answers start over.
const POSTS_PER_VIEWER: usize = 4_096;

/// Stripes of vote generations (viewers share a stripe by id).
const STRIPES: usize = 1024;

/// What one viewer's votes are known to be: post id -> their vote or none.
type Known = Mutex<HashMap<i64, Option<Direction>>>;

pub struct CachedVoteStore {
    inner: Arc<dyn VoteStore>,
    viewers: quick_cache::sync::Cache<i64, Arc<Known>>,
    /// Each moves on every vote of its viewers, before the vote is written
    /// and after: a read that saw its stripe move may have read around a
    /// vote, so its answer is used but not kept. Never evicted, unlike the
    /// answers, so no vote in flight can be missed by a read.
    generations: Box<[AtomicU64]>,
    /// Moves before and after each deletion of posts is applied (a deleted
    /// post's votes leave every answer), which then drops every answer.
    deletions: AtomicU64,
}

impl CachedVoteStore {
    pub fn new(inner: Arc<dyn VoteStore>) -> Self {
        Self {
            inner,
            viewers: quick_cache::sync::Cache::new(VIEWERS),
            generations: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            deletions: AtomicU64::new(0),
        }
    }

    fn generation(&self, viewer: i64) -> &AtomicU64 {
        &self.generations[viewer.rem_euclid(STRIPES as i64) as usize]
    }
}

#[async_trait]
impl VoteStore for CachedVoteStore {
    async fn apply_events(&self, changes: &[Applied]) -> StoreResult<()> {
        let deleting = changes
            .iter()
            .any(|c| matches!(c.change, Change::PostDeleted(_)));
        if !deleting {
            return self.inner.apply_events(changes).await;
        }
        self.deletions.fetch_add(1, Ordering::SeqCst);
        let applied = self.inner.apply_events(changes).await;
        self.deletions.fetch_add(1, Ordering::SeqCst);
        self.viewers.clear();
        applied
    }

    async fn remember_post(&self, post: &PostFacts) -> StoreResult<()> {
        self.inner.remember_post(post).await
    }

    async fn remember_account(&self, account: &Account) -> StoreResult<()> {
        self.inner.remember_account(account).await
    }

    async fn account(&self, username: &str) -> StoreResult<Option<Account>> {
        self.inner.account(username).await
    }

    async fn post(&self, id: i64) -> StoreResult<Option<PostFacts>> {
        self.inner.post(id).await
    }

    async fn vote(
        &self,
        user_id: i64,
        post_id: i64,
        direction: Option<Direction>,
    ) -> StoreResult<Tally> {
        let generation = self.generation(user_id);
        generation.fetch_add(1, Ordering::SeqCst);
        if let Some(known) = self.viewers.get(&user_id) {
            known.lock().expect("votes cache lock").remove(&post_id);
        }
        let voted = self.inner.vote(user_id, post_id, direction).await;
        generation.fetch_add(1, Ordering::SeqCst);
        // Written last (after the stripe moved), so no read that raced the
        // vote can leave its older answer behind.
        if let Some(known) = self.viewers.get(&user_id) {
            let mut known = known.lock().expect("votes cache lock");
            if voted.is_ok() {
                known.insert(post_id, direction);
            } else {
                known.remove(&post_id);
            }
        }
        voted
    }

    async fn tally(&self, post_id: i64, viewer: Option<i64>) -> StoreResult<Option<Tally>> {
        self.inner.tally(post_id, viewer).await
    }

    async fn tallies(&self, post_ids: &[i64], viewer: Option<i64>) -> StoreResult<Vec<Tally>> {
        self.inner.tallies(post_ids, viewer).await
    }

    async fn my_votes(&self, viewer: i64, post_ids: &[i64]) -> StoreResult<Vec<(i64, Direction)>> {
        let known = self
            .viewers
            .get_or_insert_with(
                &viewer,
                || Ok::<_, std::convert::Infallible>(Arc::default()),
            )
            .unwrap_or_else(|never| match never {});
        let generation = self.generation(viewer);
        let before = (
            generation.load(Ordering::SeqCst),
            self.deletions.load(Ordering::SeqCst),
        );
        let (mut found, missing) = {
            let known = known.lock().expect("votes cache lock");
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for id in post_ids {
                match known.get(id) {
                    Some(Some(direction)) => found.push((*id, *direction)),
                    Some(None) => {}
                    None => missing.push(*id),
                }
            }
            (found, missing)
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let read = self.inner.my_votes(viewer, &missing).await?;
        {
            let mut known = known.lock().expect("votes cache lock");
            let now = (
                generation.load(Ordering::SeqCst),
                self.deletions.load(Ordering::SeqCst),
            );
            if now == before {
                if known.len() + missing.len() > POSTS_PER_VIEWER {
                    known.clear();
                }
                for id in &missing {
                    known.insert(*id, None);
                }
                for (id, direction) in &read {
                    known.insert(*id, Some(*direction));
                }
            }
        }
        found.extend(read);
        Ok(found)
    }

    async fn top(&self, community: Option<&str>, limit: usize) -> StoreResult<Vec<Ranked>> {
        self.inner.top(community, limit).await
    }

    async fn scores(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        self.inner.scores(ids).await
    }

    async fn likes(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Like>> {
        self.inner.likes(user_id, before, limit).await
    }

    fn polls(self: Arc<Self>) -> Arc<dyn PollStore> {
        self.inner.clone().polls()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

//! Notification pages and unread counts kept in memory, for a process that
//! is the only writer of its store (`rookery serve`): every change goes
//! through this wrapper, so it knows whose pages it makes stale.
//!
//! Each recipient's pages are stamped with a version of the recipient (a
//! stripe of counters shared by many recipients) and of everything (moved
//! by a deleted post, whose recipients are not known here). A change commits
//! first and moves the versions after, and a load reads the versions before
//! it reads the store: a page read before a change can never be served after
//! the change answered.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{Applied, Change, ListQuery, Notification, NotificationStore, StoreResult};

/// Counters the recipients are spread over (a change of one recipient
/// also drops the pages of the others on its stripe: rare and harmless).
const STRIPES: usize = 4096;
/// Pages kept at most (a page is about 1.5 KB).
const PAGES: usize = 20_000;
/// Unread counts kept at most.
const COUNTS: usize = 100_000;

pub struct CachedNotificationStore {
    inner: Arc<dyn NotificationStore>,
    pages: quick_cache::sync::Cache<ListQuery, Arc<Stamped<Vec<Notification>>>>,
    counts: quick_cache::sync::Cache<i64, Stamped<i64>>,
    stripes: Box<[AtomicU64]>,
    everything: AtomicU64,
}

#[derive(Clone)]
struct Stamped<T> {
    stamp: (u64, u64),
    value: T,
}

impl CachedNotificationStore {
    pub fn new(inner: Arc<dyn NotificationStore>) -> Self {
        Self {
            inner,
            pages: quick_cache::sync::Cache::new(PAGES),
            counts: quick_cache::sync::Cache::new(COUNTS),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            everything: AtomicU64::new(0),
        }
    }

    fn stripe(&self, user_id: i64) -> &AtomicU64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user_id.hash(&mut hasher);
        &self.stripes[(hasher.finish() % STRIPES as u64) as usize]
    }

    /// The versions a page of `user_id` read now is valid for.
    fn stamp(&self, user_id: i64) -> (u64, u64) {
        (
            self.everything.load(Ordering::Acquire),
            self.stripe(user_id).load(Ordering::Acquire),
        )
    }

    /// After a change of `user_id`'s notifications or of what hides them.
    fn changed(&self, user_id: i64) {
        self.stripe(user_id).fetch_add(1, Ordering::AcqRel);
    }

    /// The users whose pages a batch changes (`None`: anyone's).
    fn touched(batch: &[Applied]) -> Option<Vec<i64>> {
        let mut users = Vec::new();
        for applied in batch {
            match &applied.change {
                Change::Notify { targets, .. } => users.extend(targets.iter().map(|t| t.user_id)),
                // Blocks hide both ways, mutes one way: both sides' pages go.
                Change::Relation(relation) => {
                    users.push(relation.user_id);
                    users.push(relation.target_id);
                }
                Change::PostDeleted(_) => return None,
            }
        }
        Some(users)
    }
}

#[async_trait]
impl NotificationStore for CachedNotificationStore {
    async fn apply(&self, batch: &[Applied]) -> StoreResult<()> {
        let result = self.inner.apply(batch).await;
        // Also after a failure: part of it may have committed.
        match Self::touched(batch) {
            Some(users) => users.into_iter().for_each(|u| self.changed(u)),
            None => {
                self.everything.fetch_add(1, Ordering::AcqRel);
            }
        }
        result
    }

    async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Notification>> {
        let stamp = self.stamp(query.user_id);
        if let Some(page) = self.pages.get(query)
            && page.stamp == stamp
        {
            return Ok(page.value.clone());
        }
        let rows = self.inner.list(query).await?;
        self.pages.insert(
            query.clone(),
            Arc::new(Stamped {
                stamp,
                value: rows.clone(),
            }),
        );
        Ok(rows)
    }

    async fn unread_count(&self, user_id: i64) -> StoreResult<i64> {
        let stamp = self.stamp(user_id);
        if let Some(count) = self.counts.get(&user_id)
            && count.stamp == stamp
        {
            return Ok(count.value);
        }
        let count = self.inner.unread_count(user_id).await?;
        self.counts.insert(
            user_id,
            Stamped {
                stamp,
                value: count,
            },
        );
        Ok(count)
    }

    async fn mark_read(&self, user_id: i64, up_to: Option<i64>) -> StoreResult<i64> {
        let result = self.inner.mark_read(user_id, up_to).await;
        self.changed(user_id);
        result
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

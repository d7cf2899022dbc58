//! Sessions kept in memory for a short while, so a page costs no database
//! read. Safe because the API is the authority: a session ended elsewhere
//! (another instance, or its token revoked) fails at its next API call,
//! which ends it here too.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Session, SessionStore, StoreResult};

/// How long a session read from the store is believed without asking again.
const FRESH_MS: i64 = 30_000;
const CAPACITY: usize = 100_000;

pub struct CachedSessionStore {
    inner: Arc<dyn SessionStore>,
    /// id hash -> (when read, the session)
    entries: quick_cache::sync::Cache<String, (i64, Arc<Session>)>,
}

impl CachedSessionStore {
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        Self {
            inner,
            entries: quick_cache::sync::Cache::new(CAPACITY),
        }
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn create(&self, session: &Session) -> StoreResult<()> {
        self.inner.create(session).await
    }

    async fn find(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        if let Some((read_at, session)) = self.entries.get(id_hash)
            && now - read_at < FRESH_MS
            && session.expires_at > now
        {
            return Ok(Some((*session).clone()));
        }
        let found = self.inner.find(id_hash, now).await?;
        match &found {
            Some(s) => self
                .entries
                .insert(id_hash.to_string(), (now, Arc::new(s.clone()))),
            None => {
                self.entries.remove(id_hash);
            }
        }
        Ok(found)
    }

    async fn delete(&self, id_hash: &str) -> StoreResult<()> {
        self.entries.remove(id_hash);
        self.inner.delete(id_hash).await
    }

    async fn delete_for_user(&self, username: &str) -> StoreResult<u64> {
        // Rare (password change, deactivation): forget everything.
        self.entries.clear();
        self.inner.delete_for_user(username).await
    }

    async fn delete_expired(&self, now: i64) -> StoreResult<u64> {
        self.inner.delete_expired(now).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

//! A read-through cache of accounts in front of any [`UserStore`], for a
//! process that is the only writer of its users database (`rookery serve`):
//! every write below invalidates what it changed, so reads stay exact; the
//! short time-to-live bounds staleness from out-of-process writers such as
//! `rookery seed`. Scaled-out instances do not use it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::{
    FailureCount, FollowEntry, KarmaChange, NewUser, RelationEntry, StoreResult, User, UserStore,
    UserUpdate,
};

const TTL: Duration = Duration::from_secs(2);
const CAPACITY: usize = 200_000;

/// Accounts by id, each until its time to live is over. (quick_cache with
/// the time kept per entry: a page reads 20 or more accounts, and moka's
/// bookkeeping per read was a tenth of a notifications page.)
///
/// A load that missed stores what it read only if no account changed
/// since it began: a follow committed while the load read the old row
/// would otherwise leave the old counts behind for the time to live.
struct Accounts {
    entries: Cache<i64, (Arc<User>, Instant)>,
    /// Moves at every change; held while a load stores its result.
    changes: Mutex<u64>,
}

/// What the cache's change count was when a load began.
#[derive(Clone, Copy)]
struct Ticket(u64);

impl Accounts {
    fn new() -> Self {
        Self {
            entries: Cache::new(CAPACITY),
            changes: Mutex::new(0),
        }
    }

    fn get(&self, id: &i64) -> Option<Arc<User>> {
        let (user, loaded) = self.entries.get(id)?;
        (loaded.elapsed() < TTL).then_some(user)
    }

    fn ticket(&self) -> Ticket {
        Ticket(*self.changes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stores a loaded account unless something changed since `ticket`.
    fn insert(&self, user: Arc<User>, ticket: Ticket) {
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        if *changes == ticket.0 {
            self.entries.insert(user.id, (user, Instant::now()));
        }
    }

    fn invalidate(&self, id: &i64) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        *changes += 1;
        self.entries.remove(id);
    }

    fn invalidate_all(&self) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        *changes += 1;
        self.entries.clear();
    }
}

pub struct CachedUserStore {
    inner: Arc<dyn UserStore>,
    by_id: Accounts,
    /// Lower-cased username -> id (usernames never change hands).
    ids: Cache<String, i64>,
}

impl CachedUserStore {
    pub fn new(inner: Arc<dyn UserStore>) -> Self {
        Self {
            inner,
            by_id: Accounts::new(),
            ids: Cache::new(CAPACITY),
        }
    }

    fn remember(&self, user: User, ticket: Ticket) -> Arc<User> {
        self.ids.insert(user.username.to_lowercase(), user.id);
        let shared = Arc::new(user);
        self.by_id.insert(shared.clone(), ticket);
        shared
    }
}

#[async_trait]
impl UserStore for CachedUserStore {
    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        self.inner.create_user(new).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        if let Some(id) = self.ids.get(&username.to_lowercase()) {
            return self.user_by_id(id).await;
        }
        let ticket = self.by_id.ticket();
        let user = self.inner.user_by_username(username).await?;
        if let Some(u) = &user {
            self.remember(u.clone(), ticket);
        }
        Ok(user)
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
        if let Some(user) = self.by_id.get(&id) {
            return Ok(Some(User::clone(&user)));
        }
        let ticket = self.by_id.ticket();
        let user = self.inner.user_by_id(id).await?;
        if let Some(u) = &user {
            self.remember(u.clone(), ticket);
        }
        Ok(user)
    }

    async fn users_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<User>> {
        let shared = self.shared_users_by_ids(ids).await?;
        Ok(shared.into_iter().map(Arc::unwrap_or_clone).collect())
    }

    async fn shared_users_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Arc<User>>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in &ids {
            match self.by_id.get(id) {
                Some(user) => found.push(user),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let ticket = self.by_id.ticket();
            for user in self.inner.users_by_ids(&missing).await? {
                found.push(self.remember(user, ticket));
            }
        }
        Ok(found)
    }

    async fn users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>> {
        let mut keys: Vec<String> = usernames.iter().map(|u| u.to_lowercase()).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for key in keys {
            match self.ids.get(&key).and_then(|id| self.by_id.get(&id)) {
                Some(user) => found.push(User::clone(&user)),
                None => missing.push(key),
            }
        }
        if !missing.is_empty() {
            let ticket = self.by_id.ticket();
            for user in self.inner.users_by_usernames(&missing).await? {
                self.remember(user.clone(), ticket);
                found.push(user);
            }
        }
        Ok(found)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        // Emails change (PATCH): not kept here, so the answer is always exact.
        self.inner.user_by_email(email).await
    }

    async fn list_users(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>> {
        self.inner.list_users(after, limit).await
    }

    async fn update_user(&self, id: i64, update: UserUpdate) -> StoreResult<User> {
        self.by_id.invalidate(&id);
        let user = self.inner.update_user(id, update).await?;
        self.by_id.invalidate(&id);
        Ok(user)
    }

    async fn deactivate(&self, id: i64) -> StoreResult<()> {
        let result = self.inner.deactivate(id).await;
        // Every account that followed or was followed by it changed counts.
        self.by_id.invalidate_all();
        result
    }

    async fn follow(&self, follower: i64, followee: i64) -> StoreResult<bool> {
        let result = self.inner.follow(follower, followee).await;
        self.by_id.invalidate(&follower);
        self.by_id.invalidate(&followee);
        result
    }

    async fn unfollow(&self, follower: i64, followee: i64) -> StoreResult<bool> {
        let result = self.inner.unfollow(follower, followee).await;
        self.by_id.invalidate(&follower);
        self.by_id.invalidate(&followee);
        result
    }

    async fn followers(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<FollowEntry>> {
        self.inner.followers(user, before, limit).await
    }

    async fn following(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<FollowEntry>> {
        self.inner.following(user, before, limit).await
    }

    async fn block(&self, user: i64, target: i64) -> StoreResult<bool> {
        let result = self.inner.block(user, target).await;
        // Follows between them may be gone: both accounts' counts changed.
        self.by_id.invalidate(&user);
        self.by_id.invalidate(&target);
        result
    }

    async fn unblock(&self, user: i64, target: i64) -> StoreResult<bool> {
        self.inner.unblock(user, target).await
    }

    async fn mute(&self, user: i64, target: i64) -> StoreResult<bool> {
        self.inner.mute(user, target).await
    }

    async fn unmute(&self, user: i64, target: i64) -> StoreResult<bool> {
        self.inner.unmute(user, target).await
    }

    async fn blocked_either_way(&self, a: i64, b: i64) -> StoreResult<bool> {
        self.inner.blocked_either_way(a, b).await
    }

    async fn blocks(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<RelationEntry>> {
        self.inner.blocks(user, before, limit).await
    }

    async fn mutes(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<RelationEntry>> {
        self.inner.mutes(user, before, limit).await
    }

    async fn search_users(
        &self,
        query: &str,
        viewer: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        self.inner.search_users(query, viewer, limit).await
    }

    async fn create_session(&self, user: i64, expires_at: i64) -> StoreResult<i64> {
        self.inner.create_session(user, expires_at).await
    }

    async fn session_user(&self, session: i64, now: i64) -> StoreResult<Option<User>> {
        self.inner.session_user(session, now).await
    }

    async fn revoke_session(&self, session: i64) -> StoreResult<()> {
        self.inner.revoke_session(session).await
    }

    async fn auth_failures(
        &self,
        subjects: &[String],
        window_start_after: i64,
    ) -> StoreResult<Vec<(String, FailureCount)>> {
        self.inner.auth_failures(subjects, window_start_after).await
    }

    async fn record_auth_failure(
        &self,
        subjects: &[String],
        now: i64,
        window_ms: i64,
    ) -> StoreResult<()> {
        self.inner
            .record_auth_failure(subjects, now, window_ms)
            .await
    }

    async fn clear_auth_failures(&self, subject: &str) -> StoreResult<()> {
        self.inner.clear_auth_failures(subject).await
    }

    async fn import(
        &self,
        users: Vec<NewUser>,
        follows: Vec<(String, String)>,
    ) -> StoreResult<(usize, usize)> {
        let result = self.inner.import(users, follows).await;
        self.by_id.invalidate_all();
        result
    }

    async fn apply_karma(&self, changes: &[KarmaChange]) -> StoreResult<Vec<i64>> {
        let moved = self.inner.apply_karma(changes).await?;
        for id in &moved {
            self.by_id.invalidate(id);
        }
        Ok(moved)
    }

    async fn relationships(
        &self,
        viewer: i64,
        targets: &[i64],
    ) -> StoreResult<Vec<super::Relationship>> {
        self.inner.relationships(viewer, targets).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, followers_count: i64) -> Arc<User> {
        Arc::new(User {
            id,
            username: format!("u{id}"),
            email: format!("u{id}@example.com"),
            password_hash: String::new(),
            bio: String::new(),
            karma: 0,
            followers_count,
            following_count: 0,
            auth_version: 0,
            active: true,
            created_at: 0,
        })
    }

    /// A load that read a row before a follow committed must not store it
    /// after the follow's invalidation (the profile would show the old
    /// count until the time to live ends).
    #[test]
    fn a_load_that_raced_a_change_stores_nothing() {
        let accounts = Accounts::new();
        let before_follow = accounts.ticket();
        accounts.invalidate(&7); // the follow commits meanwhile
        accounts.insert(account(7, 0), before_follow);
        assert!(accounts.get(&7).is_none());

        let after = accounts.ticket();
        accounts.insert(account(7, 1), after);
        assert_eq!(accounts.get(&7).unwrap().followers_count, 1);
        let stale = accounts.ticket();
        accounts.invalidate_all();
        accounts.insert(account(8, 0), stale);
        assert!(accounts.get(&7).is_none() && accounts.get(&8).is_none());
    }
}

//! The body of [`UserStore`] for both SQL engines. The SQL is the same text
//! for SQLite and PostgreSQL (`$n` placeholders work in both); only the pool
//! and connection types differ, so one macro writes both implementations
//! rather than keeping two copies of every query in step.

/// Rows per multi-row statement in bulk imports (well under both engines'
/// bind-parameter limits).
pub(crate) const IMPORT_CHUNK: usize = 500;

macro_rules! sql_user_store {
    ($store:ty, $conn:ty, $emit:path, $lock:literal) => {
        impl $store {
            async fn user_in(conn: &mut $conn, id: i64) -> StoreResult<User> {
                sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(conn)
                    .await?
                    .ok_or(StoreError::NotFound)
            }

            async fn adjust_follow_counts(
                conn: &mut $conn,
                follower: i64,
                followee: i64,
                delta: i64,
            ) -> sqlx::Result<()> {
                sqlx::query("UPDATE users SET following_count = following_count + $1 WHERE id = $2")
                    .bind(delta)
                    .bind(follower)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("UPDATE users SET followers_count = followers_count + $1 WHERE id = $2")
                    .bind(delta)
                    .bind(followee)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Inserts one follow and adjusts both counters; false when it existed.
            async fn insert_follow(
                &self,
                conn: &mut $conn,
                follower: i64,
                followee: i64,
                now: i64,
            ) -> sqlx::Result<bool> {
                let inserted = sqlx::query(
                    "INSERT INTO follows (id, follower_id, followee_id, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (follower_id, followee_id) DO NOTHING",
                )
                .bind(self.ids.next())
                .bind(follower)
                .bind(followee)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                Self::adjust_follow_counts(conn, follower, followee, 1).await?;
                let event = events::follow_changed(&self.ids, true, follower, followee, now);
                $emit(conn, &event).await?;
                Ok(true)
            }

            /// Removes one follow and adjusts both counters; false when there was none.
            async fn remove_follow(
                &self,
                conn: &mut $conn,
                follower: i64,
                followee: i64,
                now: i64,
            ) -> sqlx::Result<bool> {
                let removed =
                    sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                        .bind(follower)
                        .bind(followee)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                if removed == 0 {
                    return Ok(false);
                }
                Self::adjust_follow_counts(conn, follower, followee, -1).await?;
                let event = events::follow_changed(&self.ids, false, follower, followee, now);
                $emit(conn, &event).await?;
                Ok(true)
            }

            async fn insert_user(
                &self,
                conn: &mut $conn,
                new: &NewUser,
                now: i64,
                skip_existing: bool,
            ) -> StoreResult<Option<i64>> {
                let id = self.ids.next();
                let sql = if skip_existing {
                    concat!(
                        "INSERT INTO users (id, username, username_key, email, email_key, ",
                        "password_hash, bio, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ",
                        "ON CONFLICT DO NOTHING"
                    )
                } else {
                    concat!(
                        "INSERT INTO users (id, username, username_key, email, email_key, ",
                        "password_hash, bio, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    )
                };
                let inserted = sqlx::query(sql)
                    .bind(id)
                    .bind(&new.username)
                    .bind(new.username.to_lowercase())
                    .bind(&new.email)
                    .bind(new.email.to_lowercase())
                    .bind(&new.password_hash)
                    .bind(&new.bio)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(uniqueness_error)?
                    .rows_affected();
                if inserted == 0 {
                    return Ok(None);
                }
                let event = events::user_registered(&self.ids, id, &new.username, now);
                $emit(conn, &event).await?;
                Ok(Some(id))
            }

            async fn revoke_sessions_of(conn: &mut $conn, user: i64, now: i64) -> sqlx::Result<()> {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(user)
                .execute(conn)
                .await?;
                Ok(())
            }

            /// Locks both accounts' rows (PostgreSQL; SQLite has one writer)
            /// in id order, so a follow and a block between them take turns.
            async fn lock_pair(conn: &mut $conn, a: i64, b: i64) -> sqlx::Result<()> {
                let _: Vec<i64> = sqlx::query_scalar(concat!(
                    "SELECT id FROM users WHERE id IN ($1, $2) ORDER BY id",
                    $lock
                ))
                .bind(a)
                .bind(b)
                .fetch_all(conn)
                .await?;
                Ok(())
            }

            async fn blocked_in(conn: &mut $conn, a: i64, b: i64) -> sqlx::Result<bool> {
                Ok(sqlx::query(BLOCKED_EITHER_WAY_SQL)
                    .bind(a)
                    .bind(b)
                    .fetch_optional(conn)
                    .await?
                    .is_some())
            }

            /// Makes a block or mute; false when it existed (nothing written).
            async fn add_relation(
                &self,
                kind: RelationKind,
                user: i64,
                target: i64,
            ) -> StoreResult<bool> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                Self::lock_pair(&mut tx, user, target).await?;
                let inserted = sqlx::query(
                    "INSERT INTO user_relations (id, user_id, target_id, kind, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, target_id, kind) DO NOTHING",
                )
                .bind(self.ids.next())
                .bind(user)
                .bind(target)
                .bind(kind.as_i16())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                if kind == RelationKind::Block {
                    self.remove_follow(&mut tx, user, target, now).await?;
                    self.remove_follow(&mut tx, target, user, now).await?;
                }
                let change = RelationChange { kind, user_id: user, target_id: target, active: true };
                $emit(&mut tx, &change.event(&self.ids, now)).await?;
                tx.commit().await?;
                self.outbox.notify_one();
                Ok(true)
            }

            /// Undoes a block or mute; false when there was none.
            async fn remove_relation(
                &self,
                kind: RelationKind,
                user: i64,
                target: i64,
            ) -> StoreResult<bool> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let removed = sqlx::query(
                    "DELETE FROM user_relations WHERE user_id = $1 AND target_id = $2 AND kind = $3",
                )
                .bind(user)
                .bind(target)
                .bind(kind.as_i16())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if removed == 0 {
                    return Ok(false);
                }
                let change = RelationChange { kind, user_id: user, target_id: target, active: false };
                $emit(&mut tx, &change.event(&self.ids, now)).await?;
                tx.commit().await?;
                self.outbox.notify_one();
                Ok(true)
            }

            async fn relation_list(
                &self,
                kind: RelationKind,
                user: i64,
                before: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<RelationEntry>> {
                let rows: Vec<RelationRow> = sqlx::query_as(RELATIONS_SQL)
                    .bind(user)
                    .bind(kind.as_i16())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit as i64)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().map(RelationRow::into_entry).collect())
            }

            async fn follow_list(
                &self,
                sql: &str,
                user: i64,
                before: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<FollowEntry>> {
                let rows: Vec<FollowRow> = sqlx::query_as(sql)
                    .bind(user)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit as i64)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().map(FollowRow::into_entry).collect())
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, new: NewUser) -> StoreResult<User> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let id = self
                    .insert_user(&mut tx, &new, now, false)
                    .await?
                    .ok_or(StoreError::UsernameTaken)?;
                let user = Self::user_in(&mut tx, id).await?;
                tx.commit().await?;
                self.outbox.notify_one();
                Ok(user)
            }

            async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                Ok(
                    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = $1"))
                        .bind(username.to_lowercase())
                        .fetch_optional(self.reader())
                        .await?,
                )
            }

            async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn users_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<User>> {
                let mut ids = ids.to_vec();
                ids.sort_unstable();
                ids.dedup();
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE id IN ("
                    ));
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    q.push(")");
                    let rows: Vec<User> =
                        q.build_query_as().persistent(false).fetch_all(self.reader()).await?;
                    out.extend(rows);
                }
                Ok(out)
            }

            async fn users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>> {
                let mut keys: Vec<String> = usernames.iter().map(|u| u.to_lowercase()).collect();
                keys.sort_unstable();
                keys.dedup();
                let mut out = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE username_key IN ("
                    ));
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key.as_str());
                    }
                    q.push(")");
                    let rows: Vec<User> =
                        q.build_query_as().persistent(false).fetch_all(self.reader()).await?;
                    out.extend(rows);
                }
                Ok(out)
            }

            async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                Ok(
                    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1"))
                        .bind(email.to_lowercase())
                        .fetch_optional(self.reader())
                        .await?,
                )
            }

            async fn list_users(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE active AND username_key > $1
                     ORDER BY username_key LIMIT $2"
                ))
                .bind(after.unwrap_or(""))
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?)
            }

            async fn update_user(&self, id: i64, update: UserUpdate) -> StoreResult<User> {
                let mut tx = self.begin_write().await?;
                let user = Self::user_in(&mut tx, id).await?;
                if !user.active {
                    return Err(StoreError::NotFound);
                }
                if let Some(email) = &update.email {
                    sqlx::query("UPDATE users SET email = $1, email_key = $2 WHERE id = $3")
                        .bind(email)
                        .bind(email.to_lowercase())
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(uniqueness_error)?;
                }
                if let Some(bio) = &update.bio {
                    sqlx::query("UPDATE users SET bio = $1 WHERE id = $2")
                        .bind(bio)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(hash) = &update.password_hash {
                    sqlx::query(
                        "UPDATE users SET password_hash = $1, auth_version = auth_version + 1 WHERE id = $2",
                    )
                    .bind(hash)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    let now = now_ms();
                    Self::revoke_sessions_of(&mut tx, id, now).await?;
                    // Gateways drop the credentials they verified for this user.
                    let event = events::credentials_changed(&self.ids, id, now);
                    $emit(&mut tx, &event).await?;
                }
                let user = Self::user_in(&mut tx, id).await?;
                tx.commit().await?;
                if update.password_hash.is_some() {
                    self.outbox.notify_one();
                }
                Ok(user)
            }

            async fn deactivate(&self, id: i64) -> StoreResult<()> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let user = Self::user_in(&mut tx, id).await?;
                if !user.active {
                    return Ok(());
                }
                sqlx::query(
                    "UPDATE users SET active = FALSE, deactivated_at = $1,
                     auth_version = auth_version + 1 WHERE id = $2",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                Self::revoke_sessions_of(&mut tx, id, now).await?;
                let pairs: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT follower_id, followee_id FROM follows
                     WHERE follower_id = $1 OR followee_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                for (follower, followee) in pairs {
                    self.remove_follow(&mut tx, follower, followee, now).await?;
                }
                let event = events::user_deactivated(&self.ids, id, &user.username, now);
                $emit(&mut tx, &event).await?;
                tx.commit().await?;
                self.outbox.notify_one();
                Ok(())
            }

            async fn follow(&self, follower: i64, followee: i64) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                Self::lock_pair(&mut tx, follower, followee).await?;
                if Self::blocked_in(&mut tx, follower, followee).await? {
                    return Err(StoreError::Blocked);
                }
                let created = self.insert_follow(&mut tx, follower, followee, now_ms()).await?;
                tx.commit().await?;
                if created {
                    self.outbox.notify_one();
                }
                Ok(created)
            }

            async fn unfollow(&self, follower: i64, followee: i64) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let removed = self.remove_follow(&mut tx, follower, followee, now_ms()).await?;
                tx.commit().await?;
                if removed {
                    self.outbox.notify_one();
                }
                Ok(removed)
            }

            async fn followers(
                &self,
                user: i64,
                before: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<FollowEntry>> {
                self.follow_list(FOLLOWERS_SQL, user, before, limit).await
            }

            async fn following(
                &self,
                user: i64,
                before: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<FollowEntry>> {
                self.follow_list(FOLLOWING_SQL, user, before, limit).await
            }

            async fn block(&self, user: i64, target: i64) -> StoreResult<bool> {
                self.add_relation(RelationKind::Block, user, target).await
            }

            async fn unblock(&self, user: i64, target: i64) -> StoreResult<bool> {
                self.remove_relation(RelationKind::Block, user, target).await
            }

            async fn mute(&self, user: i64, target: i64) -> StoreResult<bool> {
                self.add_relation(RelationKind::Mute, user, target).await
            }

            async fn unmute(&self, user: i64, target: i64) -> StoreResult<bool> {
                self.remove_relation(RelationKind::Mute, user, target).await
            }

            async fn blocked_either_way(&self, a: i64, b: i64) -> StoreResult<bool> {
                let mut conn = self.reader().acquire().await?;
                Ok(Self::blocked_in(&mut conn, a, b).await?)
            }

            async fn blocks(
                &self,
                user: i64,
                before: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<RelationEntry>> {
                self.relation_list(RelationKind::Block, user, before, limit).await
            }

            async fn mutes(
                &self,
                user: i64,
                before: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<RelationEntry>> {
                self.relation_list(RelationKind::Mute, user, before, limit).await
            }

            async fn search_users(
                &self,
                query: &str,
                viewer: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<User>> {
                // No account has id 0: without a viewer nobody is excluded.
                let viewer = viewer.unwrap_or(0);
                let prefix: Vec<User> = match username_prefix_range(query) {
                    Some((low, high)) => {
                        sqlx::query_as(PREFIX_SEARCH_SQL)
                            .bind(low)
                            .bind(high)
                            .bind(viewer)
                            .bind(limit as i64)
                            .fetch_all(self.reader())
                            .await?
                    }
                    None => Vec::new(),
                };
                let words = search_words(query);
                let bio: Vec<User> = if words.is_empty() || prefix.len() >= limit {
                    Vec::new()
                } else {
                    // Enough rows to fill the page after dropping prefix matches.
                    sqlx::query_as(BIO_SEARCH_SQL)
                        .bind(bio_query(&words))
                        .bind(viewer)
                        .bind((limit + prefix.len()) as i64)
                        .fetch_all(self.reader())
                        .await?
                };
                Ok(merge_search(prefix, bio, limit))
            }

            async fn create_session(&self, user: i64, expires_at: i64) -> StoreResult<i64> {
                let id = self.ids.next();
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(user)
                .bind(now_ms())
                .bind(expires_at)
                .execute(self.writer())
                .await?;
                Ok(id)
            }

            async fn session_user(&self, session: i64, now: i64) -> StoreResult<Option<User>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {USER_COLUMNS_U} FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.active"
                ))
                .bind(session)
                .bind(now)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn revoke_session(&self, session: i64) -> StoreResult<()> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let user: Option<i64> = sqlx::query_scalar(
                    "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL
                     RETURNING user_id",
                )
                .bind(now)
                .bind(session)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(user) = user {
                    // Gateways drop the token they verified for this session.
                    let event = events::session_revoked(&self.ids, user, session, now);
                    $emit(&mut tx, &event).await?;
                }
                tx.commit().await?;
                if user.is_some() {
                    self.outbox.notify_one();
                }
                Ok(())
            }

            async fn auth_failures(
                &self,
                subjects: &[String],
                window_start_after: i64,
            ) -> StoreResult<Vec<(String, FailureCount)>> {
                let mut out = Vec::with_capacity(subjects.len());
                for subject in subjects {
                    let row: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT failures, window_start FROM auth_failures
                         WHERE subject = $1 AND window_start > $2",
                    )
                    .bind(subject)
                    .bind(window_start_after)
                    .fetch_optional(self.reader())
                    .await?;
                    if let Some((failures, window_start)) = row {
                        out.push((subject.clone(), FailureCount { failures, window_start }));
                    }
                }
                Ok(out)
            }

            async fn record_auth_failure(
                &self,
                subjects: &[String],
                now: i64,
                window_ms: i64,
            ) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for subject in subjects {
                    sqlx::query(FAILURE_UPSERT_SQL)
                        .bind(subject)
                        .bind(now)
                        .bind(now - window_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn clear_auth_failures(&self, subject: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM auth_failures WHERE subject = $1")
                    .bind(subject)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn import(
                &self,
                users: Vec<NewUser>,
                follows: Vec<(String, String)>,
            ) -> StoreResult<(usize, usize)> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let mut created_users = 0;
                for new in &users {
                    if self.insert_user(&mut tx, new, now, true).await?.is_some() {
                        created_users += 1;
                    }
                }
                // Resolve every named account with one query per chunk.
                let mut names: Vec<String> = follows
                    .iter()
                    .flat_map(|(a, b)| [a.to_lowercase(), b.to_lowercase()])
                    .collect();
                names.sort_unstable();
                names.dedup();
                let mut ids = std::collections::HashMap::with_capacity(names.len());
                for chunk in names.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(
                        "SELECT id, username_key FROM users WHERE active AND username_key IN (",
                    );
                    let mut list = q.separated(", ");
                    for name in chunk {
                        list.push_bind(name);
                    }
                    q.push(")");
                    let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    ids.extend(rows.into_iter().map(|(id, key)| (key, id)));
                }
                let mut pairs: Vec<(i64, i64)> = follows
                    .iter()
                    .filter_map(|(a, b)| {
                        Some((*ids.get(&a.to_lowercase())?, *ids.get(&b.to_lowercase())?))
                    })
                    .filter(|(a, b)| a != b)
                    .collect();
                pairs.sort_unstable();
                pairs.dedup();
                // Multi-row inserts; RETURNING tells which follows are new.
                let mut created: Vec<(i64, i64)> = Vec::with_capacity(pairs.len());
                for chunk in pairs.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO follows (id, follower_id, followee_id, created_at) ",
                    );
                    q.push_values(chunk, |mut row, (follower, followee)| {
                        row.push_bind(self.ids.next())
                            .push_bind(*follower)
                            .push_bind(*followee)
                            .push_bind(now);
                    });
                    q.push(" ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING follower_id, followee_id");
                    let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    created.extend(rows);
                }
                let events: Vec<_> = created
                    .iter()
                    .map(|(a, b)| events::follow_changed(&self.ids, true, *a, *b, now))
                    .collect();
                for chunk in events.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO outbox (event_id, topic, payload, created_at) ",
                    );
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.id)
                            .push_bind(e.topic.clone())
                            .push_bind(e.payload.to_string())
                            .push_bind(e.created_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                // One counter update per account touched, not per follow.
                let mut deltas: std::collections::HashMap<i64, (i64, i64)> = Default::default();
                for (follower, followee) in &created {
                    deltas.entry(*follower).or_default().1 += 1;
                    deltas.entry(*followee).or_default().0 += 1;
                }
                for (id, (followers, following)) in deltas {
                    sqlx::query(
                        "UPDATE users SET followers_count = followers_count + $1,
                         following_count = following_count + $2 WHERE id = $3",
                    )
                    .bind(followers)
                    .bind(following)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                self.outbox.notify_one();
                Ok((created_users, created.len()))
            }

            async fn apply_karma(&self, changes: &[KarmaChange]) -> StoreResult<Vec<i64>> {
                if changes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut posts: Vec<(i64, i64)> = changes
                    .iter()
                    .map(|c| match *c {
                        KarmaChange::Tally { post_id, author_id, .. }
                        | KarmaChange::PostDeleted { post_id, author_id } => (post_id, author_id),
                    })
                    .collect();
                posts.sort_unstable();
                posts.dedup_by_key(|p| p.0);
                let mut tx = self.begin_write().await?;
                // Rows exist before they are read, so PostgreSQL can lock them
                // (concurrent instances of this consumer apply one post in turn).
                for chunk in posts.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO post_karma (post_id, author_id) ");
                    q.push_values(chunk, |mut row, (post, author)| {
                        row.push_bind(*post).push_bind(*author);
                    });
                    q.push(" ON CONFLICT (post_id) DO NOTHING");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                let mut stored = std::collections::HashMap::new();
                for chunk in posts.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(
                        "SELECT post_id, score, seq, frozen FROM post_karma WHERE post_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for (post, _) in chunk {
                        list.push_bind(*post);
                    }
                    q.push(concat!(") ORDER BY post_id", $lock));
                    let rows: Vec<(i64, i64, i64, bool)> =
                        q.build_query_as().persistent(false).fetch_all(&mut *tx).await?;
                    stored.extend(rows.into_iter().map(|(p, score, seq, frozen)| (p, (score, seq, frozen))));
                }
                let (rows, deltas) = plan_karma(changes, &stored);
                for chunk in rows.chunks(IMPORT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO post_karma (post_id, author_id, score, seq, frozen) ",
                    );
                    q.push_values(chunk, |mut b, row| {
                        b.push_bind(row.post_id)
                            .push_bind(row.author_id)
                            .push_bind(row.score)
                            .push_bind(row.seq)
                            .push_bind(row.frozen);
                    });
                    q.push(
                        " ON CONFLICT (post_id) DO UPDATE SET score = excluded.score,
                          seq = excluded.seq, frozen = excluded.frozen",
                    );
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                for chunk in deltas.chunks(IMPORT_CHUNK) {
                    // VALUES columns are column1, column2 on both engines.
                    let mut q = sqlx::QueryBuilder::new("UPDATE users SET karma = karma + d.column2 FROM (");
                    q.push_values(chunk, |mut b, (author, delta)| {
                        b.push_bind(*author).push_bind(*delta);
                    });
                    q.push(") AS d WHERE users.id = d.column1");
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(deltas.into_iter().map(|(author, _)| author).collect())
            }

            async fn relationships(
                &self,
                viewer: i64,
                targets: &[i64],
            ) -> StoreResult<Vec<$crate::store::Relationship>> {
                let mut found: std::collections::HashMap<i64, $crate::store::Relationship> = targets
                    .iter()
                    .map(|&t| (t, $crate::store::Relationship { target_id: t, ..Default::default() }))
                    .collect();
                for chunk in targets.chunks(IMPORT_CHUNK) {
                    // One query: each side of the follow graph on its unique
                    // (follower_id, followee_id) index, then blocks and mutes.
                    let mut q = sqlx::QueryBuilder::new("SELECT followee_id, CAST(0 AS BIGINT) FROM follows WHERE follower_id = ");
                    q.push_bind(viewer);
                    q.push(" AND followee_id IN (");
                    let mut list = q.separated(", ");
                    for t in chunk {
                        list.push_bind(*t);
                    }
                    q.push(") UNION ALL SELECT follower_id, CAST(1 AS BIGINT) FROM follows WHERE followee_id = ");
                    q.push_bind(viewer);
                    q.push(" AND follower_id IN (");
                    let mut list = q.separated(", ");
                    for t in chunk {
                        list.push_bind(*t);
                    }
                    q.push(") UNION ALL SELECT target_id, CAST(1 + kind AS BIGINT) FROM user_relations WHERE user_id = ");
                    q.push_bind(viewer);
                    q.push(" AND target_id IN (");
                    let mut list = q.separated(", ");
                    for t in chunk {
                        list.push_bind(*t);
                    }
                    q.push(")");
                    let rows: Vec<(i64, i64)> =
                        q.build_query_as().persistent(false).fetch_all(self.reader()).await?;
                    for (target, what) in rows {
                        if let Some(r) = found.get_mut(&target) {
                            match what {
                                0 => r.following = true,
                                1 => r.followed_by = true,
                                // user_relations.kind: 1 block, 2 mute.
                                2 => r.blocking = true,
                                _ => r.muting = true,
                            }
                        }
                    }
                }
                Ok(targets.iter().filter_map(|t| found.get(t).copied()).collect())
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_user_store;

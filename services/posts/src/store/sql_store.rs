//! The body of [`PostStore`] for both SQL engines: the same SQL text (`$n`
//! placeholders work in SQLite too), written once; only the pool and
//! connection types differ.

pub(crate) const POST_COLUMNS: &str = "id, author_id, author, text, title, community, url, \
     created_at, edited_at, in_reply_to, repost_of, reply_count, repost_count, upvotes, \
     downvotes, score, hot, controversy, tags, mentions, in_reply_to_author_id, \
     repost_of_author_id";

/// Whether a database error is a uniqueness violation whose text mentions `needle`.
pub(crate) fn unique_violation(err: &sqlx::Error, needle: &str) -> bool {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            format!("{} {}", db.message(), db.constraint().unwrap_or_default()).contains(needle)
        }
        _ => false,
    }
}

/// The head of the lookup of mentioned accounts: a list of lowercased
/// names (`username_key`) follows, then `)`.
pub(crate) const MENTIONED_SQL_HEAD: &str =
    "SELECT id, username, username_key FROM users WHERE active AND username_key IN (";

/// The mentions of a post whose candidate names are `candidates`, in order,
/// from the accounts found (`(id, username, username_key)`), spelled as
/// each account spells its name.
pub(crate) fn mentions_from(
    candidates: &[String],
    found: &[(i64, String, String)],
) -> Vec<super::Mention> {
    candidates
        .iter()
        .filter_map(|name| {
            let key = name.to_lowercase();
            found
                .iter()
                .find(|f| f.2 == key)
                .map(|(id, username, _)| super::Mention {
                    user_id: *id,
                    username: username.clone(),
                })
        })
        .collect()
}

macro_rules! sql_post_store {
    ($store:ty, $conn:ty, $emit:path, $search:ident, $json_ids:path) => {
        impl $store {
            async fn post_in(conn: &mut $conn, id: i64) -> sqlx::Result<Option<Post>> {
                sqlx::query_as(&format!("SELECT {POST_COLUMNS} FROM posts WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(conn)
                    .await
            }

            /// Records an event as applied by `consumer`; false if it already was.
            async fn first_time(conn: &mut $conn, consumer: &str, event_id: i64) -> sqlx::Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                )
                .bind(consumer)
                .bind(event_id)
                .execute(conn)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn replay(
                conn: &mut $conn,
                key: &IdempotencyKey,
                now: i64,
            ) -> StoreResult<Option<Post>> {
                let row: Option<(String, i64)> = sqlx::query_as(
                    "SELECT response, created_at FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                )
                .bind(key.user_id)
                .bind(&key.key)
                .fetch_optional(&mut *conn)
                .await?;
                match row {
                    Some((response, created_at)) if created_at > now - key.window_ms => {
                        Ok(serde_json::from_str(&response).ok())
                    }
                    Some(_) => {
                        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2")
                            .bind(key.user_id)
                            .bind(&key.key)
                            .execute(&mut *conn)
                            .await?;
                        Ok(None)
                    }
                    None => Ok(None),
                }
            }

            async fn insert_post(&self, conn: &mut $conn, new: &NewPost, now: i64) -> StoreResult<Post> {
                let in_reply_to_author = match new.in_reply_to {
                    Some(parent) => {
                        let row: Option<(i64,)> = sqlx::query_as("SELECT author_id FROM posts WHERE id = $1")
                            .bind(parent)
                            .fetch_optional(&mut *conn)
                            .await?;
                        Some(row.ok_or(StoreError::ParentNotFound)?.0)
                    }
                    None => None,
                };
                // A repost of a repost reposts the original.
                let (repost_of, repost_of_author) = match new.repost_of {
                    Some(id) => {
                        let row: Option<(i64, i64)> = sqlx::query_as(
                            "SELECT COALESCE(o.id, p.id), COALESCE(o.author_id, p.author_id)
                             FROM posts p LEFT JOIN posts o ON o.id = p.repost_of WHERE p.id = $1",
                        )
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                        let (root, author) = row.ok_or(StoreError::NotFound)?;
                        (Some(root), Some(author))
                    }
                    None => (None, None),
                };
                // Reposts carry the original's text, not tags or mentions of their own.
                let (tags, mentions) = match repost_of {
                    Some(_) => (Vec::new(), Vec::new()),
                    None => (tags_of(&new.body), Self::mentions_in(&mut *conn, &new.body).await?),
                };
                let id = self.ids.next();
                let listed = new.in_reply_to.is_none() && repost_of.is_none();
                let post: Post = sqlx::query_as(&format!(
                    "INSERT INTO posts (id, author_id, author, text, title, community, url,
                     created_at, in_reply_to, repost_of, hot, listed, tags, mentions,
                     in_reply_to_author_id, repost_of_author_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                     RETURNING {POST_COLUMNS}"
                ))
                .bind(id)
                .bind(new.author_id)
                .bind(&new.author)
                .bind(&new.body.text)
                .bind(&new.body.title)
                .bind(&new.body.community)
                .bind(&new.body.url)
                .bind(now)
                .bind(new.in_reply_to)
                .bind(repost_of)
                .bind(hot_rank(0, now))
                .bind(listed)
                .bind(JsonList(tags).to_json())
                .bind(JsonList(mentions).to_json())
                .bind(in_reply_to_author)
                .bind(repost_of_author)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| {
                    if unique_violation(&e, "repost") {
                        StoreError::AlreadyReposted
                    } else {
                        StoreError::Database(e)
                    }
                })?;
                if let Some(parent) = new.in_reply_to {
                    sqlx::query("UPDATE posts SET reply_count = reply_count + 1 WHERE id = $1")
                        .bind(parent)
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some(original) = repost_of {
                    sqlx::query("UPDATE posts SET repost_count = repost_count + 1 WHERE id = $1")
                        .bind(original)
                        .execute(&mut *conn)
                        .await?;
                }
                Self::add_tags_in(&mut *conn, post.id, &post.tags).await?;
                $emit(&mut *conn, &events::post_created(&self.ids, &post)).await?;
                Ok(post)
            }

            /// The active accounts `body` mentions (one query for all), in
            /// order of appearance, spelled as each account spells its name.
            async fn mentions_in(conn: &mut $conn, body: &PostBody) -> sqlx::Result<Vec<Mention>> {
                let candidates = mention_candidates(body);
                if candidates.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::new($crate::store::sql_store::MENTIONED_SQL_HEAD);
                let mut list = q.separated(", ");
                for name in &candidates {
                    list.push_bind(name.to_lowercase());
                }
                q.push(")");
                let found: Vec<(i64, String, String)> =
                    q.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
                Ok($crate::store::sql_store::mentions_from(&candidates, &found))
            }

            /// Indexes `post_id` under `tags` and counts it for each.
            async fn add_tags_in(conn: &mut $conn, post_id: i64, tags: &[String]) -> sqlx::Result<()> {
                // Counters in name order, so concurrent writers lock rows in one order.
                let mut sorted = tags.to_vec();
                sorted.sort_unstable();
                for chunk in sorted.chunks(1_000) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO post_tags (tag, post_id) ");
                    q.push_values(chunk, |mut row, tag| {
                        row.push_bind(tag.clone()).push_bind(post_id);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().persistent(false).execute(&mut *conn).await?;
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO tags (name, post_count) ");
                    q.push_values(chunk, |mut row, tag| {
                        row.push_bind(tag.clone()).push("1");
                    });
                    q.push(" ON CONFLICT (name) DO UPDATE SET post_count = tags.post_count + 1");
                    q.build().persistent(false).execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Takes `post_id` out of the index of `tags` and their counts
            /// (a tag without posts goes).
            async fn remove_tags_in(conn: &mut $conn, post_id: i64, tags: &[String]) -> sqlx::Result<()> {
                let mut sorted = tags.to_vec();
                sorted.sort_unstable();
                for chunk in sorted.chunks(1_000) {
                    let mut q = sqlx::QueryBuilder::new("DELETE FROM post_tags WHERE post_id = ");
                    q.push_bind(post_id).push(" AND tag IN (");
                    let mut list = q.separated(", ");
                    for tag in chunk {
                        list.push_bind(tag.clone());
                    }
                    q.push(")");
                    q.build().persistent(false).execute(&mut *conn).await?;
                    for sql in [
                        "UPDATE tags SET post_count = post_count - 1 WHERE name IN (",
                        "DELETE FROM tags WHERE post_count <= 0 AND name IN (",
                    ] {
                        let mut q = sqlx::QueryBuilder::new(sql);
                        let mut list = q.separated(", ");
                        for tag in chunk {
                            list.push_bind(tag.clone());
                        }
                        q.push(")");
                        q.build().persistent(false).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            }

            async fn user_registered_in(conn: &mut $conn, id: i64, username: &str) -> sqlx::Result<()> {
                // A username names one account: a row of it under another id is
                // stale (a restored or foreign users database). The newest fact
                // wins, rather than a unique violation that would stop the consumer.
                // A late registration event never revives a deactivated account.
                sqlx::query("DELETE FROM users WHERE username_key = $1 AND id <> $2")
                    .bind(username.to_lowercase())
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO users (id, username, username_key) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET username = excluded.username,
                     username_key = excluded.username_key",
                )
                .bind(id)
                .bind(username)
                .bind(username.to_lowercase())
                .execute(conn)
                .await?;
                Ok(())
            }

            /// Replica follow; back-fills the followee's recent posts.
            async fn follow_in(
                conn: &mut $conn,
                follower: i64,
                followee: i64,
                backfill: usize,
                out: Option<&mut EffectLog>,
            ) -> sqlx::Result<()> {
                let inserted = sqlx::query(
                    "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(follower)
                .bind(followee)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(());
                }
                sqlx::query("UPDATE users SET followers_count = followers_count + 1 WHERE id = $1")
                    .bind(followee)
                    .execute(&mut *conn)
                    .await?;
                match out {
                    Some(log) => {
                        let post_ids = Self::recent_ids_in(&mut *conn, followee, backfill).await?;
                        log.effects.push(TimelineEffect::Add { readers: vec![follower], post_ids });
                    }
                    out => {
                        let rows: Vec<(i64,)> = sqlx::query_as(
                            "INSERT INTO home_timeline (user_id, post_id, author_id)
                             SELECT $1, id, author_id FROM
                               (SELECT id, author_id FROM posts WHERE author_id = $2 ORDER BY id DESC LIMIT $3) recent
                             WHERE TRUE ON CONFLICT DO NOTHING RETURNING post_id",
                        )
                        .bind(follower)
                        .bind(followee)
                        .bind(backfill as i64)
                        .fetch_all(&mut *conn)
                        .await?;
                        if let Some(log) = out {
                            log.effects.push(TimelineEffect::Add {
                                readers: vec![follower],
                                post_ids: rows.into_iter().map(|r| r.0).collect(),
                            });
                        }
                    }
                }
                Ok(())
            }

            /// Replica unfollow; the followee's posts leave the follower's timeline.
            async fn unfollow_in(
                conn: &mut $conn,
                follower: i64,
                followee: i64,
                cap: usize,
                out: Option<&mut EffectLog>,
            ) -> sqlx::Result<()> {
                let removed = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
                    .bind(follower)
                    .bind(followee)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if removed > 0 {
                    sqlx::query("UPDATE users SET followers_count = followers_count - 1 WHERE id = $1")
                        .bind(followee)
                        .execute(&mut *conn)
                        .await?;
                }
                match out {
                    Some(log) => {
                        // A timeline holds at most `cap` posts of anyone.
                        let post_ids = Self::recent_ids_in(&mut *conn, followee, cap).await?;
                        log.effects.push(TimelineEffect::Remove { reader: follower, post_ids });
                    }
                    out => {
                        let rows: Vec<(i64,)> = sqlx::query_as(
                            "DELETE FROM home_timeline WHERE user_id = $1 AND author_id = $2 RETURNING post_id",
                        )
                        .bind(follower)
                        .bind(followee)
                        .fetch_all(&mut *conn)
                        .await?;
                        if let Some(log) = out {
                            log.effects.push(TimelineEffect::Remove {
                                reader: follower,
                                post_ids: rows.into_iter().map(|r| r.0).collect(),
                            });
                        }
                    }
                }
                Ok(())
            }

            /// Fan-out of a batch of posts: each goes to its author's and, below the
            /// threshold, every follower's home timeline; into the table with one
            /// statement, or with `out` (a sink's timelines) only into its effects,
            /// with one query.
            async fn fan_out_many_in(
                conn: &mut $conn,
                posts: &[(i64, i64)],
                config: &TimelineConfig,
                mut out: Option<&mut EffectLog>,
            ) -> sqlx::Result<()> {
                // Two bound values per post, well under every database's limit.
                for chunk in posts.chunks(1_000) {
                    let mut q = sqlx::QueryBuilder::new("WITH v (post_id, author_id) AS (");
                    q.push_values(chunk, |mut row, (post_id, author_id)| {
                        row.push_bind(*post_id).push_bind(*author_id);
                    });
                    q.push(if out.is_none() {
                        ") INSERT INTO home_timeline (user_id, post_id, author_id)
                         SELECT author_id, post_id, author_id FROM v WHERE TRUE
                         UNION ALL
                         SELECT f.follower_id, v.post_id, v.author_id FROM v"
                    } else {
                        ") SELECT author_id, post_id FROM v
                         UNION ALL
                         SELECT f.follower_id, v.post_id FROM v"
                    });
                    q.push(
                        " JOIN follows f ON f.followee_id = v.author_id
                         WHERE COALESCE((SELECT followers_count FROM users u WHERE u.id = v.author_id), 0) <= ",
                    );
                    q.push_bind(config.fanout_threshold);
                    // Text that varies with the row count stays out of the
                    // connection's statement cache (it would evict the hot ones).
                    let Some(log) = out.as_deref_mut() else {
                        q.push(" ON CONFLICT DO NOTHING");
                        q.build().persistent(false).execute(&mut *conn).await?;
                        continue;
                    };
                    let rows: Vec<(i64, i64)> = q.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
                    let mut readers: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
                    for (user, post) in rows {
                        readers.entry(post).or_default().push(user);
                    }
                    for (post, mut readers) in readers {
                        readers.sort_unstable();
                        readers.dedup();
                        log.effects.push(TimelineEffect::Add { readers, post_ids: vec![post] });
                    }
                }
                Ok(())
            }

            /// The author and every follower: whose home timelines show the author's posts.
            async fn readers_in(conn: &mut $conn, author_id: i64) -> sqlx::Result<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT $1 UNION SELECT follower_id FROM follows WHERE followee_id = $1",
                )
                .bind(author_id)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn recent_ids_in(conn: &mut $conn, author_id: i64, limit: usize) -> sqlx::Result<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT id FROM posts WHERE author_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(author_id)
                .bind(limit as i64)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            /// New tallies, unless an event with a newer `seq` was applied already.
            async fn vote_change_in(conn: &mut $conn, post_id: i64, upvotes: i64, downvotes: i64, seq: i64) -> sqlx::Result<()> {
                let Some(post) = Self::post_in(&mut *conn, post_id).await? else {
                    return Ok(());
                };
                let score = upvotes - downvotes;
                sqlx::query(
                    "UPDATE posts SET upvotes = $1, downvotes = $2, score = $3, hot = $4,
                     controversy = $5, vote_seq = $6 WHERE id = $7 AND vote_seq < $6",
                )
                .bind(upvotes)
                .bind(downvotes)
                .bind(score)
                .bind(hot_rank(score, post.created_at))
                .bind(controversy(upvotes, downvotes))
                .bind(seq)
                .bind(post_id)
                .execute(conn)
                .await?;
                Ok(())
            }

            /// A create inside the caller's transaction: the idempotency replay,
            /// the post with its counters and event, and the stored key.
            async fn create_in(
                &self,
                conn: &mut $conn,
                new: &NewPost,
                key: Option<&IdempotencyKey>,
                now: i64,
            ) -> StoreResult<(Post, bool)> {
                if let Some(key) = key
                    && let Some(first) = Self::replay(&mut *conn, key, now).await?
                {
                    return Ok((first, true));
                }
                let post = self.insert_post(&mut *conn, new, now).await?;
                if let Some(key) = key {
                    sqlx::query(
                        "INSERT INTO idempotency_keys (user_id, key, post_id, response, created_at)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(key.user_id)
                    .bind(&key.key)
                    .bind(post.id)
                    .bind(serde_json::to_string(&post).unwrap_or_default())
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok((post, false))
            }

            async fn posts_where(&self, sql: &str, a: i64, b: i64, limit: usize) -> StoreResult<Vec<Post>> {
                Ok(sqlx::query_as(sql)
                    .bind(a)
                    .bind(b)
                    .bind(limit as i64)
                    .fetch_all(self.reader())
                    .await?)
            }
        }

        #[async_trait]
        impl PostStore for $store {
            async fn create_post(
                &self,
                new: NewPost,
                idempotency: Option<IdempotencyKey>,
            ) -> StoreResult<(Post, bool)> {
                let created = self.create_committed(new, idempotency).await?;
                self.outbox.notify_one();
                Ok(created)
            }

            async fn post(&self, id: i64) -> StoreResult<Option<Post>> {
                Ok(sqlx::query_as(&format!("SELECT {POST_COLUMNS} FROM posts WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Post>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                self.select_posts_by_ids(ids).await
            }

            async fn reposts_by(&self, author_id: i64, originals: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
                if originals.is_empty() {
                    return Ok(Vec::new());
                }
                // `repost_of IS NOT NULL` spelled out: the partial unique
                // index (author_id, repost_of) is then usable on both engines.
                // The ids as one JSON array, so the statement is prepared once.
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT id, repost_of FROM posts WHERE repost_of IS NOT NULL AND author_id = $1
                         AND repost_of IN ({})",
                        $json_ids("$2")
                    )
                });
                let ids = serde_json::to_string(originals).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                Ok(sqlx::query_as(&SQL)
                    .bind(author_id)
                    .bind(ids)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn edit_post(&self, id: i64, body: PostBody) -> StoreResult<Post> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let old = Self::post_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
                let (version,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM post_history WHERE post_id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO post_history (post_id, version, text, title, url, edited_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(version)
                .bind(&old.text)
                .bind(&old.title)
                .bind(&old.url)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // Tags and mentions follow the new text (a repost has none).
                let (tags, mentions) = match old.repost_of {
                    Some(_) => (Vec::new(), Vec::new()),
                    None => (tags_of(&body), Self::mentions_in(&mut tx, &body).await?),
                };
                let gone: Vec<String> = old.tags.iter().filter(|t| !tags.contains(t)).cloned().collect();
                let added: Vec<String> = tags.iter().filter(|t| !old.tags.contains(t)).cloned().collect();
                Self::remove_tags_in(&mut tx, id, &gone).await?;
                Self::add_tags_in(&mut tx, id, &added).await?;
                sqlx::query(
                    "UPDATE posts SET text = $1, title = $2, url = $3, edited_at = $4, tags = $5,
                     mentions = $6 WHERE id = $7",
                )
                .bind(&body.text)
                .bind(&body.title)
                .bind(&body.url)
                .bind(now)
                .bind(JsonList(tags).to_json())
                .bind(JsonList(mentions).to_json())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let post = Self::post_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
                $emit(&mut tx, &events::post_edited(&self.ids, &post, now)).await?;
                tx.commit().await?;
                self.outbox.notify_one();
                Ok(post)
            }

            async fn delete_post(&self, id: i64) -> StoreResult<bool> {
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                let Some(post) = Self::post_in(&mut tx, id).await? else {
                    return Ok(false);
                };
                // Reposts go with their original.
                let reposts: Vec<Post> = sqlx::query_as(&format!(
                    "SELECT {POST_COLUMNS} FROM posts WHERE repost_of = $1"
                ))
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                for victim in std::iter::once(&post).chain(reposts.iter()) {
                    sqlx::query("DELETE FROM posts WHERE id = $1")
                        .bind(victim.id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM post_history WHERE post_id = $1")
                        .bind(victim.id)
                        .execute(&mut *tx)
                        .await?;
                    Self::remove_tags_in(&mut tx, victim.id, &victim.tags).await?;
                    $emit(&mut tx, &events::post_deleted(&self.ids, victim, now)).await?;
                }
                if let Some(parent) = post.in_reply_to {
                    sqlx::query("UPDATE posts SET reply_count = reply_count - 1 WHERE id = $1 AND reply_count > 0")
                        .bind(parent)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(original) = post.repost_of {
                    sqlx::query("UPDATE posts SET repost_count = repost_count - 1 WHERE id = $1 AND repost_count > 0")
                        .bind(original)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.outbox.notify_one();
                Ok(true)
            }

            async fn history(&self, id: i64) -> StoreResult<Vec<HistoryEntry>> {
                Ok(sqlx::query_as(
                    "SELECT text, title, url, edited_at FROM post_history WHERE post_id = $1 ORDER BY version",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn tag_posts(&self, tag: &str, before: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
                let columns: Vec<String> = POST_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect();
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM post_tags t JOIN posts p ON p.id = t.post_id
                     WHERE t.tag = $1 AND t.post_id < $2 ORDER BY t.post_id DESC LIMIT $3",
                    columns.join(", ")
                ))
                .bind(tag)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?)
            }

            async fn tags_by_name(&self, after: Option<&str>, since_id: i64, limit: usize) -> StoreResult<Vec<TagCount>> {
                // The recent count of each listed tag is one range of the key.
                Ok(sqlx::query_as(
                    "SELECT g.name, g.post_count,
                       (SELECT COUNT(*) FROM post_tags t WHERE t.tag = g.name AND t.post_id >= $1) AS recent_count
                     FROM tags g WHERE g.name > $2 ORDER BY g.name LIMIT $3",
                )
                .bind(since_id)
                .bind(after.unwrap_or(""))
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?)
            }

            async fn trending_tags(&self, since_id: i64, limit: usize) -> StoreResult<Vec<TagCount>> {
                // Only the window's rows of the (post_id, tag) index are read.
                Ok(sqlx::query_as(
                    "SELECT r.tag AS name, g.post_count, r.recent_count FROM
                       (SELECT tag, COUNT(*) AS recent_count FROM post_tags WHERE post_id >= $1 GROUP BY tag) r
                     JOIN tags g ON g.name = r.tag
                     ORDER BY r.recent_count DESC, r.tag LIMIT $2",
                )
                .bind(since_id)
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?)
            }

            async fn authors_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<Author>> {
                if usernames.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT id, username, active, followers_count FROM users WHERE username_key IN (",
                );
                let mut list = q.separated(", ");
                for name in usernames {
                    list.push_bind(name.trim().to_lowercase());
                }
                q.push(")");
                Ok(q.build_query_as().persistent(false).fetch_all(self.reader()).await?)
            }

            async fn replies(&self, id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
                self.posts_where(
                    &format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE in_reply_to = $1 AND id > $2
                         ORDER BY id LIMIT $3"
                    ),
                    id,
                    after.unwrap_or(0),
                    limit,
                )
                .await
            }

            async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Post>> {
                let mut q = sqlx::QueryBuilder::new(format!("SELECT {POST_COLUMNS} FROM posts WHERE listed"));
                if let Some(c) = &query.community {
                    q.push(" AND community = ").push_bind(c.clone());
                }
                if let Some(a) = query.author_id {
                    q.push(" AND author_id = ").push_bind(a);
                }
                let column = match query.sort {
                    Sort::New => None,
                    Sort::Hot => Some("hot"),
                    Sort::Top => Some("score"),
                    Sort::Controversial => Some("controversy"),
                };
                match (column, query.after) {
                    (_, None) => {}
                    (None, Some(ListCursor::Id(id))) => {
                        q.push(" AND id < ").push_bind(id);
                    }
                    (Some("score"), Some(ListCursor::Ranked(rank, id))) => {
                        let score = rank as i64;
                        q.push(" AND (score < ").push_bind(score);
                        q.push(" OR (score = ").push_bind(score);
                        q.push(" AND id < ").push_bind(id).push("))");
                    }
                    (Some(col), Some(ListCursor::Ranked(rank, id))) => {
                        q.push(format!(" AND ({col} < ")).push_bind(rank);
                        q.push(format!(" OR ({col} = ")).push_bind(rank);
                        q.push(" AND id < ").push_bind(id).push("))");
                    }
                    _ => return Ok(Vec::new()),
                }
                match column {
                    None => q.push(" ORDER BY id DESC"),
                    Some(col) => q.push(format!(" ORDER BY {col} DESC, id DESC")),
                };
                q.push(" LIMIT ").push_bind(query.limit as i64);
                Ok(q.build_query_as().persistent(false).fetch_all(self.reader()).await?)
            }

            async fn user_timeline(&self, author_id: i64, before: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
                self.posts_where(
                    &format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE author_id = $1 AND id < $2
                         ORDER BY id DESC LIMIT $3"
                    ),
                    author_id,
                    before.unwrap_or(i64::MAX),
                    limit,
                )
                .await
            }

            async fn public_timeline(&self, before: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {POST_COLUMNS} FROM posts WHERE id < $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?)
            }

            async fn home_timeline(
                &self,
                user_id: i64,
                before: Option<i64>,
                limit: usize,
                merge: &HomeMerge,
            ) -> StoreResult<Vec<Post>> {
                let before = before.unwrap_or(i64::MAX);
                let mut posts: Vec<Post> = sqlx::query_as(&format!(
                    "SELECT {} FROM home_timeline h JOIN posts p ON p.id = h.post_id
                     WHERE h.user_id = $1 AND h.post_id < $2 ORDER BY h.post_id DESC LIMIT $3",
                    POST_COLUMNS
                        .split(", ")
                        .map(|c| format!("p.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .bind(user_id)
                .bind(before)
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?;
                if !merge.celebrities.is_empty() {
                    let mut q = sqlx::QueryBuilder::new(format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE id < "
                    ));
                    q.push_bind(before).push(" AND author_id IN (");
                    let mut list = q.separated(", ");
                    for id in &merge.celebrities {
                        list.push_bind(*id);
                    }
                    q.push(") ORDER BY id DESC LIMIT ").push_bind(limit as i64);
                    let extra: Vec<Post> = q.build_query_as().persistent(false).fetch_all(self.reader()).await?;
                    posts.extend(extra);
                    posts.sort_unstable_by(|a, b| b.id.cmp(&a.id));
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
                let followees: Vec<(i64,)> =
                    sqlx::query_as("SELECT followee_id FROM follows WHERE follower_id = $1")
                        .bind(user_id)
                        .fetch_all(self.reader())
                        .await?;
                let authors: Vec<i64> =
                    followees.into_iter().map(|f| f.0).chain([user_id]).collect();
                let before = before.unwrap_or(i64::MAX);
                let mut ids = Vec::new();
                // Each author's newest `limit` (one index range each, however
                // much they posted), merged: a statement per 400 authors, under
                // SQLite's 500 terms of a compound SELECT.
                for chunk in authors.chunks(400) {
                    let mut q = sqlx::QueryBuilder::new("");
                    for (i, author) in chunk.iter().enumerate() {
                        if i > 0 {
                            q.push(" UNION ALL ");
                        }
                        q.push("SELECT id FROM (SELECT id FROM posts WHERE author_id = ")
                            .push_bind(*author)
                            .push(" AND id < ")
                            .push_bind(before)
                            .push(" ORDER BY id DESC LIMIT ")
                            .push_bind(limit as i64)
                            .push(format!(") AS a{i}"));
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64);
                    let rows: Vec<(i64,)> = q.build_query_as().persistent(false).fetch_all(self.reader()).await?;
                    ids.extend(rows.into_iter().map(|r| r.0));
                }
                ids.sort_unstable_by(|a, b| b.cmp(a));
                ids.truncate(limit);
                Ok(ids)
            }

            async fn upsert_author(&self, id: i64, username: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO users (id, username, username_key) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(username)
                .bind(username.to_lowercase())
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn apply_events(
                &self,
                changes: &[Applied],
                config: &TimelineConfig,
                sink: Option<&dyn TimelineSink>,
            ) -> StoreResult<()> {
                // New posts fanned out to a sink only read the follow graph:
                // a read transaction, so creates need not wait for the writer.
                let reads_only = sink.is_some()
                    && changes.iter().all(|a| matches!(a.change, Change::PostCreated { .. }));
                let mut tx = if reads_only {
                    self.begin_read().await?
                } else {
                    self.begin_write().await?
                };
                let mut effects = sink.map(|_| EffectLog { effects: Vec::new() });
                // Consecutive creates are fanned out together.
                let mut created: Vec<(i64, i64)> = Vec::new();
                for applied in changes {
                    if let Change::PostCreated { post_id, author_id } = applied.change {
                        created.push((post_id, author_id));
                        continue;
                    }
                    if !created.is_empty() {
                        Self::fan_out_many_in(&mut tx, &created, config, effects.as_mut()).await?;
                        created.clear();
                    }
                    // Fan-out (inserts that ignore duplicates) and vote tallies (ordered
                    // by seq) are idempotent by themselves; the rest are deduplicated.
                    let consumer = match applied.change {
                        Change::UserRegistered { .. } | Change::UserDeactivated { .. } => Some("users"),
                        Change::Follow { .. } | Change::Unfollow { .. } => Some("graph"),
                        Change::PostCreated { .. } | Change::PostDeleted { .. } | Change::VoteChanged { .. } => None,
                        Change::Relation(_) => Some("relations"),
                    };
                    if let Some(consumer) = consumer
                        && !Self::first_time(&mut tx, consumer, applied.event_id).await?
                    {
                        continue;
                    }
                    match &applied.change {
                        Change::UserRegistered { id, username } => {
                            Self::user_registered_in(&mut tx, *id, username).await?
                        }
                        Change::UserDeactivated { id } => {
                            sqlx::query("UPDATE users SET active = FALSE WHERE id = $1")
                                .bind(id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Change::Follow { follower, followee } => {
                            Self::follow_in(&mut tx, *follower, *followee, config.backfill, effects.as_mut()).await?
                        }
                        Change::Unfollow { follower, followee } => {
                            Self::unfollow_in(&mut tx, *follower, *followee, config.cap, effects.as_mut()).await?
                        }
                        // Fanned out in bulk above.
                        Change::PostCreated { .. } => {}
                        Change::PostDeleted { post_id, author_id } => {
                            if let Some(log) = effects.as_mut() {
                                for reader in Self::readers_in(&mut tx, *author_id).await? {
                                    log.effects.push(TimelineEffect::Remove { reader, post_ids: vec![*post_id] });
                                }
                            }
                        }
                        Change::VoteChanged { post_id, upvotes, downvotes, seq, .. } => {
                            Self::vote_change_in(&mut tx, *post_id, *upvotes, *downvotes, *seq).await?
                        }
                        Change::Relation(rel) => {
                            // Newest event wins: a redelivered older one changes nothing.
                            rel.apply_query(applied.event_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                if !created.is_empty() {
                    Self::fan_out_many_in(&mut tx, &created, config, effects.as_mut()).await?;
                }
                if let (Some(sink), Some(log)) = (sink, effects) {
                    sink.apply(&log.effects).await.map_err(StoreError::Timelines)?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn posts_by_authors(&self, authors: &[i64], before: Option<i64>, limit: usize) -> StoreResult<Vec<Post>> {
                if authors.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::new(format!("SELECT {POST_COLUMNS} FROM posts WHERE id < "));
                q.push_bind(before.unwrap_or(i64::MAX)).push(" AND author_id IN (");
                let mut list = q.separated(", ");
                for id in authors {
                    list.push_bind(*id);
                }
                q.push(") ORDER BY id DESC LIMIT ").push_bind(limit as i64);
                Ok(q.build_query_as().persistent(false).fetch_all(self.reader()).await?)
            }

            async fn author_by_username(&self, username: &str) -> StoreResult<Option<Author>> {
                Ok(sqlx::query_as(
                    "SELECT id, username, active, followers_count FROM users WHERE username_key = $1",
                )
                .bind(username.trim().to_lowercase())
                .fetch_optional(self.reader())
                .await?)
            }

            async fn remember_account(&self, account: &$crate::store::Account) -> StoreResult<()> {
                let key = account.username.to_lowercase();
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM users WHERE username_key = $1 AND id <> $2")
                    .bind(&key)
                    .bind(account.id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO users (id, username, username_key, active) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET active = users.active AND excluded.active",
                )
                .bind(account.id)
                .bind(&account.username)
                .bind(&key)
                .bind(account.active)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn trim_timelines(&self, cap: usize, slack: usize) -> StoreResult<usize> {
                let over: Vec<(i64,)> = sqlx::query_as(
                    "SELECT user_id FROM home_timeline GROUP BY user_id HAVING COUNT(*) > $1",
                )
                .bind((cap + slack) as i64)
                .fetch_all(self.reader())
                .await?;
                let mut removed = 0;
                for (user,) in &over {
                    let mut tx = self.begin_write().await?;
                    let cutoff: Option<(i64,)> = sqlx::query_as(
                        "SELECT post_id FROM home_timeline WHERE user_id = $1
                         ORDER BY post_id DESC LIMIT 1 OFFSET $2",
                    )
                    .bind(user)
                    .bind(cap as i64 - 1)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((cutoff,)) = cutoff {
                        removed += sqlx::query("DELETE FROM home_timeline WHERE user_id = $1 AND post_id < $2")
                            .bind(user)
                            .bind(cutoff)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected() as usize;
                    }
                    tx.commit().await?;
                }
                Ok(removed)
            }

            async fn celebrities(&self, threshold: i64) -> StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE followers_count > $1")
                    .bind(threshold)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn followed_among(&self, user: i64, candidates: &[i64]) -> StoreResult<Vec<i64>> {
                if candidates.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::new("SELECT followee_id FROM follows WHERE follower_id = ");
                q.push_bind(user).push(" AND followee_id IN (");
                let mut list = q.separated(", ");
                for id in candidates {
                    list.push_bind(*id);
                }
                q.push(")");
                let rows: Vec<(i64,)> = q.build_query_as().persistent(false).fetch_all(self.reader()).await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn search_posts(
                &self,
                words: &[String],
                viewer: Option<i64>,
                limit: usize,
            ) -> StoreResult<Vec<Post>> {
                if words.is_empty() || limit == 0 {
                    return Ok(Vec::new());
                }
                Ok(super::search::$search::search_posts(self.reader(), words, viewer, limit).await?)
            }

            async fn search_tags(&self, prefix: &str, limit: usize) -> StoreResult<Vec<$crate::store::TagCount>> {
                if prefix.is_empty() || limit == 0 {
                    return Ok(Vec::new());
                }
                Ok(sqlx::query_as(super::search::$search::TAGS)
                    .bind(prefix)
                    .bind(super::search::tag_upper_bound(prefix))
                    .bind(limit as i64)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn hidden_from(&self, viewer: i64) -> StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as(rookery_kernel::relations::replica_sql::HIDDEN_FROM)
                    .bind(viewer)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            async fn blocked_either_way(&self, a: i64, b: i64) -> StoreResult<bool> {
                Ok(sqlx::query(rookery_kernel::relations::replica_sql::BLOCKED_EITHER_WAY)
                    .bind(a)
                    .bind(b)
                    .fetch_optional(self.reader())
                    .await?
                    .is_some())
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_post_store;

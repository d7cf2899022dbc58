//! The SQL both implementations share (written once; `$`-numbered parameters
//! work on SQLite and PostgreSQL alike). `$lock` is what a post row is read
//! with before its tallies change: `FOR UPDATE` on PostgreSQL, nothing on
//! SQLite, whose single writer already serializes every change.

macro_rules! sql_vote_store {
    ($store:ty, $conn:ty, $emit:path, $lock:literal, $commit_vote:ident, $json_ids:path) => {
        impl $store {
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

            async fn upsert_post_in(conn: &mut $conn, post: &PostFacts, deleted: bool) -> sqlx::Result<()> {
                // A deleted post stays deleted; an edit may change the title.
                sqlx::query(
                    "INSERT INTO posts (id, author_id, author, community, title, created_at, listed, deleted)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                       deleted = posts.deleted OR excluded.deleted",
                )
                .bind(post.id)
                .bind(post.author_id)
                .bind(&post.author)
                .bind(&post.community)
                .bind(&post.title)
                .bind(post.created_at)
                .bind(post.listed)
                .bind(deleted)
                .execute(conn)
                .await?;
                Ok(())
            }

            async fn upsert_account_in(conn: &mut $conn, account: &Account) -> sqlx::Result<()> {
                sqlx::query(rookery_kernel::directory::replica_sql::DELETE_STALE)
                    .bind(account.username.to_lowercase())
                    .bind(account.id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(rookery_kernel::directory::replica_sql::UPSERT)
                    .bind(account.id)
                    .bind(&account.username)
                    .bind(account.username.to_lowercase())
                    .bind(account.active)
                    .execute(conn)
                    .await?;
                Ok(())
            }

            async fn my_vote_in(conn: &mut $conn, user_id: i64, post_id: i64) -> sqlx::Result<Option<Direction>> {
                let row: Option<(i16,)> =
                    sqlx::query_as("SELECT direction FROM votes WHERE user_id = $1 AND post_id = $2")
                        .bind(user_id)
                        .bind(post_id)
                        .fetch_optional(conn)
                        .await?;
                Ok(row.and_then(|r| Direction::from_i16(r.0)))
            }

            /// A vote in a transaction of its own.
            async fn vote_alone(&self, user_id: i64, post_id: i64, direction: Option<Direction>) -> StoreResult<Tally> {
                let mut tx = self.begin_write().await?;
                let tally = self.vote_in(&mut tx, user_id, post_id, direction).await?;
                tx.commit().await?;
                Ok(tally)
            }

            /// One vote inside the caller's transaction; writes nothing when it
            /// changes nothing or the post is unknown (so a group commit needs
            /// no savepoint per vote).
            async fn vote_in(
                &self,
                tx: &mut $conn,
                user_id: i64,
                post_id: i64,
                direction: Option<Direction>,
            ) -> StoreResult<Tally> {
                let post: Option<(i64, String, Option<String>, i64, i64, bool)> = sqlx::query_as(concat!(
                    "SELECT author_id, author, community, upvotes, downvotes, deleted FROM posts WHERE id = $1",
                    $lock
                ))
                .bind(post_id)
                .fetch_optional(&mut *tx)
                .await?;
                let (author_id, author, community, mut upvotes, mut downvotes) = match post {
                    Some((a, name, c, u, d, false)) => (a, name, c, u, d),
                    _ => return Err(StoreError::NotFound),
                };
                if direction.is_some() && author_id != user_id {
                    let blocked: Option<(i32,)> =
                        sqlx::query_as(rookery_kernel::relations::replica_sql::BLOCKED_EITHER_WAY)
                            .bind(user_id)
                            .bind(author_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if blocked.is_some() {
                        return Err(StoreError::Blocked);
                    }
                }
                let before = Self::my_vote_in(&mut *tx, user_id, post_id).await?;
                if before == direction {
                    // Voting the same way twice changes nothing.
                    return Ok(Tally { post_id, upvotes, downvotes, my_vote: direction });
                }
                match direction {
                    Some(d) => {
                        sqlx::query(
                            "INSERT INTO votes (user_id, post_id, direction, vote_id) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (user_id, post_id) DO UPDATE
                             SET direction = excluded.direction, vote_id = excluded.vote_id",
                        )
                        .bind(user_id)
                        .bind(post_id)
                        .bind(d.as_i16())
                        .bind(self.ids.next())
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM votes WHERE user_id = $1 AND post_id = $2")
                            .bind(user_id)
                            .bind(post_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for (vote, sign) in [(before, -1), (direction, 1)] {
                    match vote {
                        Some(Direction::Up) => upvotes += sign,
                        Some(Direction::Down) => downvotes += sign,
                        None => {}
                    }
                }
                let (seq,): (i64,) = sqlx::query_as(
                    "UPDATE posts SET upvotes = $1, downvotes = $2, score = $3, seq = seq + 1
                     WHERE id = $4 RETURNING seq",
                )
                .bind(upvotes)
                .bind(downvotes)
                .bind(upvotes - downvotes)
                .bind(post_id)
                .fetch_one(&mut *tx)
                .await?;
                let event = crate::events::vote_changed(
                    &self.ids,
                    &crate::events::VoteChanged {
                        post_id,
                        author_id,
                        author,
                        community,
                        upvotes,
                        downvotes,
                        seq,
                        voter_id: user_id,
                        direction,
                        previous: before,
                    },
                );
                $emit(&mut *tx, &event).await?;
                Ok(Tally { post_id, upvotes, downvotes, my_vote: direction })
            }

            async fn poll_in(conn: &mut $conn, id: i64) -> sqlx::Result<Option<Poll>> {
                let head: Option<(i64, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT id, author, question, total_votes, created_at FROM polls WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some((id, author, question, total_votes, created_at)) = head else {
                    return Ok(None);
                };
                let options: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT text, votes FROM poll_options WHERE poll_id = $1 ORDER BY idx",
                )
                .bind(id)
                .fetch_all(conn)
                .await?;
                Ok(Some(Poll {
                    id,
                    author,
                    question,
                    options: options.into_iter().map(|(text, votes)| PollOption { text, votes }).collect(),
                    total_votes,
                    created_at,
                }))
            }
        }

        #[async_trait]
        impl VoteStore for $store {
            async fn apply_events(&self, changes: &[Applied]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for applied in changes {
                    // Upserts are idempotent by themselves; recording applied ids
                    // also keeps an old replayed edit from reviving a title.
                    if !Self::first_time(&mut tx, "posts", applied.event_id).await? {
                        continue;
                    }
                    match &applied.change {
                        Change::PostSeen(post) => Self::upsert_post_in(&mut tx, post, false).await?,
                        Change::PostDeleted(post) => Self::upsert_post_in(&mut tx, post, true).await?,
                        Change::Account(account) => Self::upsert_account_in(&mut tx, account).await?,
                        Change::Relation(r) => {
                            r.apply_query(applied.event_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn remember_post(&self, post: &PostFacts) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO posts (id, author_id, author, community, title, created_at, listed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(post.id)
                .bind(post.author_id)
                .bind(&post.author)
                .bind(&post.community)
                .bind(&post.title)
                .bind(post.created_at)
                .bind(post.listed)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn remember_account(&self, account: &Account) -> StoreResult<()> {
                let mut conn = self.writer().acquire().await?;
                Ok(Self::upsert_account_in(&mut conn, account).await?)
            }

            async fn account(&self, username: &str) -> StoreResult<Option<Account>> {
                let row: Option<(i64, String, bool)> = sqlx::query_as(
                    "SELECT id, username, active FROM accounts WHERE username_key = $1",
                )
                .bind(username.to_lowercase())
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(id, username, active)| Account { id, username, active }))
            }

            async fn post(&self, id: i64) -> StoreResult<Option<PostFacts>> {
                Ok(sqlx::query_as(
                    "SELECT id, author_id, author, community, title, created_at, listed FROM posts
                     WHERE id = $1 AND NOT deleted",
                )
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn vote(&self, user_id: i64, post_id: i64, direction: Option<Direction>) -> StoreResult<Tally> {
                let tally = self.$commit_vote(user_id, post_id, direction).await?;
                self.outbox.notify_one();
                Ok(tally)
            }

            async fn tally(&self, post_id: i64, viewer: Option<i64>) -> StoreResult<Option<Tally>> {
                let row: Option<(i64, i64, Option<i16>)> = sqlx::query_as(
                    "SELECT p.upvotes, p.downvotes, v.direction FROM posts p
                     LEFT JOIN votes v ON v.post_id = p.id AND v.user_id = $2
                     WHERE p.id = $1 AND NOT p.deleted",
                )
                .bind(post_id)
                .bind(viewer.unwrap_or(0))
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(upvotes, downvotes, mine)| Tally {
                    post_id,
                    upvotes,
                    downvotes,
                    my_vote: viewer.and(mine).and_then(Direction::from_i16),
                }))
            }

            async fn my_votes(&self, viewer: i64, post_ids: &[i64]) -> StoreResult<Vec<(i64, Direction)>> {
                if post_ids.is_empty() {
                    return Ok(Vec::new());
                }
                // Rows only where the viewer voted (a page usually has few):
                // each row is a hand-over from the database's thread.
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT v.post_id, v.direction FROM votes v JOIN posts p ON p.id = v.post_id
                         WHERE v.user_id = $1 AND v.post_id IN ({}) AND NOT p.deleted",
                        $json_ids("$2")
                    )
                });
                let ids = serde_json::to_string(post_ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let rows: Vec<(i64, i16)> = sqlx::query_as(&SQL)
                    .bind(viewer)
                    .bind(ids)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(post_id, direction)| Some((post_id, Direction::from_i16(direction)?)))
                    .collect())
            }

            async fn tallies(&self, post_ids: &[i64], viewer: Option<i64>) -> StoreResult<Vec<Tally>> {
                if post_ids.is_empty() {
                    return Ok(Vec::new());
                }
                // Posts by primary key, the viewer's votes by (user_id, post_id);
                // the ids as one JSON array, so the statement is prepared once.
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT p.id, p.upvotes, p.downvotes, v.direction FROM posts p
                         LEFT JOIN votes v ON v.post_id = p.id AND v.user_id = $1
                         WHERE NOT p.deleted AND p.id IN ({})",
                        $json_ids("$2")
                    )
                });
                let ids = serde_json::to_string(post_ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let rows: Vec<(i64, i64, i64, Option<i16>)> = sqlx::query_as(&SQL)
                    .bind(viewer.unwrap_or(0))
                    .bind(ids)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(post_id, upvotes, downvotes, mine)| Tally {
                        post_id,
                        upvotes,
                        downvotes,
                        my_vote: viewer.and(mine).and_then(Direction::from_i16),
                    })
                    .collect())
            }

            async fn top(&self, community: Option<&str>, limit: usize) -> StoreResult<Vec<Ranked>> {
                let columns = "id, score, upvotes, downvotes, title, community, author";
                let rows = match community {
                    Some(c) => sqlx::query_as(&format!(
                        "SELECT {columns} FROM posts WHERE listed AND NOT deleted AND community = $1
                         ORDER BY score DESC, id DESC LIMIT $2"
                    ))
                    .bind(c)
                    .bind(limit as i64)
                    .fetch_all(self.reader())
                    .await?,
                    None => sqlx::query_as(&format!(
                        "SELECT {columns} FROM posts WHERE listed AND NOT deleted
                         ORDER BY score DESC, id DESC LIMIT $1"
                    ))
                    .bind(limit as i64)
                    .fetch_all(self.reader())
                    .await?,
                };
                Ok(rows)
            }

            async fn scores(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut q = sqlx::QueryBuilder::new("SELECT id, score FROM posts WHERE NOT deleted AND id IN (");
                let mut list = q.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(")");
                // Text that varies with the id count stays out of the statement cache.
                Ok(q.build_query_as().persistent(false).fetch_all(self.reader()).await?)
            }

            async fn likes(&self, user_id: i64, before: Option<i64>, limit: usize) -> StoreResult<Vec<Like>> {
                Ok(sqlx::query_as(
                    "SELECT v.vote_id, v.post_id FROM votes v JOIN posts p ON p.id = v.post_id
                     WHERE v.user_id = $1 AND v.direction = 1 AND v.vote_id < $2 AND NOT p.deleted
                     ORDER BY v.vote_id DESC LIMIT $3",
                )
                .bind(user_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?)
            }

            fn polls(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn PollStore> {
                self
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }

        #[async_trait]
        impl PollStore for $store {
            async fn create_poll(&self, poll: NewPoll) -> StoreResult<Poll> {
                let id = self.ids.next();
                let now = now_ms();
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO polls (id, author_id, author, question, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(poll.author_id)
                .bind(&poll.author)
                .bind(&poll.question)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                for (idx, text) in poll.options.iter().enumerate() {
                    sqlx::query("INSERT INTO poll_options (poll_id, idx, text) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(idx as i64)
                        .bind(text)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Poll {
                    id,
                    author: poll.author,
                    question: poll.question,
                    options: poll.options.into_iter().map(|text| PollOption { text, votes: 0 }).collect(),
                    total_votes: 0,
                    created_at: now,
                })
            }

            async fn poll(&self, id: i64) -> StoreResult<Option<Poll>> {
                let mut conn = self.reader().acquire().await?;
                Ok(Self::poll_in(&mut conn, id).await?)
            }

            async fn poll_choice(&self, poll_id: i64, user_id: i64) -> StoreResult<Option<i64>> {
                // The primary key (poll_id, user_id).
                let row: Option<(i64,)> =
                    sqlx::query_as("SELECT choice FROM poll_votes WHERE poll_id = $1 AND user_id = $2")
                        .bind(poll_id)
                        .bind(user_id)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.map(|r| r.0))
            }

            async fn vote_in_poll(&self, poll_id: i64, user_id: i64, choice: i64) -> StoreResult<Poll> {
                let mut tx = self.begin_write().await?;
                let options: Option<(i64,)> =
                    sqlx::query_as("SELECT COUNT(*) FROM poll_options WHERE poll_id = $1")
                        .bind(poll_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match options {
                    Some((0,)) | None => return Err(StoreError::NotFound),
                    Some((n,)) if !(0..n).contains(&choice) => return Err(StoreError::ChoiceOutOfRange),
                    Some(_) => {}
                }
                let inserted = sqlx::query(
                    "INSERT INTO poll_votes (poll_id, user_id, choice) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(poll_id)
                .bind(user_id)
                .bind(choice)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Err(StoreError::AlreadyVoted);
                }
                sqlx::query("UPDATE poll_options SET votes = votes + 1 WHERE poll_id = $1 AND idx = $2")
                    .bind(poll_id)
                    .bind(choice)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE polls SET total_votes = total_votes + 1 WHERE id = $1")
                    .bind(poll_id)
                    .execute(&mut *tx)
                    .await?;
                let poll = Self::poll_in(&mut tx, poll_id).await?.ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(poll)
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_vote_store;

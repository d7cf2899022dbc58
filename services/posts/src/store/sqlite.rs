//! SQLite implementation of [`PostStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_many_sqlite, outbox_insert_sqlite};
use rookery_kernel::group_commit::{GroupCommit, GroupWriter};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{SqliteConnection, SqlitePool};

use super::sql_store::{
    MENTIONED_SQL_HEAD, POST_COLUMNS, mentions_from, sql_post_store, unique_violation,
};
use super::{
    Applied, Author, Change, EffectLog, HistoryEntry, HomeMerge, IdempotencyKey, JsonList,
    ListCursor, ListQuery, Mention, NewPost, Post, PostStore, StoreError, StoreResult, TagCount,
    TimelineEffect, TimelineSink,
};
use crate::domain::{PostBody, Sort, controversy, hot_rank, mention_candidates, tags as tags_of};
use crate::events::{self, TimelineConfig};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqlitePostStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
    /// Creates go through one writer task that commits them in groups.
    creates: Option<GroupCommit<SqlitePostStore>>,
}

pub struct CreateJob {
    new: NewPost,
    key: Option<IdempotencyKey>,
}

/// Creates waiting for the writer at most (back-pressure beyond that).
const CREATE_QUEUE: usize = 1024;
/// Creates committed together at most.
const GROUP_COMMIT: usize = 256;

impl SqlitePostStore {
    /// Starts the group-commit writer task (on the current Tokio runtime); it
    /// ends when the store is dropped.
    pub fn new(db: SqliteDb, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        let writer = Self {
            db: db.clone(),
            ids: ids.clone(),
            outbox: outbox.clone(),
            creates: None,
        };
        Self {
            db,
            ids,
            outbox,
            creates: Some(GroupCommit::start(writer, CREATE_QUEUE, GROUP_COMMIT)),
        }
    }

    async fn create_committed(
        &self,
        new: NewPost,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<(Post, bool)> {
        match &self.creates {
            Some(creates) => creates.submit(CreateJob { new, key }).await,
            None => {
                let mut tx = self.db.begin_write().await?;
                let created = self
                    .create_in(&mut tx, &new, key.as_ref(), now_ms())
                    .await?;
                tx.commit().await?;
                Ok(created)
            }
        }
    }

    fn reader(&self) -> &rookery_kernel::db::Readers {
        &self.db.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.db.writer
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.db.begin_write().await
    }

    /// A read transaction (one snapshot for several statements).
    async fn begin_read(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.db.snapshots.begin().await
    }
}

/// SQLite has one writer, so throughput is commits per second.
#[async_trait]
impl GroupWriter for SqlitePostStore {
    type Job = CreateJob;
    type Done = (Post, bool);
    type Refused = StoreError;

    /// Creates that arrive together share one transaction; plain posts go
    /// in with one statement, the rest each in a savepoint.
    async fn commit_group(
        &self,
        jobs: &[CreateJob],
    ) -> sqlx::Result<Vec<StoreResult<(Post, bool)>>> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut outcomes: Vec<Option<StoreResult<(Post, bool)>>> =
            jobs.iter().map(|_| None).collect();
        // Top-level posts (no parent, no original, no key) cannot be
        // refused: they go in with one statement for all, their tags with
        // one more and their mentions resolved with one query, and one
        // statement for their events.
        let top: Vec<usize> = (0..jobs.len())
            .filter(|&i| {
                let job = &jobs[i];
                job.key.is_none() && job.new.in_reply_to.is_none() && job.new.repost_of.is_none()
            })
            .collect();
        if !top.is_empty() {
            let bodies: Vec<&PostBody> = top.iter().map(|&i| &jobs[i].new.body).collect();
            let mentions = mentions_of_many(&mut tx, &bodies).await?;
            let posts: Vec<Post> = top
                .iter()
                .zip(mentions)
                .map(|(&i, mentions)| {
                    let mut post = plain_post(self.ids.next(), &jobs[i].new, now);
                    post.tags = JsonList(tags_of(&jobs[i].new.body));
                    post.mentions = JsonList(mentions);
                    post
                })
                .collect();
            insert_top_level_posts(&mut tx, &posts).await?;
            add_tags_of_many(&mut tx, &posts).await?;
            let created: Vec<_> = posts
                .iter()
                .map(|p| events::post_created(&self.ids, p))
                .collect();
            outbox_insert_many_sqlite(&mut tx, &created).await?;
            for (i, post) in top.into_iter().zip(posts) {
                outcomes[i] = Some(Ok((post, false)));
            }
        }
        // The rest each in a savepoint, so one refused (unknown parent,
        // duplicate repost) does not undo the others.
        for (job, outcome) in jobs.iter().zip(outcomes.iter_mut()) {
            if outcome.is_some() {
                continue;
            }
            let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
            match self
                .create_in(&mut savepoint, &job.new, job.key.as_ref(), now)
                .await
            {
                Ok(created) => {
                    savepoint.commit().await?;
                    *outcome = Some(Ok(created));
                }
                Err(StoreError::Database(e)) => return Err(e),
                Err(refused) => {
                    savepoint.rollback().await?;
                    *outcome = Some(Err(refused));
                }
            }
        }
        tx.commit().await?;
        Ok(outcomes.into_iter().flatten().collect())
    }
}

/// The stored row of a new top-level post (what `INSERT ... RETURNING` would give).
fn plain_post(id: i64, new: &NewPost, now: i64) -> Post {
    Post {
        id,
        author_id: new.author_id,
        author: new.author.clone(),
        text: new.body.text.clone(),
        title: new.body.title.clone(),
        community: new.body.community.clone(),
        url: new.body.url.clone(),
        created_at: now,
        edited_at: None,
        in_reply_to: None,
        repost_of: None,
        reply_count: 0,
        repost_count: 0,
        upvotes: 0,
        downvotes: 0,
        score: 0,
        hot: hot_rank(0, now),
        controversy: 0.0,
        tags: JsonList::default(),
        mentions: JsonList::default(),
        in_reply_to_author_id: None,
        repost_of_author_id: None,
        list_view: Default::default(),
    }
}

async fn insert_top_level_posts(conn: &mut SqliteConnection, posts: &[Post]) -> sqlx::Result<()> {
    // 11 bound values per row, well under SQLite's 32,766.
    for chunk in posts.chunks(1_000) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO posts (id, author_id, author, text, title, community, url, \
             created_at, hot, listed, tags, mentions) ",
        );
        q.push_values(chunk, |mut row, post| {
            row.push_bind(post.id)
                .push_bind(post.author_id)
                .push_bind(&post.author)
                .push_bind(&post.text)
                .push_bind(&post.title)
                .push_bind(&post.community)
                .push_bind(&post.url)
                .push_bind(post.created_at)
                .push_bind(post.hot)
                .push("TRUE")
                .push_bind(post.tags.to_json())
                .push_bind(post.mentions.to_json());
        });
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The active accounts each of `bodies` mentions, in order of appearance,
/// as each account spells its name: one query for all of them.
async fn mentions_of_many(
    conn: &mut SqliteConnection,
    bodies: &[&PostBody],
) -> sqlx::Result<Vec<Vec<Mention>>> {
    let candidates: Vec<Vec<String>> = bodies.iter().map(|b| mention_candidates(b)).collect();
    let mut keys: Vec<String> = candidates
        .iter()
        .flatten()
        .map(|name| name.to_lowercase())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut found: Vec<(i64, String, String)> = Vec::new();
    // One bound value per name (at most 10 a post).
    for chunk in keys.chunks(10_000) {
        let mut q = sqlx::QueryBuilder::new(MENTIONED_SQL_HEAD);
        let mut list = q.separated(", ");
        for key in chunk {
            list.push_bind(key);
        }
        q.push(")");
        let rows: Vec<(i64, String, String)> = q
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?;
        found.extend(rows);
    }
    Ok(candidates
        .iter()
        .map(|names| mentions_from(names, &found))
        .collect())
}

/// Indexes `posts` under their tags and counts them per tag: one statement
/// for the index rows and one for the counters (added up per tag, in name
/// order like every writer of them).
async fn add_tags_of_many(conn: &mut SqliteConnection, posts: &[Post]) -> sqlx::Result<()> {
    let rows: Vec<(&str, i64)> = posts
        .iter()
        .flat_map(|p| p.tags.iter().map(move |t| (t.as_str(), p.id)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut counts: std::collections::BTreeMap<&str, i64> = Default::default();
    for (tag, _) in &rows {
        *counts.entry(tag).or_default() += 1;
    }
    for chunk in rows.chunks(10_000) {
        let mut q = sqlx::QueryBuilder::new("INSERT INTO post_tags (tag, post_id) ");
        q.push_values(chunk, |mut row, (tag, post_id)| {
            row.push_bind(*tag).push_bind(*post_id);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let counts: Vec<(&str, i64)> = counts.into_iter().collect();
    for chunk in counts.chunks(10_000) {
        let mut q = sqlx::QueryBuilder::new("INSERT INTO tags (name, post_count) ");
        q.push_values(chunk, |mut row, (tag, count)| {
            row.push_bind(*tag).push_bind(*count);
        });
        q.push(
            " ON CONFLICT (name) DO UPDATE SET post_count = tags.post_count + excluded.post_count",
        );
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

impl SqlitePostStore {
    /// An `IN` list: SQLite has no arrays, and preparing in process is cheap.
    async fn select_posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Post>> {
        let mut q =
            sqlx::QueryBuilder::new(format!("SELECT {POST_COLUMNS} FROM posts WHERE id IN ("));
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(")");
        Ok(q.build_query_as()
            .persistent(false)
            .fetch_all(self.reader())
            .await?)
    }
}

sql_post_store!(
    SqlitePostStore,
    SqliteConnection,
    outbox_insert_sqlite,
    sqlite,
    rookery_kernel::db::sqlite_json_ids
);

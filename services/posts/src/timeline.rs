//! Home timelines in Redis (when `REDIS_URL` is set): one sorted set per
//! reader. Post ids do not fit a sorted-set score (a double) exactly, so every
//! member has score 0 and is the zero-padded id: lexicographic order is then
//! id order, and ranges and trimming work on it directly.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::store::{TimelineEffect, TimelineSink};

#[derive(Clone)]
pub struct RedisTimelines {
    conn: ConnectionManager,
    /// Key prefix, so several deployments (or tests) can share one Redis.
    prefix: String,
    cap: usize,
}

fn member(post_id: i64) -> String {
    format!("{post_id:019}")
}

impl RedisTimelines {
    pub async fn connect(url: &str, prefix: &str, cap: usize) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            cap,
        })
    }

    fn key(&self, user: i64) -> String {
        format!("{}home:{user}", self.prefix)
    }

    /// Applies fan-out, back-fill and removal effects in one pipeline.
    pub async fn apply(&self, effects: &[TimelineEffect]) -> redis::RedisResult<()> {
        if effects.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for effect in effects {
            match effect {
                TimelineEffect::Add { readers, post_ids } => {
                    for reader in readers {
                        let key = self.key(*reader);
                        let members: Vec<(i64, String)> =
                            post_ids.iter().map(|p| (0, member(*p))).collect();
                        pipe.zadd_multiple(&key, &members).ignore();
                        // Keep the newest `cap` (the highest ranks).
                        pipe.zremrangebyrank(&key, 0, -(self.cap as isize) - 1)
                            .ignore();
                    }
                }
                TimelineEffect::Remove { reader, post_ids } if !post_ids.is_empty() => {
                    let members: Vec<String> = post_ids.iter().map(|p| member(*p)).collect();
                    pipe.zrem(self.key(*reader), members).ignore();
                }
                TimelineEffect::Remove { .. } => {}
            }
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Up to `limit` post ids below `before`, newest first.
    pub async fn page(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> redis::RedisResult<Vec<i64>> {
        let max = match before {
            Some(b) => format!("({}", member(b)),
            None => "+".to_string(),
        };
        let mut conn = self.conn.clone();
        let members: Vec<String> = conn
            .zrevrangebylex_limit(self.key(user), max, "-", 0, limit as isize)
            .await?;
        Ok(members.iter().filter_map(|m| m.parse().ok()).collect())
    }
}

impl TimelineSink for RedisTimelines {
    fn apply<'a>(
        &'a self,
        effects: &'a [TimelineEffect],
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            RedisTimelines::apply(self, effects)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

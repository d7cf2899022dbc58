//! The SQL of post and tag search, per engine. The words of a query come
//! from [`crate::search::words`] (Unicode letters and digits only), so no
//! user input ever reaches a full-text query as syntax.

/// Matching posts ranked at most: the newest this many candidates are ranked
/// (a query of two common words matches most posts; ranking them all would
/// cost a scan of the whole index per request).
pub(crate) const CANDIDATES: i64 = 500;

/// Hides the posts of authors who block `$2` or whom `$2` blocks (no
/// viewer: `$2` is NULL and nothing is hidden). Two primary key probes.
const NOT_BLOCKED: &str = "NOT EXISTS (SELECT 1 FROM relations x
         WHERE x.user_id = $2 AND x.target_id = p.author_id AND x.kind = 1 AND x.active)
     AND NOT EXISTS (SELECT 1 FROM relations x
         WHERE x.user_id = p.author_id AND x.target_id = $2 AND x.kind = 1 AND x.active)";

/// `$1` the names' lower bound (the prefix), `$2` their upper bound, `$3` limit.
const TAGS: &str = "SELECT name, post_count, CAST(0 AS BIGINT) AS recent_count FROM (
        SELECT name, CAST(post_count AS BIGINT) AS post_count FROM tags
        WHERE name >= $1 AND name < $2 AND post_count > 0
        ORDER BY name LIMIT 1000
    ) c ORDER BY post_count DESC, name LIMIT $3";

/// The exclusive upper bound of the tag names starting with `prefix`: every
/// character of a tag sorts below U+007F.
pub(crate) fn tag_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{7f}")
}

fn columns(alias: &str) -> String {
    super::sql_store::POST_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) mod sqlite {
    /// An FTS5 query: each word a string (quotes doubled, though words have
    /// none), all of them required (juxtaposition is AND).
    pub(crate) fn query(words: &[String]) -> String {
        words
            .iter()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The newest [`super::CANDIDATES`] posts holding every word of the FTS5
    /// query `$1`, from authors not blocked either way by the viewer `$2`
    /// (the probes only when there is a viewer), as one JSON array of
    /// `[id, text, title]`: one row, where hundreds would each cross from
    /// SQLite's thread to the caller's.
    fn candidates_sql(viewer: bool) -> String {
        format!(
            "SELECT json_group_array(json_array(p.id, p.text, p.title)) FROM (
                SELECT rowid AS id FROM posts_fts WHERE posts_fts MATCH $1
                ORDER BY rowid DESC LIMIT {}
            ) c JOIN posts p ON p.id = c.id
            WHERE p.repost_of IS NULL{}",
            super::CANDIDATES,
            if viewer {
                format!(" AND {}", super::NOT_BLOCKED)
            } else {
                String::new()
            },
        )
    }

    static CANDIDATES_SQL: std::sync::LazyLock<[String; 2]> =
        std::sync::LazyLock::new(|| [candidates_sql(false), candidates_sql(true)]);

    /// The best `limit` matches, best first: candidates from the index,
    /// ranked in Rust ([`crate::search::Ranker`]); FTS5's own bm25 first
    /// counts every post holding each word, a pass over the words' whole
    /// index per query.
    pub(crate) async fn search_posts(
        pool: &rookery_kernel::db::Readers,
        words: &[String],
        viewer: Option<i64>,
        limit: usize,
    ) -> sqlx::Result<Vec<crate::store::Post>> {
        let sql = &CANDIDATES_SQL[usize::from(viewer.is_some())];
        let mut q = sqlx::query_as(sql).bind(query(words));
        if let Some(viewer) = viewer {
            q = q.bind(viewer);
        }
        let (json,): (String,) = q.fetch_one(pool).await?;
        let candidates: Vec<(i64, Option<String>, Option<String>)> =
            serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let best = crate::search::Ranker::new(words).best(&candidates, limit);
        if best.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::new(format!(
            "SELECT {} FROM posts WHERE id IN (",
            super::super::sql_store::POST_COLUMNS
        ));
        let mut list = q.separated(", ");
        for id in &best {
            list.push_bind(*id);
        }
        q.push(")");
        let mut posts: Vec<crate::store::Post> =
            q.build_query_as().persistent(false).fetch_all(pool).await?;
        posts.sort_by_key(|p| best.iter().position(|id| *id == p.id));
        Ok(posts)
    }

    pub(crate) const TAGS: &str = super::TAGS;
}

pub(crate) mod postgres {
    /// The words for `plainto_tsquery`: it ANDs their lexemes ('english'
    /// stemming; stop words drop out, and a query of only those matches nothing).
    pub(crate) fn query(words: &[String]) -> String {
        words.join(" ")
    }

    /// `$1` the words, `$2` viewer (or NULL), `$3` limit. The newest
    /// candidates come from the GIN index (rare words) or a backward scan of
    /// the primary key that stops at the cap (common words): the planner
    /// picks by the words' frequencies, so the query is planned for its
    /// words each time (see [`PERSISTENT`]).
    static POSTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH c AS MATERIALIZED (
                SELECT p.id, p.search FROM posts p
                WHERE p.search @@ plainto_tsquery('english', $1)
                ORDER BY p.id DESC LIMIT {}
            )
            SELECT {} FROM c JOIN posts p ON p.id = c.id
            WHERE p.repost_of IS NULL AND {}
            ORDER BY ts_rank(c.search, plainto_tsquery('english', $1)) DESC, c.id DESC LIMIT $3",
            super::CANDIDATES,
            super::columns("p"),
            super::NOT_BLOCKED,
        )
    });

    /// Not a cached prepared statement: a generic plan would guess the
    /// words' frequency (and, for common words, sort every match).
    pub(crate) async fn search_posts(
        pool: &sqlx::PgPool,
        words: &[String],
        viewer: Option<i64>,
        limit: usize,
    ) -> sqlx::Result<Vec<crate::store::Post>> {
        sqlx::query_as(&POSTS)
            .persistent(false)
            .bind(query(words))
            .bind(viewer)
            .bind(limit as i64)
            .fetch_all(pool)
            .await
    }

    /// Compared in the C collation (byte order, which the bounds assume),
    /// through the `tags_name_c` index.
    pub(crate) const TAGS: &str =
        "SELECT name, post_count, CAST(0 AS BIGINT) AS recent_count FROM (
            SELECT name, CAST(post_count AS BIGINT) AS post_count FROM tags
            WHERE name COLLATE \"C\" >= $1 AND name COLLATE \"C\" < $2 AND post_count > 0
            ORDER BY name COLLATE \"C\" LIMIT 1000
        ) c ORDER BY post_count DESC, name LIMIT $3";
}

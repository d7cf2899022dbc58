-- Posts. `listed` marks top-level originals (not replies, not reposts): the
-- posts of /posts and community listings. Rank columns are kept current by
-- vote.changed events; `hot` is Reddit's time-monotonic rank, set on every change.
CREATE TABLE posts (
    id           BIGINT PRIMARY KEY,
    author_id    BIGINT NOT NULL,
    author       TEXT    NOT NULL,
    text         TEXT,
    title        TEXT,
    community    TEXT,
    url          TEXT,
    created_at   BIGINT NOT NULL,
    edited_at    BIGINT,
    in_reply_to  BIGINT,
    repost_of    BIGINT,
    reply_count  BIGINT NOT NULL DEFAULT 0,
    repost_count BIGINT NOT NULL DEFAULT 0,
    upvotes      BIGINT NOT NULL DEFAULT 0,
    downvotes    BIGINT NOT NULL DEFAULT 0,
    score        BIGINT NOT NULL DEFAULT 0,
    hot          DOUBLE PRECISION    NOT NULL,
    controversy  DOUBLE PRECISION    NOT NULL DEFAULT 0,
    -- The vote.changed sequence last applied, so an older event never wins.
    vote_seq     BIGINT NOT NULL DEFAULT 0,
    listed       BOOLEAN NOT NULL
);
CREATE INDEX posts_listed_new ON posts (id) WHERE listed;
CREATE INDEX posts_listed_hot ON posts (hot, id) WHERE listed;
CREATE INDEX posts_listed_top ON posts (score, id) WHERE listed;
CREATE INDEX posts_listed_controversial ON posts (controversy, id) WHERE listed;
CREATE INDEX posts_community_new ON posts (community, id) WHERE listed AND community IS NOT NULL;
CREATE INDEX posts_community_hot ON posts (community, hot, id) WHERE listed AND community IS NOT NULL;
CREATE INDEX posts_community_top ON posts (community, score, id) WHERE listed AND community IS NOT NULL;
CREATE INDEX posts_community_controversial ON posts (community, controversy, id) WHERE listed AND community IS NOT NULL;
CREATE INDEX posts_by_author ON posts (author_id, id);
CREATE INDEX posts_replies ON posts (in_reply_to, id) WHERE in_reply_to IS NOT NULL;
CREATE UNIQUE INDEX posts_one_repost_per_user ON posts (author_id, repost_of) WHERE repost_of IS NOT NULL;
CREATE INDEX posts_reposts ON posts (repost_of) WHERE repost_of IS NOT NULL;

-- Earlier versions of edited posts; `edited_at` is when the version was replaced.
CREATE TABLE post_history (
    post_id   BIGINT NOT NULL,
    version   BIGINT NOT NULL,
    text      TEXT,
    title     TEXT,
    url       TEXT,
    edited_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, version)
);

-- Idempotency-Key of POST /posts: the first response, replayed for 24 h.
CREATE TABLE idempotency_keys (
    user_id    BIGINT NOT NULL,
    key        TEXT    NOT NULL,
    post_id    BIGINT NOT NULL,
    response   TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Replicas fed by the users service's events (never its database).
CREATE TABLE users (
    id              BIGINT PRIMARY KEY,
    username        TEXT    NOT NULL,
    username_key    TEXT    NOT NULL,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    followers_count BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE INDEX users_by_followers ON users (followers_count);

CREATE TABLE follows (
    follower_id BIGINT NOT NULL,
    followee_id BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_by_followee ON follows (followee_id, follower_id);

-- Home timelines, fanned out on write; a background task trims each to the cap.
-- Unfollow removal scans one user's <= 800 rows through the primary key, so
-- no author index is paid for on every fan-out insert.
CREATE TABLE home_timeline (
    user_id   BIGINT NOT NULL,
    post_id   BIGINT NOT NULL,
    author_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, post_id)
);

-- Events already applied, per consumer (consumers are idempotent).
CREATE TABLE processed_events (
    consumer TEXT    NOT NULL,
    event_id BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     BIGINT NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

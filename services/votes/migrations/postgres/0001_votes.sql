-- What the votes service keeps of each post (from post.* events, or asked of
-- the posts service on a miss), with the post's tallies.
CREATE TABLE posts (
    id         BIGINT PRIMARY KEY,
    author_id  BIGINT NOT NULL,
    author     TEXT    NOT NULL,
    community  TEXT,
    title      TEXT,
    created_at BIGINT NOT NULL,
    -- Top-level (not a reply or a repost): what top lists rank.
    listed     BOOLEAN NOT NULL DEFAULT TRUE,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    upvotes    BIGINT NOT NULL DEFAULT 0,
    downvotes  BIGINT NOT NULL DEFAULT 0,
    score      BIGINT NOT NULL DEFAULT 0,
    -- Bumped by every change of the tallies; vote.changed carries it so
    -- consumers never let an older event win.
    seq        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX posts_top ON posts (score, id) WHERE listed AND NOT deleted;
CREATE INDEX posts_community_top ON posts (community, score, id)
    WHERE listed AND NOT deleted AND community IS NOT NULL;

-- One vote per (user, post): +1 up, -1 down. vote_id (a fresh id at every
-- change) orders a user's likes, most recent first.
CREATE TABLE votes (
    user_id   BIGINT NOT NULL,
    post_id   BIGINT NOT NULL,
    direction SMALLINT NOT NULL CHECK (direction IN (-1, 1)),
    vote_id   BIGINT NOT NULL,
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX votes_likes ON votes (user_id, vote_id) WHERE direction = 1;

CREATE TABLE polls (
    id          BIGINT PRIMARY KEY,
    author_id   BIGINT NOT NULL,
    author      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    total_votes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE poll_options (
    poll_id BIGINT NOT NULL,
    idx     BIGINT NOT NULL,
    text    TEXT    NOT NULL,
    votes   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (poll_id, idx)
);
CREATE TABLE poll_votes (
    poll_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    choice  BIGINT NOT NULL,
    PRIMARY KEY (poll_id, user_id)
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

-- What the votes service keeps of each post (from post.* events, or asked of
-- the posts service on a miss), with the post's tallies.
CREATE TABLE posts (
    id         INTEGER PRIMARY KEY,
    author_id  INTEGER NOT NULL,
    author     TEXT    NOT NULL,
    community  TEXT,
    title      TEXT,
    created_at INTEGER NOT NULL,
    -- Top-level (not a reply or a repost): what top lists rank.
    listed     BOOLEAN NOT NULL DEFAULT TRUE,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    upvotes    INTEGER NOT NULL DEFAULT 0,
    downvotes  INTEGER NOT NULL DEFAULT 0,
    score      INTEGER NOT NULL DEFAULT 0,
    -- Bumped by every change of the tallies; vote.changed carries it so
    -- consumers never let an older event win.
    seq        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX posts_top ON posts (score, id) WHERE listed AND NOT deleted;
CREATE INDEX posts_community_top ON posts (community, score, id)
    WHERE listed AND NOT deleted AND community IS NOT NULL;

-- One vote per (user, post): +1 up, -1 down. vote_id (a fresh id at every
-- change) orders a user's likes, most recent first.
CREATE TABLE votes (
    user_id   INTEGER NOT NULL,
    post_id   INTEGER NOT NULL,
    direction SMALLINT NOT NULL CHECK (direction IN (-1, 1)),
    vote_id   INTEGER NOT NULL,
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX votes_likes ON votes (user_id, vote_id) WHERE direction = 1;

CREATE TABLE polls (
    id          INTEGER PRIMARY KEY,
    author_id   INTEGER NOT NULL,
    author      TEXT    NOT NULL,
    question    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    total_votes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE poll_options (
    poll_id INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    text    TEXT    NOT NULL,
    votes   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (poll_id, idx)
);
CREATE TABLE poll_votes (
    poll_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    choice  INTEGER NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);

-- Events already applied, per consumer (consumers are idempotent).
CREATE TABLE processed_events (
    consumer TEXT    NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     INTEGER NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

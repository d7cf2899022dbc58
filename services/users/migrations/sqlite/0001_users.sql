-- Accounts. Usernames and emails are unique case-insensitively through their
-- lower-cased keys; timestamps are Unix milliseconds.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT    NOT NULL,
    username_key    TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    bio             TEXT    NOT NULL DEFAULT '',
    karma           INTEGER NOT NULL DEFAULT 0,
    followers_count INTEGER NOT NULL DEFAULT 0,
    following_count INTEGER NOT NULL DEFAULT 0,
    -- Bumped when credentials change, so cached Basic credentials die at once.
    auth_version    INTEGER NOT NULL DEFAULT 0,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      INTEGER NOT NULL,
    deactivated_at  INTEGER
);
CREATE UNIQUE INDEX users_username_key_uniq ON users (username_key);
CREATE UNIQUE INDEX users_email_key_uniq ON users (email_key);

-- Follow ids are time-sortable, so "most recent follow first" is ORDER BY id DESC.
CREATE TABLE follows (
    id          INTEGER PRIMARY KEY,
    follower_id INTEGER NOT NULL REFERENCES users (id),
    followee_id INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    UNIQUE (follower_id, followee_id)
);
CREATE INDEX follows_by_followee ON follows (followee_id, id);
CREATE INDEX follows_by_follower ON follows (follower_id, id);

-- Bearer token sessions; a token is valid while its session is not revoked.
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed authentication counters per subject (`u:<username>` or `ip:<addr>`),
-- fixed windows; shared by every instance of the service.
CREATE TABLE auth_failures (
    subject      TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL
);

-- Transactional outbox (see rookery_kernel::events).
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     INTEGER NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

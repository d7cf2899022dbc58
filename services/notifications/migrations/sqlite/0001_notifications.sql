-- One row per notification. kind: 1 follow, 2 reply, 3 mention, 4 repost,
-- 5 like, 6 message. post_id is the post shown with it (reply: the reply;
-- mention: the mentioning post; repost and like: the recipient's post);
-- related_post_id the other post involved (reply: the parent; repost: the
-- repost itself), so deleting either removes the notification. object_id
-- makes it unique: the post for post kinds, the message id for messages,
-- 0 for follows (one per type, account and post).
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    kind            INTEGER NOT NULL,
    actor_id        INTEGER NOT NULL,
    post_id         INTEGER,
    related_post_id INTEGER,
    object_id       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX notifications_once ON notifications (user_id, kind, actor_id, object_id);
-- Newest first, all types or some.
CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_by_kind ON notifications (user_id, kind, id);
-- A deleted post's notifications go.
CREATE INDEX notifications_by_post ON notifications (post_id) WHERE post_id IS NOT NULL;
CREATE INDEX notifications_by_related ON notifications (related_post_id) WHERE related_post_id IS NOT NULL;

-- Per user: notifications with ids up to read_up_to are read.
CREATE TABLE read_marks (
    user_id    INTEGER PRIMARY KEY,
    read_up_to INTEGER NOT NULL
);

-- Blocks and mutes (rookery_kernel::relations), from the users service's events.
CREATE TABLE relations (
    user_id   INTEGER  NOT NULL,
    target_id INTEGER  NOT NULL,
    kind      SMALLINT NOT NULL,
    active    BOOLEAN  NOT NULL,
    event_id  INTEGER  NOT NULL,
    PRIMARY KEY (user_id, target_id, kind)
);
CREATE INDEX relations_by_target ON relations (target_id, user_id) WHERE active;

-- Events already applied (the consumer is idempotent).
CREATE TABLE processed_events (
    event_id INTEGER PRIMARY KEY
);

-- Kept for events of this service (none yet); its relay is wired like every service's.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     INTEGER NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- Full-text search of posts: a generated tsvector of text and title
-- ('english': stemming, stop words) with a GIN index. Reposts get none (they
-- carry their original's text, which is indexed once, with the original).
ALTER TABLE posts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN repost_of IS NULL
        THEN to_tsvector('english', COALESCE(title, '') || ' ' || COALESCE(text, ''))
    END
) STORED;
CREATE INDEX posts_search ON posts USING GIN (search);

-- Replica of blocks and mutes (rookery_kernel::relations), from the users
-- service's events; removals stay as inactive rows so older events never win.
CREATE TABLE relations (
    user_id   BIGINT   NOT NULL,
    target_id BIGINT   NOT NULL,
    kind      SMALLINT NOT NULL,
    active    BOOLEAN  NOT NULL,
    event_id  BIGINT   NOT NULL,
    PRIMARY KEY (user_id, target_id, kind)
);
CREATE INDEX relations_by_target ON relations (target_id, user_id) WHERE active;

-- Tags with their post counts; maintained by the tags migration and code
-- (0002_tags.sql). Created here too, with the same shape, so that search by
-- tag prefix works whichever lands first.
CREATE TABLE IF NOT EXISTS tags (
    name       TEXT PRIMARY KEY,
    post_count INTEGER NOT NULL DEFAULT 0
);
-- Prefix ranges compare in byte order, whatever the database's collation.
CREATE INDEX IF NOT EXISTS tags_name_c ON tags (name COLLATE "C");

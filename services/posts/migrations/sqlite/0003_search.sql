-- Full-text search of posts: an external-content FTS5 index on `posts`
-- (text and title), kept in step by triggers. Reposts are not indexed (they
-- carry their original's text, which is indexed once, with the original).
CREATE VIRTUAL TABLE posts_fts USING fts5(
    text, title,
    content = 'posts', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO posts_fts (rowid, text, title)
    SELECT id, text, title FROM posts WHERE repost_of IS NULL;
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts WHEN new.repost_of IS NULL BEGIN
    INSERT INTO posts_fts (rowid, text, title) VALUES (new.id, new.text, new.title);
END;
-- An external-content index forgets a row by being told the values it indexed.
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts WHEN old.repost_of IS NULL BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text, title) VALUES ('delete', old.id, old.text, old.title);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF text, title ON posts WHEN old.repost_of IS NULL BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text, title) VALUES ('delete', old.id, old.text, old.title);
    INSERT INTO posts_fts (rowid, text, title) VALUES (new.id, new.text, new.title);
END;

-- Replica of blocks and mutes (rookery_kernel::relations), from the users
-- service's events; removals stay as inactive rows so older events never win.
CREATE TABLE relations (
    user_id   INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    active    BOOLEAN NOT NULL,
    event_id  INTEGER NOT NULL,
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

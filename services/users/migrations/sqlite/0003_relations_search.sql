-- Blocks (kind 1) and mutes (kind 2) an account made, private to it. Ids are
-- time-sortable, so "most recent first" is ORDER BY id DESC.
CREATE TABLE user_relations (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    target_id  INTEGER NOT NULL REFERENCES users (id),
    kind       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, target_id, kind)
);
CREATE INDEX user_relations_list ON user_relations (user_id, kind, id);
-- "Who blocks me" (search results exclude them).
CREATE INDEX user_relations_by_target ON user_relations (target_id, kind, user_id);

-- Bio words of active accounts (external content: the text lives in users).
-- Triggers keep it in step with registration, bio changes and deactivation.
CREATE VIRTUAL TABLE users_bio_fts USING fts5(
    bio, content = 'users', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO users_bio_fts (rowid, bio) SELECT id, bio FROM users WHERE active;
CREATE TRIGGER users_bio_fts_insert AFTER INSERT ON users WHEN new.active BEGIN
    INSERT INTO users_bio_fts (rowid, bio) VALUES (new.id, new.bio);
END;
CREATE TRIGGER users_bio_fts_update AFTER UPDATE OF bio, active ON users BEGIN
    INSERT INTO users_bio_fts (users_bio_fts, rowid, bio)
        SELECT 'delete', old.id, old.bio WHERE old.active;
    INSERT INTO users_bio_fts (rowid, bio) SELECT new.id, new.bio WHERE new.active;
END;
CREATE TRIGGER users_bio_fts_delete AFTER DELETE ON users WHEN old.active BEGIN
    INSERT INTO users_bio_fts (users_bio_fts, rowid, bio) VALUES ('delete', old.id, old.bio);
END;

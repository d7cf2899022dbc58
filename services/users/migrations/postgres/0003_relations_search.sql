-- Blocks (kind 1) and mutes (kind 2) an account made, private to it. Ids are
-- time-sortable, so "most recent first" is ORDER BY id DESC.
CREATE TABLE user_relations (
    id         BIGINT   PRIMARY KEY,
    user_id    BIGINT   NOT NULL REFERENCES users (id),
    target_id  BIGINT   NOT NULL REFERENCES users (id),
    kind       SMALLINT NOT NULL,
    created_at BIGINT   NOT NULL,
    UNIQUE (user_id, target_id, kind)
);
CREATE INDEX user_relations_list ON user_relations (user_id, kind, id);
-- "Who blocks me" (search results exclude them).
CREATE INDEX user_relations_by_target ON user_relations (target_id, kind, user_id);

-- Bio words ('simple': no stemming, like the SQLite tokenizer) of active accounts.
ALTER TABLE users ADD COLUMN bio_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', bio)) STORED;
CREATE INDEX users_bio_tsv ON users USING GIN (bio_tsv) WHERE active;
-- Username prefix range scans in byte order, whatever the database collation.
CREATE INDEX users_username_key_c ON users ((username_key COLLATE "C")) WHERE active;

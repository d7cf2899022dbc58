-- Hashtags and mentions. A post's `tags` (["rust", ...]) and `mentions`
-- ([{"user_id", "username"}, ...]) are JSON text, read with the post (no join
-- per listed post). The author of the post replied to or reposted is kept
-- for the post.* events. Reposts carry no tags or mentions of their own.
ALTER TABLE posts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posts ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posts ADD COLUMN in_reply_to_author_id INTEGER;
ALTER TABLE posts ADD COLUMN repost_of_author_id INTEGER;

-- The tag index: GET /tags/{tag}/posts is one range of the key, newest first.
CREATE TABLE post_tags (
    tag     TEXT    NOT NULL,
    post_id INTEGER NOT NULL,
    PRIMARY KEY (tag, post_id)
) WITHOUT ROWID;
-- Trending reads the last 24 h: a range of post ids (time-sortable) with the
-- tag in the index, so it never touches older rows.
CREATE INDEX post_tags_recent ON post_tags (post_id, tag);

-- Posts per tag, kept in the transaction that adds or removes post_tags rows:
-- counting the index at read time would cost every post ever tagged, per tag
-- listed. A tag whose last post goes is removed.
CREATE TABLE tags (
    name       TEXT    PRIMARY KEY,
    post_count INTEGER NOT NULL
) WITHOUT ROWID;

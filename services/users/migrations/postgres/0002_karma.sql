-- Each post's share of its author's karma, as last applied from vote.changed:
-- the event with the highest seq wins, so replays and late arrivals change
-- nothing. A deleted post is frozen: the karma it earned stays, and tallies
-- that still arrive for it are ignored.
CREATE TABLE post_karma (
    post_id   BIGINT PRIMARY KEY,
    author_id BIGINT NOT NULL,
    score     BIGINT NOT NULL DEFAULT 0,
    seq       BIGINT NOT NULL DEFAULT 0,
    frozen    BOOLEAN NOT NULL DEFAULT FALSE
);

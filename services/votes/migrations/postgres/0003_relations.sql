-- Blocks and mutes, replicated from the users service's events: a vote on
-- the post of an account that blocks the voter, or that the voter blocks, is
-- refused. A removal keeps its row (inactive) so a replayed older event
-- never revives it (see rookery_kernel::relations).
CREATE TABLE relations (
    user_id   BIGINT   NOT NULL,
    target_id BIGINT   NOT NULL,
    kind      SMALLINT NOT NULL,
    active    BOOLEAN  NOT NULL,
    event_id  BIGINT   NOT NULL,
    PRIMARY KEY (user_id, target_id, kind)
);
CREATE INDEX relations_by_target ON relations (target_id, user_id) WHERE active;

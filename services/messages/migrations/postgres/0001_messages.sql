-- What the messages service keeps of accounts (from user.* events, or asked
-- of the users service on a miss): who can be messaged.
CREATE TABLE accounts (
    id           BIGINT  PRIMARY KEY,
    username     TEXT    NOT NULL,
    -- Lower-cased: usernames are unique case-insensitively.
    username_key TEXT    NOT NULL,
    active       BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE UNIQUE INDEX accounts_username_key ON accounts (username_key);

-- One row per message. Usernames are kept beside the ids (they never change)
-- so that listings need no join with accounts. quick_replies is a JSON array.
CREATE TABLE messages (
    id            BIGINT  PRIMARY KEY,
    sender_id     BIGINT  NOT NULL,
    sender        TEXT    NOT NULL,
    recipient_id  BIGINT  NOT NULL,
    recipient     TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    quick_replies TEXT    NOT NULL DEFAULT '[]',
    in_reply_to   BIGINT,
    created_at    BIGINT  NOT NULL
);
-- Replies of a message, oldest first.
CREATE INDEX messages_replies ON messages (in_reply_to, id) WHERE in_reply_to IS NOT NULL;

-- Each participant's copy of a message: the sender's in their sent box, the
-- recipient's in their inbox. Deleting removes only the caller's row; the
-- favorite flag is per participant. Every listing is a range scan of one
-- owner's rows, newest first.
CREATE TABLE mailbox (
    owner_id   BIGINT  NOT NULL,
    message_id BIGINT  NOT NULL,
    -- TRUE in the sender's copy (sent box), FALSE in the recipient's (inbox).
    sent       BOOLEAN NOT NULL,
    favorite   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (owner_id, message_id)
);
-- favorite is in the box index so that box listings read no table rows.
CREATE INDEX mailbox_box ON mailbox (owner_id, sent, message_id, favorite);
CREATE INDEX mailbox_favorites ON mailbox (owner_id, message_id, sent) WHERE favorite;

-- Kept for events of this service (none yet); its relay is wired like every service's.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     BIGINT  NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

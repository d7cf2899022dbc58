-- Accounts by username, for GET /users/{username}/likes: fed by user.*
-- events, or asked of the users service on a miss. Deactivation is final.
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY,
    username     TEXT    NOT NULL,
    username_key TEXT    NOT NULL UNIQUE,
    active       BOOLEAN NOT NULL DEFAULT TRUE
);

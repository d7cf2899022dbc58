-- OAuth applications (clients). Only the secret's SHA-256 is kept.
CREATE TABLE apps (
    client_id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    website TEXT,
    -- One URI per line, as registered.
    redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Authorization codes: the bearer token issued at consent waits here until
-- the client exchanges the code (once) or it expires (minutes).
CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    access_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

-- Tokens of the client_credentials grant: an app acting for no account.
CREATE TABLE app_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX app_tokens_by_app ON app_tokens (client_id);

-- Statuses posted with a poll: the post and the poll it carries.
CREATE TABLE status_polls (
    post_id BIGINT PRIMARY KEY NOT NULL,
    poll_id BIGINT NOT NULL
);

-- POST /api/v1/notifications/clear: notifications up to this id are gone
-- from the account's Mastodon view.
CREATE TABLE notification_clears (
    username_key TEXT PRIMARY KEY NOT NULL,
    up_to BIGINT NOT NULL
);

-- 2: usage readings and logins, keyed by namespace. A reading is a window
-- name and numbers; a login is a digest of the agent kind and the identity
-- (never the identity itself). No token ever goes here.
CREATE TABLE accounts_usage (
    namespace text NOT NULL,
    account text NOT NULL,
    window_name text NOT NULL,
    used_permille integer NOT NULL,
    resets_at bigint,
    seen_at bigint NOT NULL,
    host text NOT NULL,
    PRIMARY KEY (namespace, account, window_name)
);
CREATE TABLE accounts_identities (
    namespace text NOT NULL,
    account text NOT NULL,
    login text,
    seen_at bigint NOT NULL,
    PRIMARY KEY (namespace, account)
);

-- 1: leases, walls and last-lease times, each keyed by namespace. No
-- token, credential or config dir ever goes here.
CREATE TABLE accounts_leases (
    namespace text NOT NULL,
    worker text NOT NULL,
    account text NOT NULL,
    host text NOT NULL,
    holder_pid bigint NOT NULL,
    holder_start bigint,
    acquired_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (namespace, worker)
);
CREATE TABLE accounts_walls (
    namespace text NOT NULL,
    account text NOT NULL,
    since bigint NOT NULL,
    until bigint NOT NULL,
    reason text,
    PRIMARY KEY (namespace, account)
);
CREATE TABLE accounts_last_leased (
    namespace text NOT NULL,
    account text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (namespace, account)
);

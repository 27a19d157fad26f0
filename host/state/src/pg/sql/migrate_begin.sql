-- Start a migration: one migrator at a time across every host ($1: the
-- migration lock's key), the table of applied versions, and the newest.
-- $2, $3: the transaction's timeouts, as in lock.sql.
BEGIN;
SET LOCAL statement_timeout = $2;
SET LOCAL idle_in_transaction_session_timeout = $3;
SELECT pg_advisory_xact_lock($1);
CREATE TABLE IF NOT EXISTS accounts_schema (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
SELECT coalesce(max(version), 0) FROM accounts_schema;

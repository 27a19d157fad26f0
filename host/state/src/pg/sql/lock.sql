-- Open a change: the transaction's own timeouts (set here, not at startup,
-- so a pooler in transaction mode keeps them), the namespace's lock (held
-- to the commit), then the read, in a statement of its own so its snapshot
-- is taken once the lock is held and sees every change committed before.
-- $1: the lock's key text; $2: statement_timeout, $3:
-- idle_in_transaction_session_timeout, in milliseconds.
BEGIN;
SET LOCAL statement_timeout = $2;
SET LOCAL idle_in_transaction_session_timeout = $3;
SELECT pg_advisory_xact_lock(hashtextextended($1, 0));

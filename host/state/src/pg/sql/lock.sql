-- Open a change: the namespace's lock (held to the commit), then the read,
-- in a statement of its own so its snapshot is taken once the lock is held
-- and sees every change committed before.
-- $1: the lock's key text.
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended($1, 0));

-- Replace a namespace's leases with those in a JSON array.
-- $1: the namespace; $2: the rows, as JSON text.
DELETE FROM accounts_leases WHERE namespace = $1;
INSERT INTO accounts_leases
    SELECT $1, * FROM json_to_recordset($2::json) AS t(worker text, account text, host text,
        holder_pid bigint, holder_start bigint, acquired_at bigint, expires_at bigint);

-- Replace a namespace's last-lease times with those in a JSON array.
-- $1: the namespace; $2: the rows, as JSON text.
DELETE FROM accounts_last_leased WHERE namespace = $1;
INSERT INTO accounts_last_leased
    SELECT $1, * FROM json_to_recordset($2::json) AS t(account text, at bigint);

-- Replace a namespace's logins with those in a JSON array.
-- $1: the namespace; $2: the rows, as JSON text.
DELETE FROM accounts_identities WHERE namespace = $1;
INSERT INTO accounts_identities
    SELECT $1, * FROM json_to_recordset($2::json) AS t(account text, login text, seen_at bigint);

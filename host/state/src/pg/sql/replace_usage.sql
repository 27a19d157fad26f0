-- Replace a namespace's usage readings with those in a JSON array.
-- $1: the namespace; $2: the rows, as JSON text.
DELETE FROM accounts_usage WHERE namespace = $1;
INSERT INTO accounts_usage
    SELECT $1, * FROM json_to_recordset($2::json) AS t(account text, window_name text, used_permille integer,
        resets_at bigint, seen_at bigint, host text);

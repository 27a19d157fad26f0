-- Replace a namespace's walls with those in a JSON array.
-- $1: the namespace; $2: the rows, as JSON text.
DELETE FROM accounts_walls WHERE namespace = $1;
INSERT INTO accounts_walls
    SELECT $1, * FROM json_to_recordset($2::json) AS t(account text, since bigint, until bigint, reason text);

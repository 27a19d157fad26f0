-- A namespace read whole in one statement: the database's clock (epoch
-- seconds), then every row as one JSON document, each table in a fixed
-- order so that an unchanged table compares equal.
-- $1: the namespace.
SELECT extract(epoch FROM clock_timestamp())::float8, json_build_object(
    'leases', coalesce((SELECT json_agg(json_build_object('worker', worker, 'account', account, 'host', host,
        'holder_pid', holder_pid, 'holder_start', holder_start, 'acquired_at', acquired_at, 'expires_at', expires_at)
        ORDER BY acquired_at, worker COLLATE "C") FROM accounts_leases WHERE namespace = $1), '[]'),
    'walls', coalesce((SELECT json_agg(json_build_object('account', account, 'since', since, 'until', until,
        'reason', reason) ORDER BY account COLLATE "C") FROM accounts_walls WHERE namespace = $1), '[]'),
    'last_leased', coalesce((SELECT json_agg(json_build_object('account', account, 'at', at)
        ORDER BY account COLLATE "C") FROM accounts_last_leased WHERE namespace = $1), '[]'),
    'usage', coalesce((SELECT json_agg(json_build_object('account', account, 'window_name', window_name,
        'used_permille', used_permille, 'resets_at', resets_at, 'seen_at', seen_at, 'host', host)
        ORDER BY account COLLATE "C", window_name COLLATE "C") FROM accounts_usage WHERE namespace = $1), '[]'),
    'identities', coalesce((SELECT json_agg(json_build_object('account', account, 'login', login,
        'seen_at', seen_at) ORDER BY account COLLATE "C") FROM accounts_identities WHERE namespace = $1), '[]'))::text

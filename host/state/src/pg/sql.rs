//! The SQL the store sends, kept in `sql/*.sql` where SQL readers look for
//! it, and the one way values get into it.
//!
//! The store speaks the simple query protocol (several statements in one
//! round trip; the extended protocol takes two per statement), so values
//! are spliced in as literals. They can only be: a [`Literal`] is made by
//! its quoting constructors alone, and [`bind`] is the only way to put one
//! in a query. Placeholders are `$1`, `$2`, ... as in PostgreSQL's own
//! prepared statements, so a query reads the same either way.

/// Lock the namespace and start the change (`$1`: the lock's key text).
pub(super) const LOCK: &str = include_str!("sql/lock.sql");
/// Read a namespace whole (`$1`: the namespace).
pub(super) const READ: &str = include_str!("sql/read.sql");
/// Replace a namespace's rows of one table (`$1`: the namespace, `$2`: the
/// rows as JSON text).
pub(super) const REPLACE_LEASES: &str = include_str!("sql/replace_leases.sql");
pub(super) const REPLACE_WALLS: &str = include_str!("sql/replace_walls.sql");
pub(super) const REPLACE_LAST_LEASED: &str = include_str!("sql/replace_last_leased.sql");
pub(super) const REPLACE_USAGE: &str = include_str!("sql/replace_usage.sql");
pub(super) const REPLACE_IDENTITIES: &str = include_str!("sql/replace_identities.sql");

/// A value quoted for SQL.
pub(super) struct Literal(String);

impl Literal {
    /// A string constant in the escape form (`E'...'`, backslashes and
    /// quotes doubled), which reads the same whatever the server's
    /// `standard_conforming_strings` (nothing sets it: a pooler would not
    /// keep it).
    pub(super) fn text(text: &str) -> Literal {
        Literal(format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''")))
    }

    pub(super) fn int(value: i64) -> Literal {
        Literal(value.to_string())
    }
}

/// `template` with `$N` replaced by `values[N - 1]`, in one pass over the
/// template (a value is never scanned again, whatever it holds). `--`
/// comment lines are left out. A placeholder with no value is a bug in the
/// caller, caught by the tests: it panics.
pub(super) fn bind(template: &str, values: &[Literal]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|v| v.0.len()).sum::<usize>());
    for line in template.lines().filter(|l| !l.trim_start().starts_with("--")) {
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                out.push('$');
                rest = &rest[at + 1..];
                continue;
            }
            let n: usize = rest[at + 1..at + 1 + digits].parse().expect("ascii digits");
            let value = n.checked_sub(1).and_then(|i| values.get(i)).unwrap_or_else(|| panic!("no value for ${n}"));
            out.push_str(&value.0);
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_once_and_never_rescanned() {
        let sql = bind("-- $1 in a comment\nSELECT $1, $2, $ 3;", &[Literal::text("it's $2"), Literal::int(-7)]);
        assert_eq!(sql, "SELECT E'it''s $2', -7, $ 3;\n");
        assert_eq!(bind("$1", &[Literal::text(r"a\b")]), "E'a\\\\b'\n");
    }

    #[test]
    #[should_panic(expected = "no value for $3")]
    fn a_placeholder_without_a_value_is_a_bug() {
        bind("SELECT $3", &[Literal::int(1)]);
    }

    #[test]
    fn every_query_binds_all_its_placeholders() {
        for (sql, n) in [
            (LOCK, 3),
            (READ, 1),
            (REPLACE_LEASES, 2),
            (REPLACE_WALLS, 2),
            (REPLACE_LAST_LEASED, 2),
            (REPLACE_USAGE, 2),
            (REPLACE_IDENTITIES, 2),
        ] {
            let values: Vec<Literal> = (0..n).map(|i| Literal::int(i as i64)).collect();
            assert!(!bind(sql, &values).contains('$'), "{sql}");
        }
    }
}

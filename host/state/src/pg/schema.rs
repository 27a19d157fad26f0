//! The tables, created on first use and migrated in one transaction.
//!
//! Version N of the schema is `MIGRATIONS[..N]` applied in order; the
//! versions applied are rows of `accounts_schema`. A database at a version
//! newer than this binary knows is refused: an older `accounts` must not
//! write a state it does not understand.

use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

use super::connect::Timeouts;
use super::session::{Failure, Session};
use super::sql::{Literal, bind};

/// Serialises migrations of every `accounts` talking to one database
/// (first use by many hosts at once).
const MIGRATION_LOCK: i64 = 0x6163_636f_756e_7473; // "accounts"

/// Migration N (1-based) is `MIGRATIONS[N - 1]`, a file of its own in
/// `sql/`. Applied ones are never edited: a change is a new file.
const MIGRATIONS: &[&str] = &[include_str!("sql/migrate_001.sql"), include_str!("sql/migrate_002.sql")];

pub(super) const VERSION: i32 = MIGRATIONS.len() as i32;

/// Bring the schema up to [`VERSION`]; returns the database's clock (epoch
/// seconds) read on the way. One round trip when the schema is current.
pub(super) fn ensure(client: &Session, timeouts: Timeouts) -> Result<f64, String> {
    // The simple query protocol: one round trip (a prepared statement takes two).
    match client.simple_query(
        "SELECT coalesce(max(version), 0), extract(epoch FROM clock_timestamp())::float8 FROM accounts_schema",
    ) {
        Ok(replies) => {
            let row = replies.iter().find_map(|reply| match reply {
                SimpleQueryMessage::Row(row) => {
                    Some((row.get(0)?.parse::<i32>().ok()?, row.get(1)?.parse::<f64>().ok()?))
                }
                _ => None,
            });
            let Some((version, clock)) = row else {
                return Err("accounts_schema gave no version".into());
            };
            if version == VERSION {
                return Ok(clock);
            }
            check_not_newer(version)?;
        }
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => {}
        Err(e) => return Err(e.explain()),
    }
    migrate(client, timeouts).map_err(|e| format!("creating the tables: {}", e.explain()))?
}

fn check_not_newer(version: i32) -> Result<(), String> {
    if version > VERSION {
        return Err(format!(
            "its tables are at schema version {version}, newer than this accounts knows ({VERSION}): \
             another host runs a newer accounts; upgrade accounts on this host"
        ));
    }
    Ok(())
}

/// Apply the migrations not applied yet, in one transaction under the
/// migration lock. On a failure the caller drops the connection, which
/// rolls the transaction back.
fn migrate(client: &Session, timeouts: Timeouts) -> Result<Result<f64, String>, Failure> {
    let begin = bind(
        include_str!("sql/migrate_begin.sql"),
        &[
            Literal::int(MIGRATION_LOCK),
            Literal::int(timeouts.statement_ms as i64),
            Literal::int(timeouts.idle_in_transaction_ms as i64),
        ],
    );
    let replies = client.simple_query(&begin)?;
    let current = first_value(&replies).and_then(|v| v.parse::<i32>().ok()).unwrap_or(0);
    if let Err(e) = check_not_newer(current) {
        client.batch_execute("ROLLBACK")?;
        return Ok(Err(e));
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let applied = bind("INSERT INTO accounts_schema (version) VALUES ($1);", &[Literal::int(done as i64 + 1)]);
        client.batch_execute(&format!("{sql}\n{applied}"))?;
    }
    let replies = client.simple_query("SELECT extract(epoch FROM clock_timestamp())::float8; COMMIT")?;
    match first_value(&replies).and_then(|v| v.parse::<f64>().ok()) {
        Some(clock) => Ok(Ok(clock)),
        None => Ok(Err("the database gave no clock reading".into())),
    }
}

/// The first column of the last row in `replies`.
fn first_value(replies: &[SimpleQueryMessage]) -> Option<&str> {
    replies.iter().rev().find_map(|reply| match reply {
        SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    })
}

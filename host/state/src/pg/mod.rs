//! The shared backend: leases and walls of one roster's namespace in
//! PostgreSQL, for a fleet of hosts.
//!
//! Every change is the same read-modify-write as the file store's, made
//! serial per namespace by a transaction-scoped advisory lock: the pure
//! allocator needs the whole namespace (every lease, every wall), so row
//! locks would have to lock all of it anyway, and rows that do not exist
//! yet (a new lease) cannot be locked at all. The lock is taken in its own
//! statement, so the read after it sees every change committed before.
//!
//! The database's clock is the fleet's one clock: this host's offset from
//! it is measured on every round trip that reads it, and [`PgStore::now`]
//! applies it, so a host whose clock drifts neither steals live leases nor
//! lifts walls early.

mod connect;
mod schema;
mod session;
mod sql;

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

use self::session::{Failure, Session};
use self::sql::{Literal, bind};
use serde::{Deserialize, Serialize};

pub use connect::check_state_url;

use super::StateStore;
use super::StoreError;
use super::model::{IdentityRecord, Lease, State, UsageRecord, WallRecord};

type Result<T, E = StoreError> = std::result::Result<T, E>;
use super::StateConfig;
use crate::holder::Holder;

pub struct PgStore {
    target: connect::Target,
    namespace: String,
    /// Connected on open, and for one change: a connection is closed once
    /// its change is done (or failed), so a long `exec` holds none between
    /// renewals and a fleet of agents needs no connection each.
    client: RefCell<Option<Session>>,
    /// The database's clock minus this host's, in seconds.
    clock_offset: Cell<f64>,
}

/// One namespace's rows, as one JSON document (one round trip).
#[derive(Serialize, Deserialize, PartialEq, Eq, Clone, Default)]
struct Rows {
    leases: Vec<LeaseRow>,
    walls: Vec<WallRow>,
    last_leased: Vec<LastLeasedRow>,
    usage: Vec<UsageRow>,
    identities: Vec<IdentityRow>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
struct UsageRow {
    account: String,
    window_name: String,
    used_permille: u32,
    resets_at: Option<i64>,
    seen_at: i64,
    host: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
struct IdentityRow {
    account: String,
    login: Option<String>,
    seen_at: i64,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
struct LeaseRow {
    worker: String,
    account: String,
    host: String,
    holder_pid: i64,
    holder_start: Option<i64>,
    acquired_at: i64,
    expires_at: i64,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
struct WallRow {
    account: String,
    since: i64,
    until: i64,
    reason: Option<String>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
struct LastLeasedRow {
    account: String,
    at: i64,
}

impl PgStore {
    /// Connect now (so a bad URL or a down server fails before anything
    /// else), create or migrate the tables, and read the database's clock.
    pub fn open(url: &str, config: &StateConfig) -> Result<PgStore> {
        let target = connect::Target::new(
            url,
            Duration::from_millis(config.connect_timeout_ms),
            Duration::from_millis(config.statement_timeout_ms),
        )
        .map_err(|e| StoreError::Setup(format!("state database: {e}")))?;
        let store = PgStore {
            target,
            namespace: config.namespace.clone(),
            client: RefCell::new(None),
            clock_offset: Cell::new(0.0),
        };
        store.client()?;
        Ok(store)
    }

    /// Where the state is, for messages.
    pub fn describe(&self) -> String {
        format!("{} (namespace {})", self.target.server, self.namespace)
    }

    fn client(&self) -> Result<std::cell::RefMut<'_, Session>> {
        let mut slot = self.client.borrow_mut();
        if slot.as_ref().is_none_or(Session::is_closed) {
            *slot = None;
            let client = self.connect()?;
            let db_clock = schema::ensure(&client, self.target.timeouts).map_err(|e| self.failure("cannot use", &e))?;
            self.clock_offset.set(db_clock - local_clock());
            *slot = Some(client);
        }
        Ok(std::cell::RefMut::map(slot, |c| c.as_mut().expect("connected above")))
    }

    /// Dial, and try again while the server has no connection to spare
    /// (`too many clients`: a burst of hosts at once), up to the connect
    /// timeout.
    fn connect(&self) -> Result<Session> {
        let give_up = Instant::now() + self.target.connect_timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.target.connect() {
                Ok(client) => return Ok(client),
                Err(e) if e.code() == Some(&SqlState::TOO_MANY_CONNECTIONS) && Instant::now() + pause < give_up => {
                    // Jittered by the pid, so a burst does not retry in step.
                    std::thread::sleep(pause + Duration::from_millis(u64::from(std::process::id() % 17)));
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(e) => return Err(self.failure("cannot connect to", &e.explain())),
            }
        }
    }

    /// One line naming the server (never a password) and what failed.
    fn failure(&self, what: &str, detail: &str) -> StoreError {
        let detail = detail.lines().next().unwrap_or_default();
        StoreError::Failed(anyhow::anyhow!("{what} the state database {}: {detail}", self.target.server))
    }

    /// The change in one transaction, with the state before and after it;
    /// `Ok(Err(..))` is `change`'s own error.
    ///
    /// Two round trips: lock and read, then write and commit. The simple
    /// query protocol runs several statements in one round trip, where the
    /// extended one takes two per statement (prepare, then execute), so the
    /// values go in as literals (see [`sql`]).
    fn transaction<R, E: From<StoreError>>(
        &self,
        client: &Session,
        change: impl FnOnce(&mut State) -> Result<R, E>,
    ) -> Result<Result<Changed<R>, E>, Failure> {
        let namespace = || Literal::text(&self.namespace);
        let lock_key = Literal::text(&format!("accounts:{}", self.namespace));
        let timeouts = self.target.timeouts;
        let lock = bind(
            sql::LOCK,
            &[
                lock_key,
                Literal::int(timeouts.statement_ms as i64),
                Literal::int(timeouts.idle_in_transaction_ms as i64),
            ],
        );
        let replies = client.simple_query(&(lock + &bind(sql::READ, &[namespace()])))?;
        let read = replies.iter().rev().find_map(|reply| match reply {
            SimpleQueryMessage::Row(row) => Some((row.get(0)?.parse::<f64>().ok()?, row.get(1)?)),
            _ => None,
        });
        let Some((db_clock, rows)) = read else {
            return Ok(Err(self.failure("cannot read", "no rows came back").into()));
        };
        self.clock_offset.set(db_clock - local_clock());
        let before: Rows = match serde_json::from_str(rows) {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(self.failure("cannot read", &format!("unexpected rows ({e})")).into())),
        };
        let old = before.to_state();
        let mut state = old.clone();
        let out = match change(&mut state) {
            Ok(out) => out,
            Err(e) => {
                client.batch_execute("ROLLBACK")?;
                return Ok(Err(e));
            }
        };
        let after = Rows::from_state(&state);
        let mut write = String::new();
        for (changed, sql, rows) in [
            (before.leases != after.leases, sql::REPLACE_LEASES, json(&after.leases)),
            (before.walls != after.walls, sql::REPLACE_WALLS, json(&after.walls)),
            (before.last_leased != after.last_leased, sql::REPLACE_LAST_LEASED, json(&after.last_leased)),
            (before.usage != after.usage, sql::REPLACE_USAGE, json(&after.usage)),
            (before.identities != after.identities, sql::REPLACE_IDENTITIES, json(&after.identities)),
        ] {
            if changed {
                write += &bind(sql, &[namespace(), Literal::text(&rows)]);
            }
        }
        client.batch_execute(&(write + "COMMIT"))?;
        Ok(Ok(Changed { out, before: old, after: state }))
    }

    /// One change on a connection of its own, closed after it. On a
    /// failure the transaction was not committed, or its commit was not
    /// confirmed; either way it is whole or absent.
    fn run<R, E: From<StoreError>>(&self, change: impl FnOnce(&mut State) -> Result<R, E>) -> Result<Changed<R>, E> {
        let client = self.client()?;
        let result = self.transaction(&client, change);
        drop(client);
        *self.client.borrow_mut() = None;
        result.unwrap_or_else(|e| Err(self.failure("the change failed at", &e.explain()).into()))
    }
}

/// What a committed transaction did.
struct Changed<R> {
    out: R,
    before: State,
    after: State,
}

impl StateStore for PgStore {
    fn update<R, E: From<StoreError>>(&self, change: impl FnOnce(&mut State) -> Result<R, E>) -> Result<R, E> {
        self.run(change).map(|changed| changed.out)
    }

    /// Published after the commit: printing before it would leave an env
    /// on stdout when the commit then fails (a server killed in between).
    /// When publishing fails, the change is undone where nobody changed
    /// the same lease or wall since.
    fn update_and_publish<R, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut State) -> Result<R, E>,
        publish: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<R, E> {
        let changed = self.run(change)?;
        if let Err(e) = publish(&changed.out) {
            let undone = self.update(|state| {
                state.revert(&changed.before, &changed.after);
                Ok::<_, StoreError>(())
            });
            if let Err(undo) = undone {
                crate::notice::warn(format!("undoing the change that could not be shown: {undo}"));
            }
            return Err(e);
        }
        Ok(changed.out)
    }

    fn now(&self) -> i64 {
        (local_clock() + self.clock_offset.get()).floor() as i64
    }
}

fn local_clock() -> f64 {
    crate::clock::now_precise()
}

fn json<T: Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).expect("rows serialise")
}

impl Rows {
    fn to_state(&self) -> State {
        State {
            leases: self
                .leases
                .iter()
                .map(|l| Lease {
                    account: l.account.clone(),
                    worker: l.worker.clone(),
                    host: l.host.clone(),
                    holder: Holder { pid: l.holder_pid as u32, start: l.holder_start.map(|s| s as u64) },
                    acquired_at: l.acquired_at,
                    expires_at: l.expires_at,
                })
                .collect(),
            walls: self
                .walls
                .iter()
                .map(|w| WallRecord {
                    account: w.account.clone(),
                    until: w.until,
                    since: w.since,
                    reason: w.reason.clone(),
                })
                .collect(),
            last_leased: self.last_leased.iter().map(|l| (l.account.clone(), l.at)).collect(),
            usage: self
                .usage
                .iter()
                .map(|u| UsageRecord {
                    account: u.account.clone(),
                    window: u.window_name.clone(),
                    used_permille: u.used_permille,
                    resets_at: u.resets_at,
                    seen_at: u.seen_at,
                    host: u.host.clone(),
                })
                .collect(),
            identities: self
                .identities
                .iter()
                .map(|i| (i.account.clone(), IdentityRecord { login: i.login.clone(), seen_at: i.seen_at }))
                .collect(),
        }
    }

    /// In the order [`sql::READ`] returns them, so an unchanged table compares equal.
    fn from_state(state: &State) -> Rows {
        let mut leases: Vec<LeaseRow> = state
            .leases
            .iter()
            .map(|l| LeaseRow {
                worker: l.worker.clone(),
                account: l.account.clone(),
                host: l.host.clone(),
                holder_pid: l.holder.pid.into(),
                holder_start: l.holder.start.map(|s| s as i64),
                acquired_at: l.acquired_at,
                expires_at: l.expires_at,
            })
            .collect();
        leases.sort_by(|a, b| (a.acquired_at, &a.worker).cmp(&(b.acquired_at, &b.worker)));
        let mut walls: Vec<WallRow> = state
            .walls
            .iter()
            .map(|w| WallRow { account: w.account.clone(), since: w.since, until: w.until, reason: w.reason.clone() })
            .collect();
        walls.sort_by(|a, b| a.account.cmp(&b.account));
        let last_leased =
            state.last_leased.iter().map(|(account, &at)| LastLeasedRow { account: account.clone(), at }).collect();
        let mut usage: Vec<UsageRow> = state
            .usage
            .iter()
            .map(|u| UsageRow {
                account: u.account.clone(),
                window_name: u.window.clone(),
                used_permille: u.used_permille,
                resets_at: u.resets_at,
                seen_at: u.seen_at,
                host: u.host.clone(),
            })
            .collect();
        usage.sort_by(|a, b| (&a.account, &a.window_name).cmp(&(&b.account, &b.window_name)));
        let identities = state
            .identities
            .iter()
            .map(|(account, i)| IdentityRow { account: account.clone(), login: i.login.clone(), seen_at: i.seen_at })
            .collect();
        Rows { leases, walls, last_leased, usage, identities }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_the_state_in_read_order() {
        let rows = Rows {
            leases: vec![
                LeaseRow {
                    worker: "w1".into(),
                    account: "a".into(),
                    host: "h".into(),
                    holder_pid: 7,
                    holder_start: Some(99),
                    acquired_at: 1,
                    expires_at: 5,
                },
                LeaseRow {
                    worker: "w0".into(),
                    account: "b".into(),
                    host: "h".into(),
                    holder_pid: 8,
                    holder_start: None,
                    acquired_at: 2,
                    expires_at: 5,
                },
            ],
            walls: vec![WallRow { account: "a".into(), since: 1, until: 9, reason: Some("limit".into()) }],
            last_leased: vec![LastLeasedRow { account: "a".into(), at: 1 }],
            usage: vec![
                UsageRow {
                    account: "a".into(),
                    window_name: "5h".into(),
                    used_permille: 400,
                    resets_at: Some(9),
                    seen_at: 1,
                    host: "h".into(),
                },
                UsageRow {
                    account: "a".into(),
                    window_name: "7d".into(),
                    used_permille: 960,
                    resets_at: None,
                    seen_at: 2,
                    host: "g".into(),
                },
            ],
            identities: vec![IdentityRow { account: "a".into(), login: Some("0f".into()), seen_at: 1 }],
        };
        assert!(Rows::from_state(&rows.to_state()) == rows);
    }
}

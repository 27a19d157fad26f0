//! Leases and walls: the data (`model`), and where it is kept (a small
//! trait with two backends: local files, the embedded default, and
//! PostgreSQL, shared by a fleet of hosts).

// Private by default: an item is `pub` only when it is part of this
// crate's API, so the compiler sees dead code.
#![warn(unreachable_pub)]

// The leaf helpers, where the modules of this crate name them.
pub(crate) use accounts_util::{bounded, clock, holder, notice, private_dir, timefmt};

mod config;
mod error;
mod file;
mod lock_wait;
mod model;
mod pg;
mod slots;

/// Where the state is kept (the roster's `[state]`).
pub use config::StateConfig;
/// What can go wrong keeping it.
pub use error::StoreError;
/// The embedded default: files in a private state dir.
pub use file::FileStore;
/// Leases, walls, last-lease times, usage readings and logins: the whole
/// state of one roster.
pub use model::{IdentityRecord, Lease, State, UsageRecord, WallRecord};
/// The fleet's store in PostgreSQL, and the check of its URL.
pub use pg::{PgStore, check_state_url};

/// A place that keeps [`State`]. Every change is a read-modify-write under an
/// exclusive lock, so concurrent callers never lose each other's updates.
pub trait StateStore {
    /// Lock, read, let `change` edit the state, write it back if it changed,
    /// unlock. When `change` fails, nothing is written.
    fn update<R, E: From<StoreError>>(&self, change: impl FnOnce(&mut State) -> Result<R, E>) -> Result<R, E>;

    /// A change whose outcome must reach the caller (an env on stdout):
    /// `publish` runs where its failure still leaves the state as it was,
    /// so no lease is kept that nobody was told about.
    fn update_and_publish<R, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut State) -> Result<R, E>,
        publish: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<R, E>;

    /// [`StateStore::update`] for a change that cannot fail by itself.
    fn change<R>(&self, change: impl FnOnce(&mut State) -> R) -> Result<R, StoreError> {
        self.update(|state| Ok(change(state)))
    }

    /// The clock that leases and walls are measured by, in epoch seconds:
    /// this host's for the file store, the database's for a fleet.
    fn now(&self) -> i64;
}

/// The store a roster uses.
pub enum Store {
    File(FileStore),
    /// Boxed: a connection is large, and most calls use the file store.
    Postgres(Box<PgStore>),
}

impl StateStore for Store {
    fn update<R, E: From<StoreError>>(&self, change: impl FnOnce(&mut State) -> Result<R, E>) -> Result<R, E> {
        match self {
            Store::File(s) => s.update(change),
            Store::Postgres(s) => s.update(change),
        }
    }

    fn update_and_publish<R, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut State) -> Result<R, E>,
        publish: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<R, E> {
        match self {
            Store::File(s) => s.update_and_publish(change, publish),
            Store::Postgres(s) => s.update_and_publish(change, publish),
        }
    }

    fn now(&self) -> i64 {
        match self {
            Store::File(s) => s.now(),
            Store::Postgres(s) => s.now(),
        }
    }
}

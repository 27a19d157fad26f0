//! Leases and walls: the data (`model`), and where it is kept (a small
//! trait with a local file backend behind it).

mod file;
pub mod model;
mod slots;

pub use file::FileStore;
pub use model::{Lease, State, WallRecord};

use crate::error::Result;

/// A place that keeps [`State`]. Every change is a read-modify-write under an
/// exclusive lock, so concurrent callers never lose each other's updates.
pub trait StateStore {
    /// Lock, read, let `change` edit the state, write it back if it changed,
    /// unlock. When `change` fails, nothing is written.
    fn update<R>(&self, change: impl FnOnce(&mut State) -> Result<R>) -> Result<R>;
}

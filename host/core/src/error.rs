//! The error of the domain core, sorted by what the user can do about it
//! (fix a setting, wait for a seat, nothing). The binary turns each kind
//! into its exit code (`accounts::exit`); nothing here knows the numbers.

use crate::plugin::{PluginError, ResolveError};
use crate::roster::RosterError;
use crate::state::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments, or a problem the message explains how to fix.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Roster(#[from] RosterError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No seat is free; the message says why and until when.
    #[error("{message}")]
    NoSeat { message: String, json: serde_json::Value, first_reset: Option<i64> },
    /// `exec --rotate` gave up: every rotation allowed was used.
    #[error("{0}")]
    Exhausted(String),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for a usage error.
pub fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

//! The error type of the whole CLI and its exit codes:
//! - 2: the user must fix something (flags, roster, plugin setup);
//! - 75 (EX_TEMPFAIL): no seat free now, try again later;
//! - 3: `login` worked, but the account is logged in as the same user as
//!   another account of the roster (they share one quota);
//! - 1: anything else (I/O, a plugin call that failed).

use crate::plugin::{PluginError, ResolveError};
use crate::roster::RosterError;
use crate::state::StoreError;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_SAME_LOGIN: u8 = 3;
pub const EXIT_NO_SEAT: u8 = 75;

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

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Roster(_) | Error::Resolve(_) => EXIT_USAGE,
            Error::Plugin(e) if e.refused => EXIT_USAGE,
            Error::Store(StoreError::Setup(_)) => EXIT_USAGE,
            Error::Store(StoreError::Failed(_)) => EXIT_FAILURE,
            Error::NoSeat { .. } | Error::Exhausted(_) => EXIT_NO_SEAT,
            Error::Plugin(_) | Error::Other(_) => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for a usage error.
pub fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

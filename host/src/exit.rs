//! Exit codes: the one place that knows them. Every command returns an
//! [`ExitStatus`], every error is sorted into one here:
//! - 0: done;
//! - 1: anything else (I/O, a plugin call that failed);
//! - 2: the user must fix something (flags, roster, plugin setup);
//! - 3: `login` worked, but the account is logged in as the same user as
//!   another account of the roster (they share one quota);
//! - 75 (EX_TEMPFAIL): no seat free now, try again later;
//! - `exec`: the agent's own code (128 + N when a signal N ended it).

use crate::error::Error;
use crate::state::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
    Usage,
    SameLogin,
    NoSeat,
    /// The agent's exit code, passed on by `exec`.
    Agent(u8),
}

impl ExitStatus {
    /// What the user can do about `error`, as an exit status.
    pub fn of(error: &Error) -> ExitStatus {
        match error {
            Error::Usage(_) | Error::Roster(_) | Error::Resolve(_) => ExitStatus::Usage,
            Error::Plugin(e) if e.refused => ExitStatus::Usage,
            Error::Store(StoreError::Setup(_)) => ExitStatus::Usage,
            Error::Store(StoreError::Failed(_)) => ExitStatus::Failure,
            Error::NoSeat { .. } | Error::Exhausted(_) => ExitStatus::NoSeat,
            Error::Plugin(_) | Error::Other(_) => ExitStatus::Failure,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::SameLogin => 3,
            ExitStatus::NoSeat => 75,
            ExitStatus::Agent(code) => code,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_error_has_its_code() {
        assert_eq!(ExitStatus::of(&crate::error::usage("bad flag")).code(), 2);
        assert_eq!(ExitStatus::of(&Error::Exhausted("all walled".into())).code(), 75);
        assert_eq!(ExitStatus::of(&Error::Other(anyhow::anyhow!("disk full"))).code(), 1);
        let setup = Error::Store(StoreError::Setup("no such database".into()));
        assert_eq!(ExitStatus::of(&setup).code(), 2);
        assert_eq!(ExitStatus::Agent(143).code(), 143);
    }
}

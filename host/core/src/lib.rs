//! The domain core of `accounts`: what a roster says, which seat a worker
//! gets, the env it is launched with and how that env is quoted, where
//! tokens are kept, and the reports `status` and `health` print. It prints
//! nothing and knows no exit code: it returns [`error::Error`], and the
//! binary decides what each kind means to the user.
//!
//! The pure parts (`alloc`, `render`, `seats` over a `State`) do no I/O;
//! the rest reads and writes at its edges (the roster, token files).

// Private by default: an item is `pub` only when it is part of this
// crate's API, so the compiler sees dead code.
#![warn(unreachable_pub)]

// The crates below, where the modules of this crate name them.
pub(crate) use accounts_plugin_host as plugin;
pub(crate) use accounts_state as state;
pub(crate) use accounts_util::{atomic_file, bounded, holder, secret, timefmt, untrusted};

/// Seat choice: accounts, live leases, walls and `now` in; a seat out (pure).
pub mod alloc;
/// Directory bindings: a path or a repository's remote to an account or a kind.
pub mod bind;
/// Carrying a conversation's files to the next account's config dir.
pub mod carry;
/// Credential health: what each account can log in with, without a secret.
pub mod credentials;
/// The error of the core, by what the user can do about it.
pub mod error;
/// One account's launch env: its static token and its plugin's variables.
pub mod launch;
/// What the host learns from a plugin: logins and config-dir readings.
pub mod learn;
/// Where the roster, state, cache and plugins live (flag, env, default).
pub mod paths;
/// Env output formats and shell quoting (pure).
pub mod render;
/// The status report: accounts, seats, holders, walls, token sources.
pub mod report;
/// `roster.toml`: parsed and validated, errors with file:line:column.
pub mod roster;
/// Edits of `roster.toml` that keep the user's comments and layout.
pub mod roster_edit;
/// Seats over a roster: leases and walls in the stored state.
pub mod seats;
/// Reading an account's static token from where the roster says.
pub mod token;
/// Stored tokens (`enroll`, `forget`): where they live, written atomically.
pub mod token_store;
/// Usage readings, logins shared by twins, soft walls, headroom (pure).
pub mod usage;

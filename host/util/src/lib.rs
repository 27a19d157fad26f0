//! The leaf helpers every other part of `accounts` uses, with no knowledge
//! of rosters, plugins, stores or the CLI: the bottom layer of the host.

// Private by default: an item is `pub` only when it is part of this
// crate's API, so the compiler sees dead code.
#![warn(unreachable_pub)]

/// Files written whole: a temp file beside the target, fsynced, renamed.
pub mod atomic_file;
/// Reads with a size cap, and a clear error for what is not a regular file.
pub mod bounded;
/// The host's wall clock, read in one place (`ACCOUNTS_CLOCK_SKEW`).
pub mod clock;
/// Which process a lease lives as long as.
pub mod holder;
/// Every line `accounts` writes to stderr, escaped.
pub mod notice;
/// The one rule for directories that hold state, cache or logins.
pub mod private_dir;
/// A token, kept out of every output but the env handed to the agent.
pub mod secret;
/// Durations and instants as people write them, and as we show them.
pub mod timefmt;
/// Text from a plugin or an agent: masked and escaped before it is shown.
pub mod untrusted;

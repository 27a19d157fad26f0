//! `accounts`: a vendor-blind account switcher for AI coding agents. This
//! crate is the binary's: the commands (`cli`), the supervisor of `exec`,
//! the login sessions, and the one place that turns outcomes into exit
//! codes (`exit`). The domain lives in `accounts-core`, the plugin host in
//! `accounts-plugin-host`, the stores in `accounts-state`.

// The crates below, re-exported under the paths the host and its tests
// have always used (`accounts::roster`, `accounts::plugin`, ...).
pub use accounts_core::{
    alloc, bind, carry, credentials, error, launch, learn, paths, render, report, roster, roster_edit, seats, token,
    token_store, usage,
};
pub use accounts_plugin_host as plugin;
pub use accounts_state as state;
pub use accounts_util::{atomic_file, bounded, clock, holder, notice, private_dir, secret, timefmt, untrusted};

pub mod cli;
pub mod exec;
pub mod exit;
pub mod login;

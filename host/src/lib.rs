//! `accounts`: a vendor-blind account switcher for AI coding agents.
//!
//! Data flows one way: `cli` parses, `roster` validates the user's accounts,
//! `plugin` resolves an agent kind to a sandboxed WebAssembly component and
//! asks it for an env, `render` prints it. The host names no vendor: every
//! agent-specific fact lives in a plugin.

// The leaf helpers live in their own crate (host/util); re-exported here
// so the rest of the host names them as before.
pub use accounts_util::{atomic_file, bounded, clock, holder, notice, private_dir, secret, timefmt, untrusted};
// The stores: the local file store and the fleet's PostgreSQL (host/state).
pub use accounts_state as state;
// The plugin host: registry, runtime, sandbox, bindings (host/plugin-host).
pub use accounts_plugin_host as plugin;

pub mod alloc;
pub mod cli;
pub mod credentials;
pub mod error;
pub mod exec;
pub mod launch;
pub mod login;
pub mod paths;
pub mod render;
pub mod report;
pub mod roster;
pub mod roster_edit;
pub mod seats;
pub mod token;
pub mod token_store;

//! `accounts`: a vendor-blind account switcher for AI coding agents.
//!
//! Data flows one way: `cli` parses, `roster` validates the user's accounts,
//! `plugin` resolves an agent kind to a sandboxed WebAssembly component and
//! asks it for an env, `render` prints it. The host names no vendor: every
//! agent-specific fact lives in a plugin.

pub mod alloc;
pub mod atomic_file;
pub mod bounded;
pub mod cli;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod exec;
pub mod holder;
pub mod launch;
pub mod login;
pub mod notice;
pub mod paths;
pub mod plugin;
pub mod private_dir;
pub mod render;
pub mod report;
pub mod roster;
pub mod roster_edit;
pub mod seats;
pub mod secret;
pub mod state;
pub mod timefmt;
pub mod token;
pub mod token_store;
pub mod untrusted;

//! Plugins: where a kind's component comes from (registry), how it is
//! compiled and cached (runtime, cache), the contract versions it may speak
//! (bindings, converting into the host's own types in `spec`), the sandbox
//! a call runs in (sandbox, call thread), what a plugin may declare
//! and return (policy), and how a failure is worded (failure).

// Private by default: an item is `pub` only when it is part of this
// crate's API, so the compiler sees dead code.
#![warn(unreachable_pub)]

// The leaf helpers, where the modules of this crate name them.
pub(crate) use accounts_util::{atomic_file, bounded, clock, notice, private_dir, secret, timefmt, untrusted};

mod bindings;
mod cache;
mod call_thread;
/// `plugins check`: everything the host relies on, checked in the sandbox.
pub mod conformance;
mod engine_config;
mod failure;
/// The variables no plugin may set and why, the imports granted, the limits.
pub mod policy;
/// Where a kind's component comes from: the roster's pin, a built-in, the plugin dir.
pub mod registry;
mod runtime;
/// The sandbox a call runs in (WASI with nothing granted).
pub mod sandbox;
mod spec;

/// The contract versions this host accepts, oldest first.
pub use bindings::ACCEPTED_VERSIONS;
/// A kind resolved: where from, the bytes, their digest; or why not.
pub use registry::{Origin, PinnedPlugin, PluginSource, Registry, ResolveError};
/// A loaded plugin, its errors, and the engine that loads them.
pub use runtime::{Plugin, PluginError, Runtime};
/// What a plugin says and is asked, in the host's own types.
pub use spec::{
    AccountRequest, Conversation, ConversationQuery, CredentialStatus, LoginCommands, LoginState, Observed, Spec,
    UsageReading, Wall,
};

/// The plugins compiled into this binary by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

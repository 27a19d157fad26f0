//! Plugins: where a kind's component comes from (registry), how it is
//! compiled and cached (runtime, cache), the contract versions it may speak
//! (bindings, converting into the host's own types in `spec`), the sandbox
//! a call runs in (sandbox, call thread), what a plugin may declare
//! and return (policy), and how a failure is worded (failure).

// The leaf helpers, where the modules of this crate name them.
pub(crate) use accounts_util::{atomic_file, bounded, clock, notice, private_dir, secret, timefmt, untrusted};

mod bindings;
pub mod cache;
mod call_thread;
pub mod conformance;
pub mod engine_config;
mod failure;
pub mod policy;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod spec;

pub use bindings::ACCEPTED_VERSIONS;
pub use registry::{Origin, PinnedPlugin, PluginSource, Registry, ResolveError};
pub use runtime::{Plugin, PluginError, Runtime};
pub use spec::{AccountRequest, CredentialStatus, LoginCommands, LoginState, Spec, Wall};

/// The plugins compiled into this binary by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

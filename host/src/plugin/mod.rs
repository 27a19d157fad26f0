//! Plugins: where a kind's component comes from (registry), how it is
//! compiled and cached (runtime, cache), the sandbox a call runs in, and what
//! a plugin may declare and return (policy).

mod bindings;
pub mod cache;
mod call_thread;
pub mod policy;
pub mod registry;
pub mod runtime;
pub mod sandbox;

pub use registry::{Origin, PluginSource, Registry, ResolveError};
pub use runtime::{LaunchRequest, Plugin, PluginError, Runtime, Spec, Wall};

/// The plugins compiled into this binary by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

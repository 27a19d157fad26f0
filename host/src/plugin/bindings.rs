//! Host bindings, one module per frozen WIT version (the Zed extension-host
//! layout). A later `accounts:auth` version gets a `since_v0_2_0` beside this
//! one, and the runtime picks the module by the version a plugin exports.

/// Bindings for `accounts:auth@0.1.0` (`wit/account-auth.wit`).
pub mod since_v0_1_0 {
    wasmtime::component::bindgen!({ path: "../wit", world: "plugin" });

    pub use exports::accounts::auth::account_auth::{Account, AgentSpec};

    /// The interface name a 0.1.0 plugin exports.
    pub const INTERFACE: &str = "accounts:auth/account-auth@0.1.0";
}

/// The interface name without a version, to recognise other versions.
pub const INTERFACE_UNVERSIONED: &str = "accounts:auth/account-auth";

/// The versions of the contract this host accepts, for error messages.
pub const ACCEPTED_VERSIONS: &[&str] = &["0.1.0"];

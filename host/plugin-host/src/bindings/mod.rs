//! Host bindings, one module per frozen contract version (the Zed
//! extension-host layout): `since_v0_1_0` for `wit/v0.1.0`, `since_v0_2_0`
//! for `wit/v0.2.0`, `since_v0_3_0` for `wit/v0.3.0` (0.2.0 and 0.3.0 share
//! their calls through `since_v0_2_shared`). Each converts its generated types into the host's own
//! (`super::spec`), so nothing outside this module names a version, and a
//! 0.3.0 is a new file plus one arm in each `match` below.

/// `detect-wall`, the wall call of the contracts before 0.3.0 (0.3.0 has
/// `observe`), written once: expanded in a version module next to its
/// generated bindings, whose types have the same names in both.
macro_rules! detect_wall_call {
    () => {
        pub(super) fn detect_wall(
            p: &Plugin,
            store: &mut Store<SandboxState>,
            output: &str,
            now: i64,
            zone: &str,
        ) -> wasmtime::Result<Option<Wall>> {
            let wall = p.accounts_auth_account_auth().call_detect_wall(store, output, now, zone)?;
            Ok(wall.map(|w| Wall { resets_at: w.resets_at, matched: Untrusted::new(w.matched) }))
        }
    };
}

mod since_v0_1_0;
mod since_v0_2_0;
mod since_v0_2_shared;
mod since_v0_3_0;

use wasmtime::component::{Component, InstancePre, Linker, types::ComponentItem};
use wasmtime::{Engine, Store};

use super::sandbox::SandboxState;
use super::spec::{AccountRequest, Conversation, ConversationQuery, CredentialStatus, Observed, Spec, UsageReading};

/// The interface name without a version, to recognise other versions.
pub(crate) const INTERFACE_UNVERSIONED: &str = "accounts:auth/account-auth";

/// A contract version this host accepts. Every `match` on it (and on
/// [`Pre`] and [`Instance`], one variant per version) is exhaustive, so a
/// version added here fails to compile until each has its arm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Contract {
    V0_1,
    V0_2,
    V0_3,
}

impl Contract {
    /// Every version, oldest first: the one list the others derive from.
    pub(crate) const ALL: [Contract; 3] = [Contract::V0_1, Contract::V0_2, Contract::V0_3];

    /// `0.3.0`.
    pub(crate) const fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => since_v0_1_0::VERSION,
            Contract::V0_2 => since_v0_2_0::VERSION,
            Contract::V0_3 => since_v0_3_0::VERSION,
        }
    }

    /// The versioned interface name a plugin of this version exports.
    const fn interface(self) -> &'static str {
        match self {
            Contract::V0_1 => since_v0_1_0::INTERFACE,
            Contract::V0_2 => since_v0_2_0::INTERFACE,
            Contract::V0_3 => since_v0_3_0::INTERFACE,
        }
    }
}

/// The name of the call that looks at output in the contract `version`
/// (a spec's `contract`), for messages: `detect-wall` before 0.3.0.
pub(crate) fn observe_call(version: &str) -> &'static str {
    match Contract::ALL.into_iter().find(|c| c.version() == version) {
        Some(Contract::V0_1 | Contract::V0_2) => "detect-wall",
        Some(Contract::V0_3) | None => "observe",
    }
}

/// The contract versions this host accepts, oldest first.
pub const ACCEPTED_VERSIONS: [&str; Contract::ALL.len()] = {
    let mut versions = [""; Contract::ALL.len()];
    let mut i = 0;
    while i < versions.len() {
        versions[i] = Contract::ALL[i].version();
        i += 1;
    }
    versions
};

/// The interfaces the host itself provides to plugins (beyond WASI).
pub(crate) const HOST_INTERFACES: &[&str] = &[since_v0_2_0::TIME_ZONES, since_v0_3_0::TIME_ZONES];

/// A plugin ready to instantiate, in the version it exports.
#[derive(Clone)]
pub(crate) enum Pre {
    V0_1(since_v0_1_0::PluginPre<SandboxState>),
    V0_2(since_v0_2_0::PluginPre<SandboxState>),
    V0_3(since_v0_3_0::PluginPre<SandboxState>),
}

/// A live instance of a plugin.
pub(crate) enum Instance {
    V0_1(since_v0_1_0::Plugin),
    V0_2(since_v0_2_0::Plugin),
    V0_3(since_v0_3_0::Plugin),
}

/// Define the host's own imports (time zones) in `linker`.
pub(crate) fn link_host_imports(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    since_v0_2_0::link_host_imports(linker)?;
    since_v0_3_0::link_host_imports(linker)
}

/// The contract version `component` exports, or why it is not a plugin
/// this host accepts.
pub(crate) fn exported_version(engine: &Engine, component: &Component) -> Result<Contract, String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_owned())
        .collect();
    // The newest a component exports, should it export several.
    if let Some(contract) = Contract::ALL.into_iter().rev().find(|c| exports.iter().any(|e| e == c.interface())) {
        return Ok(contract);
    }
    let accepted = accepted_list();
    match exports.iter().find(|e| e.starts_with(INTERFACE_UNVERSIONED)) {
        Some(other) => {
            let version = other.rsplit('@').next().unwrap_or("?");
            Err(format!(
                "exports {INTERFACE_UNVERSIONED} version {version}, but this host accepts versions {accepted}; \
                 build the plugin against one of those, or upgrade accounts"
            ))
        }
        None => Err(format!(
            "does not export {INTERFACE_UNVERSIONED}; it is not an accounts plugin (this host accepts versions \
             {accepted})"
        )),
    }
}

impl Pre {
    /// Type-check a linked component against the contract `version`.
    pub(crate) fn new(pre: InstancePre<SandboxState>, contract: Contract) -> wasmtime::Result<Pre> {
        Ok(match contract {
            Contract::V0_1 => Pre::V0_1(since_v0_1_0::PluginPre::new(pre)?),
            Contract::V0_2 => Pre::V0_2(since_v0_2_0::PluginPre::new(pre)?),
            Contract::V0_3 => Pre::V0_3(since_v0_3_0::PluginPre::new(pre)?),
        })
    }

    pub(crate) fn instantiate(&self, store: &mut Store<SandboxState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::V0_1(pre) => Instance::V0_1(pre.instantiate(&mut *store)?),
            Pre::V0_2(pre) => Instance::V0_2(pre.instantiate(&mut *store)?),
            Pre::V0_3(pre) => Instance::V0_3(pre.instantiate(&mut *store)?),
        })
    }
}

impl Instance {
    pub(crate) fn spec(&self, store: &mut Store<SandboxState>) -> wasmtime::Result<Spec> {
        match self {
            Instance::V0_1(p) => since_v0_1_0::spec(p, store),
            Instance::V0_2(p) => since_v0_2_0::spec(p, store),
            Instance::V0_3(p) => since_v0_3_0::spec(p, store),
        }
    }

    /// `Err(reason)` when the plugin refuses the token.
    pub(crate) fn validate_token(
        &self,
        store: &mut Store<SandboxState>,
        token: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::V0_1(p) => since_v0_1_0::validate_token(p, store, token),
            Instance::V0_2(p) => since_v0_2_0::validate_token(p, store, token),
            Instance::V0_3(p) => since_v0_3_0::validate_token(p, store, token),
        }
    }

    pub(crate) fn launch_env(
        &self,
        store: &mut Store<SandboxState>,
        account: &AccountRequest,
    ) -> wasmtime::Result<Result<Vec<(String, String)>, String>> {
        match self {
            Instance::V0_1(p) => since_v0_1_0::launch_env(p, store, account),
            Instance::V0_2(p) => since_v0_2_0::launch_env(p, store, account),
            Instance::V0_3(p) => since_v0_3_0::launch_env(p, store, account),
        }
    }

    /// `None` for a contract without `credential-status`.
    pub(crate) fn credential_status(
        &self,
        store: &mut Store<SandboxState>,
        account: &AccountRequest,
    ) -> wasmtime::Result<Option<CredentialStatus>> {
        match self {
            Instance::V0_1(_) => Ok(None),
            Instance::V0_2(p) => since_v0_2_0::credential_status(p, store, account).map(Some),
            Instance::V0_3(p) => since_v0_3_0::credential_status(p, store, account).map(Some),
        }
    }

    /// The wall and the usage readings in `output`; before 0.3.0 a plugin
    /// reports only the wall.
    pub(crate) fn observe(
        &self,
        store: &mut Store<SandboxState>,
        output: &str,
        now: i64,
        zone: &str,
    ) -> wasmtime::Result<Observed> {
        let wall_only = |wall| Observed { wall, usage: Vec::new(), retrying: None };
        match self {
            Instance::V0_1(p) => since_v0_1_0::detect_wall(p, store, output, now, zone).map(wall_only),
            Instance::V0_2(p) => since_v0_2_0::detect_wall(p, store, output, now, zone).map(wall_only),
            Instance::V0_3(p) => since_v0_3_0::observe(p, store, output, now, zone),
        }
    }

    /// The readings the agent left in the account's config dir; none
    /// before 0.3.0.
    pub(crate) fn read_usage(
        &self,
        store: &mut Store<SandboxState>,
        account: &AccountRequest,
    ) -> wasmtime::Result<Vec<UsageReading>> {
        match self {
            Instance::V0_1(_) | Instance::V0_2(_) => Ok(Vec::new()),
            Instance::V0_3(p) => since_v0_3_0::read_usage(p, store, account),
        }
    }
}

impl Instance {
    /// `None` for a contract without conversations (before 0.3.0): such a
    /// plugin's agent restarts afresh at a rotation.
    pub(crate) fn find_conversation(
        &self,
        store: &mut Store<SandboxState>,
        account: &AccountRequest,
        query: &ConversationQuery,
    ) -> wasmtime::Result<Option<Conversation>> {
        match self {
            Instance::V0_1(_) | Instance::V0_2(_) => Ok(None),
            Instance::V0_3(p) => since_v0_3_0::find_conversation(p, store, account, query),
        }
    }

    /// `Err` (the reason) for a contract without conversations.
    pub(crate) fn resume_argv(
        &self,
        store: &mut Store<SandboxState>,
        argv: &[String],
        id: &str,
        prompt: &str,
    ) -> wasmtime::Result<Result<Vec<String>, String>> {
        match self {
            Instance::V0_1(_) | Instance::V0_2(_) => {
                Ok(Err("its contract (before 0.3.0) cannot resume a conversation".into()))
            }
            Instance::V0_3(p) => since_v0_3_0::resume_argv(p, store, argv, id, prompt),
        }
    }
}

/// "0.1.0, 0.2.0 and 0.3.0".
fn accepted_list() -> String {
    match ACCEPTED_VERSIONS.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A config dir the plugin is handed as a host path: UTF-8 only.
fn config_dir_str(account: &AccountRequest) -> wasmtime::Result<String> {
    account.config_dir.to_str().map(str::to_owned).ok_or_else(|| {
        wasmtime::format_err!("config dir {} is not valid UTF-8; use a UTF-8 path", account.config_dir.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frozen_contract_folder_is_a_version_we_accept() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
        let mut folders: Vec<String> = std::fs::read_dir(&wit)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix('v').map(str::to_owned))
            .collect();
        folders.sort();
        assert_eq!(folders, ACCEPTED_VERSIONS, "a wit/vX folder needs its Contract variant, and back");
        for contract in Contract::ALL {
            assert!(contract.interface().ends_with(&format!("@{}", contract.version())), "{contract:?}");
        }
    }
}

//! `accounts:auth@0.2.0` (`wit/v0.2.0`), converted to the host's types, and
//! the host's side of its `time-zones` import.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::config_dir_str;
use crate::sandbox::SandboxState;
use crate::spec::{AccountRequest, CredentialStatus, LoginCommands, LoginState, Spec, Wall};
use crate::untrusted::Untrusted;

wasmtime::component::bindgen!({ path: "../../wit/v0.2.0", world: "plugin" });

use self::accounts::auth::time_zones::{self, CivilTime};
use exports::accounts::auth::account_auth as api;

pub(super) const VERSION: &str = "0.2.0";
pub(super) const INTERFACE: &str = "accounts:auth/account-auth@0.2.0";
pub(super) const TIME_ZONES: &str = "accounts:auth/time-zones@0.2.0";

pub(super) fn link_host_imports(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    time_zones::add_to_linker::<SandboxState, HasSelf<SandboxState>>(linker, |state| state)
}

pub(super) fn spec(p: &Plugin, store: &mut Store<SandboxState>) -> wasmtime::Result<Spec> {
    let raw = p.accounts_auth_account_auth().call_spec(store)?;
    Ok(Spec {
        kind: raw.kind,
        label: raw.label,
        contract: VERSION.into(),
        config_dir_env: raw.config_dir_env,
        token_env: raw.token_env,
        token_file_name: raw.token_file_name,
        credential_file_name: raw.credential_file_name,
        token_prefixes: raw.token_prefixes,
        login: raw.login.map(|l| LoginCommands { interactive: l.interactive, headless: l.headless }),
        enroll_hint: raw.enroll_hint,
        env_keys: raw.env_keys,
        rotation_env: Vec::new(),
    })
}

super::since_v0_2_shared::since_v0_2_calls!();

detect_wall_call!();

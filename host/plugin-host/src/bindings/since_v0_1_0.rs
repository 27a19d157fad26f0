//! `accounts:auth@0.1.0` (`wit/v0.1.0`), converted to the host's types.

use wasmtime::Store;

use super::config_dir_str;
use crate::sandbox::SandboxState;
use crate::spec::{AccountRequest, Spec, Wall};
use crate::untrusted::Untrusted;

wasmtime::component::bindgen!({ path: "../../wit/v0.1.0", world: "plugin" });

use exports::accounts::auth::account_auth as api;

pub(super) const VERSION: &str = "0.1.0";
pub(super) const INTERFACE: &str = "accounts:auth/account-auth@0.1.0";

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
        token_prefixes: Some(raw.token_prefix).filter(|p| !p.is_empty()).into_iter().collect(),
        login: None,
        enroll_hint: raw.enroll_hint,
        env_keys: raw.env_keys,
        rotation_env: Vec::new(),
    })
}

/// 0.1.0 answers yes or no: a no comes with no reason (the host words it).
pub(super) fn validate_token(
    p: &Plugin,
    store: &mut Store<SandboxState>,
    token: &str,
) -> wasmtime::Result<Result<(), String>> {
    let valid = p.accounts_auth_account_auth().call_validate_token(store, token)?;
    Ok(if valid { Ok(()) } else { Err(String::new()) })
}

fn account(req: &AccountRequest) -> wasmtime::Result<api::Account> {
    Ok(api::Account {
        name: req.name.to_owned(),
        config_dir: config_dir_str(req)?,
        token: req.token.as_ref().map(|t| t.expose().to_owned()),
        now: req.now,
    })
}

pub(super) fn launch_env(
    p: &Plugin,
    store: &mut Store<SandboxState>,
    req: &AccountRequest,
) -> wasmtime::Result<Result<Vec<(String, String)>, String>> {
    p.accounts_auth_account_auth().call_launch_env(store, &account(req)?)
}

detect_wall_call!();

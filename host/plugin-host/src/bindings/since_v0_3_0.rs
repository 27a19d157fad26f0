//! `accounts:auth@0.3.0` (`wit/v0.3.0`), converted to the host's types, and
//! the host's side of its `time-zones` import.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::config_dir_str;
use crate::sandbox::SandboxState;
use crate::spec::{
    AccountRequest, Conversation, ConversationQuery, CredentialStatus, LoginCommands, LoginState, Observed, Spec,
    UsageReading, Wall,
};
use crate::untrusted::Untrusted;

wasmtime::component::bindgen!({ path: "../../wit/v0.3.0", world: "plugin" });

use self::accounts::auth::time_zones::{self, CivilTime};
use exports::accounts::auth::account_auth as api;

pub(super) const VERSION: &str = "0.3.0";
pub(super) const INTERFACE: &str = "accounts:auth/account-auth@0.3.0";
pub(super) const TIME_ZONES: &str = "accounts:auth/time-zones@0.3.0";

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
        rotation_env: raw.rotation_env,
    })
}

super::since_v0_2_shared::since_v0_2_calls!();

pub(super) fn find_conversation(
    p: &Plugin,
    store: &mut Store<SandboxState>,
    req: &AccountRequest,
    query: &ConversationQuery,
) -> wasmtime::Result<Option<Conversation>> {
    let query = api::ConversationQuery {
        id: query.id.clone(),
        cwd: query.cwd.clone(),
        since: query.since,
        output: query.output.clone(),
    };
    let found = p.accounts_auth_account_auth().call_find_conversation(store, &account(req)?, &query)?;
    Ok(found.map(|c| Conversation {
        id: Untrusted::new(c.id),
        files: c.files,
        cwd: c.cwd,
        bound_to: c.bound_to.map(Untrusted::new),
    }))
}

pub(super) fn resume_argv(
    p: &Plugin,
    store: &mut Store<SandboxState>,
    argv: &[String],
    id: &str,
    prompt: &str,
) -> wasmtime::Result<Result<Vec<String>, String>> {
    p.accounts_auth_account_auth().call_resume_argv(store, argv, id, prompt)
}

/// The wall and the readings in `output`: the newest wall when a plugin
/// reports several, the readings in the order given.
pub(super) fn observe(
    p: &Plugin,
    store: &mut Store<SandboxState>,
    output: &str,
    now: i64,
    zone: &str,
) -> wasmtime::Result<Observed> {
    let mut observed = Observed::default();
    for observation in p.accounts_auth_account_auth().call_observe(store, output, now, zone)? {
        match observation {
            api::Observation::Wall(w) => {
                observed.wall = Some(Wall { resets_at: w.resets_at, matched: Untrusted::new(w.matched) });
            }
            api::Observation::Usage(u) => observed.usage.push(reading(u)),
            api::Observation::Retrying(text) => observed.retrying = Some(Untrusted::new(text)),
        }
    }
    Ok(observed)
}

pub(super) fn read_usage(
    p: &Plugin,
    store: &mut Store<SandboxState>,
    req: &AccountRequest,
) -> wasmtime::Result<Vec<UsageReading>> {
    let found = p.accounts_auth_account_auth().call_read_usage(store, &account(req)?)?;
    Ok(found.into_iter().map(reading).collect())
}

fn reading(u: api::UsageReading) -> UsageReading {
    UsageReading { window: u.window, used: u.used, resets_at: u.resets_at }
}

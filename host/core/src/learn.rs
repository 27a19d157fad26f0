//! What the host learns from a plugin whenever it asks, kept in the state:
//! whose login each account is (`credential-status`'s identity), and the
//! usage readings the agent left in its config dir (`read-usage`). The
//! plugin is asked outside the state's lock where the caller can; the
//! answers are then kept in one change ([`keep_logins`], [`usage::record`]).

use crate::launch;
use crate::plugin::{Plugin, PluginError, UsageReading};
use crate::roster::{Account, Roster};
use crate::state::State;
use crate::usage;

/// One account's login as its plugin named it: `Some(None)` when it named
/// none; `None` when the plugin could not say (an error, contract 0.1.0).
pub type Login = Option<Option<String>>;

/// Ask the plugin whose login `account` is.
pub fn ask_login(plugin: &Plugin<'_>, account: &Account, now: i64) -> Login {
    let status = plugin.credential_status(&launch::request(account, None, now)).ok()??;
    Some(status.identity.map(|id| id.raw().to_owned()))
}

/// Keep the logins asked for: `(account name, login)`, unknown answers
/// left as they were. Returns whether anything changed.
pub fn keep_logins(state: &mut State, roster: &Roster, answers: &[(String, Login)], now: i64) -> bool {
    let mut changed = false;
    for (name, login) in answers {
        if let (Some(account), Some(identity)) = (roster.account(name), login) {
            changed |= usage::learn_identity(state, account, identity.as_deref(), now);
        }
    }
    changed
}

/// Ask about, and keep, the logins of `kind`'s accounts the state has never
/// asked about: a first launch learns them, every later one costs nothing.
/// Runs inside the caller's change (the plugin calls under its lock, only
/// the first time).
pub fn learn_unknown_logins(state: &mut State, roster: &Roster, plugin: &Plugin<'_>, kind: &str, now: i64) {
    // An account the plugin cannot say anything of (contract 0.1.0, a
    // failed call) is kept as naming no login, so it is not asked again at
    // every launch; `status` and `exec` ask again.
    let unknown: Vec<(String, Login)> = roster
        .accounts
        .iter()
        .filter(|a| a.agent == kind && !state.identities.contains_key(&a.name))
        .map(|a| (a.name.clone(), Some(ask_login(plugin, a, now).flatten())))
        .collect();
    keep_logins(state, roster, &unknown, now);
}

/// The logins of every account of `kind`, asked now (outside any lock).
pub fn ask_logins(roster: &Roster, plugin: &Plugin<'_>, kind: &str, now: i64) -> Vec<(String, Login)> {
    roster.accounts.iter().filter(|a| a.agent == kind).map(|a| (a.name.clone(), ask_login(plugin, a, now))).collect()
}

/// The readings the agent left in `account`'s config dir (none when there
/// is no config dir yet).
pub fn config_usage(plugin: &Plugin<'_>, account: &Account, now: i64) -> Result<Vec<UsageReading>, PluginError> {
    if !account.config_dir.is_dir() {
        return Ok(Vec::new());
    }
    plugin.read_usage(&launch::request(account, None, now))
}

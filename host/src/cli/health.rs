//! Gathering every account's credential health for `status` and `login`:
//! one plugin load per agent kind, one `credential-status` call per account,
//! each static token read and masked. A plugin that fails is reported on its
//! accounts' rows, never as a failed command.

use std::collections::BTreeMap;

use super::PluginHost;
use crate::bounded;
use crate::credentials::{self, Health, Login};
use crate::launch;
use crate::plugin::Plugin;
use crate::roster::{Account, Roster, TokenSource};
use crate::secret;

/// Each agent kind's plugin, or why it did not load (escaped).
pub struct Plugins<'r> {
    loaded: BTreeMap<String, Result<Plugin<'r>, String>>,
}

impl<'r> Plugins<'r> {
    /// Load the plugin of every kind the roster's accounts use.
    pub fn load(roster: &Roster, host: &'r PluginHost) -> Plugins<'r> {
        let mut loaded = BTreeMap::new();
        for account in &roster.accounts {
            if !loaded.contains_key(&account.agent) {
                let plugin = host.load(&account.agent).map_err(|e| e.to_string());
                loaded.insert(account.agent.clone(), plugin);
            }
        }
        Plugins { loaded }
    }

    pub fn get(&self, kind: &str) -> Option<&Plugin<'r>> {
        self.loaded.get(kind).and_then(|p| p.as_ref().ok())
    }

    /// Why `kind`'s plugin did not load.
    pub fn error(&self, kind: &str) -> String {
        match self.loaded.get(kind) {
            Some(Err(e)) => e.clone(),
            _ => format!("no plugin for {kind:?}"),
        }
    }
}

/// The login a health check found, as the state keeps it: `None` when the
/// plugin could not say.
pub fn login_of(health: &Health) -> crate::learn::Login {
    match &health.login {
        Login::Known(s) => Some(s.identity.as_ref().map(|i| i.raw().to_owned())),
        _ => None,
    }
}

/// Every account's health, in roster order, with same-login twins marked.
pub fn all(roster: &Roster, plugins: &Plugins<'_>, now: i64) -> Vec<Health> {
    let mut healths: Vec<Health> = roster.accounts.iter().map(|a| one(a, plugins, now)).collect();
    let identities = roster.accounts.iter().zip(&healths).map(|(a, h)| {
        let identity = match &h.login {
            Login::Known(s) => s.identity.as_ref().map(|i| i.raw()),
            _ => None,
        };
        (a.name.as_str(), a.agent.as_str(), identity)
    });
    let mut same = credentials::same_logins(identities);
    for (account, health) in roster.accounts.iter().zip(&mut healths) {
        health.same_login_as = same.remove(&account.name).unwrap_or_default();
    }
    healths
}

fn one(account: &Account, plugins: &Plugins<'_>, now: i64) -> Health {
    let plugin = plugins.get(&account.agent);
    let login = match plugin {
        None => Login::Error(plugins.error(&account.agent)),
        Some(plugin) => match plugin.credential_status(&launch::request(account, None, now)) {
            Ok(Some(status)) => Login::Known(status),
            Ok(None) => Login::Unknown,
            Err(e) => Login::Error(e.to_string()),
        },
    };
    let prefixes = plugin.map_or(&[][..], |p| p.spec().token_prefixes.as_slice());
    let token_file_name = plugin.and_then(|p| p.spec().token_file_name.as_deref());
    let (token_source, raw_token) = token(account, token_file_name);
    let token_problem = raw_token.as_deref().and_then(|t| crate::token::shape_problem(t.trim()));
    let token_masked = raw_token.map(|t| secret::mask(t.trim(), prefixes));
    Health { login, token_source, token_masked, token_problem, same_login_as: Vec::new() }
}

/// Where the static token comes from and the token as read (to be masked
/// at once), without failing: an unreadable source is shown as such.
fn token(account: &Account, token_file_name: Option<&str>) -> (Option<String>, Option<String>) {
    let read = |path: &std::path::Path| bounded::read_text(path, bounded::TOKEN_FILE_CAP).ok();
    match &account.token {
        TokenSource::File(path) => (Some(format!("token_file {}", path.display())), read(path)),
        TokenSource::Env(var) => (Some(format!("token_env {var}")), std::env::var(var).ok()),
        TokenSource::None => {
            let Some(path) = token_file_name.map(|name| account.config_dir.join(name)) else { return (None, None) };
            if std::fs::symlink_metadata(&path).is_err() {
                return (None, None);
            }
            (Some(format!("stored {}", path.display())), read(&path))
        }
    }
}

//! `accounts login`: the agent's own login, run inside the account's config
//! dir, then checked. A login counts only when both hold:
//! - it wrote something: a regular file in the config dir is new or changed
//!   ([`snapshot`]; symlinks and the host's own files do not count);
//! - the plugin's `credential-status` reads a live login there.
//!
//! Credentials are never copied: the agent writes its login into the
//! account's dir and refreshes it there.

pub mod events;
pub mod session;
pub mod snapshot;

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::plugin::{CredentialStatus, LoginState, Plugin};
use crate::render::LaunchEnv;
use crate::roster::{Account, TokenSource};

pub use crate::token_store::HOST_TOKEN_FILE;

/// The env a login runs with: the plugin's env for the account without a
/// token (its config-dir variable, its own per-account paths), and every
/// other variable the plugin declares removed, so an inherited key cannot
/// shadow the login the agent is about to write.
pub fn login_env(account: &Account, plugin: &Plugin<'_>, now: i64) -> Result<LaunchEnv> {
    let env = plugin.launch_env(&crate::launch::request(account, None, now))?;
    let unset = plugin.spec().env_keys.iter().filter(|k| !env.iter().any(|(n, _)| n == *k)).cloned().collect();
    Ok(LaunchEnv {
        account: account.name.clone(),
        agent: account.agent.clone(),
        env,
        unset,
        config_dir: account.config_dir.clone(),
    })
}

/// Files in the config dir the host itself writes (stored tokens), which a
/// login's changes must not be confused with.
pub fn host_files(account: &Account, token_file_name: Option<&str>) -> Vec<PathBuf> {
    let mut files = vec![account.config_dir.join(HOST_TOKEN_FILE)];
    files.extend(token_file_name.map(|name| account.config_dir.join(name)));
    if let TokenSource::File(path) = &account.token {
        files.push(path.clone());
    }
    files
}

/// Why a login does not count, one reason per failed check; empty when it
/// counts. `status` is `None` for a plugin that cannot read logins (0.1.0).
pub fn verify(dir: &Path, label: &str, changed: &[PathBuf], status: Option<&CredentialStatus>) -> Vec<String> {
    let mut failed = Vec::new();
    if changed.is_empty() {
        failed.push(format!("the login wrote no file in {} (symlinks and stored tokens do not count)", dir.display()));
    }
    match status.map(|s| s.state) {
        Some(LoginState::Live) => {}
        Some(state) => failed.push(format!(
            "{label} does not read a live login in {} (it reads: {})",
            dir.display(),
            match state {
                LoginState::Expired => "expired",
                _ => "no login",
            }
        )),
        None => failed.push(format!(
            "the {label} plugin implements contract 0.1.0, which cannot say whether a login is live; update it"
        )),
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: LoginState) -> CredentialStatus {
        CredentialStatus { state, expires_at: None, identity: None, plan: None }
    }

    #[test]
    fn both_checks_must_hold() {
        let dir = Path::new("/c");
        let wrote = [PathBuf::from("creds.json")];
        assert!(verify(dir, "K", &wrote, Some(&status(LoginState::Live))).is_empty());
        let nothing_written = verify(dir, "K", &[], Some(&status(LoginState::Live)));
        assert_eq!(nothing_written.len(), 1);
        assert!(nothing_written[0].contains("wrote no file in /c"), "{nothing_written:?}");
        let not_live = verify(dir, "K", &wrote, Some(&status(LoginState::Missing)));
        assert_eq!(not_live, ["K does not read a live login in /c (it reads: no login)"]);
        assert_eq!(verify(dir, "K", &[], Some(&status(LoginState::Expired))).len(), 2);
        assert!(verify(dir, "K", &wrote, None)[0].contains("0.1.0"));
    }
}

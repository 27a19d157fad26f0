//! Building one account's launch env: read its static token, make sure its
//! config dir exists, ask its plugin, and add the host's own variables.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result, usage};
use crate::plugin::{LaunchRequest, Plugin};
use crate::render::LaunchEnv;
use crate::roster::{Account, TokenSource};
use crate::secret::Secret;

/// Variables the host sets in every launch, so a wrapper can rotate later.
pub const ACCOUNT_VAR: &str = "ACCOUNTS_ACCOUNT";
pub const WORKER_VAR: &str = "ACCOUNTS_WORKER";

/// A launch env and the token inside it, if any (so callers can refuse to
/// print it to a terminal).
pub struct Launch {
    pub env: LaunchEnv,
    pub token: Option<Secret>,
}

/// Build the env for `account` through its plugin. `worker` is the lease
/// holder's worker id, when there is a lease.
pub fn launch_env(account: &Account, plugin: &Plugin<'_>, worker: Option<&str>, now: i64) -> Result<Launch> {
    let token = read_token(account, plugin)?;
    ensure_config_dir(&account.config_dir)?;
    let request = LaunchRequest {
        name: &account.name,
        config_dir: &account.config_dir,
        token: token.as_ref().map(|(t, _)| t.expose()),
        now,
    };
    let mut env = plugin.launch_env(&request)?;
    let unset = plugin.spec.env_keys.iter().filter(|k| !env.iter().any(|(n, _)| n == *k)).cloned().collect();
    env.push((ACCOUNT_VAR.to_owned(), account.name.clone()));
    if let Some(worker) = worker {
        env.push((WORKER_VAR.to_owned(), worker.to_owned()));
    }
    Ok(Launch {
        env: LaunchEnv { account: account.name.clone(), agent: account.agent.clone(), env, unset },
        token: token.map(|(t, _)| t),
    })
}

/// The account's static token and a description of its source.
pub fn read_token(account: &Account, plugin: &Plugin<'_>) -> Result<Option<(Secret, String)>> {
    let (raw, source) = match &account.token {
        TokenSource::File(path) => (read_token_file(account, path)?, format!("token_file {}", path.display())),
        TokenSource::Env(var) => match std::env::var(var) {
            Ok(v) => (v, format!("token_env {var}")),
            Err(_) => {
                return Err(usage(format!(
                    "account {:?}: token_env {var} is not set (or not UTF-8); export it, or remove token_env from the roster",
                    account.name
                )));
            }
        },
        TokenSource::None => {
            let Some(name) = &plugin.spec.token_file_name else {
                return Ok(None);
            };
            let path = account.config_dir.join(name);
            if !path.is_file() {
                return Ok(None);
            }
            (read_token_file(account, &path)?, path.display().to_string())
        }
    };
    let token = Secret::new(raw.trim().to_owned());
    if !plugin.validate_token(token.expose())? {
        let prefix = &plugin.spec.token_prefix;
        let expected = if prefix.is_empty() { String::new() } else { format!(" (expected {prefix}…)") };
        return Err(usage(format!(
            "account {:?}: the token from {source} is not a valid {} token{expected}; fix or remove it",
            account.name, plugin.spec.label
        )));
    }
    Ok(Some((token, source)))
}

fn read_token_file(account: &Account, path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "account {:?}: cannot read token file {}: {e}; fix the path or remove token_file",
            account.name,
            path.display()
        ))
    })
}

/// Agents create their config dir on first use, but we mount it into the
/// plugin first, so create it (0700: it will hold credentials) when missing.
fn ensure_config_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot create config dir {}: {e}", dir.display())))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

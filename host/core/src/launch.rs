//! Building one account's launch env: read its static token, make sure its
//! config dir exists, ask its plugin, and add the host's own variables.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use crate::credentials;
use crate::error::{Error, Result, usage};
use crate::plugin::{AccountRequest, Plugin};
use crate::render::LaunchEnv;
use crate::roster::Account;
use crate::secret::Secret;
use crate::token;

/// Variables the host sets in every launch, so a wrapper can rotate later.
pub const ACCOUNT_VAR: &str = "ACCOUNTS_ACCOUNT";
pub const WORKER_VAR: &str = "ACCOUNTS_WORKER";

/// A launch env, the token inside it, if any (so callers can refuse to
/// print it to a terminal), and a warning for the user, which the caller
/// prints: about the token's source (a file others can read), or that the
/// account has nothing to log in with.
pub struct Launch {
    pub env: LaunchEnv,
    pub token: Option<Secret>,
    pub warning: Option<String>,
}

/// Build the env for `account` through its plugin. `worker` is the lease
/// holder's worker id, when there is a lease.
pub fn launch_env(account: &Account, plugin: &Plugin<'_>, worker: Option<&str>, now: i64) -> Result<Launch> {
    let token = read_token(account, plugin)?;
    ensure_config_dir(account)?;
    let request = request(account, token.as_ref().map(|t| t.secret.clone()), now);
    let mut env = plugin.launch_env(&request)?;
    apply_roster_env(account, plugin, &mut env)?;
    let unset = plugin.spec().env_keys.iter().filter(|k| !env.iter().any(|(n, _)| n == *k)).cloned().collect();
    env.push((ACCOUNT_VAR.to_owned(), account.name.clone()));
    if let Some(worker) = worker {
        env.push((WORKER_VAR.to_owned(), worker.to_owned()));
    }
    Ok(Launch {
        env: LaunchEnv {
            account: account.name.clone(),
            agent: account.agent.clone(),
            env,
            unset,
            config_dir: account.config_dir.clone(),
        },
        warning: match &token {
            Some(token) => token.warning.clone(),
            None => credentials::missing(account, plugin.spec()).then(|| credentials::missing_note(account)),
        },
        token: token.map(|t| t.secret),
    })
}

/// The roster's `env` for `account` over the plugin's: set, and so not
/// cleared. Never the variables that carry the account itself (its config
/// dir, its token): those come from `config_dir` and the token source.
fn apply_roster_env(account: &Account, plugin: &Plugin<'_>, env: &mut Vec<(String, String)>) -> Result<()> {
    let spec = plugin.spec();
    for (name, value) in &account.env {
        if spec.config_dir_env.as_ref() == Some(name) || spec.token_env.as_ref() == Some(name) {
            return Err(usage(format!(
                "account {:?}: env sets {name}, which accounts sets from the account's {}; remove it from env",
                account.name,
                if spec.config_dir_env.as_ref() == Some(name) { "config_dir" } else { "token_file or token_env" }
            )));
        }
        env.retain(|(n, _)| n != name);
        env.push((name.clone(), value.clone()));
    }
    Ok(())
}

/// `launch` for a run the host rotates at walls: the plugin's
/// `rotation-env` on top (the agent's switches that would make it wait out
/// a limit itself), replacing any value of the same name.
pub fn for_rotation(mut launch: Launch, plugin: &Plugin<'_>) -> Launch {
    for (name, value) in &plugin.spec().rotation_env {
        launch.env.env.retain(|(n, _)| n != name);
        launch.env.env.push((name.clone(), value.clone()));
    }
    launch
}

/// The account's static token, checked by its plugin.
pub fn read_token(account: &Account, plugin: &Plugin<'_>) -> Result<Option<token::StaticToken>> {
    let spec = plugin.spec();
    let Some(token) = token::read(account, spec.token_file_name.as_deref())? else {
        return Ok(None);
    };
    if let Err(reason) = plugin.validate_token(&token.secret)? {
        // The plugin's reason, or (a plugin that gives none) the prefixes.
        let why = if reason.raw().is_empty() { spec.prefix_hint() } else { format!(": {reason}") };
        return Err(usage(format!(
            "account {:?}: the token from {} is not a valid {} token{why}; fix or remove it",
            account.name, token.source, spec.label
        )));
    }
    Ok(Some(token))
}

/// What the plugin is told about `account`.
pub fn request(account: &Account, token: Option<Secret>, now: i64) -> AccountRequest {
    AccountRequest { name: account.name.clone(), config_dir: account.config_dir.clone(), token, now }
}

/// Agents create their config dir on first use, but we mount it into the
/// plugin first, so create it (0700: it will hold credentials) when missing.
/// Anything else at that path is the user's to fix.
pub fn ensure_config_dir(account: &Account) -> Result<()> {
    let dir = &account.config_dir;
    let problem = match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(meta) if meta.is_symlink() => match std::fs::metadata(dir) {
            Ok(target) if target.is_dir() => return Ok(()),
            Ok(_) => "is a symlink to something that is not a directory",
            Err(_) => "is a dangling symlink",
        },
        Ok(_) => "is a file, not a directory",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
                Error::Other(anyhow::anyhow!(
                    "account {:?}: cannot create config dir {}: {e}",
                    account.name,
                    dir.display()
                ))
            })?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            return Ok(());
        }
        Err(e) => {
            return Err(Error::Other(anyhow::anyhow!(
                "account {:?}: cannot use config dir {}: {e}",
                account.name,
                dir.display()
            )));
        }
    };
    Err(usage(format!(
        "account {:?}: config_dir {} {problem}; point config_dir at the account's own directory (or remove what is there)",
        account.name,
        dir.display()
    )))
}

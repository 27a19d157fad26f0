//! Reading an account's static token from where the roster says it is (a
//! file, a variable, or the plugin's token file inside the config dir),
//! bounded and checked before any plugin sees it. The token is a
//! [`Secret`] from the moment it is read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::bounded;
use crate::error::{Result, usage};
use crate::roster::{Account, TokenSource};
use crate::secret::Secret;

/// Longest token accepted. Real tokens are at most a few KiB (a JWT);
/// anything longer is a wrong file, not a token.
pub const MAX_TOKEN_BYTES: usize = 16 << 10;

/// A static token, where it came from (`token_file PATH`, `token_env VAR`),
/// and a warning for the user when its file is readable by others (the
/// caller prints it: this crate writes to no terminal).
pub struct StaticToken {
    pub secret: Secret,
    pub source: String,
    pub warning: Option<String>,
}

/// The account's static token, trimmed, when it has one. `token_file_name`
/// is the plugin's token file inside the config dir, used when the roster
/// names no source. Errors say what is wrong and how to fix it, never the
/// token.
pub fn read(account: &Account, token_file_name: Option<&str>) -> Result<Option<StaticToken>> {
    let (raw, source, warning) = match &account.token {
        TokenSource::File(path) => (read_file(account, path)?, format!("token_file {}", path.display()), exposed(path)),
        TokenSource::Env(var) => match std::env::var(var) {
            Ok(v) => (v, format!("token_env {var}"), None),
            Err(_) => {
                return Err(usage(format!(
                    "account {:?}: token_env {var} is not set (or not UTF-8); export it, or remove token_env from the roster",
                    account.name
                )));
            }
        },
        TokenSource::None => {
            let Some(path) = token_file_name.map(|name| account.config_dir.join(name)) else {
                return Ok(None);
            };
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(None);
            }
            let source = path.display().to_string();
            (read_file(account, &path)?, source, exposed(&path))
        }
    };
    let trimmed = raw.trim();
    if trimmed.len() > MAX_TOKEN_BYTES {
        return Err(usage(format!(
            "account {:?}: the token from {source} is {} bytes, longer than any token ({} at most); \
             point it at the file that holds just the token",
            account.name,
            trimmed.len(),
            bounded::human(MAX_TOKEN_BYTES as u64)
        )));
    }
    if let Some(problem) = shape_problem(trimmed) {
        return Err(usage(format!("account {:?}: the token from {source} {problem}", account.name)));
    }
    Ok(Some(StaticToken { secret: Secret::new(trimmed.to_owned()), source, warning }))
}

/// What is wrong with the shape of a (trimmed) token, if anything. A second
/// line (two tokens pasted, a note under it) would reach the agent as part
/// of the token, and the agent would be refused.
pub fn shape_problem(trimmed: &str) -> Option<&'static str> {
    trimmed.chars().any(|c| c.is_whitespace() || c.is_control()).then_some(
        "has a line break, space or control character inside it; a token is one word: leave just the token there",
    )
}

/// Every static token the roster's accounts have that can be read, for
/// scrubbing text that may contain one. Unreadable sources are skipped.
pub fn all_known(accounts: &[Account], token_file_name: impl Fn(&Account) -> Option<String>) -> Vec<Secret> {
    accounts.iter().filter_map(|a| read(a, token_file_name(a).as_deref()).ok().flatten()).map(|t| t.secret).collect()
}

fn read_file(account: &Account, path: &Path) -> Result<String> {
    let text = bounded::read_text(path, bounded::TOKEN_FILE_CAP).map_err(|e| {
        usage(format!(
            "account {:?}: cannot read token file {}: {e}; fix the path or remove token_file",
            account.name,
            path.display()
        ))
    })?;
    Ok(text)
}

/// A warning when a token file is readable by group or others, as ssh
/// gives for private keys.
fn exposed(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "token file {} is readable by other users (mode {:o}); fix: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

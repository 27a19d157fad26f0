//! Reading an account's static token from where the roster says it is (a
//! file, a variable, or the plugin's token file inside the config dir),
//! bounded and checked before any plugin sees it. The token is a
//! [`Secret`] from the moment it is read.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::bounded;
use crate::error::{Result, usage};
use crate::roster::{Account, TokenSource};
use crate::secret::Secret;

/// Longest token accepted. Real tokens are at most a few KiB (a JWT);
/// anything longer is a wrong file, not a token.
pub const MAX_TOKEN_BYTES: usize = 16 << 10;

/// A static token and where it came from (`token_file PATH`, `token_env VAR`).
pub struct StaticToken {
    pub secret: Secret,
    pub source: String,
}

/// The account's static token, trimmed, when it has one. `token_file_name`
/// is the plugin's token file inside the config dir, used when the roster
/// names no source. Errors say what is wrong and how to fix it, never the
/// token.
pub fn read(account: &Account, token_file_name: Option<&str>) -> Result<Option<StaticToken>> {
    let (raw, source) = match &account.token {
        TokenSource::File(path) => (read_file(account, path)?, format!("token_file {}", path.display())),
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
            let Some(path) = token_file_name.map(|name| account.config_dir.join(name)) else {
                return Ok(None);
            };
            if std::fs::symlink_metadata(&path).is_err() {
                return Ok(None);
            }
            let source = path.display().to_string();
            (read_file(account, &path)?, source)
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
    Ok(Some(StaticToken { secret: Secret::new(trimmed.to_owned()), source }))
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
    warn_if_exposed(path);
    Ok(text)
}

/// Warn (once per file and call) when a token file is readable by group or
/// others, as ssh does for private keys.
fn warn_if_exposed(path: &Path) {
    static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let Ok(meta) = std::fs::metadata(path) else { return };
    if meta.permissions().mode() & 0o077 == 0 {
        return;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.insert(path.to_owned()) {
        crate::notice::warn(format!(
            "token file {} is readable by other users (mode {:o}); fix: chmod 600 {}",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        ));
    }
}

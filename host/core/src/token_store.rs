//! Stored tokens (`enroll`, `forget`): where an account's token is kept,
//! what a token must look like before it is kept, and writing it so that
//! the file holds the old token or the new one, readable by its owner only.

use std::path::{Path, PathBuf};

use crate::roster::{Account, TokenSource};
use crate::secret::Secret;
use crate::token::MAX_TOKEN_BYTES;

/// The token file `enroll` writes into a config dir when neither the roster
/// nor the plugin names one.
pub const HOST_TOKEN_FILE: &str = ".accounts-token";

/// Where `enroll` keeps an account's token.
#[derive(Debug, PartialEq, Eq)]
pub enum Place {
    /// The roster's `token_file`.
    RosterFile(PathBuf),
    /// The plugin's token file inside the config dir.
    PluginFile(PathBuf),
    /// Neither names one: this file in the config dir, written into the
    /// roster as the account's `token_file`.
    NewFile(PathBuf),
}

impl Place {
    pub fn path(&self) -> &Path {
        match self {
            Place::RosterFile(p) | Place::PluginFile(p) | Place::NewFile(p) => p,
        }
    }
}

/// Where the account's token goes; an error for an account whose token
/// comes from a variable (there is nothing to store).
pub fn place(account: &Account, token_file_name: Option<&str>) -> Result<Place, String> {
    match &account.token {
        TokenSource::File(path) => Ok(Place::RosterFile(path.clone())),
        TokenSource::Env(var) => Err(format!(
            "account {:?} takes its token from ${var} (token_env); set that variable instead, or remove \
             token_env from the roster to store a token",
            account.name
        )),
        TokenSource::None => Ok(match token_file_name {
            Some(name) => Place::PluginFile(account.config_dir.join(name)),
            None => Place::NewFile(account.config_dir.join(HOST_TOKEN_FILE)),
        }),
    }
}

/// The token in `raw` (what was piped in, or a variable's value): one line,
/// its line ending dropped, nothing else around it. The plugin checks its
/// shape next.
pub fn from_input(raw: &[u8]) -> Result<Secret, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "the token is not UTF-8 text".to_owned())?;
    let line = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    if line.trim().is_empty() {
        return Err("the token is empty".into());
    }
    if line.contains(['\n', '\r']) {
        return Err("the token is more than one line; give just the token".into());
    }
    if line.len() > MAX_TOKEN_BYTES {
        return Err(format!("the token is {} bytes, longer than any token ({MAX_TOKEN_BYTES} at most)", line.len()));
    }
    if line.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the token has spaces or control characters in it; give just the token".into());
    }
    Ok(Secret::new(line.to_owned()))
}

/// Write the token to `path`: a 0600 temp file in the same dir, synced,
/// renamed over the old one, the dir synced. A symlink at `path` is
/// written through (the file it points at is replaced).
pub fn write(path: &Path, token: &Secret) -> std::io::Result<()> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::atomic_file::replace(dir, &path, format!("{}\n", token.expose()).as_bytes())?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn account(token: TokenSource) -> Account {
        Account {
            name: "a".into(),
            agent: "k".into(),
            config_dir: "/c".into(),
            seats: 1,
            priority: 0,
            disabled: false,
            wall_at: None,
            token,
            env: Vec::new(),
            name_at: crate::roster::Pos { line: 1, column: 1 },
            agent_at: crate::roster::Pos { line: 1, column: 1 },
        }
    }

    #[test]
    fn places() {
        assert_eq!(place(&account(TokenSource::File("/t".into())), Some("x")), Ok(Place::RosterFile("/t".into())));
        assert_eq!(place(&account(TokenSource::None), Some(".tok")), Ok(Place::PluginFile("/c/.tok".into())));
        assert_eq!(place(&account(TokenSource::None), None), Ok(Place::NewFile("/c/.accounts-token".into())));
        assert!(place(&account(TokenSource::Env("K".into())), None).unwrap_err().contains("$K"));
    }

    #[test]
    fn input_shapes() {
        assert_eq!(from_input(b"sk-1\n").unwrap().expose(), "sk-1");
        assert_eq!(from_input(b"sk-1\r\n").unwrap().expose(), "sk-1");
        assert_eq!(from_input(b"sk-1").unwrap().expose(), "sk-1");
        for (bad, why) in [
            (&b""[..], "empty"),
            (b"\n", "empty"),
            (b"  \n", "empty"),
            (b"sk-1\nsk-2\n", "more than one line"),
            (b"sk-1\n\n", "more than one line"),
            (b"sk 1", "spaces"),
            (b"sk-\x1b1", "control"),
            (b"\xff", "UTF-8"),
        ] {
            let e = from_input(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(from_input(&vec![b'a'; MAX_TOKEN_BYTES + 1]).unwrap_err().contains("longer"));
    }

    #[test]
    fn writes_0600_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "old\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&link, &Secret::new("new".into())).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temp file left");
    }
}

//! Directory bindings (`[[bind]]` in the roster): work started in a
//! directory, or in a git repository whose remote matches, goes to an
//! account (taken first when it has room) or to an agent kind. The match is
//! pure; reading the repository's remote is the one I/O edge here.

use std::path::{Path, PathBuf};

use crate::bounded;

/// Where a binding applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// This directory and everything below it (absolute).
    Path(PathBuf),
    /// Repositories whose remote is this one, or below it (`github.com/acme`
    /// takes every repository of acme), written as [`normalize_remote`] does.
    Remote(String),
}

/// What a binding sends work to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Account(String),
    Agent(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub place: Place,
    pub target: Target,
}

impl Place {
    /// `path /home/u/acme`, `remote github.com/acme/app`.
    pub fn describe(&self) -> String {
        match self {
            Place::Path(path) => format!("path {}", path.display()),
            Place::Remote(remote) => format!("remote {remote}"),
        }
    }
}

impl Binding {
    /// The account it sends work to, if it names one.
    pub fn account(&self) -> Option<&str> {
        match &self.target {
            Target::Account(name) => Some(name),
            Target::Agent(_) => None,
        }
    }
}

/// The binding that applies where this process runs: its working
/// directory, and the repository's remote when only a remote binding could
/// apply. Without bindings nothing is looked up (the launch path).
pub fn here(bindings: &[Binding]) -> Option<&Binding> {
    if bindings.is_empty() {
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    if let Some(by_path) = binding_for(bindings, &cwd, None) {
        return Some(by_path);
    }
    let has_remote = bindings.iter().any(|b| matches!(b.place, Place::Remote(_)));
    let remote = if has_remote { git_remote(&cwd) } else { None };
    binding_for(bindings, &cwd, remote.as_deref())
}

/// A git remote as `host/owner/repo`, lower-case: the scheme, a user, a
/// port and a `.git` suffix dropped, so `git@github.com:Acme/App.git` and
/// `https://github.com/acme/app` are the same. `None` when it names no
/// host and path.
pub fn normalize_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        // scp-like `user@host:path`.
        None => url.replacen(':', "/", 1),
    };
    let rest = rest.rsplit_once('@').map_or(rest.as_str(), |(_, host_path)| host_path);
    let (host, path) = rest.split_once('/')?;
    let host = host.split(':').next().unwrap_or(host);
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_end_matches('/');
    (!host.is_empty() && !path.is_empty()).then(|| format!("{host}/{path}").to_ascii_lowercase())
}

/// The binding for work in `cwd`, in a repository with remote `remote`
/// (normalized): the deepest path binding containing `cwd`, else the
/// longest remote binding matching. Paths win: they are where the user is.
pub fn binding_for<'b>(bindings: &'b [Binding], cwd: &Path, remote: Option<&str>) -> Option<&'b Binding> {
    let by_path = bindings
        .iter()
        .filter_map(|b| match &b.place {
            Place::Path(dir) if cwd.starts_with(dir) => Some((dir.components().count(), b)),
            _ => None,
        })
        .max_by_key(|(depth, _)| *depth);
    if let Some((_, binding)) = by_path {
        return Some(binding);
    }
    let remote = remote?;
    bindings
        .iter()
        .filter_map(|b| match &b.place {
            Place::Remote(pattern) if remote_matches(pattern, remote) => Some((pattern.len(), b)),
            _ => None,
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, b)| b)
}

fn remote_matches(pattern: &str, remote: &str) -> bool {
    remote == pattern || remote.strip_prefix(pattern).is_some_and(|rest| rest.starts_with('/'))
}

/// The most of a git config read.
const GIT_CONFIG_CAP: u64 = 1 << 20;

/// The remote of the git repository `cwd` is in, normalized: `origin`'s,
/// else the first one. `None` outside a repository or without a remote.
/// (A worktree's or submodule's `.git` file points at its git dir.)
pub fn git_remote(cwd: &Path) -> Option<String> {
    let dot_git = cwd.ancestors().map(|dir| dir.join(".git")).find(|p| p.exists())?;
    let git_dir = if dot_git.is_file() {
        let text = bounded::read_text(&dot_git, 4096).ok()?;
        let target = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
        let dir = if target.is_absolute() { target } else { dot_git.parent()?.join(target) };
        // A worktree's git dir keeps its config in the main one (`commondir`).
        match bounded::read_text(&dir.join("commondir"), 4096) {
            Ok(common) => dir.join(common.trim()),
            Err(_) => dir,
        }
    } else {
        dot_git
    };
    let config = bounded::read_text(&git_dir.join("config"), GIT_CONFIG_CAP).ok()?;
    remote_in_config(&config)
}

/// `[remote "origin"] url = ...` (else the first remote's url) in a git
/// config's text, normalized.
fn remote_in_config(config: &str) -> Option<String> {
    let mut section: Option<String> = None;
    let mut first = None;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line
                .strip_prefix("[remote")
                .and_then(|rest| rest.trim().strip_suffix(']'))
                .map(|name| name.trim().trim_matches('"').to_owned());
            continue;
        }
        let Some(remote) = &section else { continue };
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim().eq_ignore_ascii_case("url") {
            let url = normalize_remote(value.trim().trim_matches('"'));
            if remote == "origin" {
                return url;
            }
            first = first.or(url);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_normalize_to_host_and_path() {
        for url in [
            "git@github.com:Acme/App.git",
            "https://github.com/acme/app",
            "https://user:secret@github.com/acme/app.git/",
            "ssh://git@github.com:22/acme/app.git",
            "github.com:acme/app",
        ] {
            assert_eq!(normalize_remote(url).as_deref(), Some("github.com/acme/app"), "{url}");
        }
        assert_eq!(normalize_remote("not a url"), None);
        assert_eq!(normalize_remote("https://github.com/"), None);
    }

    fn bind(place: Place, account: &str) -> Binding {
        Binding { place, target: Target::Account(account.into()) }
    }

    #[test]
    fn the_deepest_path_then_the_longest_remote() {
        let bindings = [
            bind(Place::Path("/w".into()), "work"),
            bind(Place::Path("/w/acme".into()), "acme"),
            bind(Place::Remote("github.com/acme".into()), "acme-org"),
            bind(Place::Remote("github.com/acme/app".into()), "app"),
        ];
        let target = |cwd: &str, remote: Option<&str>| match binding_for(&bindings, Path::new(cwd), remote) {
            Some(Binding { target: Target::Account(a), .. }) => Some(a.clone()),
            _ => None,
        };
        assert_eq!(target("/w/acme/src", Some("github.com/acme/app")).as_deref(), Some("acme"), "paths first");
        assert_eq!(target("/w/other", None).as_deref(), Some("work"));
        assert_eq!(target("/wx", None), None, "a path prefix counts by whole components");
        assert_eq!(target("/x", Some("github.com/acme/app")).as_deref(), Some("app"));
        assert_eq!(target("/x", Some("github.com/acme/lib")).as_deref(), Some("acme-org"));
        assert_eq!(target("/x", Some("github.com/acmeco/lib")), None, "by whole path parts");
        assert_eq!(target("/x", None), None);
    }

    #[test]
    fn the_remote_of_a_config() {
        let config = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://github.com/up/app\n\
                      [remote \"origin\"]\n\turl = git@github.com:me/app.git\n\tfetch = +refs/heads/*\n";
        assert_eq!(remote_in_config(config).as_deref(), Some("github.com/me/app"));
        let only = "[remote \"fork\"]\nurl = https://gitlab.com/me/app.git\n";
        assert_eq!(remote_in_config(only).as_deref(), Some("gitlab.com/me/app"));
        assert_eq!(remote_in_config("[core]\nbare = true\n"), None);
    }
}

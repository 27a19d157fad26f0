//! Where things live: each path from its flag, then its `ACCOUNTS_*`
//! variable (both handled by clap), then the platform's directories.

use std::path::{Component, Path, PathBuf};

use directories::ProjectDirs;

#[derive(Debug, Clone)]
pub struct Paths {
    pub roster: PathBuf,
    /// Whether the roster path was given (flag or env) rather than defaulted.
    pub roster_explicit: bool,
    pub state_dir: PathBuf,
    pub plugin_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// Where `accounts add` puts an account's config dir by default:
    /// `<config_dirs>/<name>`
    /// (`~/.local/share/accounts/config-dirs/<name>` on Linux).
    pub config_dirs: PathBuf,
}

impl Paths {
    pub fn resolve(
        roster: Option<PathBuf>,
        state_dir: Option<PathBuf>,
        plugin_dir: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
    ) -> Paths {
        let dirs = ProjectDirs::from("", "", "accounts");
        // Without a home dir there are no platform dirs; fall back to a
        // per-user directory under the system temp dir.
        let fallback = || std::env::temp_dir().join(format!("accounts-{}", rustix::process::getuid().as_raw()));
        let platform = |pick: fn(&ProjectDirs) -> PathBuf| dirs.as_ref().map_or_else(fallback, pick);
        Paths {
            roster_explicit: roster.is_some(),
            roster: roster.unwrap_or_else(|| platform(|d| d.config_dir().join("roster.toml"))),
            // macOS and Windows have no state dir: keep state beside the data.
            state_dir: state_dir.unwrap_or_else(|| {
                platform(|d| d.state_dir().map_or_else(|| d.data_local_dir().join("state"), |s| s.to_owned()))
            }),
            plugin_dir: plugin_dir.unwrap_or_else(|| platform(|d| d.data_dir().join("plugins"))),
            cache_dir: cache_dir.unwrap_or_else(|| platform(|d| d.cache_dir().to_owned())),
            config_dirs: platform(|d| d.data_dir().join("config-dirs")),
        }
    }
}

/// Where `path` really leads: its longest existing ancestor with symlinks
/// and `..` resolved, then the rest (which does not exist yet, so holds no
/// symlink) with `..` applied by name. `cfg/x/../n1` with no `cfg/x` is
/// `cfg/n1`, which `canonicalize` alone cannot say.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let parts: Vec<Component> = absolute.components().collect();
    for existing in (1..=parts.len()).rev() {
        let Ok(mut base) = std::fs::canonicalize(parts[..existing].iter().collect::<PathBuf>()) else { continue };
        for part in &parts[existing..] {
            match part {
                Component::ParentDir => {
                    base.pop();
                }
                Component::CurDir => {}
                other => base.push(other.as_os_str()),
            }
        }
        return base;
    }
    absolute
}

#[cfg(test)]
mod resolved_tests {
    use super::*;

    #[test]
    fn dotdot_through_missing_dirs_and_symlinks_lead_where_they_lead() {
        let root = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(root.path()).unwrap();
        std::fs::create_dir_all(real.join("cfg/n1")).unwrap();
        std::os::unix::fs::symlink(real.join("cfg/n1"), real.join("link")).unwrap();
        assert_eq!(resolved(&real.join("cfg/x/../n1")), real.join("cfg/n1"));
        assert_eq!(resolved(&real.join("cfg/x/y/../../n1")), real.join("cfg/n1"));
        assert_eq!(resolved(&real.join("link")), real.join("cfg/n1"));
        assert_eq!(resolved(&real.join("link/new")), real.join("cfg/n1/new"));
        assert_eq!(resolved(&real.join("cfg/./n2")), real.join("cfg/n2"));
    }
}

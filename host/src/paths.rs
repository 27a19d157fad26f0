//! Where things live: each path from its flag, then its `ACCOUNTS_*`
//! variable (both handled by clap), then the platform's directories.

use std::path::PathBuf;

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

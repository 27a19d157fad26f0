//! From an agent kind to the bytes of the plugin that serves it.
//!
//! Resolution order:
//! 1. the roster's `[plugins.<kind>]` (a file, with an optional sha256 pin
//!    checked before anything is compiled);
//! 2. the built-ins embedded in the binary;
//! 3. `<plugin dir>/<kind>.wasm`. A file there named like a built-in is
//!    ignored with a warning: the plugin dir cannot shadow a built-in.
//!
//! There is no default: an unknown kind is an error that lists the known kinds
//! and every place searched, because launching under the wrong identity is the
//! one thing this tool must never do.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::bounded;

/// A plugin file the roster names for a kind (`[plugins.<kind>]`), with
/// the sha256 (lower-case hex) it must have, checked before compiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedPlugin {
    pub path: PathBuf,
    pub sha256: Option<String>,
}

/// The plugins compiled into this binary: `(kind, component, sha256)`.
pub type Builtins = &'static [(&'static str, &'static [u8], &'static str)];

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    Roster {
        path: PathBuf,
        roster: PathBuf,
    },
    PluginDir(PathBuf),
    /// A file given on the command line (`plugins check`, `install`).
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::Roster { path, .. } => write!(f, "{} from the roster", path.display()),
            Origin::PluginDir(path) => write!(f, "{} from the plugin dir", path.display()),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Origin {
    /// A short label for listings: `built-in`, `roster`, `plugin-dir`.
    pub fn label(&self) -> &'static str {
        match self {
            Origin::Builtin => "built-in",
            Origin::Roster { .. } => "roster",
            Origin::PluginDir(_) => "plugin-dir",
            Origin::File(_) => "file",
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::Builtin => None,
            Origin::Roster { path, .. } | Origin::PluginDir(path) | Origin::File(path) => Some(path),
        }
    }
}

/// A resolved plugin: its bytes and where they came from.
#[derive(Debug, Clone)]
pub struct PluginSource {
    pub kind: String,
    pub origin: Origin,
    pub bytes: Cow<'static, [u8]>,
    /// Lower-case hex sha256 of `bytes`.
    pub sha256: String,
}

/// Why a kind could not be resolved. All of these are configuration
/// problems the user must fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    Unknown { kind: String, known: Vec<String>, searched: Vec<String>, plugin_dir: PathBuf },
    Unreadable { kind: String, origin: Origin, error: String },
    PinMismatch { kind: String, origin: Origin, expected: String, actual: String },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Unknown { kind, known, searched, plugin_dir } => write!(
                f,
                "unknown agent kind {kind:?}; known kinds: {}. Searched: {}. \
                 Fix: use one of the known kinds, put the plugin in {} as {kind}.wasm (a plugin file there must \
                 be named <kind>.wasm; or set ACCOUNTS_PLUGIN_DIR), or add [plugins.{kind}] with path = \"...\" \
                 to the roster",
                if known.is_empty() { "none".into() } else { known.join(", ") },
                searched.join("; "),
                plugin_dir.display(),
            ),
            ResolveError::Unreadable { kind, origin, error } => {
                write!(f, "plugin {kind:?} ({origin}): cannot read it: {error}")
            }
            ResolveError::PinMismatch { kind, origin, expected, actual } => {
                let roster = match origin {
                    Origin::Roster { roster, .. } => roster.display().to_string(),
                    _ => "the roster".into(),
                };
                write!(
                    f,
                    "plugin {kind:?} ({origin}): sha256 mismatch: the roster pins {expected} but the file has {actual}; \
                     nothing was loaded. If you replaced the plugin on purpose, update sha256 in {roster}"
                )
            }
        }
    }
}

impl std::error::Error for ResolveError {}

pub struct Registry {
    builtins: Builtins,
    roster_plugins: BTreeMap<String, PinnedPlugin>,
    roster_path: Option<PathBuf>,
    plugin_dir: PathBuf,
}

impl Registry {
    pub fn new(
        builtins: Builtins,
        roster_plugins: BTreeMap<String, PinnedPlugin>,
        roster_path: Option<PathBuf>,
        plugin_dir: PathBuf,
    ) -> Registry {
        Registry { builtins, roster_plugins, roster_path, plugin_dir }
    }

    fn builtin(&self, kind: &str) -> Option<&(&'static str, &'static [u8], &'static str)> {
        self.builtins.iter().find(|(k, _, _)| *k == kind)
    }

    fn dir_file(&self, kind: &str) -> PathBuf {
        self.plugin_dir.join(format!("{kind}.wasm"))
    }

    /// Whether `kind` resolves somewhere, without reading any plugin.
    pub fn is_known(&self, kind: &str) -> bool {
        is_kind_name(kind)
            && (self.roster_plugins.contains_key(kind)
                || self.builtin(kind).is_some()
                || dir_file_problem(&self.dir_file(kind)).is_none())
    }

    /// Why `kind` cannot be resolved (the error `resolve` would give, with
    /// the places searched), or `None` when it resolves. Reads no plugin.
    pub fn problem(&self, kind: &str) -> Option<String> {
        if self.is_known(kind) {
            return None;
        }
        let path = self.dir_file(kind);
        Some(match dir_file_problem(&path) {
            Some(problem) if is_kind_name(kind) && std::fs::symlink_metadata(&path).is_ok() => {
                ResolveError::Unreadable { kind: kind.to_owned(), origin: Origin::PluginDir(path), error: problem }
                    .to_string()
            }
            _ => self.unknown(kind).to_string(),
        })
    }

    /// Every kind that resolves, sorted, with its origin. Files in the
    /// plugin dir that are not regular files are left out (see
    /// [`Registry::dir_warnings`]).
    pub fn known(&self) -> Vec<(String, Origin)> {
        let mut found: BTreeMap<String, Origin> = BTreeMap::new();
        for kind in self.dir_kinds() {
            let path = self.dir_file(&kind);
            if self.builtin(&kind).is_none() && dir_file_problem(&path).is_none() {
                found.insert(kind, Origin::PluginDir(path));
            }
        }
        for (kind, _, _) in self.builtins {
            found.insert((*kind).to_owned(), Origin::Builtin);
        }
        for (kind, entry) in &self.roster_plugins {
            found.insert(kind.clone(), self.roster_origin(entry));
        }
        found.into_iter().collect()
    }

    pub fn known_kinds(&self) -> Vec<String> {
        self.known().into_iter().map(|(k, _)| k).collect()
    }

    /// Names of the `*.wasm` entries in the plugin dir (none if it is
    /// missing), whatever they are.
    fn dir_kinds(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.plugin_dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".wasm").map(str::to_owned))
            .filter(|k| is_kind_name(k))
            .collect()
    }

    fn roster_origin(&self, entry: &PinnedPlugin) -> Origin {
        Origin::Roster { path: entry.path.clone(), roster: self.roster_path.clone().unwrap_or_default() }
    }

    /// Warnings about the plugin dir: files named like a built-in, and
    /// entries that are not regular files (skipped until asked for).
    pub fn dir_warnings(&self) -> Vec<String> {
        let mut kinds = self.dir_kinds();
        kinds.sort();
        kinds
            .into_iter()
            .filter(|kind| !self.roster_plugins.contains_key(kind))
            .filter_map(|kind| {
                let path = self.dir_file(&kind);
                if self.builtin(&kind).is_some() {
                    Some(shadow_warning(&kind, &path))
                } else {
                    dir_file_problem(&path).map(|problem| format!("ignoring {}: {problem}", path.display()))
                }
            })
            .collect()
    }

    /// Resolve `kind` to plugin bytes. `warn` receives warnings for stderr.
    pub fn resolve(&self, kind: &str, warn: &mut dyn FnMut(String)) -> Result<PluginSource, ResolveError> {
        if is_kind_name(kind) {
            if let Some(entry) = self.roster_plugins.get(kind) {
                return self.read_roster_plugin(kind, entry);
            }
            if let Some((_, bytes, sha)) = self.builtin(kind) {
                let shadow = self.dir_file(kind);
                if dir_file_problem(&shadow).is_none() {
                    warn(shadow_warning(kind, &shadow));
                }
                return Ok(PluginSource {
                    kind: kind.to_owned(),
                    origin: Origin::Builtin,
                    bytes: Cow::Borrowed(bytes),
                    sha256: (*sha).to_owned(),
                });
            }
            let path = self.dir_file(kind);
            if std::fs::symlink_metadata(&path).is_ok() {
                let origin = Origin::PluginDir(path.clone());
                let bytes = read(kind, &origin, &path)?;
                let sha256 = sha256_hex(&bytes);
                return Ok(PluginSource { kind: kind.to_owned(), origin, bytes: Cow::Owned(bytes), sha256 });
            }
        }
        Err(self.unknown(kind))
    }

    fn read_roster_plugin(&self, kind: &str, entry: &PinnedPlugin) -> Result<PluginSource, ResolveError> {
        let origin = self.roster_origin(entry);
        let bytes = read(kind, &origin, &entry.path)?;
        let sha256 = sha256_hex(&bytes);
        if let Some(expected) = &entry.sha256
            && *expected != sha256
        {
            return Err(ResolveError::PinMismatch {
                kind: kind.to_owned(),
                origin,
                expected: expected.clone(),
                actual: sha256,
            });
        }
        Ok(PluginSource { kind: kind.to_owned(), origin, bytes: Cow::Owned(bytes), sha256 })
    }

    fn unknown(&self, kind: &str) -> ResolveError {
        let roster = match &self.roster_path {
            Some(p) => format!("[plugins.{kind}] in {}", p.display()),
            None => format!("[plugins.{kind}] in the roster (none loaded)"),
        };
        let builtins: Vec<&str> = self.builtins.iter().map(|(k, _, _)| *k).collect();
        ResolveError::Unknown {
            kind: kind.to_owned(),
            known: self.known_kinds(),
            searched: vec![
                roster,
                format!("the built-in plugins ({})", builtins.join(", ")),
                self.dir_file(kind).display().to_string(),
            ],
            plugin_dir: self.plugin_dir.clone(),
        }
    }
}

fn shadow_warning(kind: &str, path: &Path) -> String {
    format!(
        "ignoring {}: {kind:?} is a built-in plugin and the plugin dir cannot replace it; \
         to use this file anyway, add [plugins.{kind}] with its path to the roster",
        path.display()
    )
}

/// What is wrong with a plugin-dir entry, or `None` for a regular file
/// (following symlinks; a loop or a dangling link is a problem).
fn dir_file_problem(path: &Path) -> Option<String> {
    match bounded::open_regular(path) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

fn read(kind: &str, origin: &Origin, path: &Path) -> Result<Vec<u8>, ResolveError> {
    bounded::read(path, bounded::PLUGIN_CAP).map_err(|e| ResolveError::Unreadable {
        kind: kind.to_owned(),
        origin: origin.clone(),
        error: e.to_string(),
    })
}

/// Kinds are short lower-case names: they become file names.
pub fn is_kind_name(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAKE: Builtins = &[("alpha", b"alpha-bytes", "aa"), ("beta", b"beta-bytes", "bb")];

    fn registry(dir: &Path, roster: BTreeMap<String, PinnedPlugin>) -> Registry {
        Registry::new(FAKE, roster, Some("/r/roster.toml".into()), dir.to_owned())
    }

    #[test]
    fn builtin_wins_over_plugin_dir_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alpha.wasm"), b"impostor").unwrap();
        let mut warnings = Vec::new();
        let src = registry(dir.path(), BTreeMap::new()).resolve("alpha", &mut |w| warnings.push(w)).unwrap();
        assert_eq!(src.origin, Origin::Builtin);
        assert_eq!(&*src.bytes, b"alpha-bytes");
        assert!(warnings[0].contains("ignoring") && warnings[0].contains("alpha.wasm"), "{warnings:?}");
    }

    #[test]
    fn plugin_dir_and_roster() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gamma.wasm"), b"gamma").unwrap();
        let pinned = dir.path().join("delta.bin");
        std::fs::write(&pinned, b"delta").unwrap();
        let roster = BTreeMap::from([(
            "delta".to_owned(),
            PinnedPlugin { path: pinned.clone(), sha256: Some(sha256_hex(b"delta")) },
        )]);
        let reg = registry(dir.path(), roster);
        assert_eq!(reg.known_kinds(), ["alpha", "beta", "delta", "gamma"]);
        let gamma = reg.resolve("gamma", &mut |_| {}).unwrap();
        assert!(matches!(gamma.origin, Origin::PluginDir(_)));
        assert_eq!(gamma.sha256, sha256_hex(b"gamma"));
        assert!(matches!(reg.resolve("delta", &mut |_| {}).unwrap().origin, Origin::Roster { .. }));
    }

    #[test]
    fn pin_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.wasm");
        std::fs::write(&file, b"x").unwrap();
        let roster = BTreeMap::from([("x".to_owned(), PinnedPlugin { path: file, sha256: Some("0".repeat(64)) })]);
        let err = registry(dir.path(), roster).resolve("x", &mut |_| {}).unwrap_err().to_string();
        assert!(
            err.contains("sha256 mismatch") && err.contains(&sha256_hex(b"x")) && err.contains("/r/roster.toml"),
            "{err}"
        );
    }

    #[test]
    fn unknown_lists_known_and_searched() {
        let dir = tempfile::tempdir().unwrap();
        let err = registry(dir.path(), BTreeMap::new()).resolve("zeta", &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("unknown agent kind \"zeta\"; known kinds: alpha, beta."), "{err}");
        assert!(err.contains("[plugins.zeta] in /r/roster.toml"), "{err}");
        assert!(err.contains(&format!("{}/zeta.wasm", dir.path().display())), "{err}");
        let err = registry(dir.path(), BTreeMap::new()).resolve("../etc/x", &mut |_| {}).unwrap_err();
        assert!(matches!(err, ResolveError::Unknown { .. }));
    }
}

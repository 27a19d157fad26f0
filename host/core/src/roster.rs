//! `roster.toml`: the accounts a user has, typed and validated.
//!
//! Every error names the file, line and column and says how to fix it. Paths
//! are resolved here (`~` to the home dir, relative paths against the roster's
//! own directory) so nothing downstream has to know where the roster lives.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::bind::{self, Binding, Place, Target};
use crate::bounded;

/// Cooldown for a wall whose message carries no reset time.
pub const DEFAULT_WALL_COOLDOWN_SECS: i64 = 60 * 60;
/// What a resumed agent is asked when its conversation is carried to the
/// next account (the first prompt was answered already, or is in it).
pub const DEFAULT_RESUME_PROMPT: &str =
    "Your previous session stopped at a usage limit and was moved to another account. Continue where you left off.";
/// Most bytes one conversation may have to be carried (`[resume] max_mib`).
pub const DEFAULT_RESUME_MAX_MIB: u64 = 256;

/// Deadline for one plugin call unless the roster sets `plugin_timeout`.
pub const DEFAULT_PLUGIN_TIMEOUT_MS: u64 = 1000;

#[derive(Debug, Clone)]
pub struct Roster {
    pub path: PathBuf,
    pub default_agent: Option<String>,
    pub wall_cooldown_secs: i64,
    /// The roster's `wall_at`, in thousandths: new work is kept off an
    /// account once a usage window passes it (an account's own wins).
    pub wall_at: Option<u32>,
    /// Wall-clock deadline for one plugin call, in milliseconds.
    pub plugin_timeout_ms: u64,
    pub accounts: Vec<Account>,
    pub plugins: BTreeMap<String, PluginEntry>,
    /// Where leases and walls are kept (`[state]`).
    pub state: StateConfig,
    /// How a rotation carries the agent's conversation (`[resume]`).
    pub resume: ResumeSettings,
    /// Directories and repositories bound to an account or a kind (`[[bind]]`).
    pub bindings: Vec<Binding>,
    /// Where `default_agent` stands, for errors found later.
    default_agent_at: Option<Pos>,
}

pub use crate::state::StateConfig;

/// The roster's `[resume]`: what a resumed agent is asked, and how large a
/// conversation may be to be carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeSettings {
    pub prompt: String,
    pub max_bytes: u64,
}

impl Default for ResumeSettings {
    fn default() -> Self {
        ResumeSettings { prompt: DEFAULT_RESUME_PROMPT.into(), max_bytes: DEFAULT_RESUME_MAX_MIB << 20 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub name: String,
    pub agent: String,
    pub config_dir: PathBuf,
    pub seats: u32,
    pub priority: i64,
    pub disabled: bool,
    /// The account's soft wall, in thousandths of a usage window (its own
    /// `wall_at`, else the roster's); `None`: readings only rank it.
    pub wall_at: Option<u32>,
    pub token: TokenSource,
    /// Variables the roster sets for this account's agent, over what its
    /// plugin sets and clears (`env = { VENDOR_USE_GATEWAY = "1" }`):
    /// how a user keeps on purpose a variable the plugin would clear.
    pub env: Vec<(String, String)>,
    /// Where `name = ...` stands, for errors found later (a duplicate).
    pub name_at: Pos,
    /// Where `agent = ...` stands, for errors found later (an unknown kind).
    pub agent_at: Pos,
}

/// Where an account's static token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    None,
    File(PathBuf),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    pub path: PathBuf,
    /// Lower-case hex sha256 the file must have, checked before compiling.
    pub sha256: Option<String>,
    pub at: Pos,
}

impl PluginEntry {
    /// What the plugin registry needs of it.
    pub fn pinned(&self) -> crate::plugin::PinnedPlugin {
        crate::plugin::PinnedPlugin { path: self.path.clone(), sha256: self.sha256.clone() }
    }
}

/// A line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A roster problem: file, position, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterError {
    pub path: PathBuf,
    pub at: Option<Pos>,
    pub message: String,
}

impl fmt::Display for RosterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{}:{}:{}: {}", self.path.display(), at.line, at.column, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for RosterError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoster {
    default_agent: Option<Spanned<String>>,
    wall_cooldown: Option<Spanned<String>>,
    wall_at: Option<Spanned<String>>,
    plugin_timeout: Option<Spanned<String>>,
    #[serde(default)]
    account: Vec<Spanned<RawAccount>>,
    #[serde(default)]
    plugins: BTreeMap<String, Spanned<RawPlugin>>,
    #[serde(default)]
    bind: Vec<Spanned<RawBind>>,
    state: Option<RawState>,
    resume: Option<RawResume>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResume {
    prompt: Option<Spanned<String>>,
    max_mib: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    url: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    statement_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Spanned<String>,
    agent: Spanned<String>,
    config_dir: Spanned<String>,
    seats: Option<Spanned<i64>>,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    disabled: bool,
    wall_at: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    env: Option<Spanned<BTreeMap<String, String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBind {
    path: Option<Spanned<String>>,
    remote: Option<Spanned<String>>,
    account: Option<Spanned<String>>,
    agent: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    path: Spanned<String>,
    sha256: Option<Spanned<String>>,
}

/// Where `path` points when it is a symlink to nothing.
fn dangling_link(path: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    (meta.is_symlink() && std::fs::metadata(path).is_err()).then(|| std::fs::read_link(path).ok()).flatten()
}

impl Roster {
    /// Read and validate the roster at `path`.
    pub fn load(path: &Path) -> Result<Roster, RosterError> {
        let text = bounded::read_text(path, bounded::ROSTER_CAP).map_err(|e| RosterError {
            path: path.to_owned(),
            at: None,
            message: if let Some(target) = dangling_link(path) {
                format!("a symlink to {}, which does not exist; fix the link, or pass --roster PATH", target.display())
            } else if e.is_not_found() {
                "no roster here; create one (see roster.toml in the accounts README) or pass --roster PATH".into()
            } else {
                format!("cannot read the roster: {e}; point --roster at your roster.toml")
            },
        })?;
        Roster::parse(path, &text, home_dir().as_deref())
    }

    /// Validate roster text. `home` expands a leading `~`.
    pub fn parse(path: &Path, text: &str, home: Option<&Path>) -> Result<Roster, RosterError> {
        // Relative paths hang off the roster's dir, made absolute so the env
        // we print works from any working directory.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let base = absolute.parent().unwrap_or(Path::new("/")).to_owned();
        let p = Parser { path, text, lines: LineIndex::new(text), base, home };
        let raw: RawRoster = toml::from_str(text).map_err(|e| p.error(e.span(), clean_toml_message(e.message())))?;
        let wall_cooldown_secs = p.wall_cooldown(&raw.wall_cooldown)?;
        let wall_at = p.wall_at(&raw.wall_at)?;
        let plugin_timeout_ms = p.plugin_timeout(&raw.plugin_timeout)?;
        let mut accounts: Vec<Account> = Vec::new();
        let mut first_seen: BTreeMap<String, Pos> = BTreeMap::new();
        for spanned in &raw.account {
            let account = p.account(spanned.get_ref(), wall_at)?;
            if let Some(first) = first_seen.insert(account.name.clone(), account.name_at) {
                return Err(p.error(
                    Some(spanned.get_ref().name.span()),
                    format!(
                        "duplicate account name {:?} (first at line {}); give each [[account]] a unique name",
                        account.name, first.line
                    ),
                ));
            }
            accounts.push(account);
        }
        let mut plugins = BTreeMap::new();
        for (kind, entry) in &raw.plugins {
            plugins.insert(kind.clone(), p.plugin(entry)?);
        }
        let bindings = raw.bind.iter().map(|b| p.binding(b, &accounts)).collect::<Result<Vec<_>, _>>()?;
        Ok(Roster {
            path: path.to_owned(),
            state: match &raw.state {
                Some(raw_state) => p.state(raw_state)?,
                None => StateConfig::default(),
            },
            resume: match &raw.resume {
                Some(raw_resume) => p.resume(raw_resume)?,
                None => ResumeSettings::default(),
            },
            default_agent: raw.default_agent.as_ref().map(|d| d.get_ref().clone()),
            default_agent_at: raw.default_agent.as_ref().map(|d| p.pos(d.span().start)),
            wall_cooldown_secs,
            wall_at,
            plugin_timeout_ms,
            accounts,
            plugins,
            bindings,
        })
    }

    /// Check that every agent kind the roster names resolves: `problem`
    /// says why a kind does not (the registry's error, which lists the
    /// places searched). Accounts are checked before `default_agent`, so
    /// the error points at an account's `agent` line when both name it.
    pub fn check_agents(&self, problem: impl Fn(&str) -> Option<String>) -> Result<(), RosterError> {
        let at_default = self.default_agent.as_deref().zip(self.default_agent_at);
        for (kind, at) in self.accounts.iter().map(|a| (a.agent.as_str(), a.agent_at)).chain(at_default) {
            if let Some(message) = problem(kind) {
                return Err(RosterError { path: self.path.clone(), at: Some(at), message });
            }
        }
        Ok(())
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The kind a binding sends work to: its own, or its account's.
    pub fn bound_kind<'r>(&'r self, binding: &'r Binding) -> Option<&'r str> {
        match &binding.target {
            Target::Agent(kind) => Some(kind),
            Target::Account(name) => self.account(name).map(|a| a.agent.as_str()),
        }
    }

    /// An error about this roster with no position.
    pub fn error(&self, message: String) -> RosterError {
        RosterError { path: self.path.clone(), at: None, message }
    }
}

fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.home_dir().to_owned())
}

/// `~` and `~/x` use the home dir; relative paths hang off the roster's dir.
fn resolve_path(value: &str, base: &Path, home: Option<&Path>) -> Option<PathBuf> {
    if value == "~" {
        return home.map(Path::to_owned);
    }
    if let Some(rest) = value.strip_prefix("~/") {
        return home.map(|h| h.join(rest));
    }
    let path = Path::new(value);
    Some(if path.is_absolute() { path.to_owned() } else { base.join(path) })
}

/// An account name: also a file name (its default config dir), so never
/// `.` or `..`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        // A leading '-' would read as a flag on every command line.
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// What a valid account name looks like, for errors.
pub const NAME_RULE: &str = "use 1 to 64 letters, digits, '-', '_' or '.' (not . or .., not starting with '-')";

/// A portable environment variable name.
/// The most variables one account's `env` may set.
const MAX_ACCOUNT_ENV: usize = 64;

/// An account's `env` table as pairs, or what is wrong with it: names a
/// plugin could not set either (the host's deny list, which covers the
/// loader, the shell and `ACCOUNTS_*`), values with a NUL, too many.
fn account_env(table: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
    if table.len() > MAX_ACCOUNT_ENV {
        return Err(format!("env sets {} variables; at most {MAX_ACCOUNT_ENV} are allowed", table.len()));
    }
    for (name, value) in table {
        if let Some(problem) = crate::plugin::policy::name_problem(name) {
            let problem = problem.replace("no plugin may set it", "no roster may set it either");
            return Err(format!("env: {problem}; remove it from the account's env"));
        }
        if value.contains('\0') || value.len() > crate::plugin::policy::MAX_VALUE_BYTES {
            return Err(format!("env: the value of {name} has a NUL byte or is over 64 KiB; shorten it"));
        }
    }
    Ok(table.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub fn is_variable_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// `"95%"` (or `"95.5%"`) as thousandths: more than 0, at most 100.
fn parse_percent(text: &str) -> Result<u32, String> {
    let number = text.trim().strip_suffix('%').ok_or_else(|| format!("{text:?} needs a percent sign, e.g. \"95%\""))?;
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not a percentage, e.g. \"95%\""))?;
    if !(value > 0.0 && value <= 100.0) {
        return Err(format!("{text:?} is out of range; give more than 0% and at most 100%"));
    }
    Ok((value * 10.0).round() as u32)
}

/// One roster being parsed: where errors point, and how paths resolve.
struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
    /// The roster's own directory, absolute: relative paths hang off it.
    base: PathBuf,
    home: Option<&'a Path>,
}

impl Parser<'_> {
    fn error(&self, span: Option<Range<usize>>, message: String) -> RosterError {
        RosterError { path: self.path.to_owned(), at: span.map(|s| self.pos(s.start)), message }
    }

    fn pos(&self, offset: usize) -> Pos {
        self.lines.pos(self.text, offset)
    }

    fn resolve(&self, value: &Spanned<String>, what: &str) -> Result<PathBuf, RosterError> {
        resolve_path(value.get_ref(), &self.base, self.home).ok_or_else(|| {
            self.error(
                Some(value.span()),
                format!("{what} starts with ~ but no home dir is known; write an absolute path"),
            )
        })
    }

    fn resume(&self, raw: &RawResume) -> Result<ResumeSettings, RosterError> {
        let mut settings = ResumeSettings::default();
        if let Some(prompt) = &raw.prompt {
            let text = prompt.get_ref().trim();
            if text.is_empty() || text.len() > 4096 || text.chars().any(|c| c.is_control() && c != '\n') {
                return Err(self.error(
                    Some(prompt.span()),
                    "resume.prompt must be some text (at most 4 KiB, no control characters): what a resumed agent \
                     is asked"
                        .into(),
                ));
            }
            settings.prompt = text.to_owned();
        }
        if let Some(max) = &raw.max_mib {
            let mib = *max.get_ref();
            if !(1..=16_384).contains(&mib) {
                return Err(self.error(
                    Some(max.span()),
                    format!("resume.max_mib {mib} is out of range; give 1 to 16384 (the default is {DEFAULT_RESUME_MAX_MIB})"),
                ));
            }
            settings.max_bytes = mib << 20;
        }
        Ok(settings)
    }

    fn wall_cooldown(&self, value: &Option<Spanned<String>>) -> Result<i64, RosterError> {
        match value {
            None => Ok(DEFAULT_WALL_COOLDOWN_SECS),
            Some(v) => crate::timefmt::parse_duration(v.get_ref())
                .map_err(|e| self.error(Some(v.span()), format!("wall_cooldown: {e}"))),
        }
    }

    /// `wall_at = "95%"`: a percentage, more than 0 and at most 100, to a
    /// tenth, as thousandths.
    fn wall_at(&self, value: &Option<Spanned<String>>) -> Result<Option<u32>, RosterError> {
        let Some(v) = value else { return Ok(None) };
        parse_percent(v.get_ref()).map(Some).map_err(|e| {
            self.error(
                Some(v.span()),
                format!("wall_at: {e}; new work is kept off an account once a usage window passes it"),
            )
        })
    }

    fn plugin_timeout(&self, value: &Option<Spanned<String>>) -> Result<u64, RosterError> {
        match value {
            None => Ok(DEFAULT_PLUGIN_TIMEOUT_MS),
            Some(v) => crate::timefmt::parse_duration_ms(v.get_ref())
                .ok()
                .filter(|ms| (10..=60_000).contains(ms))
                .ok_or_else(|| {
                    self.error(
                        Some(v.span()),
                        "plugin_timeout must be a duration from 10ms to 60s, e.g. 1s or 500ms".into(),
                    )
                }),
        }
    }

    /// One `[[account]]`, checked (its name's uniqueness is the caller's).
    fn account(&self, a: &RawAccount, roster_wall_at: Option<u32>) -> Result<Account, RosterError> {
        let name = a.name.get_ref().clone();
        if !valid_name(&name) {
            return Err(self.error(Some(a.name.span()), format!("account name {name:?} is not allowed; {NAME_RULE}")));
        }
        let seats = match &a.seats {
            None => 1,
            Some(s) if (1..=10_000).contains(s.get_ref()) => *s.get_ref() as u32,
            Some(s) => {
                return Err(self.error(
                    Some(s.span()),
                    format!(
                        "seats = {} is out of range; use 1 to 10000 (disable an account with disabled = true)",
                        s.get_ref()
                    ),
                ));
            }
        };
        // A path cannot hold a NUL; any other character is the user's.
        if a.config_dir.get_ref().contains('\0') {
            return Err(self.error(
                Some(a.config_dir.span()),
                "config_dir has a NUL character, which no path can hold; remove it".into(),
            ));
        }
        if a.config_dir.get_ref().trim().is_empty() {
            return Err(
                self.error(Some(a.config_dir.span()), "config_dir is empty; give the account's own directory".into())
            );
        }
        let env = match &a.env {
            None => Vec::new(),
            Some(table) => account_env(table.get_ref()).map_err(|e| self.error(Some(table.span()), e))?,
        };
        Ok(Account {
            name,
            agent: a.agent.get_ref().clone(),
            config_dir: self.resolve(&a.config_dir, "config_dir")?,
            seats,
            priority: a.priority,
            disabled: a.disabled,
            wall_at: self.wall_at(&a.wall_at)?.or(roster_wall_at),
            token: self.token(a)?,
            env,
            name_at: self.pos(a.name.span().start),
            agent_at: self.pos(a.agent.span().start),
        })
    }

    fn token(&self, a: &RawAccount) -> Result<TokenSource, RosterError> {
        Ok(match (&a.token_file, &a.token_env) {
            (Some(_), Some(env)) => {
                return Err(self.error(Some(env.span()), "token_file and token_env both given; keep one".into()));
            }
            (Some(file), None) => TokenSource::File(self.resolve(file, "token_file")?),
            (None, Some(env)) if is_variable_name(env.get_ref()) => TokenSource::Env(env.get_ref().clone()),
            (None, Some(env)) => {
                return Err(self.error(
                    Some(env.span()),
                    format!(
                        "token_env {:?} is not a variable name; use letters, digits and _, not starting with a digit",
                        env.get_ref()
                    ),
                ));
            }
            (None, None) => TokenSource::None,
        })
    }

    /// One `[[bind]]`: a path or a remote, to an account of this roster or a kind.
    fn binding(&self, entry: &Spanned<RawBind>, accounts: &[Account]) -> Result<Binding, RosterError> {
        let b = entry.get_ref();
        let at = Some(entry.span());
        let place = match (&b.path, &b.remote) {
            (Some(path), None) => Place::Path(self.resolve(path, "path")?),
            (None, Some(remote)) => Place::Remote(bind::normalize_remote(remote.get_ref()).ok_or_else(|| {
                self.error(
                    Some(remote.span()),
                    format!(
                        "remote {:?} is not a git remote; write it as git prints it, e.g. git@github.com:acme/app.git",
                        remote.get_ref()
                    ),
                )
            })?),
            (Some(_), Some(remote)) => {
                return Err(self.error(Some(remote.span()), "[[bind]] has both path and remote; keep one".into()));
            }
            (None, None) => {
                return Err(self.error(at, "[[bind]] needs path = \"DIR\" or remote = \"URL\"".into()));
            }
        };
        let target = match (&b.account, &b.agent) {
            (Some(name), None) if accounts.iter().any(|a| &a.name == name.get_ref()) => {
                Target::Account(name.get_ref().clone())
            }
            (Some(name), None) => {
                return Err(self.error(
                    Some(name.span()),
                    format!(
                        "[[bind]] names account {:?}, which is not in this roster; add it or fix the name",
                        name.get_ref()
                    ),
                ));
            }
            (None, Some(kind)) => Target::Agent(kind.get_ref().clone()),
            (Some(_), Some(kind)) => {
                return Err(self.error(
                    Some(kind.span()),
                    "[[bind]] has both account and agent; keep one (an account already has its kind)".into(),
                ));
            }
            (None, None) => return Err(self.error(at, "[[bind]] needs account = \"NAME\" or agent = \"KIND\"".into())),
        };
        Ok(Binding { place, target })
    }

    /// One `[plugins.<kind>]`.
    fn plugin(&self, entry: &Spanned<RawPlugin>) -> Result<PluginEntry, RosterError> {
        let p = entry.get_ref();
        let sha256 = match &p.sha256 {
            None => None,
            Some(s) if is_sha256_hex(s.get_ref()) => Some(s.get_ref().to_ascii_lowercase()),
            Some(s) => {
                return Err(
                    self.error(Some(s.span()), "sha256 must be 64 hex digits (the output of `sha256sum FILE`)".into())
                );
            }
        };
        Ok(PluginEntry { path: self.resolve(&p.path, "path")?, sha256, at: self.pos(entry.span().start) })
    }

    /// The `[state]` table.
    fn state(&self, raw: &RawState) -> Result<StateConfig, RosterError> {
        let mut state = StateConfig::default();
        if let Some(url) = &raw.url {
            crate::state::check_state_url(url.get_ref()).map_err(|e| self.error(Some(url.span()), e))?;
            state.url = Some(url.get_ref().clone());
        }
        if let Some(ns) = &raw.namespace {
            if !valid_name(ns.get_ref()) {
                return Err(
                    self.error(Some(ns.span()), format!("namespace {:?} is not allowed; {NAME_RULE}", ns.get_ref()))
                );
            }
            state.namespace = ns.get_ref().clone();
        }
        let timeout = |v: &Option<Spanned<String>>, what: &str| -> Result<Option<u64>, RosterError> {
            match v {
                None => Ok(None),
                Some(v) => match crate::timefmt::parse_duration_ms(v.get_ref()) {
                    Ok(ms) if (100..=600_000).contains(&ms) => Ok(Some(ms)),
                    _ => {
                        Err(self.error(Some(v.span()), format!("{what} must be a duration from 100ms to 10m, e.g. 5s")))
                    }
                },
            }
        };
        if let Some(ms) = timeout(&raw.connect_timeout, "connect_timeout")? {
            state.connect_timeout_ms = ms;
        }
        if let Some(ms) = timeout(&raw.statement_timeout, "statement_timeout")? {
            state.statement_timeout_ms = ms;
        }
        Ok(state)
    }
}

/// Byte offsets of line starts, built once per parse so that turning a span
/// into a line and column stays cheap for large rosters.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn pos(&self, text: &str, offset: usize) -> Pos {
        let offset = offset.min(text.len());
        let line = self.0.partition_point(|&start| start <= offset);
        let start = self.0[line - 1];
        Pos { line, column: text[start..offset].chars().count() + 1 }
    }
}

/// toml's messages end with a newline and sometimes list expected keys; keep
/// them on one line.
fn clean_toml_message(message: &str) -> String {
    message.trim().replace('\n', "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_to_thousandths_and_bad_ones_say_why() {
        assert_eq!(parse_percent("95%"), Ok(950));
        assert_eq!(parse_percent(" 99.5 % "), Ok(995));
        assert_eq!(parse_percent("100%"), Ok(1000));
        for (bad, why) in [("95", "percent sign"), ("0%", "out of range"), ("101%", "out of range"), ("x%", "not a")] {
            assert!(parse_percent(bad).unwrap_err().contains(why), "{bad}");
        }
    }

    fn parse(text: &str) -> Result<Roster, RosterError> {
        Roster::parse(Path::new("/r/roster.toml"), text, Some(Path::new("/home/u")))
    }

    #[test]
    fn full_roster() {
        let r = parse(
            r#"
default_agent = "alpha"
wall_cooldown = "90m"

[[account]]
name = "work"
agent = "alpha"
config_dir = "~/.accounts/work"
seats = 3
priority = -1
token_file = "tokens/work"

[[account]]
name = "spare"
agent = "beta"
config_dir = "dirs/spare"
disabled = true
token_env = "SPARE_KEY"

[plugins.acme]
path = "/opt/acme.wasm"
sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
"#,
        )
        .unwrap();
        assert_eq!(r.default_agent.as_deref(), Some("alpha"));
        assert_eq!(r.wall_cooldown_secs, 5400);
        assert_eq!(r.plugin_timeout_ms, DEFAULT_PLUGIN_TIMEOUT_MS);
        let work = &r.accounts[0];
        assert_eq!(work.config_dir, Path::new("/home/u/.accounts/work"));
        assert_eq!((work.seats, work.priority, work.disabled), (3, -1, false));
        assert_eq!(work.token, TokenSource::File("/r/tokens/work".into()));
        let spare = &r.accounts[1];
        assert_eq!(spare.config_dir, Path::new("/r/dirs/spare"));
        assert_eq!((spare.seats, spare.disabled), (1, true));
        assert_eq!(spare.token, TokenSource::Env("SPARE_KEY".into()));
        assert_eq!(
            r.plugins["acme"].sha256.as_deref().unwrap(),
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn resume_settings() {
        let r = parse("[resume]\nprompt = \" Go on. \"\nmax_mib = 8\n").unwrap();
        assert_eq!(r.resume, ResumeSettings { prompt: "Go on.".into(), max_bytes: 8 << 20 });
        assert_eq!(parse("").unwrap().resume, ResumeSettings::default());
    }

    #[test]
    fn plugin_timeout() {
        assert_eq!(parse("plugin_timeout = \"250ms\"\n").unwrap().plugin_timeout_ms, 250);
        assert!(err("plugin_timeout = \"5m\"\n").contains(":1:18: plugin_timeout must be"));
    }

    #[test]
    fn syntax_error_has_position() {
        let e = err("[[account]]\nname = \"a\nagent = \"x\"\n");
        assert!(e.starts_with("/r/roster.toml:2:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn unknown_key_has_position() {
        let e = err("[[account]]\nname = \"a\"\nagent = \"x\"\nconfig_dir = \"d\"\nseat = 2\n");
        assert!(e.starts_with("/r/roster.toml:5:1:"), "{e}");
        assert!(e.contains("seat"), "{e}");
    }

    #[test]
    fn bindings_parse_and_bad_ones_point_at_their_line() {
        let account = "[[account]]\nname = \"a\"\nagent = \"x\"\nconfig_dir = \"d\"\n";
        let r = parse(&format!(
            "{account}[[bind]]\npath = \"proj\"\naccount = \"a\"\n[[bind]]\nremote = \"git@github.com:Acme/App.git\"\nagent = \"y\"\n"
        ))
        .unwrap();
        assert_eq!(
            r.bindings[0],
            Binding { place: Place::Path("/r/proj".into()), target: Target::Account("a".into()) }
        );
        assert_eq!(
            r.bindings[1],
            Binding { place: Place::Remote("github.com/acme/app".into()), target: Target::Agent("y".into()) }
        );
        for (bind, says) in [
            ("path = \"p\"\nremote = \"github.com/a/b\"\naccount = \"a\"\n", "both path and remote"),
            ("account = \"a\"\n", "needs path = \"DIR\" or remote = \"URL\""),
            ("path = \"p\"\n", "needs account = \"NAME\" or agent = \"KIND\""),
            ("path = \"p\"\naccount = \"zz\"\n", "account \"zz\", which is not in this roster"),
            ("path = \"p\"\naccount = \"a\"\nagent = \"x\"\n", "both account and agent"),
            ("remote = \"nope\"\nagent = \"x\"\n", "is not a git remote"),
        ] {
            let e = err(&format!("{account}[[bind]]\n{bind}"));
            assert!(e.starts_with("/r/roster.toml:"), "{e}");
            assert!(e.contains(says), "{bind}: {e}");
        }
    }

    #[test]
    fn duplicate_name_points_at_second() {
        let e = err(
            "[[account]]\nname = \"a\"\nagent = \"x\"\nconfig_dir = \"d\"\n[[account]]\nname = \"a\"\nagent = \"x\"\nconfig_dir = \"e\"\n",
        );
        assert!(e.starts_with("/r/roster.toml:6:8:"), "{e}");
        assert!(e.contains("duplicate account name \"a\" (first at line 2)"), "{e}");
    }

    #[test]
    fn an_accounts_env_is_checked_and_kept() {
        let account = "[[account]]\nname = \"a\"\nagent = \"x\"\nconfig_dir = \"d\"\n";
        let r = Roster::parse(
            Path::new("/r/roster.toml"),
            &format!("{account}env = {{ VENDOR_USE_GATEWAY = \"1\", B = \"x y\" }}\n"),
            None,
        )
        .unwrap();
        assert_eq!(r.accounts[0].env, [("B".into(), "x y".into()), ("VENDOR_USE_GATEWAY".into(), "1".into())]);
        let e = err(&format!("{account}env = {{ LD_PRELOAD = \"/x.so\" }}\n"));
        assert!(e.contains(":5:7: env: LD_PRELOAD is on the host's deny list") && e.contains("no roster may"), "{e}");
        let e = err(&format!("{account}env = {{ ACCOUNTS_WORKER = \"w\" }}\n"));
        assert!(e.contains("ACCOUNTS_WORKER is on the host's deny list"), "{e}");
        let e = err(&format!("{account}[account.env]\n\"NOT-A-NAME\" = \"1\"\n"));
        assert!(e.contains(":5:1: env: \"NOT-A-NAME\" is not a valid variable name"), "{e}");
    }

    #[test]
    fn missing_config_dir() {
        let e = err("[[account]]\nname = \"a\"\nagent = \"x\"\n");
        assert!(e.contains("/r/roster.toml:1:1:") && e.contains("config_dir"), "{e}");
    }

    #[test]
    fn bad_values() {
        assert!(err("[[account]]\nname=\"a\"\nagent=\"x\"\nconfig_dir=\"d\"\nseats=0\n").contains(":5:7: seats = 0"));
        assert!(err("[[account]]\nname=\"a b\"\nagent=\"x\"\nconfig_dir=\"d\"\n").contains("not allowed"));
        assert!(err("[[account]]\nname=\"..\"\nagent=\"x\"\nconfig_dir=\"d\"\n").contains("not allowed"));
        assert!(err("[[account]]\nname=\"-x\"\nagent=\"x\"\nconfig_dir=\"d\"\n").contains("not starting with '-'"));
        let nul = err("[[account]]\nname=\"a\"\nagent=\"x\"\nconfig_dir=\"d\\u0000e\"\n");
        assert!(nul.contains(":4:12: config_dir has a NUL character"), "{nul}");
        assert!(err("wall_cooldown = \"soon\"\n").contains(":1:17: wall_cooldown"));
        assert!(err("[resume]\nmax_mib = 0\n").contains(":2:11: resume.max_mib 0 is out of range"));
        assert!(err("[resume]\nprompt = \"  \"\n").contains(":2:10: resume.prompt must be some text"));
        assert!(
            err("[[account]]\nname=\"a\"\nagent=\"x\"\nconfig_dir=\"d\"\ntoken_file=\"f\"\ntoken_env=\"E\"\n")
                .contains("keep one")
        );
        assert!(err("[plugins.x]\npath=\"p\"\nsha256=\"abc\"\n").contains("64 hex digits"));
        let e = err("[[account]]\nname=\"a\"\nagent=\"x\"\nconfig_dir=\"d\"\ntoken_env=\"MY-KEY\"\n");
        assert!(e.contains(":5:11: token_env \"MY-KEY\" is not a variable name"), "{e}");
    }

    #[test]
    fn unknown_agent() {
        let r = parse("[[account]]\nname = \"a\"\nagent = \"nope\"\nconfig_dir = \"d\"\n").unwrap();
        let problem = |k: &str| (k != "x").then(|| format!("unknown agent kind {k:?}"));
        let e = r.check_agents(problem).unwrap_err().to_string();
        assert_eq!(e, "/r/roster.toml:3:9: unknown agent kind \"nope\"");
        let both = "default_agent = \"nope\"\n[[account]]\nname = \"a\"\nagent = \"nope\"\nconfig_dir = \"d\"\n";
        let e = parse(both).unwrap().check_agents(problem).unwrap_err().to_string();
        assert!(e.starts_with("/r/roster.toml:4:9:"), "the account's agent line, not default_agent: {e}");
    }

    mod fuzz {
        //! Property/fuzz targets for the parser. Longer run:
        //! `PROPTEST_CASES=200000 cargo test -p accounts --lib roster::tests::fuzz`.
        use super::*;
        use proptest::prelude::*;

        fn cases() -> u32 {
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512)
        }

        /// Roster-shaped soup: keys, tables, values and junk.
        fn soup() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("[[account]]\n".to_owned()),
                Just("[plugins.x]\n".to_owned()),
                Just("name = \"a\"\n".to_owned()),
                Just("agent = \"k\"\n".to_owned()),
                Just("config_dir = \"d\"\n".to_owned()),
                Just("seats = 3\n".to_owned()),
                Just("seats = -1\n".to_owned()),
                Just("token_file = \"~/t\"\n".to_owned()),
                Just("wall_cooldown = \"5m\"\n".to_owned()),
                Just("sha256 = \"zz\"\n".to_owned()),
                r#"[ -~\n"=é]{0,12}"#,
            ];
            prop::collection::vec(piece, 0..16).prop_map(|p| p.concat())
        }

        fn check(text: &str) {
            match Roster::parse(Path::new("/r/roster.toml"), text, Some(Path::new("/h"))) {
                Ok(r) => {
                    for a in &r.accounts {
                        assert!(a.seats >= 1 && a.config_dir.is_absolute());
                    }
                }
                Err(e) => {
                    let lines = text.split('\n').count();
                    if let Some(at) = e.at {
                        assert!(at.line >= 1 && at.line <= lines.max(1), "{e} for {text:?}");
                    }
                    assert!(!e.to_string().contains('\n'), "one line: {e}");
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

            #[test]
            fn never_panics_on_bytes(text in "\\PC{0,200}") {
                check(&text);
            }

            #[test]
            fn never_panics_on_roster_soup(text in soup()) {
                check(&text);
            }

            #[test]
            fn valid_rosters_round_trip(accounts in prop::collection::vec(("[a-z][a-z0-9-]{0,8}", 1u32..50, -5i64..5, any::<bool>()), 0..8)) {
                let mut text = String::new();
                let mut seen = std::collections::BTreeSet::new();
                let accounts: Vec<_> = accounts.into_iter().filter(|a| seen.insert(a.0.clone())).collect();
                for (name, seats, priority, disabled) in &accounts {
                    text += &format!("[[account]]\nname = \"{name}\"\nagent = \"k\"\nconfig_dir = \"c/{name}\"\nseats = {seats}\npriority = {priority}\ndisabled = {disabled}\n");
                }
                let r = Roster::parse(Path::new("/r/roster.toml"), &text, None).unwrap();
                prop_assert_eq!(r.accounts.len(), accounts.len());
                for (a, (name, seats, priority, disabled)) in r.accounts.iter().zip(&accounts) {
                    prop_assert_eq!(&a.name, name);
                    prop_assert_eq!((a.seats, a.priority, a.disabled), (*seats, *priority, *disabled));
                    prop_assert_eq!(a.config_dir.clone(), Path::new("/r/c").join(name));
                }
            }
        }
    }
}

//! The plugin-side types: a spec builder that derives the declared
//! variables from the ones it names, the account a call is about, the env
//! a launch returns, walls and credential states; and their conversions to
//! the contract's generated types.

use crate::__private::bindings::exports::accounts::auth::account_auth as wit;

/// What a plugin is. Build it with [`Spec::new`] and the methods below;
/// every variable named (config dir, token, [`Spec::also_sets`]) is
/// declared, in that order, so the host knows what to set and to clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub kind: String,
    pub label: String,
    pub config_dir_env: Option<String>,
    pub token_env: Option<String>,
    pub token_file_name: Option<String>,
    pub credential_file_name: Option<String>,
    pub token_prefixes: Vec<String>,
    pub login: Option<Vec<String>>,
    pub headless_login: Option<Vec<String>>,
    pub enroll_hint: String,
    pub also_sets: Vec<String>,
    pub rotation_env: Vec<(String, String)>,
}

impl Spec {
    /// `kind` is what a roster's `agent = "..."` names (lower-case letters,
    /// digits, `-`, `_`); `label` the agent's name for people.
    pub fn new(kind: &str, label: &str) -> Spec {
        Spec {
            kind: kind.into(),
            label: label.into(),
            config_dir_env: None,
            token_env: None,
            token_file_name: None,
            credential_file_name: None,
            token_prefixes: Vec::new(),
            login: None,
            headless_login: None,
            enroll_hint: String::new(),
            also_sets: Vec::new(),
            rotation_env: Vec::new(),
        }
    }

    /// The variable that points the agent at an account's own config dir.
    pub fn config_dir_env(mut self, name: &str) -> Spec {
        self.config_dir_env = Some(name.into());
        self
    }

    /// The variable that carries a static token.
    pub fn token_env(mut self, name: &str) -> Spec {
        self.token_env = Some(name.into());
        self
    }

    /// A file in the config dir that holds a static token (read when the
    /// roster names no token source; written by `accounts enroll`).
    pub fn token_file(mut self, relative: &str) -> Spec {
        self.token_file_name = Some(relative.into());
        self
    }

    /// The agent's own credential file in the config dir, for `status`.
    pub fn credential_file(mut self, relative: &str) -> Spec {
        self.credential_file_name = Some(relative.into());
        self
    }

    /// The prefixes a valid token starts with.
    pub fn token_prefixes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, prefixes: I) -> Spec {
        self.token_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// The agent's interactive login command.
    pub fn login<I: IntoIterator<Item = S>, S: Into<String>>(mut self, argv: I) -> Spec {
        self.login = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// The agent's login that needs no browser on this machine.
    pub fn headless_login<I: IntoIterator<Item = S>, S: Into<String>>(mut self, argv: I) -> Spec {
        self.headless_login = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// One line telling a user how to enrol an account.
    pub fn enroll_hint(mut self, hint: &str) -> Spec {
        self.enroll_hint = hint.into();
        self
    }

    /// More variables the plugin sets or wants cleared (another token
    /// variable the agent reads, say), declared with the others.
    pub fn also_sets<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Spec {
        self.also_sets.extend(names.into_iter().map(Into::into));
        self
    }

    /// A variable set only when the host rotates the agent across accounts
    /// at a wall (`accounts exec --rotate`): the agent's switch that would
    /// otherwise make it wait out a usage limit by itself. Not declared
    /// among the launch variables, so a plain launch neither sets nor
    /// clears it.
    pub fn when_rotating(mut self, name: &str, value: &str) -> Spec {
        self.rotation_env.push((name.into(), value.into()));
        self
    }

    /// Every variable the plugin may set, derived from the ones named.
    pub fn env_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for name in self.config_dir_env.iter().chain(&self.token_env).chain(&self.also_sets) {
            if !keys.contains(name) {
                keys.push(name.clone());
            }
        }
        keys
    }

    pub(crate) fn into_wit(self) -> wit::AgentSpec {
        let env_keys = self.env_keys();
        let login = self.login.map(|interactive| wit::LoginCommands { interactive, headless: self.headless_login });
        wit::AgentSpec {
            kind: self.kind,
            label: self.label,
            config_dir_env: self.config_dir_env,
            token_env: self.token_env,
            token_file_name: self.token_file_name,
            credential_file_name: self.credential_file_name,
            token_prefixes: self.token_prefixes,
            login,
            enroll_hint: self.enroll_hint,
            env_keys,
            rotation_env: self.rotation_env,
        }
    }
}

/// The default token check: not blank, no whitespace anywhere, and one of
/// the spec's prefixes followed by at least one more character. `Err` is
/// the reason, without the token.
pub fn check_token_shape(spec: &Spec, token: &str) -> Result<(), String> {
    if token.trim().is_empty() {
        return Err("the token is empty".into());
    }
    if token.chars().any(char::is_whitespace) {
        return Err("the token contains whitespace or a line break".into());
    }
    if token.starts_with('\u{feff}') {
        return Err("the token starts with a byte-order mark (U+FEFF); save the file without one".into());
    }
    if token.chars().any(char::is_control) {
        return Err("the token contains a control character".into());
    }
    let prefixes = &spec.token_prefixes;
    if !prefixes.is_empty() && !prefixes.iter().any(|p| token.len() > p.len() && token.starts_with(p.as_str())) {
        return Err(format!("a {} token starts with {}", spec.label, prefixes.join(" or ")));
    }
    Ok(())
}

/// The account a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name in the roster.
    pub name: String,
    /// Its config dir as a host path: the value for the config-dir
    /// variable. Its files are readable at [`crate::json::CONFIG_MOUNT`].
    pub config_dir: String,
    /// Its static token, already accepted by `validate_token`.
    pub token: Option<String>,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
}

impl Account {
    pub(crate) fn from_wit(a: wit::Account) -> Account {
        Account { name: a.name, config_dir: a.config_dir, token: a.token, now: a.now }
    }
}

/// The variables a launch sets, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    /// Set `name` (which the spec must declare) to `value`.
    pub fn set(mut self, name: &str, value: &str) -> Env {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.into(), value.into()));
        self
    }

    /// The config-dir variable, and the token variable with the account's
    /// token when `with_token` and both exist.
    pub fn standard(spec: &Spec, account: &Account, with_token: bool) -> Env {
        let mut env = Env::new();
        if let Some(name) = &spec.config_dir_env {
            env = env.set(name, &account.config_dir);
        }
        if let (true, Some(name), Some(token)) = (with_token, &spec.token_env, &account.token) {
            env = env.set(name, token);
        }
        env
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

/// A usage-limit wall found in an agent's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wall {
    /// When the limit resets, seconds since the Unix epoch, if the message
    /// says.
    pub resets_at: Option<i64>,
    /// The message as recognised, at most 4 KiB.
    pub matched: String,
}

impl Wall {
    /// A wall with the message `matched` (trimmed, clipped to 4 KiB).
    pub fn new(resets_at: Option<i64>, matched: &str) -> Wall {
        Wall { resets_at, matched: crate::text::clip(matched) }
    }

    pub(crate) fn into_wit(self) -> wit::Wall {
        wit::Wall { resets_at: self.resets_at, matched: self.matched }
    }
}

/// How much of one usage window an account has used, as the agent
/// reported it: a warning it printed, a rate-limit event, its session log.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The window's short name, the same in every reading of it: `5h`,
    /// `7d`, `7d-opus` (1–32 of `a`–`z`, `0`–`9`, `-`, `_`).
    pub window: String,
    /// The fraction used, 0.0 to 1.0.
    pub used: f64,
    /// When the window resets, seconds since the Unix epoch, when the
    /// agent says.
    pub resets_at: Option<i64>,
}

impl Usage {
    /// `used` as a fraction (0.96 for 96 %).
    pub fn new(window: &str, used: f64, resets_at: Option<i64>) -> Usage {
        Usage { window: window.to_owned(), used, resets_at }
    }

    pub(crate) fn into_wit(self) -> wit::UsageReading {
        wit::UsageReading { window: self.window, used: self.used, resets_at: self.resets_at }
    }
}

/// Whether an account's own login can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginState {
    /// Usable now, or refreshable (a refresh token is there).
    Live,
    /// Ended, and nothing to refresh it with.
    Expired,
    /// No login in the config dir.
    Missing,
}

/// What an account's files say about its login. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub state: LoginState,
    /// When the access token expires, seconds since the Unix epoch.
    pub expires_at: Option<i64>,
    /// Who is logged in (an e-mail, an account id).
    pub identity: Option<String>,
    /// The plan (`max`, `plus`).
    pub plan: Option<String>,
}

impl CredentialStatus {
    pub fn missing() -> CredentialStatus {
        CredentialStatus { state: LoginState::Missing, expires_at: None, identity: None, plan: None }
    }

    /// A login in state `state`, with nothing else known yet.
    pub fn new(state: LoginState) -> CredentialStatus {
        CredentialStatus { state, ..CredentialStatus::missing() }
    }

    pub fn expires_at(mut self, at: Option<i64>) -> CredentialStatus {
        self.expires_at = at;
        self
    }

    pub fn identity(mut self, identity: Option<&str>) -> CredentialStatus {
        self.identity = identity.filter(|i| !i.is_empty()).map(str::to_owned);
        self
    }

    pub fn plan(mut self, plan: Option<&str>) -> CredentialStatus {
        self.plan = plan.filter(|p| !p.is_empty()).map(str::to_owned);
        self
    }

    pub(crate) fn into_wit(self) -> wit::CredentialInfo {
        wit::CredentialInfo {
            state: match self.state {
                LoginState::Live => wit::LoginState::Live,
                LoginState::Expired => wit::LoginState::Expired,
                LoginState::Missing => wit::LoginState::Missing,
            },
            expires_at: self.expires_at,
            identity: self.identity,
            plan: self.plan,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::new("acme", "Acme").config_dir_env("ACME_HOME").token_env("ACME_TOKEN").token_prefixes(["acme-"])
    }

    #[test]
    fn env_keys_come_from_the_names() {
        let spec = spec().also_sets(["ACME_OTHER", "ACME_HOME"]);
        assert_eq!(spec.env_keys(), ["ACME_HOME", "ACME_TOKEN", "ACME_OTHER"]);
        let wit = spec.into_wit();
        assert_eq!(wit.env_keys, ["ACME_HOME", "ACME_TOKEN", "ACME_OTHER"]);
    }

    #[test]
    fn token_shapes() {
        assert_eq!(check_token_shape(&spec(), "acme-1"), Ok(()));
        assert!(check_token_shape(&spec(), "").unwrap_err().contains("empty"));
        assert!(check_token_shape(&spec(), "  ").unwrap_err().contains("empty"));
        assert!(check_token_shape(&spec(), "acme-1\nacme-2").unwrap_err().contains("line break"));
        assert!(check_token_shape(&spec(), "acme-").unwrap_err().contains("starts with acme-"));
        assert_eq!(check_token_shape(&Spec::new("x", "X"), "anything"), Ok(()));
        assert!(check_token_shape(&spec(), "acme-1\u{7}").unwrap_err().contains("control character"));
        assert!(check_token_shape(&spec(), "\u{feff}acme-1").unwrap_err().contains("byte-order mark"));
    }

    #[test]
    fn the_standard_env() {
        let account = Account { name: "a".into(), config_dir: "/c".into(), token: Some("acme-t".into()), now: 0 };
        let env = Env::standard(&spec(), &account, true);
        assert_eq!(env.into_pairs(), [("ACME_HOME".into(), "/c".into()), ("ACME_TOKEN".into(), "acme-t".into())]);
        assert_eq!(Env::standard(&spec(), &account, false).into_pairs().len(), 1);
    }
}

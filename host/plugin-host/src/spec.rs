//! What the host knows of a plugin and gets from it, in the host's own
//! types: every contract version's bindings convert into these, so nothing
//! outside `bindings` names a version. A leaf module: the cache and the
//! runtime both use it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::policy;

/// A plugin's description of itself, as the host keeps it (and caches it
/// with the compiled plugin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub kind: String,
    pub label: String,
    /// The contract version the plugin implements, e.g. `0.2.0`.
    pub contract: String,
    pub config_dir_env: Option<String>,
    pub token_env: Option<String>,
    pub token_file_name: Option<String>,
    pub credential_file_name: Option<String>,
    pub token_prefixes: Vec<String>,
    pub login: Option<LoginCommands>,
    pub enroll_hint: String,
    pub env_keys: Vec<String>,
    /// Set only for runs the host rotates across accounts (0.3.0; empty
    /// before). Never declared among `env_keys`: a plain launch leaves them
    /// alone.
    #[serde(default)]
    pub rotation_env: Vec<(String, String)>,
}

/// The agent's own login commands (argv).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginCommands {
    pub interactive: Vec<String>,
    pub headless: Option<Vec<String>>,
}

/// A usage-limit wall found by a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wall {
    pub resets_at: Option<i64>,
    /// The agent's message as the plugin matched it: shown only scrubbed
    /// and escaped.
    pub matched: crate::untrusted::Untrusted,
}

/// One usage window's reading as a plugin returned it: checked and
/// clamped by the runtime before anyone else sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReading {
    /// `5h`, `7d`: a short name ([`UsageReading::valid_window`]).
    pub window: String,
    /// 0.0 to 1.0.
    pub used: f64,
    pub resets_at: Option<i64>,
}

impl UsageReading {
    /// The longest window name.
    pub const MAX_WINDOW_BYTES: usize = 32;

    /// 1–32 of `a`–`z`, `0`–`9`, `-`, `_`: a name that is safe to show and
    /// to key a database row by.
    pub fn valid_window(window: &str) -> bool {
        (1..=Self::MAX_WINDOW_BYTES).contains(&window.len())
            && window.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }
}

/// What one look at an agent's output found: its wall, if any, and the
/// usage readings in the order the agent printed them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub wall: Option<Wall>,
    pub usage: Vec<UsageReading>,
    /// The agent says it retries by itself: the text that says so (a wall
    /// without a reset held before it is withdrawn).
    pub retrying: Option<crate::untrusted::Untrusted>,
}

/// Whether an account's own login can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginState {
    Live,
    Expired,
    Missing,
}

/// What an account's files say about its login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub state: LoginState,
    pub expires_at: Option<i64>,
    pub identity: Option<crate::untrusted::Untrusted>,
    pub plan: Option<crate::untrusted::Untrusted>,
}

/// Which conversation the host asks a plugin for (the contract's
/// `conversation-query`).
#[derive(Debug, Clone)]
pub struct ConversationQuery {
    pub id: Option<String>,
    pub cwd: Option<String>,
    pub since: Option<i64>,
    pub output: String,
}

/// A conversation a plugin found in a config dir, as it named it: the
/// host checks every path before it touches a file (`accounts::carry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: crate::untrusted::Untrusted,
    pub files: Vec<String>,
    pub cwd: Option<String>,
    pub bound_to: Option<crate::untrusted::Untrusted>,
}

/// What the plugin needs to know about one account.
#[derive(Debug, Clone)]
pub struct AccountRequest {
    pub name: String,
    pub config_dir: PathBuf,
    pub token: Option<crate::secret::Secret>,
    pub now: i64,
}

impl Spec {
    /// The agent's program, as its login names it (else its kind): what a
    /// command line for it starts with.
    pub fn program(&self) -> String {
        self.login.as_ref().and_then(|l| l.interactive.first()).cloned().unwrap_or_else(|| self.kind.clone())
    }

    /// Whether `program` (a name or a path, as a command line starts) runs
    /// this agent: its name is the kind's, or the program its login
    /// commands run. So `exec -- claude ...` finds its kind without
    /// `--agent`. (A contract field listing the programs would say more;
    /// the kind and the login already name them for every agent we know.)
    pub fn claims(&self, program: &str) -> bool {
        let name = program.rsplit('/').next().unwrap_or(program);
        let login_programs = self
            .login
            .iter()
            .flat_map(|l| l.interactive.first().into_iter().chain(l.headless.iter().flatten().take(1)));
        !name.is_empty()
            && (name == self.kind || login_programs.into_iter().any(|p| p.rsplit('/').next() == Some(name)))
    }

    /// " (expected a-… or b-…)" from the spec's token prefixes, for
    /// messages; empty without prefixes.
    pub fn prefix_hint(&self) -> String {
        match self.token_prefixes.as_slice() {
            [] => String::new(),
            prefixes => format!(" (expected {}…)", prefixes.join("… or ")),
        }
    }
}

/// The most variables a spec's `rotation-env` may hold.
pub(crate) const MAX_ROTATION_ENV: usize = 16;

/// `rotation-env` obeys the same deny list as `env-keys`, holds each name
/// once, and never names a variable the launch sets (the rotated run's
/// account comes from `launch-env`, not from a constant).
fn check_rotation_env(spec: &Spec) -> Result<(), String> {
    if spec.rotation_env.len() > MAX_ROTATION_ENV {
        return Err(format!(
            "its spec's rotation-env has {} variables; at most {MAX_ROTATION_ENV} are allowed",
            spec.rotation_env.len()
        ));
    }
    let names: Vec<String> = spec.rotation_env.iter().map(|(n, _)| n.clone()).collect();
    let unique = policy::check_declared(&names).map_err(|e| format!("its spec's rotation-env {e}"))?;
    if unique.len() != names.len() {
        return Err("its spec's rotation-env names a variable twice".into());
    }
    if let Some(name) = names.iter().find(|n| spec.env_keys.contains(n)) {
        return Err(format!("its spec's rotation-env sets {name}, which is also a launch variable (env-keys)"));
    }
    Ok(())
}

/// A spec the host can use for `resolved_kind`, or why not. Run on every
/// load, the cached spec included, so the rules live in one place.
pub(crate) fn check(spec: Spec, resolved_kind: &str) -> Result<Spec, String> {
    let mut strings: Vec<(&str, &str)> =
        vec![("kind", &spec.kind), ("label", &spec.label), ("enroll-hint", &spec.enroll_hint)];
    for (field, value) in [
        ("config-dir-env", &spec.config_dir_env),
        ("token-env", &spec.token_env),
        ("token-file-name", &spec.token_file_name),
        ("credential-file-name", &spec.credential_file_name),
    ] {
        if let Some(v) = value {
            strings.push((field, v));
        }
    }
    strings.extend(spec.token_prefixes.iter().map(|p| ("token-prefixes", p.as_str())));
    strings.extend(
        spec.rotation_env.iter().flat_map(|(n, v)| [("rotation-env", n.as_str()), ("rotation-env", v.as_str())]),
    );
    if let Some(login) = &spec.login {
        strings.extend(login.interactive.iter().map(|a| ("login", a.as_str())));
        strings.extend(login.headless.iter().flatten().map(|a| ("login", a.as_str())));
    }
    if let Some((field, value)) = strings.iter().find(|(_, v)| v.len() > policy::MAX_SPEC_STRING_BYTES) {
        return Err(format!(
            "its spec's {field} is {} bytes; spec strings may be at most {} bytes",
            value.len(),
            policy::MAX_SPEC_STRING_BYTES
        ));
    }
    // Spec strings are shown as they are (plugins list, inspect): plain text.
    if let Some((field, _)) = strings.iter().find(|(_, v)| v.chars().any(char::is_control)) {
        return Err(format!("its spec's {field} contains a control character; spec strings must be plain text"));
    }
    if spec.kind != resolved_kind {
        return Err(format!(
            "says it serves agent kind {:?}, but it was resolved as {resolved_kind:?}; refusing it so no account is \
             launched under the wrong agent. Rename the file or fix the plugin's spec",
            spec.kind
        ));
    }
    for var in [&spec.config_dir_env, &spec.token_env].into_iter().flatten() {
        if !spec.env_keys.contains(var) {
            return Err(format!("its spec uses {var} but does not declare it in env-keys"));
        }
    }
    for name in [&spec.token_file_name, &spec.credential_file_name].into_iter().flatten() {
        if name.is_empty() || name.starts_with('/') || name.split('/').any(|part| part == "..") {
            return Err(format!("its spec names the file {name:?}; a file inside the config dir must be relative"));
        }
    }
    check_rotation_env(&spec)?;
    if spec.login.as_ref().is_some_and(|l| l.interactive.is_empty() || l.headless.as_ref().is_some_and(Vec::is_empty)) {
        return Err("its spec gives an empty login command".into());
    }
    Ok(spec)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid spec for tests.
    pub(crate) fn spec() -> Spec {
        Spec {
            kind: "k".into(),
            label: "K".into(),
            contract: "0.2.0".into(),
            config_dir_env: Some("K_HOME".into()),
            token_env: None,
            token_file_name: None,
            credential_file_name: Some("creds.json".into()),
            token_prefixes: vec!["k-".into()],
            login: Some(LoginCommands { interactive: vec!["k".into(), "login".into()], headless: None }),
            enroll_hint: String::new(),
            env_keys: vec!["K_HOME".into()],
            rotation_env: vec![("K_NO_WAIT".into(), "1".into())],
        }
    }

    #[test]
    fn the_rules() {
        assert!(check(spec(), "k").is_ok());
        assert!(check(spec(), "j").unwrap_err().contains("resolved as \"j\""));
        let undeclared = Spec { token_env: Some("K_TOKEN".into()), ..spec() };
        assert!(check(undeclared, "k").unwrap_err().contains("does not declare it"));
        let escaping = Spec { credential_file_name: Some("../x".into()), ..spec() };
        assert!(check(escaping, "k").unwrap_err().contains("must be relative"));
        let control = Spec { label: "K\u{1b}[2J".into(), ..spec() };
        assert!(check(control, "k").unwrap_err().contains("control character"));
        let rotation = |pairs: &[(&str, &str)]| Spec {
            rotation_env: pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            ..spec()
        };
        assert!(check(rotation(&[("LD_PRELOAD", "x")]), "k").unwrap_err().contains("rotation-env"));
        assert!(check(rotation(&[("K_HOME", "x")]), "k").unwrap_err().contains("also a launch variable"));
        assert!(check(rotation(&[("A", "1"), ("A", "2")]), "k").unwrap_err().contains("twice"));
        assert!(check(rotation(&[("A", "\u{1b}")]), "k").unwrap_err().contains("control character"));
        let many: Vec<(String, String)> = (0..17).map(|i| (format!("V{i}"), String::new())).collect();
        assert!(check(Spec { rotation_env: many, ..spec() }, "k").unwrap_err().contains("at most 16"));
        let empty = Spec { login: Some(LoginCommands { interactive: vec![], headless: None }), ..spec() };
        assert!(check(empty, "k").unwrap_err().contains("empty login"));
        assert_eq!(
            Spec { token_prefixes: vec!["a-".into(), "b-".into()], ..spec() }.prefix_hint(),
            " (expected a-… or b-…)"
        );
    }

    #[test]
    fn an_agent_claims_its_kind_and_its_login_programs() {
        let login =
            LoginCommands { interactive: vec!["kcli".into(), "login".into()], headless: Some(vec!["kdev".into()]) };
        let spec = Spec { login: Some(login), ..spec() };
        for program in ["k", "kcli", "/usr/local/bin/kcli", "kdev", "./bin/k"] {
            assert!(spec.claims(program), "{program}");
        }
        for program in ["", "login", "kc", "k/", "/usr/bin/sh", "bash"] {
            assert!(!spec.claims(program), "{program}");
        }
        assert!(Spec { login: None, ..spec.clone() }.claims("k"));
        assert!(!Spec { login: None, ..spec }.claims("kcli"));
    }
}

//! Credential health: what each account can log in with (its own login, as
//! its plugin reads the config dir, and its static token), described for
//! `status` and `login` without ever showing a secret. The description and
//! the same-login check are pure; `Health` is gathered by the caller.

use std::collections::BTreeMap;

use serde_json::json;

use crate::plugin::{CredentialStatus, LoginState, Spec};
use crate::roster::{Account, TokenSource};
use crate::timefmt;

/// Whether `account` has nothing to log in with, told by a stat or two, not
/// by asking its plugin: no static token (a `token_file`, a `token_env`
/// that is set, the agent's token file in the config dir) and no file where
/// the agent keeps its login. An agent that names no login file is taken to
/// have a login. (The plugin's `credential-status` says more, live or
/// expired; seat choice needs only this, on the launch path.)
pub fn missing(account: &Account, spec: &Spec) -> bool {
    let in_config_dir = |name: &String| std::fs::symlink_metadata(account.config_dir.join(name)).is_ok();
    let has_token = match &account.token {
        TokenSource::File(_) => true,
        TokenSource::Env(var) => std::env::var_os(var).is_some(),
        TokenSource::None => spec.token_file_name.as_ref().is_some_and(in_config_dir),
    };
    !has_token && spec.credential_file_name.as_ref().is_some_and(|name| !in_config_dir(name))
}

/// The note for a launch on an account [`missing`] a credential (seat
/// choice takes one only when no account with a credential has room): its
/// agent will ask to log in.
pub fn missing_note(account: &Account) -> String {
    format!(
        "account {:?} has nothing to log in with yet: its agent will ask you to log in; \
         run `accounts login {}` (or `accounts enroll {}` for an API key)",
        account.name, account.name, account.name
    )
}

/// One account's credentials, as far as we can tell.
pub struct Health {
    /// What the plugin reads from the config dir.
    pub login: Login,
    /// Where the static token comes from (`token_file PATH`, ...), if any.
    pub token_source: Option<String>,
    /// The static token masked to its declared prefix, when it was read.
    pub token_masked: Option<String>,
    /// Why the static token that was read cannot be used (its shape).
    pub token_problem: Option<&'static str>,
    /// Other accounts of the same agent logged in as the same identity.
    pub same_login_as: Vec<String>,
}

/// The login part of [`Health`].
pub enum Login {
    Known(CredentialStatus),
    /// The plugin implements contract 0.1.0, which has no credential status.
    Unknown,
    /// The plugin could not be asked; why (already scrubbed and escaped).
    Error(String),
}

impl Login {
    pub fn state(&self) -> &'static str {
        match self {
            Login::Known(s) => match s.state {
                LoginState::Live => "live",
                LoginState::Expired => "expired",
                LoginState::Missing => "missing",
            },
            Login::Unknown => "unknown",
            Login::Error(_) => "error",
        }
    }

    fn status(&self) -> Option<&CredentialStatus> {
        match self {
            Login::Known(s) => Some(s),
            _ => None,
        }
    }
}

/// The one-line description: `login live, expires in 5h (a@b, max)`,
/// `login expired 2d ago`, `token sk-ant-oat01-****`, `nothing: run
/// accounts login work-1`. `can_login` says whether the agent has a login
/// command (otherwise the hint is `enroll`).
pub fn describe(name: &str, health: &Health, can_login: bool, now: i64) -> String {
    let mut parts = Vec::new();
    if !health.same_login_as.is_empty() {
        parts.push(format!("SAME LOGIN AS {} (one quota)", health.same_login_as.join(", ")));
    }
    match &health.login {
        Login::Known(status) if status.state != LoginState::Missing => parts.push(describe_login(status, now)),
        Login::Known(_) => {}
        Login::Unknown => parts.push("login unknown (plugin contract 0.1.0)".into()),
        Login::Error(why) => parts.push(format!("login unreadable: {why}")),
    }
    if let Some(source) = &health.token_source {
        parts.push(match (&health.token_masked, health.token_problem) {
            (Some(masked), Some(problem)) => format!("token {masked} ({source}) {problem}"),
            (Some(masked), None) => format!("token {masked} ({source})"),
            (None, _) => format!("token unreadable ({source})"),
        });
    }
    let usable_login = matches!(&health.login, Login::Known(s) if s.state == LoginState::Live);
    if !usable_login && health.token_source.is_none() && !matches!(health.login, Login::Error(_)) {
        let verb = if can_login { "login" } else { "enroll" };
        let expired = matches!(&health.login, Login::Known(s) if s.state == LoginState::Expired);
        let hint = format!("run accounts {verb} {name}");
        parts.push(if expired { hint } else { format!("nothing: {hint}") });
    }
    parts.join("; ")
}

/// `login live, expires in 5h (a@b, max)`: a login, in one line.
pub fn describe_login(status: &CredentialStatus, now: i64) -> String {
    let mut text = match (status.state, status.expires_at) {
        (LoginState::Live, Some(at)) if at > now => {
            format!("login live, expires in {}", timefmt::format_span(at - now))
        }
        // Live past its expiry: the agent refreshes it on next use.
        (LoginState::Live, Some(_)) => "login live, refreshed on next use".to_owned(),
        (LoginState::Live, None) => "login live".to_owned(),
        (_, Some(at)) if at <= now => format!("login expired {} ago", timefmt::format_span(now - at)),
        _ => "login expired".to_owned(),
    };
    let about: Vec<String> = [&status.identity, &status.plan].into_iter().flatten().map(|t| t.shown()).collect();
    if !about.is_empty() {
        text += &format!(" ({})", about.join(", "));
    }
    text
}

/// The `credential` object of `status --json`.
pub fn to_json(health: &Health) -> serde_json::Value {
    let status = health.login.status();
    json!({
        "state": health.login.state(),
        "expires_at": status.and_then(|s| s.expires_at).map(timefmt::format_instant),
        "identity": status.and_then(|s| s.identity.as_ref()),
        "plan": status.and_then(|s| s.plan.as_ref()),
        "error": match &health.login { Login::Error(why) => Some(why.as_str()), _ => None },
        "token_source": health.token_source,
        "token": health.token_masked,
        "token_problem": health.token_problem,
        "same_login_as": health.same_login_as,
    })
}

/// For each account logged in as the same identity as another account of
/// the same agent, those other accounts. Identities compare trimmed and
/// case-insensitively (they are e-mail addresses). Input: (name, agent,
/// identity) in roster order.
pub fn same_logins<'a>(
    accounts: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
) -> BTreeMap<String, Vec<String>> {
    let mut by_login: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (name, agent, identity) in accounts {
        if let Some(identity) = identity.map(|i| i.trim().to_lowercase()).filter(|i| !i.is_empty()) {
            by_login.entry((agent.to_owned(), identity)).or_default().push(name);
        }
    }
    let mut same = BTreeMap::new();
    for names in by_login.values().filter(|n| n.len() > 1) {
        for name in names {
            let others = names.iter().filter(|n| *n != name).map(|n| n.to_string()).collect();
            same.insert(name.to_string(), others);
        }
    }
    same
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::untrusted::Untrusted;

    const NOW: i64 = 1_800_000_000;

    fn login(state: LoginState, expires_at: Option<i64>, identity: Option<&str>, plan: Option<&str>) -> Login {
        Login::Known(CredentialStatus {
            state,
            expires_at,
            identity: identity.map(Untrusted::new),
            plan: plan.map(Untrusted::new),
        })
    }

    fn health(login: Login) -> Health {
        Health { login, token_source: None, token_masked: None, token_problem: None, same_login_as: vec![] }
    }

    #[test]
    fn descriptions() {
        let live = health(login(LoginState::Live, Some(NOW + 5 * 3600), Some("a@b"), Some("max")));
        assert_eq!(describe("w", &live, true, NOW), "login live, expires in 5h (a@b, max)");
        let refreshing = health(login(LoginState::Live, Some(NOW - 10), None, None));
        assert_eq!(describe("w", &refreshing, true, NOW), "login live, refreshed on next use");
        let expired = health(login(LoginState::Expired, Some(NOW - 2 * 86_400), None, None));
        assert_eq!(describe("w", &expired, true, NOW), "login expired 2d ago; run accounts login w");
        let nothing = health(login(LoginState::Missing, None, None, None));
        assert_eq!(describe("work-1", &nothing, true, NOW), "nothing: run accounts login work-1");
        assert_eq!(describe("work-1", &nothing, false, NOW), "nothing: run accounts enroll work-1");
        let token = Health {
            token_source: Some("token_file /t".into()),
            token_masked: Some("sk-ant-oat01-****".into()),
            ..health(login(LoginState::Missing, None, None, None))
        };
        assert_eq!(describe("w", &token, true, NOW), "token sk-ant-oat01-**** (token_file /t)");
        let twin = Health { same_login_as: vec!["work-1".into()], ..live };
        assert!(describe("w", &twin, true, NOW).starts_with("SAME LOGIN AS work-1 (one quota); login live"));
        let hostile = health(login(LoginState::Live, None, Some("a\u{1b}[2J@b"), None));
        assert_eq!(describe("w", &hostile, true, NOW), "login live (a\\u{1b}[2J@b)");
    }

    #[test]
    fn json_never_holds_more_than_the_mask() {
        let h = Health {
            token_source: Some("env K".into()),
            token_masked: Some("sk-****".into()),
            ..health(login(LoginState::Live, Some(NOW), Some("a@b"), None))
        };
        let v = to_json(&h);
        assert_eq!(v["state"], "live");
        assert_eq!(v["identity"], "a@b");
        assert_eq!(v["expires_at"], timefmt::format_instant(NOW));
        assert_eq!(v["token"], "sk-****");
    }

    #[test]
    fn same_logins_are_per_agent_and_case_blind() {
        let same = same_logins([
            ("w1", "alpha", Some("A@b.com")),
            ("w2", "alpha", Some(" a@B.com")),
            ("w3", "alpha", Some("c@d")),
            ("x1", "beta", Some("a@b.com")),
            ("w4", "alpha", None),
            ("w5", "alpha", Some("a@b.com")),
        ]);
        assert_eq!(same["w1"], ["w2", "w5"]);
        assert_eq!(same["w2"], ["w1", "w5"]);
        assert!(!same.contains_key("w3") && !same.contains_key("x1") && !same.contains_key("w4"));
    }
}

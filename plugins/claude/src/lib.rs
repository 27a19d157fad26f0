//! Built-in plugin for Claude Code, grounded in claude-code 2.1.197 (the
//! corpus and tests/agents.rs check these facts against the real CLI).
//!
//! Facts:
//! - `CLAUDE_CONFIG_DIR` isolates an account's files; the login lives in
//!   `.credentials.json` (`claudeAiOauth`: `accessToken`, `refreshToken`,
//!   `expiresAt` in epoch milliseconds, `subscriptionType`), the identity in
//!   `.claude.json` (`oauthAccount.emailAddress`).
//! - A login is alive while the agent can refresh it: with an expired access
//!   token but a refresh token, `claude auth status` still reports it.
//! - Precedence (`claude auth status`): `ANTHROPIC_AUTH_TOKEN`, then
//!   `CLAUDE_CODE_OAUTH_TOKEN` (`sk-ant-oat01-`), beat the login, and
//!   `ANTHROPIC_API_KEY` (`sk-ant-api03-`) shadows it. So a static token is
//!   set only when the account has no login, and the others are cleared.
//! - Without a login of its own, Claude falls back to the Anthropic profile
//!   in `$HOME/.config/anthropic/` (the `ant` CLI's), shared by every
//!   account: `ANTHROPIC_CONFIG_DIR` points it at the account's own dir.

use accounts_plugin::{Account, Agent, CredentialStatus, Env, LoginState, Spec, Wall, clock, json, text};

const CONFIG_DIR_ENV: &str = "CLAUDE_CONFIG_DIR";
const OAUTH_TOKEN_ENV: &str = "CLAUDE_CODE_OAUTH_TOKEN";
const API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
/// Beats every other credential; never set by us, always cleared.
const AUTH_TOKEN_ENV: &str = "ANTHROPIC_AUTH_TOKEN";
/// Where Claude looks for Anthropic profiles; set to a dir of the account's.
const PROFILE_DIR_ENV: &str = "ANTHROPIC_CONFIG_DIR";
/// Picks a profile by name; cleared so an inherited one cannot.
const PROFILE_ENV: &str = "ANTHROPIC_PROFILE";
const PROFILE_SUBDIR: &str = "anthropic-profiles";
const OAUTH_PREFIX: &str = "sk-ant-oat01-";
const API_KEY_PREFIX: &str = "sk-ant-api03-";
const CREDENTIALS_FILE: &str = ".credentials.json";
const ACCOUNT_FILE: &str = ".claude.json";

struct Claude;

impl Agent for Claude {
    fn spec() -> Spec {
        Spec::new("claude", "Claude Code")
            .config_dir_env(CONFIG_DIR_ENV)
            .token_env(OAUTH_TOKEN_ENV)
            .also_sets([API_KEY_ENV, AUTH_TOKEN_ENV, PROFILE_DIR_ENV, PROFILE_ENV])
            .token_file(".oauth-token")
            .credential_file(CREDENTIALS_FILE)
            .token_prefixes([OAUTH_PREFIX, API_KEY_PREFIX])
            .login(["claude", "auth", "login"])
            .enroll_hint(
                "run `accounts login <name>` (claude auth login), or enroll a `claude setup-token` token: \
                 `accounts enroll <name> --token-stdin`",
            )
    }

    fn credential_status(account: &Account) -> CredentialStatus {
        let Some(creds) = json::read_config_json(CREDENTIALS_FILE) else { return CredentialStatus::missing() };
        let oauth = &creds["claudeAiOauth"];
        if json::non_empty(oauth, &["accessToken"]).is_none() {
            return CredentialStatus::missing();
        }
        let expires_at = json::int(oauth, &["expiresAt"]).map(json::millis_to_secs);
        let refreshable = json::non_empty(oauth, &["refreshToken"]).is_some();
        let identity = json::read_config_json(ACCOUNT_FILE);
        CredentialStatus::new(login_state(refreshable, expires_at, account.now))
            .expires_at(expires_at)
            .identity(identity.as_ref().and_then(|a| json::str(a, &["oauthAccount", "emailAddress"])))
            .plan(json::str(oauth, &["subscriptionType"]))
    }

    fn launch_env(account: &Account) -> Result<Env, String> {
        let login = Self::credential_status(account).state == LoginState::Live;
        let mut env = Env::new().set(CONFIG_DIR_ENV, &account.config_dir);
        if let (false, Some(token)) = (login, &account.token) {
            env = env.set(token_variable(token), token);
        }
        Ok(env.set(PROFILE_DIR_ENV, &format!("{}/{PROFILE_SUBDIR}", account.config_dir)))
    }

    fn detect_wall(output: &str, now: i64, zone: &str) -> Option<Wall> {
        detect(output, now, zone)
    }
}

accounts_plugin::export!(Claude);

/// The variable a static token goes in, by its prefix.
fn token_variable(token: &str) -> &'static str {
    if token.starts_with(API_KEY_PREFIX) { API_KEY_ENV } else { OAUTH_TOKEN_ENV }
}

/// Live while refreshable or unexpired.
fn login_state(refreshable: bool, expires_at: Option<i64>, now: i64) -> LoginState {
    if refreshable || expires_at.is_some_and(|at| at > now) { LoginState::Live } else { LoginState::Expired }
}

/// Phrases that start a usage-limit message (claude-code 2.1.197: the
/// rejection messages of `xfp`/`kfp`, built as "You've hit your <kind>"
/// plus " · resets <time>" when the limit has one).
const WALL_PHRASES: &[&str] = &[
    "You've hit your ",
    "You're out of usage credits",
    "Your org is out of usage",
    "Your seat type doesn't include usage",
    "This service is disabled for your org",
    "Your usage allocation has been disabled by your admin",
    "Your group's usage limit is set to $0",
];

/// Older versions: "5-hour limit reached ∙ resets 3pm", "Weekly limit
/// reached · resets 10am (Asia/Seoul)".
const OLD_PHRASE: &str = "limit reached";

/// Cooldowns of fast mode, not account limits: "You've hit your fast limit
/// · resets in 5m", "Fast limit reached and temporarily disabled · resets
/// in 5m 30s", "Fast mode overloaded and is temporarily unavailable".
fn is_fast_mode(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.contains("fast limit") || lower.contains("fast mode")
}

/// Claude's wall messages, newest line first: the stream-json
/// `rate_limit_event` with `"status":"rejected"`, the epoch form of older
/// versions (`Claude AI usage limit reached|<epoch>`), and the lines above,
/// whose reset ("resets 3pm (Europe/Paris)", "resets Nov 27, 10am (...)")
/// is in the named zone or else the host's `zone`.
fn detect(output: &str, now: i64, zone: &str) -> Option<Wall> {
    const EPOCH_FORM: &str = "Claude AI usage limit reached";
    for line in output.lines().rev() {
        let line = &line.replace('\u{2019}', "'");
        if line.contains("\"rate_limit_event\"") {
            if let Some(reset) = rejected_event(line) {
                return Some(Wall::new(reset, line));
            }
            continue;
        }
        if let Some(at) = line.find(EPOCH_FORM) {
            let reset = text::number_after(&line[at..], EPOCH_FORM).map(text::epoch_seconds);
            return Some(Wall::new(reset, line));
        }
        if is_fast_mode(line) {
            continue;
        }
        let current = WALL_PHRASES.iter().any(|p| line.contains(p));
        let old = line.contains(OLD_PHRASE) && line.contains("resets");
        if current || old {
            return Some(Wall::new(clock::reset_after(line, "resets", now, zone), line));
        }
    }
    None
}

/// A stream-json `rate_limit_event` that rejects the request: its reset,
/// if it gives one. `None` for any other event (allowed, warnings, or a
/// rejection the account's usage credits take over).
fn rejected_event(line: &str) -> Option<Option<i64>> {
    let event = json::parse(line.trim())?;
    let info = &event["rate_limit_info"];
    let rejected = json::str(&event, &["type"]) == Some("rate_limit_event")
        && info["status"] == "rejected"
        && info["isUsingOverage"] != true;
    rejected.then(|| json::int(info, &["resetsAt"]).map(text::epoch_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_both_token_kinds() {
        for (token, ok) in [
            ("sk-ant-oat01-abc", true),
            ("sk-ant-api03-abc", true),
            ("sk-ant-oat01-", false),
            ("sk-proj-abc", false),
            (" \t", false),
            ("sk-ant-oat01-a\nb", false),
        ] {
            assert_eq!(Claude::validate_token(token).is_ok(), ok, "{token:?}");
        }
    }

    #[test]
    fn tokens_go_to_their_own_variable_and_profiles_stay_in_the_account() {
        let account =
            |token: &str| Account { name: "a".into(), config_dir: "/c".into(), token: Some(token.into()), now: 0 };
        let env = Claude::launch_env(&account("sk-ant-api03-k")).unwrap();
        assert_eq!(env.get(API_KEY_ENV), Some("sk-ant-api03-k"));
        let env = Claude::launch_env(&account("sk-ant-oat01-k")).unwrap();
        assert_eq!(env.get(OAUTH_TOKEN_ENV), Some("sk-ant-oat01-k"));
        assert_eq!(env.get(PROFILE_DIR_ENV), Some("/c/anthropic-profiles"));
    }

    #[test]
    fn a_login_lives_while_it_can_be_refreshed() {
        assert_eq!(login_state(true, Some(10), 100), LoginState::Live, "expired access, refresh token");
        assert_eq!(login_state(false, Some(200), 100), LoginState::Live);
        assert_eq!(login_state(false, Some(10), 100), LoginState::Expired);
        assert_eq!(login_state(false, None, 100), LoginState::Expired);
    }

    #[test]
    fn the_corpus() {
        accounts_plugin::corpus::check_dir(env!("CARGO_MANIFEST_DIR"), |t, now, zone| {
            detect(t, now, zone).map(|w| w.resets_at)
        });
    }
}

//! Built-in plugin for Claude Code, grounded in claude-code 2.1.197 (the
//! corpus and tests/agents.rs check these facts against the real CLI).
//!
//! Facts:
//! - `CLAUDE_CONFIG_DIR` isolates an account's files; the login lives in
//!   `.credentials.json` (`claudeAiOauth`: `accessToken`, `refreshToken`,
//!   `expiresAt` in epoch milliseconds), the identity in `.claude.json`.
//! - A login is alive while the agent can refresh it: with an expired access
//!   token but a refresh token, `claude auth status` still reports it.
//! - Precedence (`claude auth status`): `ANTHROPIC_AUTH_TOKEN`, then
//!   `CLAUDE_CODE_OAUTH_TOKEN` (`sk-ant-oat01-`), beat the login, and
//!   `ANTHROPIC_API_KEY` (`sk-ant-api03-`) shadows it. So a static token is
//!   set only when the account has no login, and the other variables are
//!   always cleared.
//! - Without a login of its own, Claude falls back to the Anthropic profile
//!   in `$HOME/.config/anthropic/` (the `ant` CLI's), shared by every
//!   account: `ANTHROPIC_CONFIG_DIR` points it at the account's own dir.

use accounts_plugin_kit::{self as kit, clock, text};

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

const KIND: &str = "claude";
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

struct Claude;

impl Guest for Claude {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: KIND.into(),
            label: "Claude Code".into(),
            config_dir_env: Some(CONFIG_DIR_ENV.into()),
            token_env: Some(OAUTH_TOKEN_ENV.into()),
            token_file_name: Some(".oauth-token".into()),
            credential_file_name: Some(CREDENTIALS_FILE.into()),
            token_prefix: OAUTH_PREFIX.into(),
            enroll_methods: vec!["login".into(), "token".into()],
            enroll_hint: "run `CLAUDE_CONFIG_DIR=<config_dir> claude auth login`, or store a \
                          `claude setup-token` token in token_file"
                .into(),
            env_keys: [CONFIG_DIR_ENV, OAUTH_TOKEN_ENV, API_KEY_ENV, AUTH_TOKEN_ENV, PROFILE_DIR_ENV, PROFILE_ENV]
                .map(String::from)
                .into(),
        }
    }

    fn validate_token(token: String) -> bool {
        kit::token_has_shape(&token, &[OAUTH_PREFIX, API_KEY_PREFIX])
    }

    fn env_overrides(config_dir: String, token: Option<String>) -> Vec<(String, String)> {
        let token_env = token.as_deref().map(token_variable);
        let mut env = kit::generic_env(Some(CONFIG_DIR_ENV), &config_dir, token_env, token.as_deref());
        env.push((PROFILE_DIR_ENV.into(), format!("{config_dir}/{PROFILE_SUBDIR}")));
        env
    }

    fn launch_env(account: Account) -> Result<Vec<(String, String)>, String> {
        if let Some(token) = &account.token
            && !Self::validate_token(token.clone())
        {
            return Err(format!(
                "the static token of account {:?} is not a Claude token \
                 (expected {OAUTH_PREFIX}… or {API_KEY_PREFIX}…)",
                account.name
            ));
        }
        let login = kit::read_config_json(CREDENTIALS_FILE).is_some_and(|c| has_live_login(&c, account.now));
        let token = if login { None } else { account.token };
        Ok(Self::env_overrides(account.config_dir, token))
    }

    fn detect_wall(output: String, now: i64, zone: String) -> Option<Wall> {
        detect(&output, now, &zone).map(|(resets_at, matched)| Wall { resets_at, matched })
    }
}

/// The variable a static token goes in, by its prefix.
fn token_variable(token: &str) -> &'static str {
    if token.starts_with(API_KEY_PREFIX) { API_KEY_ENV } else { OAUTH_TOKEN_ENV }
}

/// Whether `.credentials.json` holds a login Claude can use: one it can
/// refresh (a refresh token), or whose access token has not expired yet.
fn has_live_login(credentials: &serde_json::Value, now: i64) -> bool {
    let oauth = &credentials["claudeAiOauth"];
    let present = |key: &str| oauth[key].as_str().is_some_and(|v| !v.is_empty());
    present("accessToken")
        && (present("refreshToken")
            || kit::json_i64(oauth, &["expiresAt"]).is_some_and(|ms| kit::is_live_millis(ms, now)))
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
fn detect(output: &str, now: i64, zone: &str) -> Option<(Option<i64>, String)> {
    const EPOCH_FORM: &str = "Claude AI usage limit reached";
    for line in output.lines().rev() {
        let line = &line.replace('\u{2019}', "'");
        if line.contains("\"rate_limit_event\"") {
            if let Some(reset) = rejected_event(line) {
                return Some((reset, kit::clip_matched(line)));
            }
            continue;
        }
        if let Some(at) = line.find(EPOCH_FORM) {
            let reset = text::number_after(&line[at..], EPOCH_FORM).map(text::epoch_seconds);
            return Some((reset, kit::clip_matched(line)));
        }
        if is_fast_mode(line) {
            continue;
        }
        let current = WALL_PHRASES.iter().any(|p| line.contains(p));
        let old = line.contains(OLD_PHRASE) && line.contains("resets");
        if current || old {
            return Some((clock::reset_after(line, "resets", now, zone), kit::clip_matched(line)));
        }
    }
    None
}

/// A stream-json `rate_limit_event` that rejects the request: its reset,
/// if it gives one. `None` for any other event (allowed, warnings, or a
/// rejection the account's usage credits take over).
fn rejected_event(line: &str) -> Option<Option<i64>> {
    let event: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let info = &event["rate_limit_info"];
    let rejected = kit::json_str(&event, &["type"]) == Some("rate_limit_event")
        && info["status"] == "rejected"
        && info["isUsingOverage"] != true;
    rejected.then(|| kit::json_i64(info, &["resetsAt"]).map(text::epoch_seconds))
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Claude);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_both_token_kinds() {
        assert!(Claude::validate_token("sk-ant-oat01-abc".into()));
        assert!(Claude::validate_token("sk-ant-api03-abc".into()));
        assert!(!Claude::validate_token("sk-ant-oat01-".into()));
        assert!(!Claude::validate_token("sk-proj-abc".into()));
        assert!(!Claude::validate_token(" \t".into()));
        assert!(!Claude::validate_token("sk-ant-oat01-a\nb".into()));
    }

    #[test]
    fn api_keys_go_to_their_own_variable_and_profiles_stay_in_the_account() {
        let env = Claude::env_overrides("/c".into(), Some("sk-ant-api03-k".into()));
        assert_eq!(env[1].0, API_KEY_ENV);
        let env = Claude::env_overrides("/c".into(), Some("sk-ant-oat01-k".into()));
        assert_eq!(env[1].0, OAUTH_TOKEN_ENV);
        let env = Claude::env_overrides("/c".into(), None);
        assert_eq!(
            env,
            [(CONFIG_DIR_ENV.into(), "/c".into()), (PROFILE_DIR_ENV.into(), "/c/anthropic-profiles".into())]
        );
    }

    #[test]
    fn a_login_lives_while_it_can_be_refreshed() {
        let now = 1_795_348_800;
        let creds = |access: bool, refresh: bool, expires_ms: i64| {
            let mut oauth = serde_json::json!({"expiresAt": expires_ms});
            if access {
                oauth["accessToken"] = "sk-ant-oat01-a".into();
            }
            if refresh {
                oauth["refreshToken"] = "sk-ant-ort01-r".into();
            }
            serde_json::json!({"claudeAiOauth": oauth})
        };
        let past = (now - 3600) * 1000;
        let future = (now + 3600) * 1000;
        assert!(has_live_login(&creds(true, true, past), now), "expired access, refresh token: live");
        assert!(has_live_login(&creds(true, false, future), now));
        assert!(!has_live_login(&creds(true, false, past), now), "expired and nothing to refresh with");
        assert!(!has_live_login(&creds(false, true, future), now));
        assert!(!has_live_login(&serde_json::json!({}), now));
    }

    #[test]
    fn the_corpus() {
        kit::corpus::check_dir(env!("CARGO_MANIFEST_DIR"), |text, now, zone| detect(text, now, zone).map(|w| w.0));
    }
}

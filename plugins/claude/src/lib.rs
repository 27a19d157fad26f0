//! Built-in plugin for Claude Code.
//!
//! Facts: `CLAUDE_CONFIG_DIR` isolates an account; a static token is either a
//! long-lived OAuth token (`sk-ant-oat01-`, `CLAUDE_CODE_OAUTH_TOKEN`) or an API
//! key (`sk-ant-api03-`, `ANTHROPIC_API_KEY`). The login session lives in
//! `.credentials.json` with `claudeAiOauth.expiresAt` in epoch milliseconds; a
//! live session wins over a static token so a token never shadows it.

use accounts_plugin_kit::{self as kit, clock, text};

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

const KIND: &str = "claude";
const CONFIG_DIR_ENV: &str = "CLAUDE_CONFIG_DIR";
const OAUTH_TOKEN_ENV: &str = "CLAUDE_CODE_OAUTH_TOKEN";
const API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
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
            enroll_hint: "run `CLAUDE_CONFIG_DIR=<config_dir> claude` and /login, or store a \
                          `claude setup-token` token in token_file"
                .into(),
            env_keys: vec![CONFIG_DIR_ENV.into(), OAUTH_TOKEN_ENV.into(), API_KEY_ENV.into()],
        }
    }

    fn validate_token(token: String) -> bool {
        kit::token_has_shape(&token, &[OAUTH_PREFIX, API_KEY_PREFIX])
    }

    fn env_overrides(config_dir: String, token: Option<String>) -> Vec<(String, String)> {
        let token_env = token.as_deref().map(token_variable);
        kit::generic_env(Some(CONFIG_DIR_ENV), &config_dir, token_env, token.as_deref())
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
        let live = kit::read_config_json(CREDENTIALS_FILE)
            .and_then(|c| kit::json_i64(&c, &["claudeAiOauth", "expiresAt"]))
            .is_some_and(|ms| kit::is_live_millis(ms, account.now));
        let token = if live { None } else { account.token };
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

/// Claude's wall messages: `Claude AI usage limit reached|<epoch>`, the
/// stream-json `rate_limit_event` with `"status":"rejected"`, and the
/// interactive "limit reached · resets 3pm (Europe/Paris)" forms, whose clock
/// time is in the named zone or else the host's `zone`.
fn detect(output: &str, now: i64, zone: &str) -> Option<(Option<i64>, String)> {
    const EPOCH_FORM: &str = "Claude AI usage limit reached";
    if let Some(at) = output.find(EPOCH_FORM) {
        let line = text::line_at(output, at);
        let reset = text::number_after(&output[at..], EPOCH_FORM).map(text::epoch_seconds);
        return Some((reset, kit::clip_matched(line)));
    }
    for line in output.lines() {
        if line.contains("\"rate_limit_event\"")
            && let Ok(event) = serde_json::from_str::<serde_json::Value>(line.trim())
            && kit::json_str(&event, &["type"]) == Some("rate_limit_event")
            && kit::json_str(&event, &["rate_limit_info", "status"]) == Some("rejected")
        {
            let reset = kit::json_i64(&event, &["rate_limit_info", "resetsAt"]).map(text::epoch_seconds);
            return Some((reset, kit::clip_matched(line)));
        }
    }
    for phrase in ["limit reached", "hit your limit", "hit your session limit"] {
        if let Some(at) = output.find(phrase) {
            let line = text::line_at(output, at);
            if line.contains("resets") {
                return Some((clock::reset_after(line, "resets", now, zone), kit::clip_matched(line)));
            }
        }
    }
    None
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
    fn api_keys_go_to_their_own_variable() {
        let env = Claude::env_overrides("/c".into(), Some("sk-ant-api03-k".into()));
        assert_eq!(env[1].0, API_KEY_ENV);
        let env = Claude::env_overrides("/c".into(), Some("sk-ant-oat01-k".into()));
        assert_eq!(env[1].0, OAUTH_TOKEN_ENV);
        assert_eq!(Claude::env_overrides("/c".into(), None).len(), 1);
    }

    /// 2026-11-22 12:00 UTC.
    const NOW: i64 = 1_795_348_800;

    fn detect(output: &str) -> Option<(Option<i64>, String)> {
        super::detect(output, NOW, "UTC")
    }

    #[test]
    fn epoch_wall() {
        let (reset, matched) = detect("working...\nClaude AI usage limit reached|1750708800\n").unwrap();
        assert_eq!(reset, Some(1_750_708_800));
        assert_eq!(matched, "Claude AI usage limit reached|1750708800");
    }

    #[test]
    fn stream_json_wall() {
        let line = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1750708800}}"#;
        assert_eq!(detect(line).unwrap().0, Some(1_750_708_800));
        let allowed = line.replace("rejected", "allowed");
        assert!(detect(&allowed).is_none(), "an allowed event is not a wall");
    }

    #[test]
    fn clock_forms_carry_their_reset() {
        let hour = 3_600;
        // 15:00 UTC (the host's zone here) is 3 h after NOW.
        assert_eq!(detect("5-hour limit reached ∙ resets 3pm").unwrap().0, Some(NOW + 3 * hour));
        // 10:00 in Seoul (UTC+9) is 01:00 UTC tomorrow.
        assert_eq!(detect("Weekly limit reached · resets 10am (Asia/Seoul)").unwrap().0, Some(NOW + 13 * hour));
        // 23:00 in Paris (UTC+1 in November) is 22:00 UTC.
        let (reset, matched) = detect("x\nYou've hit your limit · resets 11pm (Europe/Paris)\ny").unwrap();
        assert_eq!(reset, Some(NOW + 10 * hour));
        assert_eq!(matched, "You've hit your limit · resets 11pm (Europe/Paris)");
        // 02:50 in New York (UTC-5) is 07:50 UTC tomorrow.
        let session = detect("You've hit your session limit · resets 2:50am (America/New_York)").unwrap();
        assert_eq!(session.0, Some(NOW + 19 * hour + 50 * 60));
        // The host's zone applies when the message names none.
        assert_eq!(super::detect("limit reached ∙ resets 3pm", NOW, "Asia/Tokyo").unwrap().0, Some(NOW + 18 * hour));
    }

    #[test]
    fn wall_without_readable_time_falls_back() {
        assert_eq!(detect("5-hour limit reached ∙ resets soon").unwrap().0, None);
        assert!(detect("the limit reached its end").is_none());
        assert!(detect("all good").is_none());
    }
}

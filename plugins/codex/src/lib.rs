//! Built-in plugin for the Codex CLI.
//!
//! Facts: `CODEX_HOME` isolates an account; a static API key goes in
//! `OPENAI_API_KEY` (`CODEX_API_KEY` is the other name Codex reads, so it is
//! declared and cleared). The login lives in `auth.json`, whose
//! `tokens.access_token` is a JWT: its `exp` claim says whether it is live.

use accounts_plugin_kit::{self as kit, clock, text};

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

const KIND: &str = "codex";
const CONFIG_DIR_ENV: &str = "CODEX_HOME";
const TOKEN_ENV: &str = "OPENAI_API_KEY";
const ALT_TOKEN_ENV: &str = "CODEX_API_KEY";
const TOKEN_PREFIX: &str = "sk-";
/// Anthropic keys also start with `sk-`; one in an OpenAI slot is a mix-up.
const FOREIGN_PREFIX: &str = "sk-ant-";
const AUTH_FILE: &str = "auth.json";

struct Codex;

impl Guest for Codex {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: KIND.into(),
            label: "Codex CLI".into(),
            config_dir_env: Some(CONFIG_DIR_ENV.into()),
            token_env: Some(TOKEN_ENV.into()),
            token_file_name: None,
            credential_file_name: Some(AUTH_FILE.into()),
            token_prefix: TOKEN_PREFIX.into(),
            enroll_methods: vec!["login".into(), "token".into()],
            enroll_hint: "run `CODEX_HOME=<config_dir> codex login`, or put an API key in token_file".into(),
            env_keys: vec![CONFIG_DIR_ENV.into(), TOKEN_ENV.into(), ALT_TOKEN_ENV.into()],
        }
    }

    fn validate_token(token: String) -> bool {
        kit::token_has_shape(&token, &[TOKEN_PREFIX]) && !token.starts_with(FOREIGN_PREFIX)
    }

    fn env_overrides(config_dir: String, token: Option<String>) -> Vec<(String, String)> {
        kit::generic_env(Some(CONFIG_DIR_ENV), &config_dir, Some(TOKEN_ENV), token.as_deref())
    }

    fn launch_env(account: Account) -> Result<Vec<(String, String)>, String> {
        if let Some(token) = &account.token
            && !Self::validate_token(token.clone())
        {
            return Err(format!(
                "the static token of account {:?} is not an OpenAI API key (expected {TOKEN_PREFIX}…)",
                account.name
            ));
        }
        let live = kit::read_config_json(AUTH_FILE)
            .and_then(|auth| kit::json_str(&auth, &["tokens", "access_token"]).and_then(kit::jwt_expiry))
            .is_some_and(|exp| exp > account.now);
        let token = if live { None } else { account.token };
        Ok(Self::env_overrides(account.config_dir, token))
    }

    fn detect_wall(output: String, now: i64, zone: String) -> Option<Wall> {
        detect(&output, now, &zone).map(|(resets_at, matched)| Wall { resets_at, matched })
    }
}

/// Codex's wall messages: the 429 body with `usage_limit_reached` (and
/// `resets_at` or `resets_in_seconds`), and "You've hit your usage limit ...
/// try again in 3 days 6 hours 57 minutes." (the "try again at 3:28 PM" form
/// is recognised; its clock time is not parsed yet).
fn detect(output: &str, now: i64, zone: &str) -> Option<(Option<i64>, String)> {
    if let Some(at) = output.find("usage_limit_reached") {
        let reset = text::number_after(output, "\"resets_at\"")
            .map(text::epoch_seconds)
            .or_else(|| text::number_after(output, "\"resets_in_seconds\"").map(|s| now + s));
        return Some((reset, kit::clip_matched(text::line_at(output, at))));
    }
    let at = output.find("hit your usage limit")?;
    let line = text::line_at(output, at);
    Some((clock::reset_after(line, "try again", now, zone), kit::clip_matched(line)))
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Codex);

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22 12:00 UTC.
    const NOW: i64 = 1_795_348_800;
    const HOUR: i64 = 3_600;

    fn detect(output: &str, now: i64) -> Option<(Option<i64>, String)> {
        super::detect(output, now, "UTC")
    }

    #[test]
    fn tokens() {
        assert!(Codex::validate_token("sk-proj-abc".into()));
        assert!(!Codex::validate_token("".into()));
        assert!(!Codex::validate_token("sk-a\nb".into()));
        assert!(!Codex::validate_token("sk-ant-oat01-abc".into()), "a Claude token is not an OpenAI key");
    }

    #[test]
    fn duration_wall() {
        let msg = "You've hit your usage limit. Upgrade to Pro or try again in 3 days 6 hours 57 minutes.";
        let (reset, matched) = detect(msg, NOW).unwrap();
        assert_eq!(reset, Some(NOW + 3 * 86_400 + 6 * HOUR + 57 * 60));
        assert_eq!(matched, msg);
    }

    #[test]
    fn http_429_wall() {
        let body = r#"429: {"error":{"type":"usage_limit_reached","resets_at":1790003600}}"#;
        assert_eq!(detect(body, NOW).unwrap().0, Some(1_790_003_600));
        let body = r#"{"error":{"type":"usage_limit_reached","resets_in_seconds":120}}"#;
        assert_eq!(detect(body, NOW).unwrap().0, Some(NOW + 120));
    }

    #[test]
    fn clock_time_wall() {
        let msg = "You've hit your usage limit. Upgrade to Pro or try again at 3:28 PM.";
        assert_eq!(detect(msg, NOW).unwrap().0, Some(NOW + 3 * HOUR + 28 * 60));
        // In the host's zone: 15:28 in Los Angeles (UTC-8) is 23:28 UTC.
        assert_eq!(super::detect(msg, NOW, "America/Los_Angeles").unwrap().0, Some(NOW + 11 * HOUR + 28 * 60));
        // Already past today: tomorrow.
        assert_eq!(detect(msg, NOW + 4 * HOUR).unwrap().0, Some(NOW + 27 * HOUR + 28 * 60));
    }

    #[test]
    fn day_and_time_wall() {
        let msg = "You've hit your usage limit. Upgrade to Pro or try again at Aug 8th, 2027 12:30 PM.";
        // 2027-08-08 12:30 UTC.
        assert_eq!(detect(msg, NOW).unwrap().0, Some(1_817_728_200));
        assert!(detect("all fine", NOW).is_none());
    }
}

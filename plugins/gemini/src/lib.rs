//! Built-in plugin for the Gemini CLI.
//!
//! Facts: `GEMINI_CLI_HOME` stands in for HOME, so the CLI's `.gemini/` lives
//! inside the account's config dir; a static key goes in `GEMINI_API_KEY`
//! (`AIza…`). The login lives in `.gemini/oauth_creds.json`, whose
//! `expiry_date` is in epoch milliseconds.

use accounts_plugin_kit::{self as kit, clock, text};

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

const KIND: &str = "gemini";
const CONFIG_DIR_ENV: &str = "GEMINI_CLI_HOME";
const TOKEN_ENV: &str = "GEMINI_API_KEY";
const TOKEN_PREFIX: &str = "AIza";
const CREDENTIALS_FILE: &str = ".gemini/oauth_creds.json";

struct Gemini;

impl Guest for Gemini {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: KIND.into(),
            label: "Gemini CLI".into(),
            config_dir_env: Some(CONFIG_DIR_ENV.into()),
            token_env: Some(TOKEN_ENV.into()),
            token_file_name: None,
            credential_file_name: Some(CREDENTIALS_FILE.into()),
            token_prefix: TOKEN_PREFIX.into(),
            enroll_methods: vec!["login".into(), "token".into()],
            enroll_hint: "run `GEMINI_CLI_HOME=<config_dir> gemini` and sign in, or put an API key in token_file"
                .into(),
            env_keys: vec![CONFIG_DIR_ENV.into(), TOKEN_ENV.into()],
        }
    }

    fn validate_token(token: String) -> bool {
        kit::token_has_shape(&token, &[TOKEN_PREFIX])
    }

    fn env_overrides(config_dir: String, token: Option<String>) -> Vec<(String, String)> {
        kit::generic_env(Some(CONFIG_DIR_ENV), &config_dir, Some(TOKEN_ENV), token.as_deref())
    }

    fn launch_env(account: Account) -> Result<Vec<(String, String)>, String> {
        if let Some(token) = &account.token
            && !Self::validate_token(token.clone())
        {
            return Err(format!(
                "the static token of account {:?} is not a Gemini API key (expected {TOKEN_PREFIX}…)",
                account.name
            ));
        }
        let live = kit::read_config_json(CREDENTIALS_FILE)
            .and_then(|creds| kit::json_i64(&creds, &["expiry_date"]))
            .is_some_and(|ms| kit::is_live_millis(ms, account.now));
        let token = if live { None } else { account.token };
        Ok(Self::env_overrides(account.config_dir, token))
    }

    fn detect_wall(output: String, now: i64, zone: String) -> Option<Wall> {
        detect(&output, now, &zone).map(|(resets_at, matched)| Wall { resets_at, matched })
    }
}

/// Gemini's wall messages: a 429 `RESOURCE_EXHAUSTED` body with `retryDelay`,
/// "You have exhausted your daily quota", and "Usage limit reached for
/// <model>. Access resets at 3:45 PM PST." (clock time not parsed yet).
fn detect(output: &str, now: i64, zone: &str) -> Option<(Option<i64>, String)> {
    if let Some(at) = output.find("RESOURCE_EXHAUSTED") {
        let reset = output.find("\"retryDelay\"").and_then(|i| {
            let rest = output[i + "\"retryDelay\"".len()..].trim_start_matches([':', ' ', '"']);
            text::duration_seconds(rest).map(|secs| now + secs)
        });
        return Some((reset, kit::clip_matched(text::line_at(output, at))));
    }
    let at = output.find("Usage limit reached for").or_else(|| output.find("exhausted your daily quota"))?;
    let line = text::line_at(output, at);
    Some((clock::reset_after(line, "resets", now, zone), kit::clip_matched(line)))
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Gemini);

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22 12:00 UTC.
    const NOW: i64 = 1_795_348_800;

    fn detect(output: &str) -> Option<(Option<i64>, String)> {
        super::detect(output, NOW, "UTC")
    }

    #[test]
    fn tokens() {
        assert!(Gemini::validate_token("AIzaSyExample".into()));
        assert!(!Gemini::validate_token("sk-abc".into()));
    }

    #[test]
    fn retry_delay_wall() {
        let body = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"34s"}]}}"#;
        assert_eq!(detect(body).unwrap().0, Some(NOW + 34));
    }

    #[test]
    fn quota_walls() {
        assert_eq!(detect("You have exhausted your daily quota on this model.").unwrap().0, None);
        // 15:45 PST (UTC-8) is 23:45 UTC.
        let msg = "Usage limit reached for gemini-2.5-pro. Access resets at 3:45 PM PST.";
        let (reset, matched) = detect(msg).unwrap();
        assert_eq!(reset, Some(NOW + 11 * 3_600 + 45 * 60));
        assert_eq!(matched, msg);
        assert!(detect("hello").is_none());
    }
}

//! Built-in plugin for the Gemini CLI, grounded in gemini-cli 0.61.0 (the
//! corpus and tests/agents.rs check these facts against the real CLI).
//!
//! Facts:
//! - `GEMINI_CLI_HOME` stands in for HOME: `.gemini/` lives inside the
//!   account's config dir, and the CLI writes nowhere else.
//! - The login lives in `.gemini/oauth_creds.json` (`refresh_token`,
//!   `expiry_date` in epoch milliseconds), or, with
//!   `GEMINI_FORCE_ENCRYPTED_FILE_STORAGE=true`, encrypted in
//!   `.gemini/gemini-credentials.json` (or the OS keychain, which no plugin
//!   can see).
//! - An auth type selected in `.gemini/settings.json`
//!   (`security.auth.selectedType`) beats `GEMINI_API_KEY` (`AIza…`): with
//!   `oauth-personal` selected, the key is never sent. Without a selected
//!   type, the key selects `gemini-api-key` itself.

use accounts_plugin_kit::{self as kit, clock, text};

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

const KIND: &str = "gemini";
const CONFIG_DIR_ENV: &str = "GEMINI_CLI_HOME";
const TOKEN_ENV: &str = "GEMINI_API_KEY";
const TOKEN_PREFIX: &str = "AIza";
const CREDENTIALS_FILE: &str = ".gemini/oauth_creds.json";
const ENCRYPTED_CREDENTIALS_FILE: &str = ".gemini/gemini-credentials.json";
const SETTINGS_FILE: &str = ".gemini/settings.json";
/// The auth type under which `GEMINI_API_KEY` is used.
const API_KEY_AUTH: &str = "gemini-api-key";

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
            enroll_hint: "run `GEMINI_CLI_HOME=<config_dir> gemini` and choose Login with Google, or put an API \
                          key in token_file (with security.auth.selectedType \"gemini-api-key\" or none)"
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
        let login = has_login(kit::read_config_json(CREDENTIALS_FILE).as_ref(), account.now)
            || kit::config_file_exists(ENCRYPTED_CREDENTIALS_FILE);
        let selected = kit::read_config_json(SETTINGS_FILE)
            .and_then(|s| kit::json_str(&s, &["security", "auth", "selectedType"]).map(str::to_owned));
        let token = match (account.token, login, selected.as_deref()) {
            (token @ Some(_), false, None | Some(API_KEY_AUTH)) => token,
            (Some(_), false, Some(other)) => {
                return Err(format!(
                    "account {:?} has a static API key, but its {SETTINGS_FILE} selects the auth type {other:?}, \
                     which Gemini CLI uses instead: the key would be ignored and the agent would run logged out. \
                     Set security.auth.selectedType to \"{API_KEY_AUTH}\" there, or log the account in",
                    account.name
                ));
            }
            // A login of its own wins over a static key.
            _ => None,
        };
        Ok(Self::env_overrides(account.config_dir, token))
    }

    fn detect_wall(output: String, now: i64, zone: String) -> Option<Wall> {
        detect(&output, now, &zone).map(|(resets_at, matched)| Wall { resets_at, matched })
    }
}

/// Whether `oauth_creds.json` holds a login the CLI can use: one it can
/// refresh, or whose access token has not expired.
fn has_login(credentials: Option<&serde_json::Value>, now: i64) -> bool {
    let Some(creds) = credentials else { return false };
    let present = |key: &str| kit::json_str(creds, &[key]).is_some_and(|v| !v.is_empty());
    present("refresh_token")
        || present("access_token")
            && kit::json_i64(creds, &["expiry_date"]).is_some_and(|ms| kit::is_live_millis(ms, now))
}

/// Gemini's wall messages (gemini-cli 0.61.0), newest first:
/// - "Usage limit reached for <model>." then, on the next line when the
///   reset is known, "Access resets at 3:45 PM PST." (`Intl` short zone
///   names: PST, or GMT+9 where there is no abbreviation);
/// - "You have exhausted your daily quota on this model.";
/// - a quota error with "Suggested retry after 3600s.";
/// - a 429 `RESOURCE_EXHAUSTED` body with `retryDelay`.
///
/// The same "Access resets at" follows "We are currently experiencing high
/// demand", a capacity message: not a wall.
fn detect(output: &str, now: i64, zone: &str) -> Option<(Option<i64>, String)> {
    let lines: Vec<&str> = output.lines().collect();
    for (i, line) in lines.iter().enumerate().rev() {
        if line.contains("Usage limit reached for") {
            // The reset is on one of the next lines, when it is known.
            let reset = lines[i..].iter().take(3).find_map(|l| clock::reset_after(l, "access resets at", now, zone));
            let end = (i + 3).min(lines.len());
            return Some((reset, kit::clip_matched(&lines[i..end].join("\n"))));
        }
        if let Some(at) = line.find("Suggested retry after") {
            let reset = text::duration_seconds(&line[at + "Suggested retry after".len()..]).map(|s| now + s);
            let start = i.saturating_sub(1);
            return Some((reset, kit::clip_matched(&lines[start..=i].join("\n"))));
        }
        if line.contains("exhausted your daily quota") {
            return Some((None, kit::clip_matched(line)));
        }
        if line.contains("RESOURCE_EXHAUSTED") {
            let reset = line.find("\"retryDelay\"").and_then(|at| {
                let rest = line[at + "\"retryDelay\"".len()..].trim_start_matches([':', ' ', '"']);
                text::duration_seconds(rest).map(|secs| now + secs)
            });
            return Some((reset, kit::clip_matched(line)));
        }
    }
    None
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Gemini);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(Gemini::validate_token("AIzaSyExample".into()));
        assert!(!Gemini::validate_token("sk-abc".into()));
    }

    #[test]
    fn logins_the_cli_uses() {
        let now = 1_795_348_800;
        let creds = |v: serde_json::Value| has_login(Some(&v), now);
        assert!(creds(serde_json::json!({"access_token": "a", "refresh_token": "r", "expiry_date": 1})));
        assert!(creds(serde_json::json!({"access_token": "a", "expiry_date": (now + 60) * 1000})));
        assert!(!creds(serde_json::json!({"access_token": "a", "expiry_date": (now - 60) * 1000})));
        assert!(!has_login(None, now));
    }

    #[test]
    fn the_corpus() {
        kit::corpus::check_dir(env!("CARGO_MANIFEST_DIR"), |text, now, zone| detect(text, now, zone).map(|w| w.0));
    }
}

//! Built-in plugin for the Codex CLI, grounded in codex 0.169.0 (the
//! corpus and tests/agents.rs check these facts against the real CLI).
//!
//! Facts:
//! - `CODEX_HOME` isolates an account (it must exist before codex runs; the
//!   host creates the config dir).
//! - The login lives in `auth.json`: a ChatGPT login (`tokens`: an
//!   `access_token` JWT whose `exp` is its expiry, and a `refresh_token`),
//!   or a key stored the agent's own way by `codex login --with-api-key`
//!   (`OPENAI_API_KEY` in the file).
//! - `codex exec` authenticates with `CODEX_API_KEY` from the environment,
//!   which beats a key in `auth.json`; it ignores `OPENAI_API_KEY` (it sends
//!   no credential at all), so a static key goes in `CODEX_API_KEY`, only
//!   when the account has no login of its own.

use accounts_plugin_kit::{self as kit, clock, text};

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

const KIND: &str = "codex";
const CONFIG_DIR_ENV: &str = "CODEX_HOME";
const TOKEN_ENV: &str = "CODEX_API_KEY";
/// Not read for auth by codex 0.169; cleared so another account's key
/// does not reach the tools the agent runs.
const OPENAI_KEY_ENV: &str = "OPENAI_API_KEY";
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
            enroll_hint: "run `CODEX_HOME=<config_dir> codex login` (or `--device-auth`), or store an API key \
                          the agent's way: `printenv KEY | CODEX_HOME=<config_dir> codex login --with-api-key`"
                .into(),
            env_keys: vec![CONFIG_DIR_ENV.into(), TOKEN_ENV.into(), OPENAI_KEY_ENV.into()],
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
        let login = kit::read_config_json(AUTH_FILE).is_some_and(|auth| has_login(&auth, account.now));
        let token = if login { None } else { account.token };
        Ok(Self::env_overrides(account.config_dir, token))
    }

    fn detect_wall(output: String, now: i64, zone: String) -> Option<Wall> {
        detect(&output, now, &zone).map(|(resets_at, matched)| Wall { resets_at, matched })
    }
}

/// Whether `auth.json` holds a login codex uses: a stored API key, or a
/// ChatGPT login it can refresh (a refresh token) or whose access token is
/// still valid.
fn has_login(auth: &serde_json::Value, now: i64) -> bool {
    let present = |path: &[&str]| kit::json_str(auth, path).is_some_and(|v| !v.is_empty());
    if present(&[OPENAI_KEY_ENV]) {
        return true;
    }
    let access = kit::json_str(auth, &["tokens", "access_token"]);
    access.is_some_and(|a| !a.is_empty())
        && (present(&["tokens", "refresh_token"]) || access.and_then(kit::jwt_expiry).is_some_and(|exp| exp > now))
}

/// Messages that stop Codex for the account (codex 0.169.0), each matched
/// anywhere in a line; the reset follows "try again" when there is one.
const WALL_PHRASES: &[&str] = &[
    "hit your usage limit",
    "Usage limit reached",
    "You're out of credits",
    "is out of credits",
    "You hit your spend cap",
    "reached your workspace credit limit",
    "Quota exceeded. Check your plan and billing details",
    "organization_usage_limit_exceeded",
];

/// Codex's wall messages, newest line first: the 429 body with
/// `usage_limit_reached` (and `resets_at` or `resets_in_seconds`), and the
/// lines above; "You've hit your usage limit. ... try again at 3:28 PM."
/// (today) or "... at Aug 8th, 2026 12:30 PM." (later), in the host's zone,
/// or, from older versions, "try again in 3 days 6 hours 57 minutes".
fn detect(output: &str, now: i64, zone: &str) -> Option<(Option<i64>, String)> {
    for line in output.lines().rev() {
        let line = &line.replace('\u{2019}', "'");
        if line.contains("usage_limit_reached") {
            let reset = text::number_after(line, "\"resets_at\"")
                .map(text::epoch_seconds)
                .or_else(|| text::number_after(line, "\"resets_in_seconds\"").map(|s| now + s));
            return Some((reset, kit::clip_matched(line)));
        }
        if WALL_PHRASES.iter().any(|p| line.contains(p)) {
            return Some((clock::reset_after(line, "try again", now, zone), kit::clip_matched(line)));
        }
    }
    None
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Codex);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(Codex::validate_token("sk-proj-abc".into()));
        assert!(!Codex::validate_token("".into()));
        assert!(!Codex::validate_token("sk-a\nb".into()));
        assert!(!Codex::validate_token("sk-ant-oat01-abc".into()), "a Claude token is not an OpenAI key");
    }

    #[test]
    fn a_static_key_goes_where_codex_reads_it() {
        let env = Codex::env_overrides("/c".into(), Some("sk-proj-k".into()));
        assert_eq!(env, [(CONFIG_DIR_ENV.into(), "/c".into()), ("CODEX_API_KEY".into(), "sk-proj-k".into())]);
    }

    #[test]
    fn logins_codex_uses() {
        let now = 1_795_348_800;
        let jwt = |exp: i64| {
            use base64::Engine as _;
            let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!("{}.{}.sig", enc("{}"), enc(&format!("{{\"exp\":{exp}}}")))
        };
        let chatgpt = |exp: i64, refresh: &str| serde_json::json!({"tokens": {"access_token": jwt(exp), "refresh_token": refresh, "id_token": "x"}});
        assert!(has_login(&chatgpt(now - 60, "r"), now), "expired access, refresh token: live");
        assert!(has_login(&chatgpt(now + 60, ""), now));
        assert!(!has_login(&chatgpt(now - 60, ""), now));
        assert!(has_login(&serde_json::json!({"auth_mode": "apikey", "OPENAI_API_KEY": "sk-proj-x"}), now));
        assert!(!has_login(&serde_json::json!({"OPENAI_API_KEY": null}), now));
    }

    #[test]
    fn the_corpus() {
        kit::corpus::check_dir(env!("CARGO_MANIFEST_DIR"), |text, now, zone| detect(text, now, zone).map(|w| w.0));
    }
}

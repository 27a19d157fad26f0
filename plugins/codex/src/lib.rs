//! Built-in plugin for the Codex CLI, grounded in codex 0.169.0 (the
//! corpus and tests/agents.rs check these facts against the real CLI).
//!
//! Facts:
//! - `CODEX_HOME` isolates an account (it must exist before codex runs; the
//!   host creates the config dir).
//! - The login lives in `auth.json`: a ChatGPT login (`tokens`: an
//!   `access_token` JWT whose `exp` is its expiry, a `refresh_token`, an
//!   `id_token` JWT with the `email` and the plan), or a key stored the
//!   agent's own way by `codex login --with-api-key` (`OPENAI_API_KEY`).
//! - `codex exec` authenticates with `CODEX_API_KEY` from the environment,
//!   which beats a key in `auth.json`; it ignores `OPENAI_API_KEY` (it sends
//!   no credential at all), so a static key goes in `CODEX_API_KEY`, only
//!   when the account has no login of its own.

use accounts_plugin::{Account, Agent, CredentialStatus, LoginState, Spec, Wall, clock, json, text};

const TOKEN_PREFIX: &str = "sk-";
/// Anthropic keys also start with `sk-`; one in an OpenAI slot is a mix-up.
const FOREIGN_PREFIX: &str = "sk-ant-";
const AUTH_FILE: &str = "auth.json";
/// Where the id token keeps the ChatGPT plan.
const PLAN_CLAIM: &[&str] = &["https://api.openai.com/auth", "chatgpt_plan_type"];

struct Codex;

impl Agent for Codex {
    fn spec() -> Spec {
        Spec::new("codex", "Codex CLI")
            .config_dir_env("CODEX_HOME")
            .token_env("CODEX_API_KEY")
            // Not read for auth by codex 0.169; cleared so another account's
            // key does not reach the tools the agent runs.
            .also_sets(["OPENAI_API_KEY"])
            .credential_file(AUTH_FILE)
            .token_prefixes([TOKEN_PREFIX])
            .login(["codex", "login"])
            .headless_login(["codex", "login", "--device-auth"])
            .enroll_hint(
                "run `accounts login <name>` (codex login, or --headless for a device code), or store an API key \
                 the agent's way: `printenv KEY | CODEX_HOME=<config_dir> codex login --with-api-key`",
            )
    }

    fn validate_token(token: &str) -> Result<(), String> {
        if token.starts_with(FOREIGN_PREFIX) {
            return Err("it is an Anthropic key (sk-ant-), not an OpenAI API key".into());
        }
        accounts_plugin::token_shape(&Self::spec(), token)
    }

    fn credential_status(account: &Account) -> CredentialStatus {
        json::read_config_json(AUTH_FILE).map_or_else(CredentialStatus::missing, |auth| status(&auth, account.now))
    }

    fn detect_wall(output: &str, now: i64, zone: &str) -> Option<Wall> {
        detect(output, now, zone)
    }
}

accounts_plugin::export!(Codex);

/// What `auth.json` says: a stored API key is a live login; a ChatGPT login
/// is live while it can be refreshed or its access token is valid.
fn status(auth: &json::Value, now: i64) -> CredentialStatus {
    if json::non_empty(auth, &["OPENAI_API_KEY"]).is_some() {
        return CredentialStatus::new(LoginState::Live).identity(Some("API key"));
    }
    let Some(access) = json::non_empty(auth, &["tokens", "access_token"]) else {
        return CredentialStatus::missing();
    };
    let expires_at = json::jwt_expiry(access);
    let refreshable = json::non_empty(auth, &["tokens", "refresh_token"]).is_some();
    let state =
        if refreshable || expires_at.is_some_and(|at| at > now) { LoginState::Live } else { LoginState::Expired };
    let claims = json::non_empty(auth, &["tokens", "id_token"]).and_then(json::jwt_claims);
    CredentialStatus::new(state)
        .expires_at(expires_at)
        .identity(claims.as_ref().and_then(|c| json::str(c, &["email"])))
        .plan(claims.as_ref().and_then(|c| json::str(c, PLAN_CLAIM)))
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
fn detect(output: &str, now: i64, zone: &str) -> Option<Wall> {
    for line in output.lines().rev() {
        let line = &line.replace('\u{2019}', "'");
        if line.contains("usage_limit_reached") {
            let reset = text::number_after(line, "\"resets_at\"")
                .map(text::epoch_seconds)
                .or_else(|| text::number_after(line, "\"resets_in_seconds\"").map(|s| now + s));
            return Some(Wall::new(reset, line));
        }
        if WALL_PHRASES.iter().any(|p| line.contains(p)) {
            return Some(Wall::new(clock::reset_after(line, "try again", now, zone), line));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(Codex::validate_token("sk-proj-abc").is_ok());
        assert!(Codex::validate_token("").unwrap_err().contains("empty"));
        assert!(Codex::validate_token("sk-a\nb").is_err());
        assert!(Codex::validate_token("sk-ant-oat01-abc").unwrap_err().contains("Anthropic"));
        assert!(Codex::validate_token("pk-abc").unwrap_err().contains("starts with sk-"));
    }

    #[test]
    fn a_static_key_goes_where_codex_reads_it() {
        let account = Account { name: "a".into(), config_dir: "/c".into(), token: Some("sk-proj-k".into()), now: 0 };
        let env = Codex::launch_env(&account).unwrap().into_pairs();
        assert_eq!(env, [("CODEX_HOME".into(), "/c".into()), ("CODEX_API_KEY".into(), "sk-proj-k".into())]);
    }

    /// A value as the plugin reads it from a file.
    fn file(value: serde_json::Value) -> json::Value {
        json::parse(&value.to_string()).unwrap()
    }

    fn jwt(claims: serde_json::Value) -> String {
        use base64::Engine as _;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc("{}"), enc(&claims.to_string()))
    }

    #[test]
    fn logins_codex_uses() {
        let now = 1_795_348_800;
        let chatgpt = |exp: i64, refresh: &str| {
            let id =
                jwt(serde_json::json!({"email": "a@b", "https://api.openai.com/auth": {"chatgpt_plan_type": "plus"}}));
            file(
                serde_json::json!({"tokens": {"access_token": jwt(serde_json::json!({"exp": exp})), "refresh_token": refresh, "id_token": id}}),
            )
        };
        let live = status(&chatgpt(now - 60, "r"), now);
        assert_eq!(live.state, LoginState::Live, "expired access, refresh token: live");
        assert_eq!(
            (live.identity.as_deref(), live.plan.as_deref(), live.expires_at),
            (Some("a@b"), Some("plus"), Some(now - 60))
        );
        assert_eq!(status(&chatgpt(now + 60, ""), now).state, LoginState::Live);
        assert_eq!(status(&chatgpt(now - 60, ""), now).state, LoginState::Expired);
        assert_eq!(status(&file(serde_json::json!({"OPENAI_API_KEY": "sk-proj-x"})), now).state, LoginState::Live);
        assert_eq!(status(&file(serde_json::json!({"OPENAI_API_KEY": null})), now).state, LoginState::Missing);
    }

    #[test]
    fn the_corpus() {
        accounts_plugin::corpus::check_dir(env!("CARGO_MANIFEST_DIR"), |t, now, zone| {
            detect(t, now, zone).map(|w| w.resets_at)
        });
    }
}

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

use accounts_plugin::clock::{Precision, Reset};
use accounts_plugin::messages::{self, Walls};
use accounts_plugin::{
    Account, Agent, Conversation, CredentialStatus, LoginState, Query, Spec, Usage, Wall, clock, json, text,
};

mod resume;
mod usage;

const TOKEN_PREFIX: &str = "sk-";
/// Anthropic keys also start with `sk-`; one in an OpenAI slot is a mix-up.
const FOREIGN_PREFIX: &str = "sk-ant-";
const AUTH_FILE: &str = "auth.json";
/// An access token from the environment, which codex takes over its login.
const ACCESS_TOKEN_ENV: &str = "CODEX_ACCESS_TOKEN";
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
            // Inherited, it beats the account's login and key (0.169 and
            // 0.171 then send no credential at all): cleared at launch.
            .also_sets([ACCESS_TOKEN_ENV])
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

    fn read_usage(_account: &Account) -> Vec<Usage> {
        usage::read()
    }

    fn find_conversation(_account: &Account, query: &Query) -> Option<Conversation> {
        resume::find(query)
    }

    fn resume_argv(argv: &[String], id: &str, prompt: &str) -> Result<Vec<String>, String> {
        resume::argv(argv, id, prompt)
    }
}

accounts_plugin::export!(Codex);

/// What `auth.json` says: a stored API key is a live login (with no
/// identity: two keys are two quotas, however alike they look); a ChatGPT
/// login is live while it can be refreshed or its access token is valid.
fn status(auth: &json::Value, now: i64) -> CredentialStatus {
    if json::non_empty(auth, &["OPENAI_API_KEY"]).is_some() {
        return CredentialStatus::new(LoginState::Live).plan(Some("API key"));
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

/// Messages that stop Codex for the account (codex 0.169.0 and 0.171.0),
/// each matched where the message starts (after codex's `ERROR: ` or `■ `);
/// the reset follows "try again" when there is one.
const WALL_PHRASES: &[&str] = &[
    "You've hit your usage limit",
    "Usage limit reached.",
    "You're out of credits",
    "Your workspace is out of credits",
    "You hit your spend cap",
    "You've reached your workspace credit limit",
    "Quota exceeded. Check your plan and billing details",
    // 0.171.0's TUI: "Usage limit reached" over this line, and /goal's note.
    "Your included usage is exhausted",
    "Goal hit usage limits",
];

/// The codes codex's API gives in `x-openai-authorization-error` for an
/// organisation's limits, shown inside codex's "unexpected status" error.
const LIMIT_AUTH_ERRORS: &[&str] = &["organization_usage_limit_exceeded", "organization_spend_limit_exceeded"];

/// What codex prints when its API answered 429 on every retry and the body
/// was not one it names a usage limit for (codex-rs `RetryLimitReachedError`:
/// "exceeded retry limit, last status: 429 Too Many Requests", with ", request
/// id: ..." when there is one). The account is being refused: a wall, with
/// no reset (the host's cooldown). The same text with a 5xx status is an
/// outage, not a wall.
const RETRY_LIMIT_429: &str = "exceeded retry limit, last status: 429";

/// The error types of a 429 body that name the account's own limit.
const LIMIT_ERROR_TYPES: &[&str] = &["usage_limit_reached", "organization_usage_limit_exceeded"];

/// Codex's walls in `output`, the best of them (`messages::Walls`): a 429
/// body whose `error.type` names a usage limit (with `resets_at` or
/// `resets_in_seconds`), and the messages above, in plain text or inside
/// JSON strings (`codex exec --json` puts them in `"message"`): "You've hit
/// your usage limit. ... try again at 3:28 PM." (today) or "... at Aug 8th,
/// 2026 12:30 PM." (later), in the host's zone, or, from older versions,
/// "try again in 3 days 6 hours 57 minutes".
fn detect(output: &str, now: i64, zone: &str) -> Option<Wall> {
    let mut walls = Walls::new();
    for line in output.lines() {
        if let Some((_, body)) = messages::json_in(line)
            && LIMIT_ERROR_TYPES.iter().any(|t| json::str(&body, &["error", "type"]) == Some(*t))
        {
            let error = &body["error"];
            let reset = json::int(error, &["resets_at"])
                .map(text::epoch_seconds)
                .or_else(|| json::int(error, &["resets_in_seconds"]).map(|s| now + s));
            walls.offer(reset.map(|at| Reset { at, precision: Precision::Instant }), line);
            continue;
        }
        for message in messages::messages(line) {
            let body = messages::body(&message).replace('\u{2019}', "'");
            let auth_error =
                body.starts_with("unexpected status") && LIMIT_AUTH_ERRORS.iter().any(|c| body.contains(c));
            if WALL_PHRASES.iter().any(|p| body.starts_with(p)) || body == "Usage limit reached" || auth_error {
                walls.offer_all(&clock::resets_after(&body, "try again", now, zone), &body);
            } else if body.starts_with(RETRY_LIMIT_429) {
                walls.offer(None, &body);
            }
        }
    }
    walls.best()
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

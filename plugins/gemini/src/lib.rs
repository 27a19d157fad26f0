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
//!   can see); the account in `.gemini/google_accounts.json` (`active`).
//! - An auth type selected in `.gemini/settings.json`
//!   (`security.auth.selectedType`) beats `GEMINI_API_KEY` (`AIza…`): with
//!   `oauth-personal` selected, the key is never sent. Without a selected
//!   type, the key selects `gemini-api-key` itself.
//! - No login subcommand: the login happens inside the app (`/auth`).
//! - Conversations (`--resume`) live in `.gemini/tmp/<slug>/chats/`, where
//!   the slug is what a per-home registry (`.gemini/projects.json`, with a
//!   `.project_root` marker beside each slug dir) gives the working
//!   directory: claimed from its base name on first use, numbered on a
//!   clash. A copy into another account's home lands under whatever slug
//!   that home's registry gives, so this plugin does not carry them yet:
//!   a rotation starts Gemini afresh, and says why.

use accounts_plugin::clock::{Precision, Reset};
use accounts_plugin::messages::{self, Walls};
use accounts_plugin::{Account, Agent, CredentialStatus, Env, LoginState, Spec, Wall, clock, json, text};

const TOKEN_ENV: &str = "GEMINI_API_KEY";
const CREDENTIALS_FILE: &str = ".gemini/oauth_creds.json";
const ENCRYPTED_CREDENTIALS_FILE: &str = ".gemini/gemini-credentials.json";
const ACCOUNTS_FILE: &str = ".gemini/google_accounts.json";
const SETTINGS_FILE: &str = ".gemini/settings.json";
/// The auth type under which `GEMINI_API_KEY` is used.
const API_KEY_AUTH: &str = "gemini-api-key";

struct Gemini;

impl Agent for Gemini {
    fn spec() -> Spec {
        Spec::new("gemini", "Gemini CLI")
            .config_dir_env("GEMINI_CLI_HOME")
            .token_env(TOKEN_ENV)
            .credential_file(CREDENTIALS_FILE)
            .token_prefixes(["AIza"])
            // Each wins over GEMINI_API_KEY in gemini's own choice of auth
            // type (0.61.0): cleared at launch unless the roster sets one.
            .also_sets(["GOOGLE_GENAI_USE_GCA", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL"])
            .enroll_hint(
                "log in inside the app: `GEMINI_CLI_HOME=<config_dir> gemini`, then /auth and Login with Google; \
                 or enroll an API key (`accounts enroll <name> --token-stdin`) for an account whose \
                 security.auth.selectedType is \"gemini-api-key\" or unset",
            )
    }

    fn credential_status(account: &Account) -> CredentialStatus {
        let active = json::read_config_json(ACCOUNTS_FILE);
        let active = active.as_ref().and_then(|a| json::str(a, &["active"]));
        if let Some(creds) = json::read_config_json(CREDENTIALS_FILE) {
            let expires_at = json::int(&creds, &["expiry_date"]).map(json::millis_to_secs);
            let refreshable = json::non_empty(&creds, &["refresh_token"]).is_some();
            let unexpired =
                json::non_empty(&creds, &["access_token"]).is_some() && expires_at.is_some_and(|at| at > account.now);
            let state = if refreshable || unexpired { LoginState::Live } else { LoginState::Expired };
            return CredentialStatus::new(state).expires_at(expires_at).identity(active);
        }
        if json::config_file_exists(ENCRYPTED_CREDENTIALS_FILE) {
            return CredentialStatus::new(LoginState::Live).identity(active);
        }
        CredentialStatus::missing()
    }

    fn launch_env(account: &Account) -> Result<Env, String> {
        let login = Self::credential_status(account).state == LoginState::Live;
        let settings = json::read_config_json(SETTINGS_FILE);
        let selected = settings.as_ref().and_then(|s| json::str(s, &["security", "auth", "selectedType"]));
        let with_token = match (&account.token, login, selected) {
            (Some(_), false, None | Some(API_KEY_AUTH)) => true,
            (Some(_), false, Some(other)) => {
                return Err(format!(
                    "account \"{}\" has a static API key, but its {SETTINGS_FILE} selects the auth type \"{other}\", \
                     which Gemini CLI uses instead: the key would be ignored and the agent would run logged out. \
                     Set security.auth.selectedType to \"{API_KEY_AUTH}\" there, or log the account in",
                    account.name
                ));
            }
            // A login of its own wins over a static key.
            _ => false,
        };
        Ok(Env::standard(&Self::spec(), account, with_token))
    }

    fn detect_wall(output: &str, now: i64, zone: &str) -> Option<Wall> {
        detect(output, now, zone)
    }

    fn resume_argv(_argv: &[String], _id: &str, _prompt: &str) -> Result<Vec<String>, String> {
        Err("Gemini CLI files its conversations under a per-home project registry (.gemini/projects.json) that \
             another account's home does not share, so they are not carried yet"
            .into())
    }
}

accounts_plugin::export!(Gemini);

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
fn detect(output: &str, now: i64, zone: &str) -> Option<Wall> {
    let lines = messages::messages(output);
    let mut walls = Walls::new();
    for (i, line) in lines.iter().enumerate() {
        let body = messages::body(line);
        let next = |n: usize| lines[i..(i + n).min(lines.len())].join("\n");
        if body.starts_with("Usage limit reached for") {
            // The reset is on one of the next lines, when it is known.
            let resets: Vec<_> = lines[i..]
                .iter()
                .take(3)
                .filter(|l| messages::body(l).starts_with("Access resets at"))
                .flat_map(|l| clock::resets_after(l, "access resets at", now, zone))
                .collect();
            walls.offer_all(&resets, &next(3));
        } else if body.starts_with("Suggested retry after") && i > 0 && is_quota_error(&lines[i - 1]) {
            let reset = text::duration_seconds(&body["Suggested retry after".len()..]).map(|s| now + s);
            walls.offer(reset.map(exact), &lines[i - 1..=i].join("\n"));
        } else if body.starts_with("You have exhausted your daily quota")
            || (body.starts_with("Resource has been exhausted") && body.contains("(Status: RESOURCE_EXHAUSTED)"))
        {
            walls.offer(None, line);
        }
    }
    // A 429 body: {"error":{"status":"RESOURCE_EXHAUSTED", ... "retryDelay":"34s"}}.
    for line in output.lines() {
        if let Some((_, body)) = messages::json_in(line)
            && json::str(&body, &["error", "status"]) == Some("RESOURCE_EXHAUSTED")
        {
            let reset = line.find("\"retryDelay\"").and_then(|at| {
                let rest = line[at + "\"retryDelay\"".len()..].trim_start_matches([':', ' ', '"']);
                text::duration_seconds(rest).map(|secs| now + secs)
            });
            walls.offer(reset.map(exact), line);
        }
    }
    walls.best()
}

/// The quota errors "Suggested retry after" follows.
fn is_quota_error(line: &str) -> bool {
    let body = messages::body(line);
    body.starts_with("Resource has been exhausted") || body.starts_with("Quota exceeded for quota metric")
}

fn exact(at: i64) -> Reset {
    Reset { at, precision: Precision::Instant }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(Gemini::validate_token("AIzaSyExample").is_ok());
        assert!(Gemini::validate_token("sk-abc").is_err());
    }

    #[test]
    fn the_corpus() {
        accounts_plugin::corpus::check_dir(env!("CARGO_MANIFEST_DIR"), |t, now, zone| {
            detect(t, now, zone).map(|w| w.resets_at)
        });
    }
}

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

use accounts_plugin::clock::{Precision, Reset};
use accounts_plugin::messages::{self, Walls};
use accounts_plugin::{
    Account, Agent, Conversation, CredentialStatus, Env, LoginState, Query, Spec, Usage, Wall, clock, json, text,
};

mod resume;
mod usage;

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
/// Inherited, each of these wins over the account's own login in `claude
/// auth status` (2.1.332): a provider switch (the account then runs on
/// Bedrock, Vertex, ... with whatever cloud credentials the shell has) or a
/// token read from a file descriptor. Declared, so the host clears them at
/// every launch unless the roster sets one for the account.
const BEATS_THE_LOGIN: [&str; 8] = [
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS",
    "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD",
    "CLAUDE_CODE_USE_MANTLE",
    "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
    "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
];
/// The longest Claude waits out a usage limit by itself, in milliseconds.
const USAGE_LIMIT_WAIT_ENV: &str = "CLAUDE_CODE_RETRY_WATCHDOG_MAX_USAGE_LIMIT_WAIT_MS";
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
            .also_sets(BEATS_THE_LOGIN)
            // Claude waits out a usage limit itself under its retry
            // watchdog (2.1.332; CLAUDE_CODE_RETRY_WATCHDOG), for hours. A
            // rotated run caps the wait at 1 ms, so Claude stops with its
            // wall and the host moves it (0 counts as unset in Claude).
            .when_rotating(USAGE_LIMIT_WAIT_ENV, "1")
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

    fn detect_usage(output: &str, now: i64, zone: &str) -> Vec<Usage> {
        usage::detect(output, now, zone)
    }

    fn find_conversation(_account: &Account, query: &Query) -> Option<Conversation> {
        resume::find(query)
    }

    fn resume_argv(argv: &[String], id: &str, prompt: &str) -> Result<Vec<String>, String> {
        resume::argv(argv, id, prompt)
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

/// Messages that stop work on the account, each matched where the message
/// starts (claude-code 2.1.332; the same texts in 2.1.197 where they were
/// there): the rejections built as "You've hit your <kind>" plus
/// " · resets <time>" when the limit has one, and the ones without a reset.
const WALL_PHRASES: &[&str] = &[
    "You're out of usage credits",
    "Your org is out of usage",
    "Your seat type doesn't include usage",
    "This service is disabled for your org",
    "Your usage allocation has been disabled by your admin",
    "Your group's usage limit is set to $0",
    // The 429 with anthropic-ratelimit-unified-overage-daily-cap-paused
    // (2.1.332; 2.1.197 printed a spend-limit line for it).
    "Usage is paused for your organization",
    // /goal's pause notes for the same walls.
    "Goal paused · usage is paused for your organization",
    "Goal paused · usage limit reached",
];

/// The epoch form of older versions: `Claude AI usage limit reached|<epoch>`.
const EPOCH_FORM: &str = "Claude AI usage limit reached|";

/// The wrap-up note shown when usage credits take over after a limit
/// ("Usage limit reached · brief included wrap-up, then usage credits"):
/// work goes on, so not a wall.
const CREDITS_TAKE_OVER: &str = "then usage credits";

/// Cooldowns of fast mode, not account limits: "You've hit your fast limit
/// · resets in 5m", "Fast limit reached and temporarily disabled · resets
/// in 5m 30s", "Fast mode overloaded and is temporarily unavailable".
fn is_fast_mode(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("fast limit") || lower.contains("fast mode")
}

/// Claude's walls in `output`, the best of them (`messages::Walls`): the
/// stream-json `rate_limit_event` with `"status":"rejected"`, and the
/// messages above, in plain text or inside JSON strings (`-p
/// --output-format json` puts the message in `"result"`). Resets printed
/// as "resets 3pm (Europe/Paris)" or "resets Nov 27, 10am (...)" are in the
/// named zone, else in the host's `zone`.
fn detect(output: &str, now: i64, zone: &str) -> Option<Wall> {
    let mut walls = Walls::new();
    for line in output.lines() {
        if let Some((_, event)) = messages::json_in(line)
            && json::str(&event, &["type"]) == Some("rate_limit_event")
        {
            if let Some(reset) = rejected_event(&event) {
                walls.offer(reset.map(exact), line);
            }
            continue;
        }
        for message in messages::messages(line) {
            offer_message(&mut walls, &message, now, zone);
        }
    }
    walls.best()
}

fn exact(at: i64) -> Reset {
    Reset { at, precision: Precision::Instant }
}

/// Offer `message` to `walls` when it is one of Claude's walls.
fn offer_message(walls: &mut Walls, message: &str, now: i64, zone: &str) {
    let body = messages::body(message).replace('\u{2019}', "'");
    if is_fast_mode(&body) || body.contains(CREDITS_TAKE_OVER) {
        return;
    }
    if let Some(rest) = body.strip_prefix(EPOCH_FORM) {
        // The number, then the end of the message or a space.
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].chars().next().is_none_or(char::is_whitespace) {
            walls.offer(rest[..digits].parse().ok().map(|e| exact(text::epoch_seconds(e))), &body);
        }
        return;
    }
    if let Some(reset) = retry_banner(&body, now, zone) {
        walls.offer(reset, &body);
        return;
    }
    if hit_your_limit(&body) || WALL_PHRASES.iter().any(|p| body.starts_with(p)) || is_limit_reached(&body) {
        walls.offer_all(&clock::resets_after(&body, "resets", now, zone), &body);
    }
}

/// "You've hit your <kind>" where the kind names a limit or a budget
/// ("weekly limit", "org's monthly spend limit", "team's pooled group
/// budget"), up to the first " ·", full stop, dash or comma.
fn hit_your_limit(body: &str) -> bool {
    let Some(rest) = body.strip_prefix("You've hit your ") else { return false };
    let kind = rest.split([' ', '.', ',']).take_while(|w| !matches!(*w, "\u{00b7}" | "\u{2014}" | "")).last();
    kind.is_some_and(|last| last == "limit" || last == "budget")
}

/// "5-hour limit reached", "Weekly limit reached · resets 10am (Asia/Seoul)",
/// "Usage limit reached · limit resets 12:13pm", "Usage limit reached ·
/// wrapping up": a limit's name, then "reached", at the start.
fn is_limit_reached(body: &str) -> bool {
    limit_name_before(body, " reached").is_some_and(|rest| {
        rest.is_empty() || [" \u{00b7} ", " \u{2219} ", ". "].iter().any(|sep| rest.starts_with(sep))
    })
}

/// What follows `<name> limit<suffix>` (or `budget`) at the start of
/// `body`, when the name is a few words of letters, digits and hyphens.
fn limit_name_before<'a>(body: &'a str, suffix: &str) -> Option<&'a str> {
    let end = body.find(suffix)?;
    let name = &body[..end];
    let words_only = name.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '\''));
    let is_limit = name.ends_with("limit") || name.ends_with("budget");
    // Claude writes the name capitalised ("Weekly limit", "5-hour limit").
    let starts_right = name.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit());
    (words_only && is_limit && starts_right && name.len() <= 40).then(|| &body[end + suffix.len()..])
}

/// The banner Claude shows while it waits out a limit itself (2.1.332):
/// "5-hour limit reached · retrying in 2h 5m (3pm) · attempt 1/10", or
/// "... · retrying… · attempt 1/10" at first. The reset is the time in
/// parentheses when it agrees with the countdown (the agent's zone is
/// ours), else the countdown from now. `Some(None)`: a wall, no reset yet.
fn retry_banner(body: &str, now: i64, zone: &str) -> Option<Option<Reset>> {
    let rest = limit_name_before(body, " reached \u{00b7} retrying")?;
    let Some(countdown) = rest.strip_prefix(" in ") else { return Some(None) };
    let Some(secs) = text::duration_seconds(countdown) else { return Some(None) };
    let by_countdown = now + secs;
    let by_clock = countdown
        .find('(')
        .and_then(|open| clock::reset_at_with_precision(&countdown[open + 1..], now, zone))
        .filter(|r| (r.at - by_countdown).abs() <= 30 * 60);
    let at = by_clock.map_or(by_countdown, |r| r.at);
    Some(Some(Reset { at, precision: Precision::Minute }))
}

/// A stream-json `rate_limit_event` that rejects the request: its reset,
/// if it gives one. `None` for any other event (allowed, warnings, or a
/// rejection the account's usage credits take over).
fn rejected_event(event: &json::Value) -> Option<Option<i64>> {
    let info = &event["rate_limit_info"];
    let rejected = info["status"] == "rejected" && info["isUsingOverage"] != true;
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

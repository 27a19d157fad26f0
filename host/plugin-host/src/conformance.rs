//! What a host relies on a plugin for, checked in the real sandbox
//! (`accounts plugins check`, and before `plugins install`): every finding
//! says what was tried, whether it held, and what to fix.

use std::path::Path;
use std::time::{Duration, Instant};

use super::runtime::Plugin;
use super::spec::{AccountRequest, ConversationQuery, LoginState, Spec};
use crate::secret::Secret;

/// One thing checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub check: String,
    pub passed: bool,
    pub detail: String,
    /// How long the plugin call took, when the check made one.
    pub millis: Option<f64>,
}

/// Lines any agent prints in ordinary work: none may be taken for a wall.
pub const ORDINARY_OUTPUT: &[&str] = &[
    "Reading src/main.rs",
    "Running cargo test --workspace",
    "test result: ok. 56 passed; 0 failed; 0 ignored",
    "error[E0308]: mismatched types",
    "All tests passed. I updated the limit check in rate_limit.rs.",
    "Thinking about how to reset the counter at 3pm...",
    "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"Done.\"}]}}",
    "The quota module now handles the usage limit reached case.",
    "$ git commit -m \"retry in 5 minutes on 429\"",
    "Warning: deprecated API, please try again later with v2",
];

fn record(findings: &mut Vec<Finding>, check: &str, passed: bool, detail: String, took: Option<Duration>) {
    findings.push(Finding { check: check.into(), passed, detail, millis: took.map(|t| t.as_secs_f64() * 1000.0) });
}

/// Run every check on `plugin`. `wall_samples` are lines of the agent's
/// own wall messages, each of which must be found with its reset.
/// `login_sample`, when given, is a config dir holding a live login of the
/// agent's: it must read as live, and a token must not shadow it.
pub fn check(
    plugin: &Plugin<'_>,
    wasm_bytes: Option<usize>,
    wall_samples: &[String],
    login_sample: Option<&Path>,
) -> Vec<Finding> {
    let spec = plugin.spec().clone();
    let mut findings = Vec::new();
    spec_and_size(&mut findings, &spec, wasm_bytes);
    bad_tokens_refused(&mut findings, plugin, &spec);
    // One empty config dir for the calls that read one.
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            let why = format!("cannot make an empty config dir to try it in: {e}");
            record(&mut findings, "launch-env", false, why, None);
            return findings;
        }
    };
    launch_env_declares_its_keys(&mut findings, plugin, &spec, dir.path());
    no_login_in_an_empty_dir(&mut findings, plugin, &spec, dir.path());
    no_conversation_in_an_empty_dir(&mut findings, plugin, dir.path());
    no_usage_in_an_empty_dir(&mut findings, plugin, dir.path());
    resume_argv_drops_the_prompt(&mut findings, plugin, &spec);
    if let Some(sample) = login_sample {
        a_live_login_wins_over_a_token(&mut findings, plugin, &spec, sample);
    }
    walls_found_and_not_invented(&mut findings, plugin, wall_samples);
    calls_within_the_deadline(&mut findings, plugin.deadline());
    findings
}

fn spec_and_size(findings: &mut Vec<Finding>, spec: &Spec, wasm_bytes: Option<usize>) {
    let detail = format!(
        "kind {:?}, contract {}, {} env keys ({}), none on the deny list",
        spec.kind,
        spec.contract,
        spec.env_keys.len(),
        spec.env_keys.join(", ")
    );
    record(findings, "spec", true, detail, None);
    if let Some(bytes) = wasm_bytes {
        record(findings, "size", true, format!("{} KB of wasm", bytes.div_ceil(1024)), None);
    }
}

/// Tokens that must be refused, whatever the prefixes.
fn bad_tokens_refused(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, spec: &Spec) {
    let prefix = spec.token_prefixes.first().cloned().unwrap_or_default();
    for (what, token) in
        [("empty", String::new()), ("blank", "   ".into()), ("multi-line", format!("{prefix}ab\n{prefix}cd"))]
    {
        let name = format!("validate-token refuses the {what} token");
        let started = Instant::now();
        let verdict = plugin.validate_token(&Secret::new(token));
        let took = Some(started.elapsed());
        match verdict {
            Ok(Err(reason)) => record(findings, &name, true, reason.shown(), took),
            Ok(Ok(())) => {
                let why = format!("it accepted the {what} token; validate-token must refuse it");
                record(findings, &name, false, why, took)
            }
            Err(e) => record(findings, &name, false, e.to_string(), took),
        }
    }
}

/// launch-env on an empty config dir, without and with a token.
fn launch_env_declares_its_keys(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, spec: &Spec, dir: &Path) {
    let prefix = spec.token_prefixes.first().cloned().unwrap_or_default();
    let example_token = format!("{prefix}CHECK0123456789abcdef");
    for token in [None, Some(example_token)] {
        let name = if token.is_some() { "launch-env with a token" } else { "launch-env on an empty config dir" };
        let request = AccountRequest {
            name: "check".into(),
            config_dir: dir.to_owned(),
            token: token.clone().map(Secret::new),
            now: crate::clock::now(),
        };
        let started = Instant::now();
        let result = plugin.launch_env(&request);
        let took = Some(started.elapsed());
        match result {
            Ok(env) => {
                let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
                let config_set = spec.config_dir_env.as_ref().is_none_or(|v| names.contains(&v.as_str()));
                let token_set = token.is_none() || spec.token_env.as_ref().is_none_or(|v| names.contains(&v.as_str()));
                let passed = config_set && token_set;
                let detail = if passed {
                    format!(
                        "sets only declared keys: {}",
                        if names.is_empty() { "none".into() } else { names.join(", ") }
                    )
                } else if !config_set {
                    format!("does not set the config-dir variable {}", spec.config_dir_env.clone().unwrap_or_default())
                } else {
                    "an account with a token and no login does not get the token variable".into()
                };
                record(findings, name, passed, detail, took);
            }
            Err(e) => record(findings, name, false, e.to_string(), took),
        }
    }
}

/// On a config dir with a live login, credential-status says live and
/// launch-env with a token leaves the token variable out: agents let a
/// token variable shadow their own login, so the login must win.
fn a_live_login_wins_over_a_token(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, spec: &Spec, dir: &Path) {
    let prefix = spec.token_prefixes.first().cloned().unwrap_or_default();
    let token = Secret::new(format!("{prefix}CHECK0123456789abcdef"));
    let request = AccountRequest {
        name: "check".into(),
        config_dir: dir.to_owned(),
        token: Some(token),
        now: crate::clock::now(),
    };
    let name = "credential-status on the login sample";
    let started = Instant::now();
    match plugin.credential_status(&request) {
        Ok(Some(status)) if status.state == LoginState::Live => {
            record(findings, name, true, "live".into(), Some(started.elapsed()));
        }
        Ok(Some(status)) => {
            let why = format!("says {:?}; the sample holds a live login (or pass a dir that does)", status.state);
            return record(findings, name, false, why, Some(started.elapsed()));
        }
        Ok(None) => return record(findings, name, true, format!("not in contract {}", spec.contract), None),
        Err(e) => return record(findings, name, false, e.to_string(), Some(started.elapsed())),
    }
    let name = "launch-env with a token and a live login";
    let started = Instant::now();
    let result = plugin.launch_env(&request);
    let took = Some(started.elapsed());
    match (result, &spec.token_env) {
        (Ok(env), Some(token_env)) if env.iter().any(|(k, _)| k == token_env) => {
            let why = format!(
                "sets {token_env}, which shadows the account's own login in the agent; set it only when there is no \
                 live login"
            );
            record(findings, name, false, why, took);
        }
        (Ok(_), _) => record(findings, name, true, "the login wins: no token variable".into(), took),
        (Err(e), _) => record(findings, name, false, e.to_string(), took),
    }
}

/// credential-status on an empty config dir says "missing".
fn no_login_in_an_empty_dir(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, spec: &Spec, dir: &Path) {
    let request =
        AccountRequest { name: "check".into(), config_dir: dir.to_owned(), token: None, now: crate::clock::now() };
    let name = "credential-status on an empty config dir";
    let started = Instant::now();
    let status = plugin.credential_status(&request);
    let took = Some(started.elapsed());
    match status {
        Ok(None) => record(findings, "credential-status", true, format!("not in contract {}", spec.contract), None),
        Ok(Some(status)) if status.state == LoginState::Missing => record(findings, name, true, "missing".into(), took),
        Ok(Some(status)) => {
            let why = format!("says {:?}; an empty config dir has no login", status.state);
            record(findings, name, false, why, took)
        }
        Err(e) => record(findings, name, false, e.to_string(), took),
    }
}

/// An empty config dir holds no conversation.
fn no_conversation_in_an_empty_dir(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, dir: &Path) {
    let now = crate::clock::now();
    let request = AccountRequest { name: "check".into(), config_dir: dir.to_owned(), token: None, now };
    let query = ConversationQuery { id: None, cwd: Some("/work".into()), since: Some(now - 60), output: String::new() };
    let name = "find-conversation on an empty config dir";
    let started = Instant::now();
    let found = plugin.find_conversation(&request, &query);
    let took = Some(started.elapsed());
    match found {
        Ok(None) => record(findings, name, true, "none".into(), took),
        Ok(Some(c)) => record(findings, name, false, format!("found conversation {} in an empty dir", c.id), took),
        Err(e) => record(findings, name, false, e.to_string(), took),
    }
}

/// An empty config dir holds no usage reading.
fn no_usage_in_an_empty_dir(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, dir: &Path) {
    let request =
        AccountRequest { name: "check".into(), config_dir: dir.to_owned(), token: None, now: crate::clock::now() };
    let name = "read-usage on an empty config dir";
    let started = Instant::now();
    let found = plugin.read_usage(&request);
    let took = Some(started.elapsed());
    match found {
        Ok(readings) if readings.is_empty() => record(findings, name, true, "none".into(), took),
        Ok(readings) => {
            record(findings, name, false, format!("found {} readings in an empty dir", readings.len()), took)
        }
        Err(e) => record(findings, name, false, e.to_string(), took),
    }
}

/// A resumed command line names the conversation, asks the continuation
/// prompt, and does not send the first prompt again.
fn resume_argv_drops_the_prompt(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, spec: &Spec) {
    const ID: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
    const FIRST: &str = "CHECK-FIRST-PROMPT";
    const NEXT: &str = "CHECK-CONTINUE";
    let argv = vec![spec.program(), FIRST.to_owned()];
    let name = "resume-argv";
    let started = Instant::now();
    let resumed = plugin.resume_argv(&argv, ID, NEXT);
    let took = Some(started.elapsed());
    match resumed {
        Err(e) => record(findings, name, false, e.to_string(), took),
        Ok(Err(reason)) => {
            record(findings, name, true, format!("cannot resume ({reason}): rotations start afresh"), took)
        }
        Ok(Ok(args)) => {
            let has = |s: &str| args.iter().any(|a| a.contains(s));
            let problem = if !has(ID) {
                Some("does not name the conversation's id")
            } else if has(FIRST) {
                Some("sends the first prompt again")
            } else if !has(NEXT) {
                Some("does not ask the continuation prompt")
            } else {
                None
            };
            let shown = crate::untrusted::Untrusted::new(args.join(" "));
            match problem {
                None => record(findings, name, true, format!("{:?} resumes as {shown}", argv.join(" ")), took),
                Some(problem) => record(findings, name, false, format!("{shown} {problem}"), took),
            }
        }
    }
}

/// observe (detect-wall before 0.3.0) finds nothing in ordinary output, and each sample (with its
/// reset, when the message gives one).
fn walls_found_and_not_invented(findings: &mut Vec<Finding>, plugin: &Plugin<'_>, wall_samples: &[String]) {
    let zone = crate::timefmt::local_zone_name();
    let now = crate::clock::now();
    let call = crate::bindings::observe_call(&plugin.spec().contract);
    let started = Instant::now();
    let false_walls: Vec<String> = ORDINARY_OUTPUT
        .iter()
        .filter_map(|line| match plugin.observe(line, now, &zone) {
            Ok(seen) if seen.wall.is_none() && seen.usage.is_empty() => None,
            Ok(seen) if seen.wall.is_none() => Some(format!("{line:?} (as a usage reading)")),
            Ok(_) => Some(format!("{line:?}")),
            Err(e) => Some(format!("{line:?} ({e})")),
        })
        .collect();
    let took = started.elapsed() / ORDINARY_OUTPUT.len() as u32;
    let detail = if false_walls.is_empty() {
        format!("{} ordinary lines, no wall, no reading", ORDINARY_OUTPUT.len())
    } else {
        format!("took ordinary output for a wall: {}", false_walls.join("; "))
    };
    record(findings, &format!("{call} finds no wall in ordinary output"), false_walls.is_empty(), detail, Some(took));
    for sample in wall_samples {
        let started = Instant::now();
        let (passed, detail) = match plugin.detect_wall(sample, now, &zone) {
            Ok(Some(wall)) => match wall.resets_at {
                Some(at) => (true, format!("resets {}", crate::timefmt::format_instant(at))),
                // Normal for many messages: the roster's wall_cooldown applies.
                None => (true, "found the wall; no reset in it (the roster's wall_cooldown applies)".into()),
            },
            Ok(None) => (false, "found no wall".into()),
            Err(e) => (false, e.to_string()),
        };
        record(findings, &format!("{call} on {sample:?}"), passed, detail, Some(started.elapsed()));
    }
}

/// Every call within the deadline, with room to spare.
fn calls_within_the_deadline(findings: &mut Vec<Finding>, deadline: Duration) {
    let slowest = findings.iter().filter_map(|f| f.millis).fold(0.0, f64::max);
    let limit_ms = deadline.as_secs_f64() * 1000.0;
    let detail =
        format!("slowest call {slowest:.1} ms, deadline {limit_ms:.0} ms (calls should take under half of it)");
    record(findings, "calls within the deadline", slowest <= limit_ms / 2.0, detail, None);
}

//! Carrying a conversation to another account (codex 0.171.0):
//! - Each conversation is one rollout,
//!   `sessions/YYYY/MM/DD/rollout-<local time>-<id>.jsonl` in `CODEX_HOME`;
//!   its first record (`session_meta`) has the id, the cwd,
//!   `account_scoped` and `creator_account_id` (the ChatGPT account, null
//!   for an API key). `codex exec --json` prints the id first
//!   (`thread.started`, `thread_id`).
//! - A rollout copied into another `CODEX_HOME` is resumed there by
//!   `codex exec resume <id> <prompt>` (exec's options stay before
//!   `resume`), the TUI by `codex resume <id> <prompt>`.
//! - A conversation made under a ChatGPT login is tied to that account
//!   (`account_scoped`): it is named `bound_to`, and the host carries it
//!   only to the same account, never to another login.

use accounts_plugin::argv::{self, Arg, Options};
use accounts_plugin::conversation::{self, Conversation, Query};
use accounts_plugin::json;

/// How far into a rollout its first record is read (it carries the base
/// instructions, some KiB).
const META_BYTES: usize = 1 << 20;

/// codex's options that take values (`codex --help`, `codex exec --help`,
/// 0.171.0): the top level's and exec's.
const OPTIONS: Options = Options {
    with_value: &[
        "-c",
        "--config",
        "--enable",
        "--disable",
        "--remote",
        "--remote-auth-token-env",
        "-m",
        "--model",
        "--local-provider",
        "-p",
        "--profile",
        "-s",
        "--sandbox",
        "-a",
        "--ask-for-approval",
        "-C",
        "--cd",
        "--add-dir",
        "--thread-source",
        "--cyber-access-program",
        "--output-schema",
        "--color",
        "-o",
        "--output-last-message",
    ],
    optional_value: &[],
    variadic: &["-i", "--image"],
};

/// Subcommands that are a conversation (exec, and its alias).
const EXEC: &[&str] = &["exec", "e"];

pub(crate) fn find(query: &Query) -> Option<Conversation> {
    let id = query.id.clone().or_else(|| conversation::id_in_output(&query.output, "thread_id"));
    let file = conversation::newest_file("sessions", 3, query.since, |path| {
        let name = path.rsplit('/').next().unwrap_or(path);
        name.starts_with("rollout-")
            && name.ends_with(".jsonl")
            && match (&id, &query.cwd) {
                (Some(id), _) => name.ends_with(&format!("-{id}.jsonl")),
                (None, Some(cwd)) => meta(path).is_some_and(|m| json::str(&m, &["payload", "cwd"]) == Some(cwd)),
                (None, None) => true,
            }
    })?;
    let meta = meta(&file)?;
    let id = json::non_empty(&meta, &["payload", "id"])?.to_owned();
    Some(Conversation {
        cwd: json::non_empty(&meta, &["payload", "cwd"]).map(str::to_owned),
        bound_to: json::non_empty(&meta, &["payload", "creator_account_id"]).map(str::to_owned),
        ..Conversation::new(&id, vec![file])
    })
}

/// The rollout's `session_meta` record.
fn meta(file: &str) -> Option<json::Value> {
    let record = json::parse(&conversation::first_line(file, META_BYTES)?)?;
    (json::str(&record, &["type"]) == Some("session_meta")).then_some(record)
}

pub(crate) fn argv(original: &[String], id: &str, prompt: &str) -> Result<Vec<String>, String> {
    let (program, args) = original.split_first().ok_or("the command is empty")?;
    let parsed = OPTIONS.parse(args);
    let first = parsed.iter().position(|a| matches!(a, Arg::Positional(_)));
    let (global, rest) = parsed.split_at(first.unwrap_or(parsed.len()));
    let options = |args: &[Arg]| args.iter().filter(|a| matches!(a, Arg::Option(..))).cloned().collect::<Vec<_>>();
    let mut out = vec![program.clone()];
    out.extend(argv::unparse(global));
    match rest.first() {
        Some(Arg::Positional(sub)) if EXEC.contains(&sub.as_str()) => {
            // `codex exec [opts] [PROMPT]`, or an earlier `exec resume`.
            out.push(sub.clone());
            out.extend(argv::unparse(&options(&rest[1..])));
        }
        Some(Arg::Positional(sub)) if sub == "resume" => {}
        // The TUI, with or without a prompt: `codex [opts] [PROMPT]`.
        Some(Arg::Positional(_)) | None if is_tui(rest) => out.extend(argv::unparse(&options(rest))),
        Some(Arg::Positional(sub)) => return Err(format!("`codex {sub}` is not a conversation")),
        Some(Arg::Option(..)) | None => unreachable!("rest starts at the first positional"),
    }
    out.extend(["resume".into(), id.to_owned()]);
    out.extend(argv::unparse(&[Arg::Positional(prompt.to_owned())]));
    Ok(out)
}

/// Whether the command line is the TUI: no subcommand, only a prompt.
fn is_tui(rest: &[Arg]) -> bool {
    const SUBCOMMANDS: &[&str] = &[
        "login",
        "logout",
        "mcp",
        "mcp-server",
        "app-server",
        "completion",
        "sandbox",
        "debug",
        "apply",
        "a",
        "cloud",
        "features",
        "help",
        "review",
        "fork",
        "doctor",
    ];
    match rest.first() {
        Some(Arg::Positional(p)) => !SUBCOMMANDS.contains(&p.as_str()),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn exec_keeps_its_options_and_drops_its_prompt() {
        let resumed =
            argv(&strings(&["codex", "exec", "--json", "-c", "x=1", "fix it", "--skip-git-repo-check"]), "t1", "Go");
        assert_eq!(
            resumed.unwrap(),
            strings(&["codex", "exec", "--json", "-c", "x=1", "--skip-git-repo-check", "resume", "t1", "Go"])
        );
        let again = argv(&strings(&["codex", "exec", "resume", "t0", "more"]), "t1", "Go");
        assert_eq!(again.unwrap(), strings(&["codex", "exec", "resume", "t1", "Go"]));
    }

    #[test]
    fn the_tui_resumes_with_codex_resume() {
        let resumed = argv(&strings(&["codex", "-m", "o3", "fix it"]), "t1", "Go");
        assert_eq!(resumed.unwrap(), strings(&["codex", "-m", "o3", "resume", "t1", "Go"]));
        assert_eq!(argv(&strings(&["codex"]), "t1", "Go").unwrap(), strings(&["codex", "resume", "t1", "Go"]));
        assert!(argv(&strings(&["codex", "login"]), "t1", "Go").unwrap_err().contains("codex login"));
    }
}

//! Carrying a conversation to another account (claude-code 2.1.332):
//! - Each conversation is `projects/<project>/<session-id>.jsonl` in the
//!   config dir, with a folder `projects/<project>/<session-id>/` beside it
//!   for large tool results; `<project>` is the cwd with every character
//!   but ASCII letters and digits turned into `-`, cut at 200 characters
//!   plus `-<hash>` when longer (the bundle's sanitiser).
//! - The records hold no credential and no account identity: a copy under
//!   the same path in another config dir is resumed there.
//! - `claude --resume <id> [prompt]` resumes it (`-p` too); the JSON and
//!   stream-json output carry `session_id`.

use accounts_plugin::argv::{self, Arg, Options};
use accounts_plugin::conversation::{self, Conversation, Query};
use accounts_plugin::json;

/// Longest sanitised project name Claude keeps before adding a hash.
const MAX_PROJECT_NAME: usize = 200;
/// How far into a conversation file the cwd is looked for.
const HEAD_BYTES: usize = 64 << 10;

/// Claude's options that take values (`claude --help`, 2.1.332).
const OPTIONS: Options = Options {
    with_value: &[
        "--agent",
        "--agents",
        "--append-system-prompt",
        "--autocompact",
        "--debug-file",
        "--effort",
        "--environment",
        "--fallback-model",
        "--input-format",
        "--json-schema",
        "--max-budget-usd",
        "--model",
        "-n",
        "--name",
        "--output-format",
        "--permission-mode",
        "--permission-prompts",
        "--plugin-dir",
        "--plugin-url",
        "--remote-control-session-name-prefix",
        "--session-id",
        "--setting-sources",
        "--settings",
        "--system-prompt",
        "--system-prompt-snapshot",
        "--max-turns",
    ],
    optional_value: &[
        "--cloud",
        "-d",
        "--debug",
        "--from-pr",
        "--prompt-suggestions",
        "--remote-control",
        "-r",
        "--resume",
        "--teleport",
        "-w",
        "--worktree",
    ],
    variadic: &[
        "--add-dir",
        "--allowedTools",
        "--allowed-tools",
        "--betas",
        "--disallowedTools",
        "--disallowed-tools",
        "--file",
        "--mcp-config",
        "--tools",
    ],
};

/// Options that choose which conversation a run is: replaced by `--resume`.
const CHOOSES_THE_CONVERSATION: &[&str] =
    &["-r", "--resume", "-c", "--continue", "--session-id", "--fork-session", "--from-pr", "--teleport"];

/// Claude's subcommands: none of them is a conversation.
const SUBCOMMANDS: &[&str] =
    &["agents", "auth", "config", "doctor", "install", "mcp", "migrate-installer", "plugin", "setup-token", "update"];

/// `cwd` as Claude names its project folder.
pub(crate) fn project_name(cwd: &str) -> String {
    cwd.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

pub(crate) fn find(query: &Query) -> Option<Conversation> {
    let id = query.id.clone().or_else(|| conversation::id_in_output(&query.output, "session_id"));
    let file = match (&id, &query.cwd) {
        (Some(id), _) => {
            let name = format!("/{id}.jsonl");
            conversation::newest_file("projects", 1, None, |p| p.ends_with(&name))?
        }
        (None, Some(cwd)) => {
            let project = project_name(cwd);
            // A long path is cut and hashed: look for its cut prefix.
            let dir = if project.len() <= MAX_PROJECT_NAME { format!("projects/{project}") } else { "projects".into() };
            let cut = format!("projects/{}", &project[..project.len().min(MAX_PROJECT_NAME)]);
            conversation::newest_file(&dir, usize::from(dir == "projects"), query.since, |p| {
                p.ends_with(".jsonl") && p.starts_with(&cut)
            })?
        }
        (None, None) => conversation::newest_file("projects", 1, query.since, |p| p.ends_with(".jsonl"))?,
    };
    let id = conversation::stem(&file)?.to_owned();
    let mut files = vec![file.clone()];
    files.extend(conversation::files_below(file.trim_end_matches(".jsonl"), 2));
    let cwd = query.cwd.clone().or_else(|| cwd_in(&file));
    Some(Conversation { cwd, ..Conversation::new(&id, files) })
}

/// The cwd the conversation's records name.
fn cwd_in(file: &str) -> Option<String> {
    use std::io::Read;
    let mut head = String::new();
    std::fs::File::open(json::config_path(file)).ok()?.take(HEAD_BYTES as u64).read_to_string(&mut head).ok()?;
    head.lines().filter_map(json::parse).find_map(|r| json::non_empty(&r, &["cwd"]).map(str::to_owned))
}

pub(crate) fn argv(original: &[String], id: &str, prompt: &str) -> Result<Vec<String>, String> {
    let (program, args) = original.split_first().ok_or("the command is empty")?;
    let mut parsed = OPTIONS.parse(args);
    if let Some(Arg::Positional(first)) = parsed.iter().find(|a| matches!(a, Arg::Positional(_)))
        && SUBCOMMANDS.contains(&first.as_str())
    {
        return Err(format!("`claude {first}` is not a conversation"));
    }
    // The original prompt was answered already (or is in the conversation).
    parsed.retain(|a| !matches!(a, Arg::Positional(_)) && !argv::is_option(a, CHOOSES_THE_CONVERSATION));
    parsed.push(Arg::Option("--resume".into(), vec![id.to_owned()]));
    parsed.push(Arg::Positional(prompt.to_owned()));
    Ok(std::iter::once(program.clone()).chain(argv::unparse(&parsed)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn the_prompt_is_not_sent_twice() {
        let resumed = argv(&strings(&["claude", "-p", "fix the bug", "--output-format", "json"]), "abc", "Go on.");
        assert_eq!(
            resumed.unwrap(),
            strings(&["claude", "-p", "--output-format", "json", "--resume", "abc", "Go on."])
        );
        // A TUI run, an earlier --continue, variadic tools before the prompt.
        let resumed = argv(&strings(&["claude", "-c", "--allowedTools", "Bash", "Read", "--model", "opus"]), "x", "Go");
        assert_eq!(
            resumed.unwrap(),
            strings(&["claude", "--allowedTools", "Bash", "Read", "--model", "opus", "--resume", "x", "Go"])
        );
        assert!(argv(&strings(&["claude", "mcp", "list"]), "x", "Go").unwrap_err().contains("claude mcp"));
    }

    #[test]
    fn projects_are_named_as_claude_names_them() {
        assert_eq!(project_name("/home/me/src/my_app.v2"), "-home-me-src-my-app-v2");
    }
}

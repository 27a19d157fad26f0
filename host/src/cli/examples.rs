//! The examples at the end of each command's `--help` (clap's
//! `after_help`). A test parses every `accounts ...` in them with the real
//! command definitions, so an example cannot name a flag that is gone.

pub const LAUNCH_ENV: &str = "Examples:
  out=$(accounts launch-env --agent claude) || exit; eval \"$out\"   # lease a seat, become its account
  accounts launch-env --account work-1 --format fish                # one account, no seat; fish syntax
  accounts launch-env --account work-1 --format docker --mount-at /home/agent/.claude";

pub const EXEC: &str = "Examples:
  accounts exec --rotate -- claude -p \"fix the tests\"      # a claude seat, moved on (and resumed) at a wall
  accounts exec --account work-2 -- claude auth status     # on one account
  accounts exec --rotate --wait --max-rotations 3 -- codex exec \"run the linter\"";

pub const RESUME: &str = "Examples:
  accounts resume                     # the newest conversation of this directory, on a free seat
  accounts resume 4f1c2e9a-6b1d-4c55-9a63-2d1f0e7b8c90 -- -p   # that conversation, as a one-shot run";

pub const WALL: &str = "Examples:
  accounts wall work-1 --for 5h
  accounts wall work-1 --until 2026-12-05T15:00:00Z --reason \"weekly limit\"
  accounts wall work-1 --from-output agent-output.txt      # the reset the agent printed";

pub const UNWALL: &str = "Examples:
  accounts unwall work-1";

pub const ROTATE: &str = "Examples:
  out=$(accounts rotate) || exit; eval \"$out\"       # in a launch-env'd shell: wall this account, take the next
  accounts rotate --worker job-7 --for 2h";

pub const RELEASE: &str = "Examples:
  accounts release --worker job-7
  accounts release --account work-1        # every lease on it
  accounts release --host build-07         # a host that is gone: its leases, before their TTL";

pub const ALLOCATE: &str = "Examples:
  accounts allocate --agent claude --workers 4 --json
  accounts allocate --agent codex ci-1 ci-2 ci-3";

pub const STATUS: &str = "Examples:
  accounts status
  accounts status --json | jq '.accounts[] | {name, wall, usage}'";

pub const STATUSLINE: &str = "Examples (the command in the account's settings.json \"statusLine\"):
  accounts statusline                       # keep the readings, print `5h 12% · 7d 91%`
  accounts statusline -- ~/bin/my-statusline.sh";

pub const ADD: &str = "Examples:
  accounts add work-1 --agent claude
  accounts add ci --agent codex --seats 4 --token-env CODEX_CI_KEY";

pub const REMOVE: &str = "Examples:
  accounts remove work-3
  accounts remove work-3 --force            # even while workers hold its seats";

pub const LOGIN: &str = "Examples:
  accounts login work-1                     # the agent's own login, in work-1's config dir
  accounts login work-1 --headless --timeout 10m   # URL and code as JSON lines, for a supervisor";

pub const ENROLL: &str = "Examples:
  printenv ANTHROPIC_KEY | accounts enroll work-3 --token-stdin
  accounts enroll ci --token-env CODEX_CI_KEY";

pub const FORGET: &str = "Examples:
  accounts forget work-3";

pub const BIND: &str = "Examples:
  accounts bind --account work-2                 # this directory, and below it
  accounts bind --agent codex --path ~/src/ml
  accounts bind --account acme --remote git@github.com:acme/app.git
  accounts bind                                  # list them; (here) marks the one that applies";

pub const UNBIND: &str = "Examples:
  accounts unbind
  accounts unbind --remote git@github.com:acme/app.git";

pub const HOOK: &str = "Examples:
  eval \"$(accounts hook bash)\"                 # in ~/.bashrc
  eval \"$(accounts hook zsh)\"                  # in ~/.zshrc
  accounts hook fish | source                  # in ~/.config/fish/config.fish";

pub const DOCTOR: &str = "Examples:
  accounts doctor
  accounts doctor --json";

pub const COMPLETIONS: &str = "Examples:
  source <(accounts completions bash)       # in ~/.bashrc
  source <(accounts completions zsh)        # in ~/.zshrc, after compinit
  accounts completions fish | source        # in ~/.config/fish/config.fish";

pub const MAN: &str = "Examples:
  accounts man | man -l -
  accounts man --dir ~/.local/share/man/man1     # then: man accounts-exec";

pub const PLUGINS: &str = "Examples:
  accounts plugins list
  accounts plugins check ./target/wasm32-wasip2/release/acme.wasm
  accounts plugins new acme";

pub const STATE_COPY: &str = "Examples:
  accounts state copy --to postgres://accounts@db.internal/accounts   # move this roster's state to a fleet
  accounts state copy --from ~/.local/state/accounts";

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::cli::Cli;

    /// The words of an `accounts ...` invocation on an example line: from
    /// `accounts` to a pipe, a `)`, a `;` or a comment; quotes respected.
    fn invocation(line: &str) -> Option<Vec<String>> {
        let start = line.find("accounts ")?;
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        for c in line[start..].chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '"' | '\'') => quote = Some(c),
                (None, '|' | ')' | ';' | '#') => break,
                (None, ' ') => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                (None, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        Some(words)
    }

    #[test]
    fn every_command_has_examples_that_parse() {
        let mut cli = Cli::command();
        cli.build();
        let mut seen = 0;
        for command in cli.get_subcommands().filter(|c| c.get_name() != "help" && !c.is_hide_set()) {
            let help = command.get_after_help().unwrap_or_else(|| panic!("{} has no examples", command.get_name()));
            let help = help.to_string();
            assert!(help.starts_with("Examples"), "{help}");
            for line in help.lines().skip(1) {
                let words = invocation(line).unwrap_or_else(|| panic!("no `accounts ...` in {line:?}"));
                assert_eq!(words[1], command.get_name(), "{line}");
                if let Err(e) = Cli::command().try_get_matches_from(&words) {
                    panic!("{line}\n{words:?}\n{e}");
                }
                seen += 1;
            }
        }
        assert!(seen >= 40, "{seen} examples");
    }
}

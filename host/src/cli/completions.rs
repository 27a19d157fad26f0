//! Shell completions, answered by the binary itself: `accounts completions
//! SHELL` prints a small script that, on TAB, calls `accounts` back with
//! `ACCOUNTS_COMPLETE` set (clap_complete's dynamic completion), so flags
//! never fall behind the binary and account names and kinds come from the
//! roster as it is now.

use std::path::PathBuf;

use clap_complete::env::Shells;
use clap_complete::{ArgValueCandidates, CompletionCandidate};

use super::print;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::paths::Paths;
use crate::plugin::builtin;
use crate::roster::Roster;

/// The variable that turns a call into a completion request.
pub const COMPLETE_VAR: &str = "ACCOUNTS_COMPLETE";

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<ExitStatus> {
    let shells = Shells::builtins();
    let name = args.shell.to_string();
    let shell = shells
        .completer(&name)
        .ok_or_else(|| crate::error::usage(format!("no completions for {name}; use bash, zsh or fish")))?;
    // The script calls this very binary back, wherever it is installed.
    let me = std::env::current_exe().map_err(|e| Error::Other(anyhow::anyhow!("finding this binary: {e}")))?;
    let mut script = Vec::new();
    shell
        .write_registration(COMPLETE_VAR, "accounts", "accounts", &me.to_string_lossy(), &mut script)
        .map_err(|e| Error::Other(anyhow::anyhow!("writing the {name} script: {e}")))?;
    print(&String::from_utf8_lossy(&script))
}

/// Completes an account argument: `#[arg(add = completions::accounts())]`.
pub fn accounts() -> ArgValueCandidates {
    ArgValueCandidates::new(account_names)
}

/// Completes an agent kind argument.
pub fn kinds() -> ArgValueCandidates {
    ArgValueCandidates::new(agent_kinds)
}

/// The roster's account names, each with its kind, for an account
/// argument. The roster is `ACCOUNTS_ROSTER`'s or the default one (a
/// `--roster` typed earlier on the line is not seen); none, or one that
/// does not parse, offers nothing.
fn account_names() -> Vec<CompletionCandidate> {
    let Some(roster) = roster() else { return Vec::new() };
    roster
        .accounts
        .iter()
        .map(|a| CompletionCandidate::new(&a.name).help(Some(format!("{} account", a.agent).into())))
        .collect()
}

/// The agent kinds: the built-ins and the roster's own.
fn agent_kinds() -> Vec<CompletionCandidate> {
    let mut kinds: Vec<String> = builtin::BUILTINS.iter().map(|(kind, _, _)| (*kind).to_owned()).collect();
    if let Some(roster) = roster() {
        kinds.extend(roster.accounts.iter().map(|a| a.agent.clone()));
        kinds.extend(roster.plugins.keys().cloned());
    }
    kinds.sort();
    kinds.dedup();
    kinds.into_iter().map(CompletionCandidate::new).collect()
}

fn roster() -> Option<Roster> {
    let given = std::env::var_os("ACCOUNTS_ROSTER").filter(|v| !v.is_empty()).map(PathBuf::from);
    let paths = Paths::resolve(given, None, None, None);
    Roster::load(&paths.roster).ok()
}

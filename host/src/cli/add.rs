//! `accounts add` and `accounts remove`: the roster edited for the user,
//! comments and layout kept.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::{Context, print};
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::roster::{self, Roster};
use crate::roster_edit::{NewAccount, RosterFile};
use crate::seats;
use crate::state::StateStore;

#[derive(clap::Args)]
pub struct AddArgs {
    /// The new account's name (letters, digits, '-', '_', '.')
    name: String,
    /// Its agent kind (see `accounts plugins list`)
    #[arg(long, value_name = "KIND", add = super::completions::kinds())]
    agent: String,
    /// Its own config dir, where the agent keeps its login [default: <data dir>/config-dirs/NAME]
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// How many workers may use it at once [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    seats: Option<u32>,
    /// Preference when loads are equal: lower is picked first [default: 0]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    priority: Option<i64>,
    /// Read its static token from this file
    #[arg(long, value_name = "FILE", conflicts_with = "token_env")]
    token_file: Option<PathBuf>,
    /// Read its static token from this variable
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
}

pub fn run_add(ctx: &Context, args: AddArgs) -> Result<ExitStatus> {
    if !roster::valid_name(&args.name) {
        return Err(usage(format!("account name {:?} is not allowed; {}", args.name, roster::NAME_RULE)));
    }
    if let Some(var) = args.token_env.as_deref().filter(|v| !roster::is_variable_name(v)) {
        return Err(usage(format!("--token-env {var:?} is not a variable name; use letters, digits and _")));
    }
    let mut file = RosterFile::open(&ctx.paths.roster)?;
    let current = file.current().cloned();
    let registry = ctx.registry(current.as_ref());
    if let Some(problem) = registry.problem(&args.agent) {
        return Err(usage(format!("--agent {}: {problem}", args.agent)));
    }
    if let Some(existing) = current.as_ref().and_then(|r| r.account(&args.name)) {
        return Err(usage(format!(
            "{}:{}:{}: an account named {:?} is already there; pick another name, or `accounts remove {}` first",
            ctx.paths.roster.display(),
            existing.name_at.line,
            existing.name_at.column,
            args.name,
            args.name
        )));
    }
    let config_dir = match &args.config_dir {
        Some(dir) => absolute(dir)?,
        None => ctx.paths.config_dirs.join(&args.name),
    };
    check_path("--config-dir", &config_dir)?;
    if let Some(other) = current.as_ref().and_then(|r| user_of(r, &config_dir)) {
        return Err(usage(format!(
            "config dir {} is already account {other:?}'s; two accounts in one dir would share one login. \
             Give this one its own --config-dir",
            config_dir.display()
        )));
    }
    let token_file = args.token_file.as_deref().map(absolute).transpose()?;
    if let Some(path) = &token_file {
        check_path("--token-file", path)?;
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Err(usage(format!(
                "--token-file {}: no such file; write the token there first (one line, chmod 600), \
                 or add the account without it and `accounts enroll {}` its key",
                path.display(),
                args.name
            )));
        }
    }
    file.add_account(&NewAccount {
        name: &args.name,
        agent: &args.agent,
        config_dir: &config_dir.to_string_lossy(),
        seats: args.seats,
        priority: args.priority,
        token_file: token_file.as_ref().map(|p| p.to_string_lossy()).as_deref(),
        token_env: args.token_env.as_deref(),
    });
    // The dir first (0700: it will hold a login), removed again if the
    // roster cannot be written, so a failed add leaves nothing behind.
    let created = create_private_dir(&config_dir)?;
    if let Err(e) = file.save() {
        if created {
            let _ = std::fs::remove_dir(&config_dir);
        }
        return Err(e);
    }
    let next = format!("accounts login {}", args.name);
    print(&format!(
        "added {} ({}) with config dir {} to {}; next: {next}\n",
        args.name,
        args.agent,
        config_dir.display(),
        ctx.paths.roster.display()
    ))
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// The account to take out of the roster
    #[arg(add = super::completions::accounts())]
    name: String,
    /// Remove it even while workers hold its seats (their leases end)
    #[arg(long)]
    force: bool,
}

/// Takes the account out of the roster; its config dir, which holds the
/// agent's own login, is kept.
pub fn run_remove(ctx: &Context, args: RemoveArgs) -> Result<ExitStatus> {
    let mut file = RosterFile::open(&ctx.paths.roster)?;
    let Some(current) = file.current().cloned() else {
        return Err(usage(format!("there is no roster at {}; nothing to remove", ctx.paths.roster.display())));
    };
    let account = seats::account(&current, &args.name)?.clone();
    let store = ctx.store(Some(&current))?;
    let now = store.now();
    let host = holder::host_name();
    // The lease check and the release hold the state lock, so no worker
    // takes a seat on the account between them.
    store.update(|state| {
        seats::prune(state, &host, now);
        let workers: Vec<&str> =
            state.leases.iter().filter(|l| l.account == account.name).map(|l| l.worker.as_str()).collect();
        if !workers.is_empty() && !args.force {
            return Err(usage(format!(
                "account {:?} has live leases (workers {}); stop them first, or pass --force to end their leases",
                account.name,
                workers.join(", ")
            )));
        }
        state.release(|l| l.account == account.name);
        state.remove_wall(&account.name);
        file.remove_account(&account.name);
        file.save().map(|_| ())
    })?;
    print(&format!(
        "removed {} from {}; its config dir {} is kept (it holds the agent's login): delete it yourself when done\n",
        account.name,
        ctx.paths.roster.display(),
        account.config_dir.display()
    ))
}

/// The account already using `dir`, compared where each path really leads
/// (symlinks and `..` resolved, also through dirs that do not exist yet).
fn user_of<'r>(roster: &'r Roster, dir: &Path) -> Option<&'r str> {
    let dir = crate::paths::resolved(dir);
    roster.accounts.iter().find(|a| crate::paths::resolved(&a.config_dir) == dir).map(|a| a.name.as_str())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Paths go into the roster and into envs: plain text only.
fn check_path(flag: &str, path: &Path) -> Result<()> {
    match path.to_str() {
        Some(text) if !text.chars().any(char::is_control) => Ok(()),
        _ => Err(usage(format!("{flag} {}: use a path of plain UTF-8 text", path.display()))),
    }
}

/// Create `dir` 0700 when missing; whether it was created. Anything else
/// at that path is the user's to fix.
fn create_private_dir(dir: &Path) -> Result<bool> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(_) => Err(usage(format!("{} exists and is not a directory; pick another --config-dir", dir.display()))),
        Err(_) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::Other(anyhow::anyhow!("cannot create {}: {e}", dir.display())))?;
            Ok(true)
        }
    }
}

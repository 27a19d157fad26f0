//! `accounts login NAME [--headless]`: the agent's own login inside the
//! account's config dir, then checked (see `crate::login`).

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use super::{Context, health, print};
use crate::credentials;
use crate::error::{Error, Result, usage};
use crate::exec::child;
use crate::exit::ExitStatus;
use crate::launch;
use crate::login::session::{self, Ended};
use crate::login::snapshot::Snapshot;
use crate::login::{self, events::UrlEvent};
use crate::notice;
use crate::plugin::CredentialStatus;
use crate::roster::{Account, Roster};
use crate::seats;
use crate::state::StateStore;
use crate::timefmt;

#[derive(clap::Args)]
pub struct Args {
    /// The account to log in
    #[arg(add = super::completions::accounts())]
    name: String,
    /// For a supervisor or a remote machine: run the login on a
    /// pseudo-terminal, print each URL and one-time code on stdout as a
    /// JSON line, type each line of stdin into the login (see README)
    #[arg(long)]
    headless: bool,
    /// With --headless: kill a login nobody completes after this long
    #[arg(long, default_value = "10m", value_name = "DURATION", requires = "headless")]
    timeout: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let timeout = timefmt::parse_duration(&args.timeout).map_err(|e| usage(format!("--timeout: {e}")))?;
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.name)?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    let plugin = plugins.load(&account.agent)?;
    let spec = plugin.spec();
    let Some(commands) = &spec.login else {
        return Err(usage(format!(
            "{} has no login command accounts can run for {:?}; {}",
            spec.label,
            account.name,
            spec.enroll_hint.replace("<name>", &account.name)
        )));
    };
    let argv = match (&commands.headless, args.headless) {
        (Some(headless), true) => headless.clone(),
        _ => commands.interactive.clone(),
    };
    warn_about_leases(ctx, &roster, account)?;
    refuse_a_shared_dir(&roster, account)?;
    launch::ensure_config_dir(account)?;
    let env = login::login_env(account, &plugin, crate::clock::now())?;
    let ignore = login::host_files(account, spec.token_file_name.as_deref());
    let before = Snapshot::take(&account.config_dir, &ignore);
    let shown = argv.join(" ");

    let ended = if args.headless {
        let timeout = Duration::from_secs(timeout as u64);
        session::headless(&argv, &env, timeout, emit_url).map_err(|e| start_failure(&shown, e))?
    } else {
        Ended::Exited(session::interactive(&argv, &env).map_err(|e| start_failure(&shown, e))?)
    };
    let outcome = match ended {
        Ended::TimedOut => Err(format!(
            "`{shown}` did not finish within {}; it was killed and nothing was checked",
            timefmt::format_span(timeout)
        )),
        Ended::Exited(status) if !status.success() => {
            Err(format!("`{shown}` failed (exit {}); the account is not logged in", child::exit_code(status)))
        }
        Ended::Exited(_) => {
            let changed = before.changed(&Snapshot::take(&account.config_dir, &ignore));
            let now = crate::clock::now();
            let status = plugin.credential_status(&launch::request(account, None, now))?;
            let failed = login::verify(&account.config_dir, &spec.label, &changed, status.as_ref());
            match status {
                Some(status) if failed.is_empty() => Ok(status),
                _ => Err(format!("the login did not take: {}", failed.join("; "))),
            }
        }
    };
    match outcome {
        Err(why) => {
            if args.headless {
                emit(&json!({"event": "result", "ok": false, "account": account.name, "error": why}))?;
            }
            Err(Error::Other(anyhow::anyhow!("account {:?}: {why}", account.name)))
        }
        Ok(status) => report_success(ctx, &roster, account, &status, args.headless),
    }
}

/// Print the one-line result (or the result event); flag a login that is
/// another account's too, with its own exit code.
fn report_success(
    ctx: &Context,
    roster: &Roster,
    account: &Account,
    status: &CredentialStatus,
    headless: bool,
) -> Result<ExitStatus> {
    let now = crate::clock::now();
    let host = ctx.plugin_host(Some(roster))?;
    let plugins = health::Plugins::load(roster, &host);
    let healths = health::all(roster, &plugins, now);
    // Keep whose login each account is now: a new login may make twins, or
    // part them.
    let logins: Vec<(String, crate::learn::Login)> =
        roster.accounts.iter().zip(&healths).map(|(a, h)| (a.name.clone(), health::login_of(h))).collect();
    let store = ctx.store(Some(roster))?;
    store.change(|state| crate::learn::keep_logins(state, roster, &logins, now))?;
    let same = roster
        .accounts
        .iter()
        .zip(&healths)
        .find(|(a, _)| a.name == account.name)
        .map(|(_, h)| h.same_login_as.clone())
        .unwrap_or_default();
    if headless {
        emit(&json!({
            "event": "result",
            "ok": true,
            "account": account.name,
            "state": "live",
            "expires_at": status.expires_at.map(timefmt::format_instant),
            "identity": status.identity,
            "plan": status.plan,
            "same_login_as": same,
        }))?;
    } else {
        print(&format!("{}: {}\n", account.name, credentials::describe_login(status, now)))?;
    }
    if same.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let identity = status.identity.as_ref().map_or_else(|| "the same user".to_owned(), |i| i.shown());
    let (name, others) = (&account.name, same.join(" and "));
    notice::warn(format!(
        "{name} is logged in as {identity}, the same login as {others}: they share one quota. Log {name} in as \
         another user (accounts login {name}), or remove it (accounts remove {name}); `accounts status` flags \
         both until then"
    ));
    Ok(ExitStatus::SameLogin)
}

/// A login may replace credentials a running agent uses: say which workers.
fn warn_about_leases(ctx: &Context, roster: &Roster, account: &Account) -> Result<()> {
    let (state, _) = ctx.current_state(roster)?;
    let workers: Vec<&str> =
        state.leases.iter().filter(|l| l.account == account.name).map(|l| l.worker.as_str()).collect();
    if !workers.is_empty() {
        notice::warn(format!(
            "account {:?} is in use by {}: a new login may replace the credentials they run on",
            account.name,
            workers.join(", ")
        ));
    }
    Ok(())
}

fn start_failure(shown: &str, e: std::io::Error) -> Error {
    let program = shown.split(' ').next().unwrap_or(shown);
    if e.kind() == std::io::ErrorKind::NotFound {
        return usage(format!("cannot run `{shown}`: {program} is not on PATH; install the agent first"));
    }
    Error::Other(anyhow::anyhow!("cannot run `{shown}`: {e}"))
}

fn emit_url(event: &UrlEvent) -> std::io::Result<()> {
    write_line(&serde_json::to_value(event).expect("an event serializes"))
}

fn emit(value: &serde_json::Value) -> Result<()> {
    write_line(value).map_err(|e| Error::Other(anyhow::anyhow!("writing to stdout: {e}")))
}

/// One JSON line on stdout, flushed at once: the supervisor is waiting.
fn write_line(value: &serde_json::Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}").and_then(|()| out.flush())
}

/// A login writes the agent's credentials into the config dir: one that
/// leads to another account's dir (a symlink, `..`) would overwrite that
/// account's login.
fn refuse_a_shared_dir(roster: &crate::roster::Roster, account: &crate::roster::Account) -> Result<()> {
    let here = crate::paths::resolved(&account.config_dir);
    match roster.accounts.iter().find(|a| a.name != account.name && crate::paths::resolved(&a.config_dir) == here) {
        Some(other) => Err(usage(format!(
            "account {:?}'s config_dir {} leads to {}, which is account {:?}'s; logging in would overwrite that \
             account's login. Give {:?} a directory of its own",
            account.name,
            account.config_dir.display(),
            here.display(),
            other.name,
            account.name
        ))),
        None => Ok(()),
    }
}

//! `accounts statusline`: a status-line command for agents that hand one
//! their session's state as JSON on stdin, rate limits included. It keeps
//! the usage readings the account's plugin finds in that JSON, then runs
//! the user's own status-line command with the same stdin (its output is
//! the status line), so interactive sessions feed readings too.
//!
//! A status line must never break: whatever goes wrong with the readings
//! is one line on stderr, and the user's command runs all the same.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use super::{Context, print};
use crate::error::{Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::notice;
use crate::plugin::UsageReading;
use crate::state::StateStore;
use crate::{seats, timefmt};

/// The most of stdin read: a status line's JSON is a few KiB.
const MAX_STDIN: u64 = 1 << 20;

#[derive(clap::Args)]
pub struct Args {
    /// The account the session runs on [default: $ACCOUNTS_ACCOUNT, which
    /// launch-env and exec set]
    #[arg(long, value_name = "NAME", add = super::completions::accounts())]
    account: Option<String>,
    /// Your own status-line command, run with the same stdin [default:
    /// print the account's windows]
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_end(&mut input)
        .map_err(|e| usage(format!("statusline: cannot read stdin: {e}")))?;
    let readings = match record(ctx, args.account.as_deref(), &input) {
        Ok(readings) => readings,
        Err(e) => {
            notice::warn(format!("statusline: no usage reading kept: {e}"));
            Vec::new()
        }
    };
    match args.command.split_first() {
        None => print(&format!("{}\n", summary(&readings))),
        Some((program, rest)) => run_users_command(program, rest, &input),
    }
}

/// Keep the readings the account's plugin finds in `input`; returns them.
fn record(ctx: &Context, account: Option<&str>, input: &[u8]) -> Result<Vec<UsageReading>> {
    let name = match account {
        Some(name) => name.to_owned(),
        None => std::env::var("ACCOUNTS_ACCOUNT").map_err(|_| {
            usage("statusline: no account: pass --account NAME (launch-env and exec set ACCOUNTS_ACCOUNT)")
        })?,
    };
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &name)?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    let plugin = plugins.load(&account.agent)?;
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let text = String::from_utf8_lossy(input);
    let readings = plugin.observe(&text, now, &timefmt::local_zone_name())?.usage;
    if !readings.is_empty() {
        let host = holder::host_name();
        store.change(|state| crate::usage::record(state, &account.name, &readings, &host, now))?;
    }
    Ok(readings)
}

/// `5h 40% · 7d 96%`, or nothing known yet.
fn summary(readings: &[UsageReading]) -> String {
    let windows: Vec<String> =
        readings.iter().map(|r| format!("{} {}%", r.window, (r.used * 100.0).round() as i64)).collect();
    windows.join(" \u{b7} ")
}

/// The user's command with `input` on its stdin; its exit code is ours.
fn run_users_command(program: &str, args: &[String], input: &[u8]) -> Result<ExitStatus> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| usage(format!("statusline: cannot run {program:?}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin closes it early: not ours
        // to report.
        let _ = stdin.write_all(input);
    }
    let status = child.wait().map_err(|e| usage(format!("statusline: waiting for {program:?}: {e}")))?;
    Ok(match status.code() {
        Some(0) => ExitStatus::Success,
        Some(code) => ExitStatus::Agent(u8::try_from(code).unwrap_or(1)),
        None => ExitStatus::Failure,
    })
}

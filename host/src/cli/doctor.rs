//! `accounts doctor`: is this setup ready to launch agents? The resolved
//! paths, then one check per part (the roster, each agent's plugin and
//! command, each account's credentials, the state store), each problem with
//! its fix. Exits 1 when a check fails; warnings (a login the agent will
//! refresh, a stray file in the plugin dir) do not fail it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Context, health, print};
use crate::credentials::{self, Login};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::plugin::{LoginState, Plugin};
use crate::roster::Roster;
use crate::state::StateStore;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// How long an agent's `--version` may take (a CLI that wants the network
/// or a terminal for it is not hung on).
const VERSION_DEADLINE: Duration = Duration::from_secs(10);
/// The most of its output read.
const VERSION_CAP: u64 = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One part checked: what, the verdict, what was found, how to fix it.
struct Check {
    part: String,
    verdict: Verdict,
    detail: String,
    fix: Option<String>,
}

impl Check {
    fn ok(part: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { part: part.into(), verdict: Verdict::Ok, detail: detail.into(), fix: None }
    }
    fn problem(verdict: Verdict, part: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { part: part.into(), verdict, detail: detail.into(), fix: Some(fix.into()) }
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let mut checks = Vec::new();
    let roster = check_roster(ctx, &mut checks);
    if let Some(roster) = &roster {
        check_agents(ctx, roster, &mut checks);
    }
    checks.push(check_state(ctx, roster.as_ref()));
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    let paths = paths(ctx, roster.as_ref());
    print(&if args.json { to_json(&paths, &checks, failed) } else { to_text(&paths, &checks) })?;
    Ok(if failed { ExitStatus::Failure } else { ExitStatus::Success })
}

/// The paths this invocation resolved, by name.
fn paths(ctx: &Context, roster: Option<&Roster>) -> Vec<(&'static str, String)> {
    let shown = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()).display().to_string();
    let state = match ctx.state_config(roster) {
        Ok(config) => match config.url {
            Some(url) => format!("{url} (namespace {})", config.namespace),
            None => shown(&ctx.paths.state_dir),
        },
        Err(e) => format!("unusable: {e}"),
    };
    let roster_path = match ctx.paths.roster.exists() {
        true => shown(&ctx.paths.roster),
        false => format!("{} (none yet)", shown(&ctx.paths.roster)),
    };
    vec![
        ("roster", roster_path),
        ("state", state),
        ("plugin dir", shown(&ctx.paths.plugin_dir)),
        ("cache", shown(&ctx.paths.cache_dir)),
        ("config dirs", shown(&ctx.paths.config_dirs)),
    ]
}

fn check_roster(ctx: &Context, checks: &mut Vec<Check>) -> Option<Roster> {
    match ctx.roster_if_any() {
        Err(e) => {
            checks.push(Check::problem(
                Verdict::Fail,
                "roster",
                e.to_string(),
                "edit the roster where the error points",
            ));
            None
        }
        Ok(None) => {
            checks.push(Check::problem(
                Verdict::Fail,
                "roster",
                format!("no roster at {}", ctx.paths.roster.display()),
                "add an account: accounts add NAME --agent KIND (it creates the roster)",
            ));
            None
        }
        Ok(Some(roster)) if roster.accounts.is_empty() => {
            checks.push(Check::problem(
                Verdict::Warn,
                "roster",
                "no accounts yet",
                "add one: accounts add NAME --agent KIND",
            ));
            Some(roster)
        }
        Ok(Some(roster)) => {
            let mut kinds: Vec<&str> = roster.accounts.iter().map(|a| a.agent.as_str()).collect();
            kinds.sort();
            kinds.dedup();
            checks.push(Check::ok("roster", format!("{} accounts of {}", roster.accounts.len(), kinds.join(", "))));
            Some(roster)
        }
    }
}

/// Each kind's plugin and command, then each account's credentials.
fn check_agents(ctx: &Context, roster: &Roster, checks: &mut Vec<Check>) {
    let host = match ctx.plugin_host(Some(roster)) {
        Ok(host) => host,
        Err(e) => {
            checks.push(Check::problem(Verdict::Fail, "plugins", e.to_string(), "see the error above"));
            return;
        }
    };
    for warning in host.registry.dir_warnings() {
        checks.push(Check::problem(Verdict::Warn, "plugin dir", warning, "move or remove the file"));
    }
    let plugins = health::Plugins::load(roster, &host);
    let mut kinds: Vec<&str> = roster.accounts.iter().map(|a| a.agent.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        match plugins.get(kind) {
            Some(plugin) => {
                let spec = plugin.spec();
                checks.push(Check::ok(format!("plugin {kind}"), format!("{}, contract {}", spec.label, spec.contract)));
                checks.push(check_program(plugin));
            }
            None => checks.push(Check::problem(
                Verdict::Fail,
                format!("plugin {kind}"),
                plugins.error(kind),
                format!(
                    "check it with `accounts plugins check FILE`, or fix the roster's [plugins.{kind}] entry; \
                     `accounts plugins list` shows where each kind comes from"
                ),
            )),
        }
    }
    let now = crate::clock::now();
    for (account, health) in roster.accounts.iter().zip(health::all(roster, &plugins, now)) {
        let can_login = plugins.get(&account.agent).is_some_and(|p| p.spec().login.is_some());
        let nothing =
            health.token_source.is_none() && matches!(&health.login, Login::Known(s) if s.state == LoginState::Missing);
        let detail = match nothing {
            true => "nothing to log in with: no login in its config dir, no token".to_owned(),
            false => credentials::describe(&account.name, &health, can_login, now),
        };
        let verb = if can_login { "login" } else { "enroll" };
        let fix = format!("accounts {verb} {}", account.name);
        let part = format!("account {}", account.name);
        let token_usable = health.token_masked.is_some() && health.token_problem.is_none();
        let verdict = match &health.login {
            _ if health.token_source.is_some() && !token_usable => Verdict::Fail,
            Login::Known(s) if s.state == LoginState::Live => Verdict::Ok,
            _ if token_usable => Verdict::Ok,
            // The agent refreshes an expired login it can; `login` when not.
            Login::Known(s) if s.state == LoginState::Expired => Verdict::Warn,
            // Contract 0.1.0 cannot say.
            Login::Unknown => Verdict::Warn,
            Login::Known(_) | Login::Error(_) => Verdict::Fail,
        };
        let check = match verdict {
            Verdict::Ok => Check::ok(part, detail),
            _ if matches!(health.login, Login::Error(_)) => {
                Check::problem(verdict, part, detail, "see the plugin's check above")
            }
            _ => Check::problem(verdict, part, detail, fix),
        };
        checks.push(check);
    }
}

/// The agent's own command on `PATH`, and the version it says it is.
fn check_program(plugin: &Plugin<'_>) -> Check {
    let spec = plugin.spec();
    let program = spec.program();
    let part = format!("agent {}", spec.kind);
    let Some(path) = find_on_path(&program) else {
        return Check::problem(
            Verdict::Fail,
            part,
            format!("`{program}` is not on PATH"),
            format!("install {} so that `{program}` runs (accounts runs the agent's own command)", spec.label),
        );
    };
    match version_of(&path) {
        Ok(version) => Check::ok(part, format!("{} ({version})", path.display())),
        Err(why) => Check::problem(
            Verdict::Warn,
            part,
            format!("{}: `--version` {why}", path.display()),
            format!("run `{program} --version` yourself to see what it wants"),
        ),
    }
}

/// The first executable file named `program` in `PATH` (or `program`
/// itself when it is a path).
fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        return Some(PathBuf::from(program)).filter(|p| runnable(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| runnable(p))
}

/// The first line `path --version` prints, within a deadline and a cap.
fn version_of(path: &Path) -> std::result::Result<String, String> {
    let mut child = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(VERSION_CAP).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + VERSION_DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("gave no answer within {}s", VERSION_DEADLINE.as_secs()));
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    let first = String::from_utf8_lossy(&out).lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned);
    match (status.success(), first) {
        (true, Some(line)) => Ok(crate::untrusted::Untrusted::new(line).shown()),
        (true, None) => Err("printed nothing".into()),
        (false, _) => Err(format!("failed ({status})")),
    }
}

/// The store reachable, and what it holds.
fn check_state(ctx: &Context, roster: Option<&Roster>) -> Check {
    let fix = "check the roster's [state] url (or ACCOUNTS_STATE_URL, --state-url) and that the server is up";
    let store = match ctx.store(roster) {
        Ok(store) => store,
        Err(e) => return Check::problem(Verdict::Fail, "state", e.to_string(), fix),
    };
    let now = store.now();
    match store.change(|state| (state.leases.len(), state.walls.iter().filter(|w| w.until > now).count())) {
        Ok((leases, walls)) => Check::ok("state", format!("reachable: {leases} leases, {walls} walls")),
        Err(e) => Check::problem(Verdict::Fail, "state", e.to_string(), fix),
    }
}

fn to_text(paths: &[(&str, String)], checks: &[Check]) -> String {
    let mut out = String::from("paths\n");
    for (name, path) in paths {
        out += &format!("  {name:<12} {path}\n");
    }
    out += "checks\n";
    let width = checks.iter().map(|c| c.part.chars().count()).max().unwrap_or(0);
    for check in checks {
        out += &format!("  {:<4}  {:<width$}  {}\n", check.verdict.word(), check.part, check.detail);
        if let Some(fix) = &check.fix {
            out += &format!("  {:<4}  {:<width$}  fix: {fix}\n", "", "");
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    out += &match (failed, warned) {
        (0, 0) => "all good\n".to_owned(),
        (0, w) => format!("ready, {w} warning{}\n", if w == 1 { "" } else { "s" }),
        (f, _) => format!("{f} problem{} to fix\n", if f == 1 { "" } else { "s" }),
    };
    out
}

fn to_json(paths: &[(&str, String)], checks: &[Check], failed: bool) -> String {
    let paths: serde_json::Map<String, serde_json::Value> =
        paths.iter().map(|(name, path)| (name.replace(' ', "_"), json!(path))).collect();
    let checks: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| json!({"part": c.part, "verdict": c.verdict.word().to_lowercase(), "detail": c.detail, "fix": c.fix}))
        .collect();
    format!("{:#}\n", json!({"ok": !failed, "paths": paths, "checks": checks}))
}

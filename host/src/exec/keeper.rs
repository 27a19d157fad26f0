//! The job keeper: a small process between `accounts` and the agent that
//! owns the agent's whole process tree, so the job ends as a whole.
//!
//! `PR_SET_PDEATHSIG` reaches only a direct child: an agent started through
//! `npx`, a wrapper script or `sh -c 'a; b'`, or one that starts its own
//! tool processes or a daemon, would run on after a `kill -9` of `exec`
//! while its seat is given to the next worker. The keeper is our own binary
//! run again (see [`ARG`]); it marks itself a child subreaper, so every
//! process the agent starts, even one that double-forks and leaves its
//! session, stays its descendant. It ends them all:
//! - when `exec` dies, however it dies: the control pipe's write end is held
//!   by `exec` alone, so the keeper reads end-of-file and kills the job;
//! - when `exec` asks for a hard stop (a byte on the control pipe), instead
//!   of a SIGKILL that would reach the keeper only;
//! - when the agent exits: what it left running gets the grace to finish,
//!   then SIGTERM, then SIGKILL after the grace again.
//!
//! It exits as the agent did (its code, or the same signal), so `exec`
//! reads the agent's end through it. Signals `exec` forwards are passed on
//! to the agent; on a pty the agent already got them with its group.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

use super::signals::FORWARDED;

/// The first argument that makes our binary a job keeper. Not a subcommand:
/// it is checked before the command line is parsed, and never shown.
pub const ARG: &str = "__accounts-job-keeper";

/// The byte `exec` writes on the control pipe for a hard stop.
pub const KILL_BYTE: u8 = b'k';

/// How the keeper was asked to run, from its command line.
struct Request {
    control: File,
    report: File,
    /// The agent shares the keeper's process group on a pty: it gets the
    /// forwarded signals with the group, so the keeper passes none on.
    on_pty: bool,
    grace: Duration,
    argv: Vec<String>,
}

/// Run as the job keeper when our command line asks for it; `None` when it
/// does not (the normal `accounts` command line).
pub fn run_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    args.next();
    if args.next().is_none_or(|first| first != ARG) {
        return None;
    }
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    Some(match parse(&args) {
        Some(request) => keep(request),
        None => {
            crate::notice::error("the job keeper is started by `accounts exec` and `accounts login` only");
            ExitCode::from(2)
        }
    })
}

/// The keeper's command line, as [`super::child`] writes it:
/// `ARG <control fd> <report fd> <pty|plain> <grace ms> -- <argv...>`.
pub fn command_line(control: RawFd, report: RawFd, on_pty: bool, grace: Duration, argv: &[String]) -> Vec<String> {
    let mode = if on_pty { "pty" } else { "plain" };
    let mut line = vec![ARG.to_string(), control.to_string(), report.to_string(), mode.into()];
    line.push(grace.as_millis().to_string());
    line.push("--".into());
    line.extend(argv.iter().cloned());
    line
}

fn parse(args: &[String]) -> Option<Request> {
    let [control, report, mode, grace, dashes, argv @ ..] = args else { return None };
    if dashes != "--" || argv.is_empty() {
        return None;
    }
    let control = inherited_fd(control)?;
    let report = inherited_fd(report)?;
    let on_pty = match mode.as_str() {
        "pty" => true,
        "plain" => false,
        _ => return None,
    };
    let grace = Duration::from_millis(grace.parse().ok()?);
    Some(Request { control, report, on_pty, grace, argv: argv.to_vec() })
}

/// An fd our parent left open for us, made close-on-exec so the agent does
/// not inherit it.
fn inherited_fd(number: &str) -> Option<File> {
    let fd: RawFd = number.parse().ok().filter(|fd| *fd > 2)?;
    // SAFETY: the fd number is one `child::spawn` opened and kept open
    // across exec for us; nothing else in this fresh process owns it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC).ok()?;
    // SAFETY: as above; from here on the File is its only owner.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn keep(request: Request) -> ExitCode {
    let Request { control, mut report, on_pty, grace, argv } = request;
    // Orphans in the agent's tree are re-parented to us, not to init.
    // (rustix's argument is the flag: `None` would clear it; any pid sets it.)
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        return report_failure(&mut report, &std::io::Error::from(e));
    }
    let agent_pid = Arc::new(AtomicI32::new(0));
    // Installed before the agent starts, as handlers (not "ignore"), so the
    // agent starts with every signal at its default action.
    if let Err(e) = relay_signals(Arc::clone(&agent_pid), on_pty) {
        return report_failure(&mut report, &e);
    }
    let agent = match spawn_agent(&argv) {
        Ok(pid) => pid,
        Err(e) => return report_failure(&mut report, &e),
    };
    agent_pid.store(agent.as_raw_nonzero().get(), Ordering::SeqCst);
    let _ = report.write_all(b"ok");
    drop(report);

    let hard_stop = Arc::new(AtomicBool::new(false));
    watch_control(control, Arc::clone(&hard_stop));
    let ended = reap_until(agent);
    end_leftovers(grace, &hard_stop);
    exit_as(ended)
}

/// Tell `exec` the agent could not start (the errno, as `std` does for its
/// own spawn), and exit.
fn report_failure(report: &mut File, error: &std::io::Error) -> ExitCode {
    let code = error.raw_os_error().unwrap_or(rustix::io::Errno::INVAL.raw_os_error());
    let _ = report.write_all(format!("errno {code}").as_bytes());
    ExitCode::from(127)
}

/// Start the agent with our env and stdio; it is killed if we die.
fn spawn_agent(argv: &[String]) -> std::io::Result<Pid> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    let keeper = rustix::process::getpid();
    // SAFETY: only async-signal-safe syscalls run between fork and exec.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            if rustix::process::getppid() != Some(keeper) {
                return Err(std::io::Error::other("the job keeper exited before the command started"));
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    let pid = Pid::from_raw(child.id() as i32).expect("a child's pid is positive");
    // Reaped by `reap_until`, not by `Child::wait`.
    drop(child);
    Ok(pid)
}

/// Pass signals `exec` sends us on to the agent.
fn relay_signals(agent: Arc<AtomicI32>, on_pty: bool) -> std::io::Result<()> {
    let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED)?;
    std::thread::spawn(move || {
        for origin in &mut signals {
            // On a pty the agent got the signal with our group; a terminal's
            // signal (Ctrl-C) reached it on the terminal it shares with us.
            if on_pty || !matches!(origin.cause, Cause::Sent(_)) {
                continue;
            }
            let (Some(pid), Some(signal)) =
                (Pid::from_raw(agent.load(Ordering::SeqCst)), Signal::from_named_raw(origin.signal))
            else {
                continue;
            };
            let _ = rustix::process::kill_process(pid, signal);
        }
    });
    Ok(())
}

/// Read the control pipe on a thread of its own: end-of-file (`exec` is
/// gone) or the kill byte kill the whole job, over and over, until the
/// main thread has reaped it and exits.
fn watch_control(mut control: File, hard_stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        loop {
            match control.read(&mut byte) {
                Ok(1) if byte[0] != KILL_BYTE => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        hard_stop.store(true, Ordering::SeqCst);
        loop {
            signal_descendants(Signal::KILL);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

/// Reap children until the agent itself has ended; returns how it ended.
fn reap_until(agent: Pid) -> rustix::process::WaitStatus {
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid == agent => return status,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            // No child at all: cannot happen while the agent is unreaped.
            Err(_) => std::process::exit(1),
        }
    }
}

/// End what the agent left running: it gets `grace` to finish on its own
/// (a background writer's last output still passes), then SIGTERM, then
/// SIGKILL after `grace` more; at once on a hard stop. Returns when no
/// descendant is left.
fn end_leftovers(grace: Duration, hard_stop: &AtomicBool) {
    let term_at = Instant::now() + grace;
    let kill_at = term_at + grace;
    let mut termed = false;
    loop {
        if reap_ready() {
            return;
        }
        let now = Instant::now();
        if hard_stop.load(Ordering::SeqCst) || now >= kill_at {
            signal_descendants(Signal::KILL);
        } else if now >= term_at && !termed {
            signal_descendants(Signal::TERM);
            termed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reap every child that has ended; true when we have no child left.
fn reap_ready() -> bool {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) => continue,
            Ok(None) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return true,
        }
    }
}

/// Send `signal` to every process below us.
fn signal_descendants(signal: Signal) {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    for pid in descendants(me, &parents()) {
        if let Some(pid) = Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }
}

/// Every live process's parent, from `/proc/<pid>/stat`.
fn parents() -> HashMap<i32, i32> {
    let mut parents = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return parents };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let mut stat = String::new();
        // A stat line is a few hundred bytes; the bound keeps a read short.
        let read = File::open(entry.path().join("stat")).and_then(|f| f.take(4096).read_to_string(&mut stat));
        if let (Ok(_), Some(ppid)) = (read, parent_in_stat(&stat)) {
            parents.insert(pid, ppid);
        }
    }
    parents
}

/// The parent pid in a `/proc/<pid>/stat` line: the second field after the
/// command name, which is in parentheses and may hold spaces and `)`.
fn parent_in_stat(stat: &str) -> Option<i32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// The processes below `root` in `parents`.
fn descendants(root: i32, parents: &HashMap<i32, i32>) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut found = Vec::new();
    let mut seen = HashSet::from([root]);
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if seen.insert(child) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

/// Exit as the agent did: its code, or its signal raised on ourselves.
fn exit_as(status: rustix::process::WaitStatus) -> ExitCode {
    if let Some(code) = status.exit_status() {
        return ExitCode::from(code as u8);
    }
    let Some(signal) = status.terminating_signal() else { return ExitCode::from(1) };
    // No core file of ours for the agent's crash.
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit { current: Some(0), maximum: None },
    );
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    ExitCode::from(128u8.saturating_add(signal as u8))
}

/// The keeper's report of the agent's start, read by `exec`: `Ok` once the
/// agent runs, else the reason it could not start.
pub fn read_report(mut report: impl Read) -> std::io::Result<()> {
    let mut text = String::new();
    report.by_ref().take(64).read_to_string(&mut text)?;
    match text.strip_prefix("errno ").and_then(|n| n.parse::<i32>().ok()) {
        Some(errno) => Err(std::io::Error::from_raw_os_error(errno)),
        None if text == "ok" => Ok(()),
        None => Err(std::io::Error::other("the job keeper ended before the command started")),
    }
}

/// Keep `fd` open across the exec of the keeper (between fork and exec:
/// async-signal-safe).
pub fn keep_open_across_exec(fd: impl AsFd) -> std::io::Result<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_read_past_a_name_with_spaces_and_parens() {
        assert_eq!(parent_in_stat("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (a b) c)) S 9 42 42 0"), Some(9));
        assert_eq!(parent_in_stat("42 (trunc"), None);
    }

    #[test]
    fn descendants_are_the_whole_subtree_and_nothing_else() {
        // 1 ─ 10 ─ 11 ─ 12, 10 ─ 13; 2 ─ 20 is someone else's.
        let parents = HashMap::from([(10, 1), (11, 10), (12, 11), (13, 10), (20, 2), (1, 0), (2, 0)]);
        let mut below = descendants(10, &parents);
        below.sort();
        assert_eq!(below, vec![11, 12, 13]);
        assert!(descendants(12, &parents).is_empty());
    }

    #[test]
    fn the_command_line_parses_back() {
        let line = command_line(7, 8, true, Duration::from_millis(1500), &["sh".into(), "-c".into(), "x".into()]);
        assert_eq!(line[0], ARG);
        assert_eq!(&line[1..], ["7", "8", "pty", "1500", "--", "sh", "-c", "x"]);
        // An fd number 0-2 or a missing argv is refused, not guessed at.
        assert!(parse(&["1".into(), "8".into(), "pty".into(), "0".into(), "--".into(), "sh".into()]).is_none());
        assert!(parse(&["7".into(), "8".into(), "pty".into(), "0".into(), "--".into()]).is_none());
    }

    #[test]
    fn the_report_says_whether_the_agent_started() {
        assert!(read_report(&b"ok"[..]).is_ok());
        let missing = read_report(&b"errno 2"[..]).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(read_report(&b""[..]).is_err(), "a keeper that died before reporting");
    }
}

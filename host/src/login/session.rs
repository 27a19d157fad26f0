//! Running the agent's login command: on the user's terminal, or headless on
//! a pseudo-terminal for a supervisor. Headless, the command's output goes
//! to our stderr as it comes, the URLs and codes found in it go to the
//! supervisor (`on_url`), and each line the supervisor writes to our stdin
//! is typed into the command's terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::events::{Scanner, UrlEvent};
use crate::exec::child::{self, ChildStdio};
use crate::render::LaunchEnv;

/// How a login command ended.
pub enum Ended {
    Exited(ExitStatus),
    /// Still running at the timeout; it was killed.
    TimedOut,
}

/// Run the login on our terminal and wait for it; what it prints goes to
/// our stderr (the same terminal), so our stdout holds only the result.
/// Ctrl-C reaches the command (it shares our terminal) and ends it; we stay
/// to report, as `system(3)` does.
pub fn interactive(argv: &[String], env: &LaunchEnv) -> std::io::Result<ExitStatus> {
    let ignored = Arc::new(AtomicBool::new(false));
    let hooks: Vec<_> = [signal_hook::consts::SIGINT, signal_hook::consts::SIGQUIT]
        .into_iter()
        .filter_map(|s| signal_hook::flag::register(s, ignored.clone()).ok())
        .collect();
    let result = child::spawn(argv, env, &ChildStdio::StdoutToStderr, LEFTOVER_GRACE).and_then(|mut s| s.child.wait());
    for hook in hooks {
        signal_hook::low_level::unregister(hook);
    }
    result
}

/// A terminal this wide keeps a long URL on one line: agents wrap to the
/// width, and a wrapped URL cannot be found.
const HEADLESS_COLUMNS: u16 = 1000;
const HEADLESS_ROWS: u16 = 50;
/// How often the timeout and the command are checked.
const TICK: Duration = Duration::from_millis(100);
/// How long output is still read after the command exits (its last lines).
const DRAIN: Duration = Duration::from_millis(500);
/// How long what a login command leaves running gets after it exits.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// Longest line read from the supervisor.
const MAX_INPUT_LINE: usize = 4096;

/// Run the login headless; see the module docs. `on_url` gets each URL
/// event; an error from it (the supervisor went away) ends the login.
pub fn headless(
    argv: &[String],
    env: &LaunchEnv,
    timeout: Duration,
    mut on_url: impl FnMut(&UrlEvent) -> std::io::Result<()>,
) -> std::io::Result<Ended> {
    let mut spawned = child::spawn(argv, env, &ChildStdio::Pty { stdin_too: true }, LEFTOVER_GRACE)?;
    let pty = spawned.pty.take().expect("a pty child has its pty");
    pty.set_window_size(HEADLESS_ROWS, HEADLESS_COLUMNS);
    let (mut output, _) = spawned.outputs.pop().expect("a pty child has its output");
    let mut keys = pty.handle()?;
    let kill = || spawned.job.kill();

    let started = Instant::now();
    let mut scanner = Scanner::default();
    let mut input = LineReader::default();
    let mut stdin_open = true;
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut output_open = true;
    let mut buf = [0u8; 8192];
    let stdin = std::io::stdin();
    loop {
        if let Some((status, at)) = exited {
            if !output_open || at.elapsed() >= DRAIN {
                for event in scanner.finish() {
                    on_url(&event)?;
                }
                return Ok(Ended::Exited(status));
            }
        } else if let Some(status) = spawned.child.try_wait()? {
            exited = Some((status, Instant::now()));
        } else if started.elapsed() >= timeout {
            kill();
            let _ = spawned.child.wait();
            return Ok(Ended::TimedOut);
        }
        let (out_ready, in_ready) = ready(output_open.then_some(&output), stdin_open.then_some(&stdin))?;
        if out_ready {
            match output.read(&mut buf) {
                // EIO: every process holding the terminal has closed it.
                Ok(0) | Err(_) => output_open = false,
                Ok(n) => {
                    if let Err(e) = relay(&buf[..n], &mut scanner, &mut on_url) {
                        kill();
                        let _ = spawned.child.wait();
                        return Err(e);
                    }
                }
            }
        }
        if in_ready {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    for line in input.push(&buf[..n]) {
                        type_line(&mut keys, &line);
                    }
                }
            }
        }
    }
}

/// Wait a tick for the login's output and our stdin (each when still
/// open); which of them can be read.
fn ready(output: Option<&File>, stdin: Option<&std::io::Stdin>) -> std::io::Result<(bool, bool)> {
    let mut fds = Vec::with_capacity(2);
    fds.extend(output.map(|o| PollFd::new(o, PollFlags::IN)));
    fds.extend(stdin.map(|s| PollFd::new(s, PollFlags::IN)));
    let tick = Timespec { tv_sec: 0, tv_nsec: TICK.as_nanos() as i64 };
    match poll(&mut fds, Some(&tick)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    let mut ready = fds.iter().map(|fd| !fd.revents().is_empty());
    let out_ready = output.is_some() && ready.next().unwrap_or(false);
    Ok((out_ready, stdin.is_some() && ready.next().unwrap_or(false)))
}

/// Show the login's output on stderr and pass each URL event it holds on.
fn relay(
    bytes: &[u8],
    scanner: &mut Scanner,
    on_url: &mut impl FnMut(&UrlEvent) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(bytes).and_then(|()| err.flush());
    scanner.feed(bytes).iter().try_for_each(on_url)
}

/// Type one line into the command's terminal, ended by Enter (CR: a raw
/// mode app reads it as Enter, a cooked terminal turns it into a newline).
fn type_line(keys: &mut File, line: &[u8]) {
    let _ = keys.write_all(line).and_then(|()| keys.write_all(b"\r"));
}

/// Splits the supervisor's input into lines (without their ending).
#[derive(Default)]
struct LineReader {
    partial: Vec<u8>,
}

impl LineReader {
    fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        for &b in bytes {
            match b {
                b'\n' => {
                    let mut line = std::mem::take(&mut self.partial);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    lines.push(line);
                }
                _ if self.partial.len() < MAX_INPUT_LINE => self.partial.push(b),
                _ => {}
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines() {
        let mut r = LineReader::default();
        assert!(r.push(b"AB").is_empty());
        assert_eq!(r.push(b"CD\r\nEF\n"), vec![b"ABCD".to_vec(), b"EF".to_vec()]);
    }
}

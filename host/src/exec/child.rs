//! The agent process: spawning it with an account's env and the chosen
//! stdio, signalling it, and turning how it ended into our exit code.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal};

use super::keeper;
use super::pty::Pty;
use crate::render::LaunchEnv;

/// How the child's stdio is connected.
pub enum ChildStdio {
    /// stdin, stdout and stderr are ours: an interactive agent keeps its
    /// terminal. Output is not watched.
    Inherit,
    /// As `Inherit`, but the child's stdout is our stderr, so that our
    /// stdout carries only our own result (`login`).
    StdoutToStderr,
    /// stdout and stderr are pipes we read (and pass on); stdin is ours.
    Pipes,
    /// The child runs in its own session on a pseudo-terminal we read, so
    /// it still sees a terminal; stdin is the terminal too when ours is one.
    Pty { stdin_too: bool },
}

/// A running child and the streams we read from it.
pub struct Spawned {
    /// The job keeper (see [`super::keeper`]): waiting for it is waiting
    /// for the agent, whose end it mirrors.
    pub child: Child,
    /// How to signal and stop the whole job.
    pub job: Job,
    pub outputs: Vec<(File, Sink)>,
    /// The pty master, to forward keystrokes and window sizes to.
    pub pty: Option<Pty>,
}

/// Where a stream of the child's output is passed on to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sink {
    Stdout,
    Stderr,
}

/// Start `argv` with `env` applied (its variables set, its unset keys
/// removed), under a job keeper that ends the agent's whole process tree
/// when the agent ends, when we ask, and when we die however we die. What
/// the agent leaves running when it exits gets `grace` to finish, then
/// SIGTERM, then SIGKILL after `grace` more.
pub fn spawn(argv: &[String], env: &LaunchEnv, stdio: &ChildStdio, grace: Duration) -> std::io::Result<Spawned> {
    let (control_read, control) = std::io::pipe()?;
    let (report, report_write) = std::io::pipe()?;
    let (inherited_control, inherited_report) = (control_read.as_raw_fd(), report_write.as_raw_fd());
    let on_pty = matches!(stdio, ChildStdio::Pty { .. });
    // Our own binary, whatever has become of its path since we started.
    let mut command = Command::new("/proc/self/exe");
    command.arg0("accounts").args(keeper::command_line(inherited_control, inherited_report, on_pty, grace, argv));
    for key in &env.unset {
        command.env_remove(key);
    }
    command.envs(env.env.iter().map(|(k, v)| (k, v)));
    // SAFETY: only async-signal-safe syscalls (fcntl) run between fork and
    // exec, on the child's copies of our two pipe ends.
    unsafe {
        command.pre_exec(move || {
            keeper::keep_open_across_exec(BorrowedFd::borrow_raw(inherited_control))?;
            keeper::keep_open_across_exec(BorrowedFd::borrow_raw(inherited_report))
        });
    }
    let (mut child, outputs, pty) = start(command, stdio)?;
    // Ours are closed, so the keeper's end-of-file means what it says.
    drop((control_read, report_write));
    if let Err(e) = keeper::read_report(report) {
        let _ = child.wait();
        return Err(e);
    }
    let job = Job { pid: child.id(), own_session: pty.is_some(), control };
    Ok(Spawned { child, job, outputs, pty })
}

/// The keeper started, its output streams and its pty.
type Started = (Child, Vec<(File, Sink)>, Option<Pty>);

/// Start the keeper with `stdio` in place.
fn start(mut command: Command, stdio: &ChildStdio) -> std::io::Result<Started> {
    match stdio {
        ChildStdio::Inherit => Ok((command.spawn()?, Vec::new(), None)),
        ChildStdio::StdoutToStderr => {
            command.stdout(std::io::stderr().as_fd().try_clone_to_owned()?);
            Ok((command.spawn()?, Vec::new(), None))
        }
        ChildStdio::Pipes => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = command.spawn()?;
            let stdout = File::from(std::os::fd::OwnedFd::from(child.stdout.take().expect("piped")));
            let stderr = File::from(std::os::fd::OwnedFd::from(child.stderr.take().expect("piped")));
            Ok((child, vec![(stdout, Sink::Stdout), (stderr, Sink::Stderr)], None))
        }
        ChildStdio::Pty { stdin_too } => {
            let pty = Pty::open()?;
            let slave = pty.open_slave()?;
            if *stdin_too {
                command.stdin(slave.try_clone()?);
            }
            command.stdout(slave.try_clone()?).stderr(slave);
            // SAFETY: only async-signal-safe syscalls run between fork and
            // exec: the keeper leads a new session whose controlling
            // terminal is the pty (its stdout, already in place as fd 1);
            // the agent shares its session and process group.
            unsafe {
                command.pre_exec(|| {
                    rustix::process::setsid()?;
                    rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(1))?;
                    Ok(())
                });
            }
            let child = command.spawn()?;
            // `command` held the parent's copies of the slave; with them gone,
            // reading the master ends once the child's side is closed.
            drop(command);
            let reader = pty.handle()?;
            Ok((child, vec![(reader, Sink::Stdout)], Some(pty)))
        }
    }
}

/// The agent's whole job, as its keeper runs it.
pub struct Job {
    pid: u32,
    own_session: bool,
    /// Held by us alone: when it closes (we exit or die) the job ends.
    control: std::io::PipeWriter,
}

impl Job {
    /// Send `signal` to the agent: through its keeper, or to the whole
    /// group on a pty, as the agent's own children would get it from a
    /// terminal.
    pub fn signal(&self, signal: Signal) {
        send(self.pid, self.own_session, signal);
    }

    /// Stop the whole job now: every process in it gets SIGKILL.
    pub fn kill(&self) {
        if (&self.control).write_all(&[keeper::KILL_BYTE]).is_err() {
            // The keeper is gone already (its agent died with it).
            self.signal(Signal::KILL);
        }
    }
}

/// Send `signal` to the child; to its whole process group when it leads its
/// own session (pty mode).
fn send(pid: u32, own_session: bool, signal: Signal) {
    let Some(pid) = Pid::from_raw(pid as i32) else { return };
    if own_session && rustix::process::kill_process_group(pid, signal).is_ok() {
        return;
    }
    let _ = rustix::process::kill_process(pid, signal);
}

/// Whether a signal we received should be passed to the child. A signal the
/// terminal raised (Ctrl-C, Ctrl-\, hangup) already reached the child when it
/// shares our terminal; delivering it again would make it count twice.
pub fn should_forward(raised_by_terminal: bool, child_has_own_session: bool) -> bool {
    child_has_own_session || !raised_by_terminal
}

/// Our exit code for the child's end: its code, or 128 + the signal that
/// killed it, as shells report it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    }
}

/// The exit code for a command that could not start, as shells use them.
pub fn spawn_failure_code(error: &std::io::Error) -> u8 {
    match error.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143, "killed by SIGTERM");
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137, "killed by SIGKILL");
    }

    #[test]
    fn terminal_signals_are_not_delivered_twice() {
        assert!(!should_forward(true, false), "Ctrl-C already reached a child on our terminal");
        assert!(should_forward(false, false), "kill(1) reached only us");
        assert!(should_forward(true, true), "a child on its own pty never saw our terminal's signal");
        assert!(should_forward(false, true));
    }

    #[test]
    fn spawn_failures_map_to_shell_codes() {
        let missing = Command::new("/nonexistent/agent").spawn().unwrap_err();
        assert_eq!(spawn_failure_code(&missing), 127);
        let not_executable = Command::new("/etc/passwd").spawn().unwrap_err();
        assert_eq!(spawn_failure_code(&not_executable), 126);
    }
}

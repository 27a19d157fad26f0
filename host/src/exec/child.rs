//! The agent process: spawning it with an account's env and the chosen
//! stdio, signalling it, and turning how it ended into our exit code.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};

use rustix::process::{Pid, Signal};

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
    pub child: Child,
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

/// Start `argv` with `env` applied: its variables set, its unset keys
/// removed. Call it from the thread that lives as long as `exec` (the main
/// thread): the child dies with that thread (see [`die_with_parent`]).
pub fn spawn(argv: &[String], env: &LaunchEnv, stdio: &ChildStdio) -> std::io::Result<Spawned> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    for key in &env.unset {
        command.env_remove(key);
    }
    command.envs(env.env.iter().map(|(k, v)| (k, v)));
    die_with_parent(&mut command);
    match stdio {
        ChildStdio::Inherit => Ok(Spawned { child: command.spawn()?, outputs: Vec::new(), pty: None }),
        ChildStdio::StdoutToStderr => {
            command.stdout(std::io::stderr().as_fd().try_clone_to_owned()?);
            Ok(Spawned { child: command.spawn()?, outputs: Vec::new(), pty: None })
        }
        ChildStdio::Pipes => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = command.spawn()?;
            let stdout = File::from(std::os::fd::OwnedFd::from(child.stdout.take().expect("piped")));
            let stderr = File::from(std::os::fd::OwnedFd::from(child.stderr.take().expect("piped")));
            Ok(Spawned { child, outputs: vec![(stdout, Sink::Stdout), (stderr, Sink::Stderr)], pty: None })
        }
        ChildStdio::Pty { stdin_too } => {
            let pty = Pty::open()?;
            let slave = pty.open_slave()?;
            if *stdin_too {
                command.stdin(slave.try_clone()?);
            }
            command.stdout(slave.try_clone()?).stderr(slave);
            // SAFETY: only async-signal-safe syscalls run between fork and
            // exec: the child leads a new session whose controlling terminal
            // is the pty (its stdout, already in place as fd 1).
            unsafe {
                command.pre_exec(|| {
                    rustix::process::setsid()?;
                    rustix::process::ioctl_tiocsctty(std::os::fd::BorrowedFd::borrow_raw(1))?;
                    Ok(())
                });
            }
            let child = command.spawn()?;
            // `command` held the parent's copies of the slave; with them gone,
            // reading the master ends once the child's side is closed.
            drop(command);
            let reader = pty.handle()?;
            Ok(Spawned { child, outputs: vec![(reader, Sink::Stdout)], pty: Some(pty) })
        }
    }
}

/// The child is killed when `exec` dies, however it dies. Its lease is held
/// by `exec`, so an agent outliving a `kill -9` of `exec` would run on a seat
/// the next worker is given. We make the agent die with its supervisor
/// rather than keep the seat for it: an agent nobody supervises gets no
/// lease renewal, no wall detection and no release, and a hard kill of the
/// supervisor is how process managers stop a whole job. SIGKILL, because an
/// agent that ignored SIGTERM would otherwise keep running on a freed seat.
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The parent may have died before the line above: then no
            // signal will come, so do not start.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other("accounts exec exited before its command started"));
            }
            Ok(())
        });
    }
}

/// Send `signal` to the child; to its whole process group when it leads its
/// own session (pty mode), so the agent's own children get it as they would
/// from a terminal.
pub fn signal(pid: u32, own_session: bool, signal: Signal) {
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

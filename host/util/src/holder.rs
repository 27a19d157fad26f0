//! Lease holders: which process a lease lives as long as, and whether that
//! process still runs. I/O at the edge (`/proc`, `kill(pid, 0)`).
//!
//! The default holder is our parent: in `out=$(accounts launch-env) || exit;
//! eval "$out"; exec agent`, bash, dash and zsh exec `accounts` straight from
//! the command substitution, so the parent is the script's shell, which then
//! becomes the agent through `exec` (same pid, same start time). But bash runs
//! `$(accounts ... 2>/dev/null)` (any redirection inside) in a forked
//! subshell that exits right after; a forked subshell is a copy of its parent
//! (same executable, same command line), so when the parent looks like that
//! and only passes our stdout on, the lease is held for the parent's parent
//! instead. A background subshell (`( ... ) &` in a pool script) is a fork
//! too, but not one that writes our stdout: it holds its own lease.

use serde::{Deserialize, Serialize};

/// A process on this host, identified by pid and start time so that a
/// recycled pid is not mistaken for the original holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22),
    /// when known.
    pub start: Option<u64>,
}

impl Holder {
    pub fn of(pid: u32) -> Holder {
        Holder { pid, start: stat(pid).map(|s| s.start) }
    }

    /// The process `pid` as a holder, if it runs: one read of its stat
    /// where `of` and `is_alive` would take two.
    pub fn running(pid: u32) -> Option<Holder> {
        match stat(pid) {
            Some(s) => (!s.zombie).then_some(Holder { pid, start: Some(s.start) }),
            None => Some(Holder { pid, start: None }).filter(Holder::is_alive),
        }
    }

    /// Whether the holder still runs (a zombie does not count).
    pub fn is_alive(&self) -> bool {
        match stat(self.pid) {
            Some(s) => !s.zombie && self.start.is_none_or(|start| start == s.start),
            // No /proc entry: gone on Linux; elsewhere fall back to kill(0).
            None if cfg!(target_os = "linux") => false,
            None => rustix::process::Pid::from_raw(self.pid as i32)
                .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok()),
        }
    }
}

/// The default holder for a call from a shell (see the module docs).
pub fn default_holder() -> Holder {
    let parent = rustix::process::getppid().map_or(1, |p| p.as_raw_nonzero().get() as u32);
    let mut holder = parent;
    // A subshell of a subshell is possible (`$( ( accounts ... ) )`); stop
    // after a few steps and never climb to init.
    for _ in 0..4 {
        match stat(holder) {
            Some(s) if s.ppid > 1 && is_forked_copy(holder, s.ppid) && writes_our_stdout(holder) => holder = s.ppid,
            _ => break,
        }
    }
    Holder::of(holder)
}

/// Whether `pid`'s stdout is ours: the forked subshell of `$(accounts ...
/// 2>/dev/null)` only passes our output on, and exits. A background
/// subshell of a pool script, `( out=$(accounts launch-env) || exit; eval
/// "$out"; exec agent ) &`, is a fork too, but its stdout is not the pipe
/// we write to: it is a worker of its own and becomes the agent, so it is
/// the holder, not the pool script above it.
fn writes_our_stdout(pid: u32) -> bool {
    let target = |p: &str| std::fs::read_link(format!("/proc/{p}/fd/1")).ok();
    match (target(&pid.to_string()), target("self")) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => false,
    }
}

/// Whether `child` is a fork of `parent` that never exec'd: same executable
/// and same command line.
fn is_forked_copy(child: u32, parent: u32) -> bool {
    let exe = |pid: u32| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).ok();
    match (exe(child), exe(parent)) {
        (Some(a), Some(b)) if a == b => cmdline(child).is_some() && cmdline(child) == cmdline(parent),
        _ => false,
    }
}

/// This host's name, to tell our own leases from other hosts' when the
/// state dir is shared.
/// This host's name in leases: `ACCOUNTS_HOST_ID` when set (pods or
/// containers that share a host name, tests posing as many hosts), else
/// the kernel's host name. Leases of this host are freed when their holder
/// is gone; another host's only by release or expiry.
pub fn host_name() -> String {
    match std::env::var("ACCOUNTS_HOST_ID") {
        Ok(id) if !id.is_empty() => bounded_host_id(&id),
        _ => rustix::system::uname().nodename().to_string_lossy().into_owned(),
    }
}

/// The longest host id kept: it is stored in every lease.
const MAX_HOST_ID_BYTES: usize = 128;

/// `id` as kept: control characters dropped, cut to 128 bytes on a
/// character boundary (a host id names a machine; 100 KB of it would be
/// copied into every lease).
fn bounded_host_id(id: &str) -> String {
    let mut kept: String = id.chars().filter(|c| !c.is_control()).collect();
    let mut end = kept.len().min(MAX_HOST_ID_BYTES);
    while !kept.is_char_boundary(end) {
        end -= 1;
    }
    kept.truncate(end);
    kept
}

struct Stat {
    ppid: u32,
    start: u64,
    zombie: bool,
}

fn stat(pid: u32) -> Option<Stat> {
    use std::io::Read;
    // Room for any stat line up front: a /proc file reports size 0, so
    // `fs::read_to_string` would grow its buffer from 32 bytes, six reads.
    let mut text = String::with_capacity(2048);
    std::fs::File::open(format!("/proc/{pid}/stat")).ok()?.read_to_string(&mut text).ok()?;
    parse_stat(&text)
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) may hold spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[19] field 22.
    Some(Stat {
        zombie: fields.first()? == &"Z",
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_id_is_bounded_and_plain() {
        assert_eq!(bounded_host_id("web-1"), "web-1");
        assert_eq!(bounded_host_id("a\nb\u{1b}c"), "abc");
        let long = "é".repeat(100_000);
        let kept = bounded_host_id(&long);
        assert!(kept.len() <= MAX_HOST_ID_BYTES && kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn parses_stat_with_odd_names() {
        let line = "1234 (a) b (c) S 99 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.ppid, s.start, s.zombie), (99, 777, false));
    }

    #[test]
    fn this_process_is_alive_and_a_recycled_pid_is_not() {
        let me = Holder::of(std::process::id());
        assert!(me.is_alive());
        let recycled = Holder { start: me.start.map(|s| s + 1), ..me };
        assert!(!recycled.is_alive());
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let holder = Holder::of(child.id());
        child.wait().unwrap();
        assert!(!holder.is_alive());
    }
}

//! Taking the state dir's lock the way cargo takes its file locks: try
//! first; when another process holds it, say who (from the kernel's lock
//! table) once the wait is noticeable, go on waiting in line, and give up
//! with a clear error after a limit, so a holder that is stopped (Ctrl-Z at
//! the wrong moment, a frozen container) does not hang everyone silently.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// How long a wait goes unremarked: contended claims last milliseconds.
const QUIET: Duration = Duration::from_secs(1);

/// The longest wait, unless `ACCOUNTS_LOCK_WAIT` says otherwise.
const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// Lock `handle` (an open `dir`), exclusively, or say why not.
pub(crate) fn lock(handle: &File, dir: &Path) -> Result<(), String> {
    match handle.try_lock() {
        Ok(()) => return Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock the state dir {}: {e}", dir.display()));
        }
    }
    let limit = limit()?;
    // A blocking lock keeps our place in the kernel's queue; it runs on a
    // thread so the wait can end. The clone shares the open file, so the
    // lock it takes is `handle`'s.
    let waiter = handle.try_clone().map_err(|e| format!("cannot lock the state dir {}: {e}", dir.display()))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(waiter.lock());
    });
    let holder = || holder_of(handle).map_or_else(|| "another process".to_owned(), |pid| format!("pid {pid}"));
    let mut waited = QUIET.min(limit);
    let outcome = match rx.recv_timeout(waited) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            crate::notice::note(format!(
                "waiting for the state lock on {}, held by {} (at most {})",
                dir.display(),
                holder(),
                crate::timefmt::format_span(limit.as_secs() as i64)
            ));
            waited = limit;
            rx.recv_timeout(limit - QUIET.min(limit))
        }
        other => other,
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot lock the state dir {}: {e}", dir.display())),
        Err(_) => Err(format!(
            "the state lock on {} has been held by {} for over {}; if that process is stopped (Ctrl-Z, a frozen \
             container), resume or end it; ACCOUNTS_LOCK_WAIT sets how long to wait",
            dir.display(),
            holder(),
            crate::timefmt::format_span(waited.as_secs() as i64)
        )),
    }
}

fn limit() -> Result<Duration, String> {
    match std::env::var("ACCOUNTS_LOCK_WAIT") {
        Err(_) => Ok(DEFAULT_LIMIT),
        Ok(text) => crate::timefmt::parse_duration(&text)
            .ok()
            .filter(|secs| (1..=86_400).contains(secs))
            .map(|secs| Duration::from_secs(secs as u64))
            .ok_or_else(|| {
                format!("ACCOUNTS_LOCK_WAIT={text:?} is not a duration from 1s to 1d; write e.g. 30s or 5m")
            }),
    }
}

/// The pid holding a flock on `handle`'s file, from `/proc/locks`
/// (`1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`).
fn holder_of(handle: &File) -> Option<u32> {
    let meta = handle.metadata().ok()?;
    let dev = meta.dev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let table = crate::bounded::read_text(Path::new("/proc/locks"), 1 << 20).ok()?;
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "FLOCK")?;
        (fields.get(at + 4) == Some(&id.as_str())).then(|| fields.get(at + 3)?.parse().ok()).flatten()
    })
}

//! Signals `accounts exec` receives, turned into events for its loop.
//! Handlers are installed (not ignored), so the child starts with every
//! signal at its default action.

use std::sync::mpsc::SyncSender;

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

use super::Event;

/// Signals passed on to the child. SIGINT is among them, but see
/// [`super::child::should_forward`]: a terminal's Ctrl-C is not passed twice.
pub const FORWARDED: [i32; 6] = [SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGINT];

/// Signals after which we do not start the agent again.
pub fn ends_the_run(signal: i32) -> bool {
    matches!(signal, SIGTERM | SIGHUP | SIGQUIT | SIGINT)
}

pub const WINDOW_CHANGED: i32 = SIGWINCH;

/// Delivers signals as [`Event::Signal`] until dropped.
pub struct Listener {
    handle: signal_hook::iterator::Handle,
}

impl Listener {
    /// Listen for the forwarded signals, and for window-size changes when
    /// `window` (the child is on our pty).
    pub fn start(events: SyncSender<Event>, window: bool) -> std::io::Result<Listener> {
        let mut wanted = FORWARDED.to_vec();
        if window {
            wanted.push(SIGWINCH);
        }
        let mut signals = SignalsInfo::<WithOrigin>::new(&wanted)?;
        let handle = signals.handle();
        std::thread::spawn(move || {
            for origin in &mut signals {
                // The terminal's signals (Ctrl-C, Ctrl-\, hangup) come from
                // the kernel; kill(1) and friends from a process.
                let by_terminal = !matches!(origin.cause, Cause::Sent(_));
                if events.send(Event::Signal { signal: origin.signal, by_terminal }).is_err() {
                    break;
                }
            }
        });
        Ok(Listener { handle })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.handle.close();
    }
}

//! Where plugin calls run: on a thread of their own, so that the caller
//! stops waiting at the call's deadline whatever the call is doing.
//!
//! Epoch interruption stops a plugin that computes past its deadline, but
//! not one that waits inside the host: sleeping, polling a clock, or opening
//! a FIFO in its config dir all block in host code (wasmtime-wasi's file and
//! clock calls), where no epoch check runs. Filtering what the plugin may
//! wait on would mean writing our own WASI filesystem and clocks; instead
//! every call runs here, and a call still running at its limit is abandoned:
//! the caller reports it, the thread is left to finish (or not) on its own,
//! and the next call gets a new thread.
//!
//! The thread also contains panics. Host code reached from a plugin call
//! (wasmtime-wasi's) may panic; the panic is caught here and becomes an
//! error naming the plugin, instead of aborting `accounts`. That needs the
//! binary built with `panic = "unwind"` (the workspace's release profile).

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::time::Duration;

/// The thread's name, also how the panic hook knows a plugin call panicked.
const THREAD_NAME: &str = "accounts-plugin";

type Job = Box<dyn FnOnce() + Send>;

/// One thread for plugin calls, started on first use and replaced when a
/// call is abandoned.
#[derive(Default)]
pub(crate) struct CallThread {
    jobs: Mutex<Option<Sender<Job>>>,
}

/// Why a call gave no result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failed {
    /// Still running at its limit; abandoned.
    Stuck,
    /// Host code panicked during the call, with this message.
    Panicked(String),
}

impl CallThread {
    /// Run `job` on the call thread and wait for its result. At `deadline`,
    /// `interrupt` is called (it stops a job that is computing); a job still
    /// running `grace` after that is abandoned.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        deadline: Duration,
        grace: Duration,
        interrupt: impl FnOnce(),
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Failed> {
        let (done, result) = channel();
        let wrapped: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(job)).map_err(|p| panic_message(&*p));
            let _ = done.send(outcome);
        });
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let sender = match jobs.as_ref() {
            Some(sender) => sender.clone(),
            None => jobs.insert(spawn()).clone(),
        };
        drop(jobs);
        if sender.send(wrapped).is_err() {
            return Err(Failed::Panicked("the plugin call thread is gone".into()));
        }
        let outcome = match result.recv_timeout(deadline) {
            Err(RecvTimeoutError::Timeout) => {
                interrupt();
                result.recv_timeout(grace)
            }
            outcome => outcome,
        };
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(Failed::Panicked(message)),
            Err(RecvTimeoutError::Timeout) => {
                // Leave the stuck thread behind: dropping its sender ends it
                // once (if ever) the call returns.
                *self.jobs.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Err(Failed::Stuck)
            }
            Err(RecvTimeoutError::Disconnected) => Err(Failed::Panicked("the plugin call thread died".into())),
        }
    }
}

/// A thread that runs jobs inside a current-thread Tokio runtime of its
/// own: wasmtime-wasi's blocking calls (clocks, streams) run their futures
/// on the runtime they find. Its timers are enabled, so that a plugin's
/// sleep waits instead of panicking, but nothing drives them (wasmtime-wasi
/// blocks with `Handle::block_on`, which does not): in the sandbox time is
/// frozen, a sleep never ends, and the call is abandoned at its deadline.
fn spawn() -> Sender<Job> {
    install_panic_hook();
    let (jobs, inbox) = channel::<Job>();
    let started = std::thread::Builder::new().name(THREAD_NAME.into()).spawn(move || {
        let Ok(tokio) = tokio::runtime::Builder::new_current_thread().enable_time().build() else {
            return;
        };
        let _entered = tokio.enter();
        for job in inbox {
            job();
        }
    });
    if started.is_err() {
        // No thread: every send fails, and each call says so.
        return channel().0;
    }
    jobs
}

/// Keep the default "thread panicked" report off stderr for panics on the
/// call thread: the message reaches the user in the error naming the plugin.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(THREAD_NAME) {
                default(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECS_5: Duration = Duration::from_secs(5);
    const NO_GRACE: Duration = Duration::ZERO;

    #[test]
    fn results_panics_and_stuck_calls() {
        let thread = CallThread::default();
        assert_eq!(thread.run(SECS_5, NO_GRACE, || {}, || 6 * 7), Ok(42));
        assert_eq!(
            thread.run(SECS_5, NO_GRACE, || {}, || -> u8 { panic!("wasi broke") }),
            Err(Failed::Panicked("wasi broke".into()))
        );
        let started = std::time::Instant::now();
        assert_eq!(
            thread.run(Duration::from_millis(100), NO_GRACE, || {}, || std::thread::sleep(Duration::from_secs(30))),
            Err(Failed::Stuck)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // A new thread serves the next call.
        assert_eq!(thread.run(SECS_5, NO_GRACE, || {}, || "after"), Ok("after"));
    }

    /// At the deadline the caller interrupts the job, and a job that stops
    /// within the grace period gives its result; `interrupt` is not called
    /// for a job that ends in time.
    #[test]
    fn the_deadline_interrupts_and_the_grace_period_waits_for_the_result() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let thread = CallThread::default();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&stop);
        let spin = move || {
            while !seen.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            "stopped"
        };
        let interrupt = || stop.store(true, Ordering::SeqCst);
        assert_eq!(thread.run(Duration::from_millis(50), SECS_5, interrupt, spin), Ok("stopped"));
        let called = AtomicBool::new(false);
        assert_eq!(thread.run(SECS_5, SECS_5, || called.store(true, Ordering::SeqCst), || 1), Ok(1));
        assert!(!called.load(Ordering::SeqCst));
    }

    /// The mechanism above needs unwinding panics in the builds users run.
    #[test]
    fn the_release_profile_unwinds() {
        let manifest: toml::Table =
            include_str!("../../../Cargo.toml").parse().expect("the workspace Cargo.toml parses");
        let release = &manifest["profile"]["release"];
        assert_eq!(release.get("panic").and_then(|p| p.as_str()), Some("unwind"), "{release:?}");
    }

    /// wasmtime-wasi sleeps the way this does. The sandbox's clocks are
    /// frozen, so a sleep never ends: it waits, without panicking, until the
    /// call is abandoned.
    #[test]
    fn a_sleep_on_the_call_thread_waits_until_abandoned() {
        let thread = CallThread::default();
        let slept = thread.run(
            Duration::from_millis(200),
            NO_GRACE,
            || {},
            || tokio::runtime::Handle::current().block_on(tokio::time::sleep(Duration::from_millis(10))),
        );
        assert_eq!(slept, Err(Failed::Stuck));
    }
}

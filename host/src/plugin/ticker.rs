//! The per-call deadline's clock: one background thread that advances the
//! engine's epoch while a plugin call runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::Engine;

/// Advances the engine's epoch every [`Ticker::TICK`] while a plugin call
/// runs, on one background thread started at the first call: a store whose
/// deadline (in ticks) passes traps with `Trap::Interrupt`. One thread per
/// process rather than one per call keeps the hot path free of thread
/// spawns; between calls it sleeps, so a long `exec` does not wake up a
/// hundred times a second for nothing.
pub struct Ticker {
    engine: Engine,
    calls: Arc<AtomicUsize>,
    thread: OnceLock<std::thread::Thread>,
}

/// A call in flight; the ticker keeps ticking until every one is dropped.
pub struct Ticking<'t>(&'t AtomicUsize);

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ticker {
    const TICK: Duration = Duration::from_millis(10);

    pub fn new(engine: Engine) -> Ticker {
        Ticker { engine, calls: Arc::new(AtomicUsize::new(0)), thread: OnceLock::new() }
    }

    /// Tick until the returned guard is dropped.
    pub fn start(&self) -> Ticking<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let thread = self.thread.get_or_init(|| {
            let (engine, calls) = (self.engine.clone(), Arc::clone(&self.calls));
            std::thread::spawn(move || {
                loop {
                    // An unpark that came before this park is not lost: park
                    // returns at once.
                    if calls.load(Ordering::SeqCst) == 0 {
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(Self::TICK);
                    engine.increment_epoch();
                }
            })
            .thread()
            .clone()
        });
        thread.unpark();
        Ticking(&self.calls)
    }

    /// The deadline in ticks, rounded up, plus one for the tick already
    /// under way.
    pub fn ticks_for(deadline: Duration) -> u64 {
        deadline.as_nanos().div_ceil(Self::TICK.as_nanos()) as u64 + 1
    }

    /// Move the epoch past every deadline set so far (each is at most
    /// `ticks` ahead). Later calls set theirs from the new epoch.
    pub fn expire(&self, ticks: u64) {
        for _ in 0..=ticks {
            self.engine.increment_epoch();
        }
    }
}

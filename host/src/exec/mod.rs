//! `accounts exec`: run an agent on a leased seat and see it through.
//!
//! One loop per run of the agent handles everything that can happen while it
//! runs, as events on one channel: output to pass on and check for a wall,
//! signals to forward, the child's exit, and timers (lease renewal, the
//! SIGTERM → SIGKILL grace). On a wall the account is walled, the child
//! stopped, and the same command started again on the next seat.
//!
//! Threads: one per output stream (read, pass on, send a copy), one waiting
//! for the child, one for signals, and with a pty one copying keystrokes.
//! Plugin calls stay on the main thread.

pub mod child;
pub mod feed;
pub mod keeper;
pub mod pty;
pub mod resume;
pub mod screen;
pub mod settle;
mod signals;

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use self::child::{ChildStdio, Sink};
use self::feed::WallFeed;
use self::resume::OutputSample;
use self::screen::ScreenFeed;
use self::settle::{SETTLE, Settle};
use crate::error::{Error, Result};
use crate::holder::Holder;
use crate::launch::{self, Launch};
use crate::notice;
use crate::plugin::{Conversation, Observed, Plugin, PluginError, UsageReading, Wall};
use crate::roster::Roster;
use crate::seats::{self, Claim};
use crate::state::{State, StateStore, Store};
use crate::timefmt;
use crate::untrusted::{Redactor, Untrusted};
use crate::{learn, usage};

/// How often to look again when every seat is taken and no wall will lift.
const FULL_RETRY: Duration = Duration::from_secs(15);
/// How soon a failed lease renewal is tried again.
const RENEW_RETRY: Duration = Duration::from_secs(5);

/// What happens in and around the running child.
pub enum Event {
    /// Bytes the child wrote on one of its streams (0: stdout or the pty, 1: stderr).
    Output {
        run: u32,
        stream: usize,
        bytes: Vec<u8>,
    },
    StreamDone {
        run: u32,
    },
    Exited {
        run: u32,
        status: ExitStatus,
    },
    Signal {
        signal: i32,
        by_terminal: bool,
    },
}

/// What the user asked `exec` to do.
pub struct Options {
    pub argv: Vec<String>,
    pub agent: String,
    /// The first seat must be on this account.
    pub account: Option<String>,
    pub worker: String,
    pub ttl_secs: i64,
    pub rotate: bool,
    pub max_rotations: Option<u32>,
    pub wait: bool,
    pub grace: Duration,
    /// At a wall, start the command afresh instead of resuming its
    /// conversation (`--fresh`).
    pub fresh: bool,
    /// A conversation (and the account whose config dir holds it) to
    /// continue on the first seat (`accounts resume`).
    pub resume: Option<(String, Conversation)>,
    /// Not saying which account the run starts on (`-q`).
    pub quiet: bool,
    /// The account the directory is bound to, taken first when free.
    pub prefer: Option<String>,
}

/// Everything one `exec` works with.
pub struct Supervisor<'a> {
    pub roster: &'a Roster,
    pub plugin: &'a Plugin<'a>,
    pub store: &'a Store,
    pub host: String,
    pub holder: Holder,
    /// Masks tokens in wall messages before they are stored or printed.
    pub redactor: Redactor,
    pub options: Options,
    /// The wall messages this exec already moved away from. A resumed TUI
    /// draws its conversation again, that wall included: seen on the next
    /// account's screen, it is history, not a new wall.
    pub handled_walls: std::cell::RefCell<Vec<String>>,
}

/// How one run of the agent ended.
enum Outcome {
    Exited(u8),
    /// A wall stopped the run; what it printed, for the session id.
    Walled(Wall, String),
}

/// What a renewal of the lease came to.
enum Renewal {
    Renewed,
    /// The store did not answer; try again soon.
    Retry,
    /// The lease was gone and no seat was free to take again.
    Lost,
}

/// What one run's watch loop keeps track of between events.
struct Watch {
    zone: String,
    renew_every: Duration,
    next_renewal: Instant,
    /// One wall feed per output stream (stdout or the pty, stderr).
    feeds: [WallFeed; 2],
    /// In pty mode, the child's screen: what a TUI shows is read from it,
    /// not from the byte stream.
    screen: Option<ScreenFeed>,
    /// Whether output is still checked for a wall (`--rotate`, and the
    /// plugin has not failed).
    watching: bool,
    /// The wall acted on: the agent is being stopped for it.
    wall: Option<Wall>,
    /// A wall without a reset, held briefly in case the next line gives one.
    settle: Settle,
    settle_at: Option<Instant>,
    /// The start and end of the run's output (`--rotate` only).
    sample: OutputSample,
    /// Usage readings seen in the output and not yet recorded.
    readings: Vec<UsageReading>,
    /// Walls an earlier run of this exec moved away from (see
    /// [`Supervisor::handled_walls`]).
    handled_walls: Vec<String>,
    /// A signal or a lost lease ended the run: it is not started again.
    stopped_by_user: bool,
    status: Option<ExitStatus>,
    drain_until: Option<Instant>,
    kill_at: Option<Instant>,
}

impl Watch {
    fn new(options: &Options) -> Watch {
        let renew_every = Duration::from_secs((options.ttl_secs / 3).clamp(1, 3600) as u64);
        Watch {
            zone: timefmt::local_zone_name(),
            renew_every,
            next_renewal: Instant::now() + renew_every,
            feeds: [WallFeed::default(), WallFeed::default()],
            screen: None,
            watching: options.rotate,
            wall: None,
            settle: Settle::default(),
            settle_at: None,
            sample: OutputSample::default(),
            readings: Vec::new(),
            handled_walls: Vec::new(),
            stopped_by_user: false,
            status: None,
            drain_until: None,
            kill_at: None,
        }
    }

    /// How the run ended, once the child has exited and its output is read
    /// (or the drain time passed), or a wall stopped it.
    fn outcome(&mut self, run: &Run) -> Option<Outcome> {
        let status = self.status?;
        let drained = run.streams == 0 || self.drain_until.is_some_and(|t| Instant::now() >= t);
        if self.wall.is_none() && !drained {
            return None;
        }
        // A wall still waiting for its reset counts: no more output will
        // bring one.
        Some(match self.wall.take().or_else(|| self.settle.take()) {
            Some(wall) if !self.stopped_by_user => Outcome::Walled(wall, self.sample.text()),
            _ => Outcome::Exited(child::exit_code(status)),
        })
    }

    /// When the loop must wake up at the latest.
    fn deadline(&self) -> Instant {
        [Some(self.next_renewal), self.kill_at, self.drain_until, self.settle_at]
            .into_iter()
            .flatten()
            .min()
            .expect("the renewal is always due")
    }

    /// Check output for a wall and usage readings; returns a wall to act
    /// on now (the readings wait in `readings`).
    fn on_output(&mut self, plugin: &Plugin<'_>, stream: usize, bytes: &[u8]) -> Option<Wall> {
        self.sample.push(&feed::plain_text(bytes));
        let pieces = match (&mut self.screen, stream) {
            (Some(screen), 0) => screen.push(bytes),
            _ => self.feeds[stream].push(bytes),
        };
        match observe(plugin, pieces, &self.zone) {
            Ok(seen) => {
                self.readings.extend(seen.usage);
                if let Some(said) = &seen.retrying
                    && self.settle.withdraw()
                {
                    notice::note(format!("not a wall after all: the agent retries by itself ({})", said.shown()));
                    self.settle_at = None;
                }
                // Only a screen is redrawn with the old conversation: piped
                // output that says the same again is a wall again.
                let replayed =
                    |w: &Wall| self.screen.is_some() && self.handled_walls.iter().any(|h| h == w.matched.raw());
                let act_on = self.settle.found(seen.wall.filter(|w| !replayed(w)));
                if self.settle.is_pending() && self.settle_at.is_none() {
                    self.settle_at = Some(Instant::now() + SETTLE);
                }
                act_on
            }
            Err(e) => {
                notice::warn(format!("{e}; no longer watching this run for a wall"));
                self.watching = false;
                None
            }
        }
    }

    fn on_signal(&mut self, run: &Run, signal: i32, by_terminal: bool) {
        self.stopped_by_user |= signals::ends_the_run(signal);
        if self.status.is_none()
            && child::should_forward(by_terminal, run.own_session)
            && let Some(signal) = Signal::from_named_raw(signal)
        {
            run.job.signal(signal);
        }
    }

    /// SIGTERM to a child still running, SIGKILL after the grace.
    fn stop(&mut self, run: &Run, grace: Duration) {
        if self.status.is_none() {
            run.job.signal(Signal::TERM);
            self.kill_at = Some(Instant::now() + grace);
        }
    }
}

/// Where a run's output goes and how the child is reached.
struct Run {
    id: u32,
    /// The account the run holds its seat on.
    account: String,
    job: child::Job,
    own_session: bool,
    pty: Option<pty::Pty>,
    streams: usize,
}

impl Supervisor<'_> {
    /// Run the command to its end; the exit code is the child's. The lease
    /// is released on every way out.
    pub fn run(&self) -> Result<u8> {
        let pty_mode = self.options.rotate && std::io::stdout().is_terminal();
        let (events, inbox) = sync_channel(64);
        let _signals = signals::Listener::start(events.clone(), pty_mode)
            .map_err(|e| Error::Other(anyhow::anyhow!("listening for signals: {e}")))?;
        let result = self.supervise(&events, &inbox, pty_mode);
        self.release();
        result
    }

    fn supervise(&self, events: &SyncSender<Event>, inbox: &Receiver<Event>, pty_mode: bool) -> Result<u8> {
        let keys = pty_mode.then(KeyForwarder::default);
        self.learn_logins();
        let mut launch = match self.seat(self.options.account.as_deref(), None, inbox)? {
            Ok(launch) => launch,
            Err(code) => return Ok(code),
        };
        if !self.options.quiet {
            notice::note(format!("worker {} on {} ({})", self.options.worker, launch.env.account, self.options.agent));
        }
        let stdio = match (self.options.rotate, pty_mode) {
            (false, _) => ChildStdio::Inherit,
            (true, false) => ChildStdio::Pipes,
            (true, true) => ChildStdio::Pty { stdin_too: std::io::stdin().is_terminal() },
        };
        let mut rotations = 0;
        let mut argv = self.options.argv.clone();
        if let Some((from, found)) = &self.options.resume {
            let account = |name: &str| self.roster.accounts.iter().find(|a| a.name == name);
            let (Some(from), Some(to)) = (account(from), account(&launch.env.account)) else {
                return Err(Error::Other(anyhow::anyhow!("account {from:?} is no longer in the roster")));
            };
            let settings = &self.roster.resume;
            argv = resume::continue_on(self.plugin, &self.redactor, settings, &self.options.argv, from, found, to)
                .map_err(|why| {
                    let line = format!("cannot resume conversation {}: {why}", found.id);
                    Error::Other(anyhow::anyhow!(self.redactor.scrub_str(&line)))
                })?;
        }
        for run_id in 0.. {
            let started_at = crate::clock::now();
            let outcome = self.run_once(run_id, &argv, &launch, &stdio, events, inbox, keys.as_ref())?;
            self.record_config_usage(&launch.env.account);
            let (wall, output) = match outcome {
                Outcome::Exited(code) => return Ok(code),
                Outcome::Walled(wall, output) => (wall, output),
            };
            self.handled_walls.borrow_mut().push(wall.matched.raw().to_owned());
            let account = launch.env.account.clone();
            if self.options.max_rotations.is_some_and(|max| rotations >= max) {
                let until = self.record_wall(&account, &wall)?;
                return Err(Error::Exhausted(format!(
                    "{account} hit its wall (walled until {}); --max-rotations {rotations} used up, not rotating again",
                    timefmt::format_local_until(until, self.store.now())
                )));
            }
            rotations += 1;
            let next = match self.seat(None, Some((&account, &wall)), inbox)? {
                Ok(next) => next,
                Err(code) => return Ok(code),
            };
            // A stop asked for while the old run was winding down ends here,
            // rather than reaching the next agent as soon as it starts.
            if let Some(signal) = pending_stop(inbox) {
                return Ok(128u8.saturating_add(signal as u8));
            }
            notice::note(format!(
                "moving worker {} from {account} to {} (rotation {rotations})",
                self.options.worker, next.env.account
            ));
            // Each resume is worked out from the command as given, so a
            // second rotation resumes the same conversation again.
            argv = match self.options.fresh {
                true => self.options.argv.clone(),
                false => {
                    let ended = resume::Ended { launch: &launch, started_at, output };
                    resume::resumed_argv(
                        self.roster,
                        self.plugin,
                        &self.redactor,
                        &self.roster.resume,
                        &self.options.argv,
                        &ended,
                        &next,
                    )
                    .unwrap_or_else(|| self.options.argv.clone())
                }
            };
            launch = next;
        }
        unreachable!("the run loop only ends by returning")
    }

    /// Take a seat (on `only` when given), first walling the account that
    /// just hit `wall`. With no seat free: exit 75, or with `--wait` sleep
    /// until the first wall lifts and try again. `Ok(Err(code))` when a
    /// signal ended the wait.
    fn seat(
        &self,
        only: Option<&str>,
        mut wall: Option<(&str, &Wall)>,
        inbox: &Receiver<Event>,
    ) -> Result<std::result::Result<Launch, u8>> {
        loop {
            let now = self.store.now();
            let claim = self.claim(now);
            let outcome = self.store.update(|state| {
                seats::prune(state, &self.host, now);
                if let Some((account, wall)) = wall {
                    self.wall_in(state, account, wall, now);
                    state.release(|l| l.worker == self.options.worker && l.holder == self.holder);
                }
                // The wall and the release stand even when no seat is left.
                match seats::lease_seat_on(self.roster, state, &claim, only) {
                    Ok(account) => Ok(Ok(launch::launch_env(account, self.plugin, Some(&self.options.worker), now)?)),
                    Err(e @ Error::NoSeat { .. }) => Ok(Err(e)),
                    Err(e) => Err(e),
                }
            })?;
            wall = None;
            if let Ok(Launch { warning: Some(warning), .. }) = &outcome {
                notice::warn(warning);
            }
            let (message, first_reset) = match outcome {
                Ok(launch) if self.options.rotate => return Ok(Ok(launch::for_rotation(launch, self.plugin))),
                Ok(launch) => return Ok(Ok(launch)),
                Err(Error::NoSeat { message, first_reset, .. }) if self.options.wait => (message, first_reset),
                Err(no_seat) => return Err(no_seat),
            };
            let pause = match first_reset {
                Some(at) => Duration::from_secs((at - now).max(1) as u64),
                None => FULL_RETRY,
            };
            notice::note(format!("{message}; waiting {} (--wait)", timefmt::format_span(pause.as_secs() as i64)));
            let waited = match std::io::stderr().is_terminal() {
                true => wait_with_countdown(inbox, pause),
                false => wait_for_signal(inbox, pause),
            };
            if let Some(signal) = waited {
                return Ok(Err(128u8.saturating_add(signal as u8)));
            }
        }
    }

    /// One run of the child on `launch`'s account, to its exit or its wall.
    #[allow(clippy::too_many_arguments)]
    fn run_once(
        &self,
        id: u32,
        argv: &[String],
        launch: &Launch,
        stdio: &ChildStdio,
        events: &SyncSender<Event>,
        inbox: &Receiver<Event>,
        keys: Option<&KeyForwarder>,
    ) -> Result<Outcome> {
        let spawned = match child::spawn(argv, &launch.env, stdio, self.options.grace) {
            Ok(spawned) => spawned,
            Err(e) => {
                notice::error(format!("cannot run {:?}: {e}", argv[0]));
                return Ok(Outcome::Exited(child::spawn_failure_code(&e)));
            }
        };
        let stdin_is_ours = matches!(stdio, ChildStdio::Pty { stdin_too: true });
        // Input typed before our terminal goes raw is read first, in its
        // own mode (see `pty::read_typeahead`); only before the first run,
        // when no thread is reading our stdin yet.
        let typeahead = match keys {
            Some(keys) if stdin_is_ours && !keys.is_started() => pty::read_typeahead(),
            _ => pty::Typeahead::default(),
        };
        let _raw = stdin_is_ours.then(pty::RawMode::enter);
        if let (Some(keys), Some(pty)) = (keys, &spawned.pty) {
            if let Ok(handle) = pty.handle() {
                typeahead.send_to(&handle);
            }
            keys.forward_to(pty.handle().ok());
        }
        let mut run = Run {
            id,
            account: launch.env.account.clone(),
            job: spawned.job,
            own_session: spawned.pty.is_some(),
            pty: spawned.pty,
            streams: spawned.outputs.len(),
        };
        for (stream, (source, sink)) in spawned.outputs.into_iter().enumerate() {
            pass_through(id, stream, source, sink, events.clone());
        }
        let mut child = spawned.child;
        let waiter = events.clone();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = waiter.send(Event::Exited { run: id, status });
            }
        });
        let outcome = self.watch(&mut run, inbox, &self.handled_walls.borrow());
        if let Some(keys) = keys {
            keys.forward_to(None);
        }
        outcome
    }

    /// Handle events for a running child until it has exited and its output
    /// is read (or `--grace` passed), or until a wall stopped it.
    fn watch(&self, run: &mut Run, inbox: &Receiver<Event>, handled_walls: &[String]) -> Result<Outcome> {
        let mut w = Watch::new(&self.options);
        w.handled_walls = handled_walls.to_vec();
        w.screen = run.pty.as_ref().map(|pty| {
            let (rows, cols) = pty.size();
            ScreenFeed::new(rows, cols)
        });
        loop {
            if let Some(outcome) = w.outcome(run) {
                return Ok(outcome);
            }
            let mut act_on: Option<Wall> = None;
            match inbox.recv_timeout(w.deadline().saturating_duration_since(Instant::now())) {
                Ok(Event::Output { run: r, stream, bytes }) if r == run.id && w.watching && w.wall.is_none() => {
                    act_on = w.on_output(self.plugin, stream, &bytes);
                    if !w.readings.is_empty() {
                        self.record_usage(&run.account, &std::mem::take(&mut w.readings));
                    }
                }
                Ok(Event::StreamDone { run: r }) if r == run.id => run.streams -= 1,
                Ok(Event::Exited { run: r, status }) if r == run.id => {
                    w.status = Some(status);
                    // Output still in flight (a wall printed just before
                    // exiting, a background child's last words) is passed on
                    // until the streams close, for at most the grace.
                    w.drain_until = Some(Instant::now() + self.options.grace);
                }
                Ok(Event::Signal { signal, .. }) if signal == signals::WINDOW_CHANGED => {
                    if let Some(pty) = &run.pty {
                        pty.copy_window_size();
                        if let Some(screen) = &mut w.screen {
                            let (rows, cols) = pty.size();
                            screen.resize(rows, cols);
                        }
                    }
                }
                Ok(Event::Signal { signal, by_terminal }) => w.on_signal(run, signal, by_terminal),
                // Output of an earlier run, or output we no longer check.
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => act_on = self.on_timers(&mut w, run),
                Err(RecvTimeoutError::Disconnected) => unreachable!("the supervisor holds a sender"),
            }
            if let Some(found) = act_on {
                w.stop(run, self.options.grace);
                for feed in &mut w.feeds {
                    feed.forget();
                }
                w.wall = Some(found);
            }
        }
    }

    /// The timers that came due: a wall's settling time, the SIGKILL after
    /// the grace, the lease renewal. Returns a wall to act on.
    fn on_timers(&self, w: &mut Watch, run: &Run) -> Option<Wall> {
        let now = Instant::now();
        let mut act_on = None;
        if w.settle_at.is_some_and(|t| now >= t) {
            act_on = w.settle.take();
            w.settle_at = None;
        }
        if w.kill_at.is_some_and(|t| now >= t) && w.status.is_none() {
            notice::note(format!("the agent ignored SIGTERM for {:?}; killing it", self.options.grace));
            run.job.kill();
            w.kill_at = None;
        }
        if now >= w.next_renewal {
            w.next_renewal = now
                + match self.renew(&run.account) {
                    Renewal::Renewed => w.renew_every,
                    Renewal::Retry => w.renew_every.min(RENEW_RETRY),
                    Renewal::Lost => {
                        // No seat to run on: stop the agent rather than
                        // over-allocate the account.
                        w.stopped_by_user = true;
                        w.stop(run, self.options.grace);
                        w.renew_every
                    }
                };
        }
        act_on
    }

    /// Wall `account` after `wall`, outside a rotation (no seat is taken).
    fn record_wall(&self, account: &str, wall: &Wall) -> Result<i64> {
        let now = self.store.now();
        self.store.update(|state| {
            seats::prune(state, &self.host, now);
            Ok(self.wall_in(state, account, wall, now))
        })
    }

    /// Record `wall` on `account` in `state` and say so on stderr; returns
    /// when it lifts.
    fn wall_in(&self, state: &mut State, account: &str, wall: &Wall, now: i64) -> i64 {
        let reason = reason(wall, &self.redactor);
        let end = seats::wall_account(self.roster, state, account, wall.resets_at, now, reason.clone());
        let source = if end.by_cooldown { "wall_cooldown" } else { "reset time from the message" };
        notice::note(format!(
            "{account} hit its usage limit ({}); walled until {} (in {}, {source})",
            reason.unwrap_or_default(),
            timefmt::format_local_short(end.until, now),
            timefmt::format_span(end.until - now)
        ));
        end.until
    }

    /// This worker's claim on a seat, at `now`.
    fn claim(&self, now: i64) -> Claim<'_> {
        Claim {
            agent: &self.options.agent,
            worker: &self.options.worker,
            host: &self.host,
            holder: self.holder,
            ttl_secs: self.options.ttl_secs,
            now,
            spec: Some(self.plugin.spec()),
            prefer: self.options.prefer.as_deref(),
        }
    }

    /// Push the lease's expiry out by its TTL. A lease that is gone (its
    /// TTL passed, `release` from elsewhere) is taken again on the same
    /// account when a seat is free there; when none is, the run is `Lost`:
    /// an agent never runs on without a seat.
    fn renew(&self, account: &str) -> Renewal {
        let now = self.store.now();
        let claim = self.claim(now);
        let renewed = self.store.change(|state| {
            let lease = state.leases.iter_mut().find(|l| l.worker == self.options.worker && l.holder == self.holder);
            if let Some(lease) = lease {
                lease.expires_at = now + self.options.ttl_secs;
                return Renewal::Renewed;
            }
            seats::prune(state, &self.host, now);
            match seats::relet_seat(self.roster, state, &claim, account) {
                Ok(_) => {
                    notice::warn(format!(
                        "the lease of worker {} on {account} was gone (released elsewhere, or its TTL passed); \
                         leased again",
                        self.options.worker
                    ));
                    Renewal::Renewed
                }
                Err(_) => {
                    notice::error(format!(
                        "the lease of worker {} on {account} was gone and the account has no free seat now; \
                         stopping the agent rather than run it without a seat",
                        self.options.worker
                    ));
                    Renewal::Lost
                }
            }
        });
        match renewed {
            Ok(renewal) => renewal,
            // The agent runs on: a store that is down for a while (a
            // database restart) must not stop work. Retried soon; the lease
            // lasts its TTL meanwhile.
            Err(e) => {
                notice::warn(format!("renewing the lease (retrying within {}s): {e}", RENEW_RETRY.as_secs()));
                Renewal::Retry
            }
        }
    }

    /// Learn whose login each of the kind's accounts is, so a wall on one
    /// is obeyed on its twins (asked before the lock, kept in one change).
    fn learn_logins(&self) {
        let now = self.store.now();
        let answers = learn::ask_logins(self.roster, self.plugin, &self.options.agent, now);
        if let Err(e) = self.store.change(|state| learn::keep_logins(state, self.roster, &answers, now)) {
            notice::warn(format!("keeping what the accounts' logins are: {e}"));
        }
    }

    /// Keep usage readings of `account` the agent printed.
    fn record_usage(&self, account: &str, readings: &[UsageReading]) {
        let now = self.store.now();
        if let Err(e) = self.store.change(|state| usage::record(state, account, readings, &self.host, now)) {
            notice::warn(format!("keeping {account}'s usage readings: {e}"));
        }
    }

    /// Keep the usage readings the agent left in `account`'s config dir.
    fn record_config_usage(&self, account: &str) {
        let Some(entry) = self.roster.account(account) else { return };
        match learn::config_usage(self.plugin, entry, self.store.now()) {
            Ok(readings) if !readings.is_empty() => self.record_usage(account, &readings),
            Ok(_) => {}
            Err(e) => notice::warn(format!("reading {account}'s usage from its config dir: {e}")),
        }
    }

    /// Release our lease, whatever ended the run.
    fn release(&self) {
        let now = self.store.now();
        let released = self.store.change(|state| {
            seats::prune(state, &self.host, now);
            state.release(|l| l.worker == self.options.worker && l.holder == self.holder)
        });
        if let Err(e) = released {
            notice::warn(format!("releasing the lease: {e}"));
        }
    }
}

/// What `plugin` finds in `pieces` of output: the wall (the first one
/// that gives a reset time, else the first one), every usage reading, in
/// order, and whether the agent says it is only retrying (then a wall
/// without a reset is no wall: withdrawn).
pub fn observe(plugin: &Plugin<'_>, pieces: Vec<String>, zone: &str) -> Result<Observed, PluginError> {
    let mut seen = Observed::default();
    for piece in pieces {
        let observed = plugin.observe(&piece, crate::clock::now(), zone)?;
        seen.usage.extend(observed.usage);
        if observed.retrying.is_some() {
            seen.retrying = observed.retrying;
            seen.wall = seen.wall.filter(|w| w.resets_at.is_some());
        }
        match observed.wall {
            Some(wall) if wall.resets_at.is_some() => {
                seen.wall = Some(wall);
                return Ok(seen);
            }
            Some(_) if seen.retrying.is_some() => {}
            Some(wall) => {
                seen.wall.get_or_insert(wall);
            }
            None => {}
        }
    }
    Ok(seen)
}

/// What `status` shows as the wall's reason: the message on one line, at
/// most [`MAX_REASON_BYTES`] of it, tokens masked (first, so a clip never
/// cuts a token into a part the mask no longer recognises), control
/// characters escaped. This is the form stored and printed.
pub fn reason(wall: &Wall, redactor: &Redactor) -> Option<String> {
    const MAX_REASON_BYTES: usize = 200;
    let lines: Vec<&str> = wall.matched.raw().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let line = redactor.scrub_str(&lines.join(" "));
    let mut end = line.len().min(MAX_REASON_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(Untrusted::new(&line[..end]).shown())
}

/// Wait up to `pause`, handling signals: a signal that ends the run ends
/// the wait and is returned.
fn wait_for_signal(inbox: &Receiver<Event>, pause: Duration) -> Option<i32> {
    let until = Instant::now() + pause;
    loop {
        match inbox.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Event::Signal { signal, .. }) if signals::ends_the_run(signal) => return Some(signal),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// [`wait_for_signal`] with a countdown on the terminal (stderr), redrawn
/// in place every second and wiped at the end.
fn wait_with_countdown(inbox: &Receiver<Event>, pause: Duration) -> Option<i32> {
    let until = Instant::now() + pause;
    let mut stderr = std::io::stderr();
    let stopped = loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break None;
        }
        let shown = timefmt::format_countdown(left.as_secs_f64().ceil() as i64);
        let _ = write!(stderr, "\raccounts: {shown} to go (--wait)\x1b[K");
        let _ = stderr.flush();
        if let Some(signal) = wait_for_signal(inbox, left.min(Duration::from_secs(1))) {
            break Some(signal);
        }
    };
    let _ = write!(stderr, "\r\x1b[K");
    stopped
}

/// A signal that ends the run, among the events already waiting.
fn pending_stop(inbox: &Receiver<Event>) -> Option<i32> {
    inbox.try_iter().find_map(|event| match event {
        Event::Signal { signal, .. } if signals::ends_the_run(signal) => Some(signal),
        _ => None,
    })
}

/// Read `source` to its end, pass every byte on to `sink` at once, and send
/// a copy for wall detection.
fn pass_through(run: u32, stream: usize, mut source: File, sink: Sink, events: SyncSender<Event>) {
    std::thread::spawn(move || {
        let fd = match sink {
            Sink::Stdout => std::io::stdout().as_fd().try_clone_to_owned(),
            Sink::Stderr => std::io::stderr().as_fd().try_clone_to_owned(),
        };
        let Ok(mut sink) = fd.map(File::from) else { return };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // A pty master reports EIO once the child's side is closed: EOF.
            let n = match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Our own reader is gone: stop reading, so the child sees a
            // closed pipe as it would without us.
            if sink.write_all(&buf[..n]).is_err() {
                break;
            }
            // The copy goes out after the bytes were passed on, so checking
            // them never delays what the user sees; a full queue only delays
            // the next read.
            let _ = events.send(Event::Output { run, stream, bytes: buf[..n].to_vec() });
        }
        let _ = events.send(Event::StreamDone { run });
    });
}

/// Copies our stdin to the current run's pty, one thread for the whole exec.
#[derive(Default)]
struct KeyForwarder {
    target: Arc<Mutex<Option<File>>>,
    started: std::sync::OnceLock<()>,
}

impl KeyForwarder {
    fn is_started(&self) -> bool {
        self.started.get().is_some()
    }

    fn forward_to(&self, pty: Option<File>) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = pty;
        if !std::io::stdin().is_terminal() {
            return;
        }
        let target = Arc::clone(&self.target);
        self.started.get_or_init(|| {
            std::thread::spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stdin.read(&mut buf) {
                    if let Some(pty) = target.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                        let _ = pty.write_all(&buf[..n]);
                    }
                }
            });
        });
    }
}

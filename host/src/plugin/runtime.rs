//! Loading and calling plugins: one engine per process, the compiled-artifact
//! cache, a fresh sandboxed store for every call, and limits that turn a
//! misbehaving plugin into an error naming it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::{Component, Linker, types::ComponentItem};
use wasmtime::{Config, Engine, Store, Trap};

use super::bindings::{self, since_v0_1_0 as v0_1};
use super::cache::ArtifactCache;
use super::call_thread::{CallThread, Failed};
use super::policy;
use super::registry::{Origin, PluginSource};
use super::sandbox::{self, Limits, SandboxState};
use crate::notice;
use crate::secret::Secret;
use crate::untrusted::{Redactor, Untrusted, escape_controls};

/// A plugin problem, naming the plugin and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub kind: String,
    pub origin: String,
    pub message: String,
    /// The plugin was refused as configured (bad kind, contract, spec): the
    /// user must fix the setup. Otherwise a call failed.
    pub refused: bool,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The message often quotes the plugin (an error string, an import
        // name): shown with its control characters escaped wherever it goes.
        write!(f, "plugin {:?} ({}): {}", self.kind, self.origin, escape_controls(&self.message))
    }
}

impl std::error::Error for PluginError {}

/// A plugin's description of itself, as the host keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub kind: String,
    pub label: String,
    pub config_dir_env: Option<String>,
    pub token_env: Option<String>,
    pub token_file_name: Option<String>,
    pub credential_file_name: Option<String>,
    pub token_prefix: String,
    pub enroll_methods: Vec<String>,
    pub enroll_hint: String,
    pub env_keys: Vec<String>,
}

/// A usage-limit wall found by a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wall {
    pub resets_at: Option<i64>,
    /// The agent's message as the plugin matched it: shown only scrubbed
    /// and escaped.
    pub matched: Untrusted,
}

/// What `launch-env` needs to know about one account.
pub struct LaunchRequest<'a> {
    pub name: &'a str,
    pub config_dir: &'a Path,
    pub token: Option<&'a str>,
    pub now: i64,
}

pub struct Runtime {
    engine: Engine,
    /// Where calls run, so a call blocked in the host ends at its deadline.
    calls: CallThread,
    ticker: Ticker,
    linker: Linker<SandboxState>,
    cache: Option<ArtifactCache>,
    limits: Limits,
    verbose: bool,
}

impl Runtime {
    /// A runtime whose compiled artifacts live in `cache_dir`; without one
    /// (or when it cannot be created) every plugin is compiled in memory.
    pub fn new(cache_dir: Option<&Path>, verbose: bool) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        // Epoch interruption enforces the per-call deadline; it is part of the
        // compiled code, so it is set identically for every artifact.
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        // Unwind tables for the system unwinder only help profilers and
        // debuggers walk native stacks through wasm frames; wasmtime's own
        // traps and backtraces do not use them, and a host panic crosses
        // wasm frames by wasmtime's own trap unwinding, not the system's.
        // Without them the artifact is smaller and a load registers nothing
        // with the unwinder.
        config.native_unwind_info(false);
        // Winch, wasmtime's single-pass compiler (tier 1 on x86_64), compiles
        // a plugin about 3x faster than Cranelift; a plugin call runs for
        // microseconds, so the slower code it makes never shows. The first
        // call after an install or upgrade is the one that pays for compiling.
        if cfg!(target_arch = "x86_64") {
            config.strategy(wasmtime::Strategy::Winch);
        }
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("starting wasmtime: {e}"))?;
        let mut linker = Linker::new(&engine);
        sandbox::link_granted_wasi(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        let cache = cache_dir.and_then(|dir| match ArtifactCache::open(dir) {
            Ok(cache) => Some(cache),
            Err(e) => {
                if verbose {
                    notice::warn(format!("not caching compiled plugins in {}: {e}", dir.display()));
                }
                None
            }
        });
        Ok(Runtime {
            ticker: Ticker::new(engine.clone()),
            engine,
            calls: CallThread::default(),
            linker,
            cache,
            limits: Limits::default(),
            verbose,
        })
    }

    pub fn with_limits(mut self, limits: Limits) -> Runtime {
        self.limits = limits;
        self
    }

    /// Compile (or map from the cache), link, and check a plugin's spec.
    pub fn load(&self, source: &PluginSource) -> Result<Plugin<'_>, PluginError> {
        let origin = source.origin.to_string();
        let refuse =
            |message: String| PluginError { kind: source.kind.clone(), origin: origin.clone(), message, refused: true };
        let compiled = self.compile(source).map_err(&refuse)?;
        check_contract(&self.engine, &compiled.component).map_err(&refuse)?;
        check_imports(&self.engine, &compiled.component).map_err(&refuse)?;
        let pre = self
            .linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| refuse(format!("cannot be linked: {}", one_line(&e))))?;
        let pre =
            v0_1::PluginPre::new(pre).map_err(|e| refuse(format!("does not fit the contract: {}", one_line(&e))))?;
        let mut plugin = Plugin {
            runtime: self,
            kind: source.kind.clone(),
            origin: source.origin.clone(),
            pre,
            spec: empty_spec(),
            declared: BTreeSet::new(),
        };
        let spec = match compiled.spec {
            Some(spec) => spec,
            None => {
                spec_from_wit(plugin.call("spec", 0, None, |store, p| p.accounts_auth_account_auth().call_spec(store))?)
            }
        };
        plugin.spec = check_spec(spec, &source.kind).map_err(refuse)?;
        plugin.declared = policy::check_declared(&plugin.spec.env_keys).map_err(|e| plugin.refused(e))?;
        // Cached only once the plugin passed every check.
        if let (Some(cache), Some(pending)) = (&self.cache, &compiled.to_cache) {
            let stored = match pending {
                ToCache::Entry { key, artifact } => cache.store(key, artifact, &plugin.spec),
                ToCache::Spec { key } => cache.store_spec(key, &plugin.spec),
            };
            if let Err(e) = stored
                && self.verbose
            {
                notice::warn(format!("could not cache the compiled plugin {:?}: {e}", source.kind));
            }
        }
        Ok(plugin)
    }

    /// The plugin's component, from the cache when it has a verified entry.
    fn compile(&self, source: &PluginSource) -> Result<Compiled, String> {
        let compile_error = |e: wasmtime::Error| format!("is not a valid component: {}", one_line(&e));
        let Some(cache) = &self.cache else {
            let component = Component::new(&self.engine, &source.bytes).map_err(compile_error)?;
            return Ok(Compiled { component, spec: None, to_cache: None });
        };
        let key = ArtifactCache::key(&self.engine, &source.sha256);
        if let Some(entry) = cache.load(&self.engine, &key) {
            // An entry written by an older host has no spec yet.
            let to_cache = entry.spec.is_none().then_some(ToCache::Spec { key });
            return Ok(Compiled { component: entry.component, spec: entry.spec, to_cache });
        }
        let artifact = self.engine.precompile_component(&source.bytes).map_err(compile_error)?;
        // SAFETY: `artifact` was produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(compile_error)?;
        Ok(Compiled { component, spec: None, to_cache: Some(ToCache::Entry { key, artifact }) })
    }
}

/// A compiled plugin, not yet checked.
struct Compiled {
    component: Component,
    /// The spec the cache recorded for it, if any.
    spec: Option<Spec>,
    /// What to write to the cache once the plugin passes its checks.
    to_cache: Option<ToCache>,
}

enum ToCache {
    /// Compiled by this call: the whole entry.
    Entry { key: String, artifact: Vec<u8> },
    /// Loaded from an entry without a spec: the spec.
    Spec { key: String },
}

/// The contract versions a component exports, checked before linking so a
/// plugin built for another version gets a message that says so.
fn check_contract(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports.iter().any(|e| e == v0_1::INTERFACE) {
        return Ok(());
    }
    let accepted = bindings::ACCEPTED_VERSIONS.join(", ");
    match exports.iter().find(|e| e.starts_with(bindings::INTERFACE_UNVERSIONED)) {
        Some(other) => Err(format!(
            "exports {other}, but this host accepts {} versions {accepted}",
            bindings::INTERFACE_UNVERSIONED
        )),
        None => Err(format!(
            "does not export {}; it is not an accounts plugin (this host accepts versions {accepted})",
            bindings::INTERFACE_UNVERSIONED
        )),
    }
}

/// WASI interfaces a plugin may import. Everything else (`wasi:sockets`,
/// `wasi:http`, anything unknown) is refused by name before linking: the
/// sandbox would deny it anyway, but a plugin that asks for the network is
/// not one to run.
const GRANTED_IMPORTS: &[&str] = &["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:filesystem/", "wasi:random/"];

fn check_imports(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let forbidden: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .filter(|name| !GRANTED_IMPORTS.iter().any(|granted| name.starts_with(granted)))
        .collect();
    if forbidden.is_empty() {
        return Ok(());
    }
    Err(format!(
        "imports {}, which the host does not grant; plugins may import only {}",
        forbidden.join(", "),
        GRANTED_IMPORTS.iter().map(|g| format!("{g}*")).collect::<Vec<_>>().join(", ")
    ))
}

fn spec_from_wit(raw: v0_1::AgentSpec) -> Spec {
    Spec {
        kind: raw.kind,
        label: raw.label,
        config_dir_env: raw.config_dir_env,
        token_env: raw.token_env,
        token_file_name: raw.token_file_name,
        credential_file_name: raw.credential_file_name,
        token_prefix: raw.token_prefix,
        enroll_methods: raw.enroll_methods,
        enroll_hint: raw.enroll_hint,
        env_keys: raw.env_keys,
    }
}

/// A spec the host can use for `resolved_kind`, or why not. Run on every
/// load, the cached spec included, so the rules live in one place.
fn check_spec(spec: Spec, resolved_kind: &str) -> Result<Spec, String> {
    let mut strings: Vec<(&str, &str)> = vec![
        ("kind", &spec.kind),
        ("label", &spec.label),
        ("token-prefix", &spec.token_prefix),
        ("enroll-hint", &spec.enroll_hint),
    ];
    for (field, value) in [
        ("config-dir-env", &spec.config_dir_env),
        ("token-env", &spec.token_env),
        ("token-file-name", &spec.token_file_name),
        ("credential-file-name", &spec.credential_file_name),
    ] {
        if let Some(v) = value {
            strings.push((field, v));
        }
    }
    strings.extend(spec.enroll_methods.iter().map(|m| ("enroll-methods", m.as_str())));
    if let Some((field, value)) = strings.iter().find(|(_, v)| v.len() > policy::MAX_SPEC_STRING_BYTES) {
        return Err(format!(
            "its spec's {field} is {} bytes; spec strings may be at most {} bytes",
            value.len(),
            policy::MAX_SPEC_STRING_BYTES
        ));
    }
    // Spec strings are shown as they are (plugins list, inspect): plain text.
    if let Some((field, _)) = strings.iter().find(|(_, v)| v.chars().any(char::is_control)) {
        return Err(format!("its spec's {field} contains a control character; spec strings must be plain text"));
    }
    if spec.kind != resolved_kind {
        return Err(format!(
            "says it serves agent kind {:?}, but it was resolved as {resolved_kind:?}; refusing it so no account is \
             launched under the wrong agent. Rename the file or fix the plugin's spec",
            spec.kind
        ));
    }
    for var in [&spec.config_dir_env, &spec.token_env].into_iter().flatten() {
        if !spec.env_keys.contains(var) {
            return Err(format!("its spec uses {var} but does not declare it in env-keys"));
        }
    }
    Ok(spec)
}

fn empty_spec() -> Spec {
    Spec {
        kind: String::new(),
        label: String::new(),
        config_dir_env: None,
        token_env: None,
        token_file_name: None,
        credential_file_name: None,
        token_prefix: String::new(),
        enroll_methods: Vec::new(),
        enroll_hint: String::new(),
        env_keys: Vec::new(),
    }
}

/// A loaded plugin, ready for calls.
pub struct Plugin<'r> {
    runtime: &'r Runtime,
    pub kind: String,
    pub origin: Origin,
    pre: v0_1::PluginPre<SandboxState>,
    pub spec: Spec,
    declared: BTreeSet<String>,
}

impl Plugin<'_> {
    fn failed(&self, message: String) -> PluginError {
        PluginError { kind: self.kind.clone(), origin: self.origin.to_string(), message, refused: false }
    }

    fn refused(&self, message: String) -> PluginError {
        PluginError { refused: true, ..self.failed(message) }
    }

    pub fn validate_token(&self, token: &str) -> Result<bool, PluginError> {
        let token = token.to_owned();
        self.call("validate-token", 0, None, move |store, p| {
            p.accounts_auth_account_auth().call_validate_token(store, &token)
        })
    }

    /// The env to launch `account` with, checked against the env policy.
    pub fn launch_env(&self, account: &LaunchRequest<'_>) -> Result<Vec<(String, String)>, PluginError> {
        let config_dir = account.config_dir.to_str().ok_or_else(|| {
            self.failed(format!("config dir {} is not valid UTF-8; use a UTF-8 path", account.config_dir.display()))
        })?;
        let arg = v0_1::Account {
            name: account.name.to_owned(),
            config_dir: config_dir.to_owned(),
            token: account.token.map(str::to_owned),
            now: account.now,
        };
        let mount = account.config_dir.is_dir().then_some(account.config_dir);
        let result = self.call("launch-env", account.now, mount, move |store, p| {
            p.accounts_auth_account_auth().call_launch_env(store, &arg)
        })?;
        let env = result.map_err(|message| {
            // The plugin's own words: it saw the account's token, so it may
            // have echoed it.
            let message: String = message.chars().take(policy::MAX_SPEC_STRING_BYTES).collect();
            let token: Vec<Secret> = account.token.map(|t| Secret::new(t.to_owned())).into_iter().collect();
            let message =
                Redactor::new(&token, std::slice::from_ref(&self.spec.token_prefix)).scrub(&Untrusted::new(message));
            self.failed(format!("cannot launch account {:?}: {message}", account.name))
        })?;
        policy::check_env(&env, &self.declared).map_err(|e| self.failed(e))?;
        Ok(env)
    }

    pub fn detect_wall(&self, output: &str, now: i64, zone: &str) -> Result<Option<Wall>, PluginError> {
        let (output, zone) = (output.to_owned(), zone.to_owned());
        let wall = self.call("detect-wall", now, None, move |store, p| {
            p.accounts_auth_account_auth().call_detect_wall(store, &output, now, &zone)
        })?;
        match wall {
            Some(w) if w.matched.len() > policy::MAX_SPEC_STRING_BYTES => Err(self.failed(format!(
                "detect-wall returned {} bytes of matched text; at most {} are allowed",
                w.matched.len(),
                policy::MAX_SPEC_STRING_BYTES
            ))),
            w => {
                Ok(w.map(|w| Wall {
                    resets_at: self.clamp_reset(w.resets_at, now),
                    matched: Untrusted::new(w.matched),
                }))
            }
        }
    }

    /// A reset further away than any vendor's window is a plugin's mistake
    /// (or malice: `i64::MAX` would wall an account for good). It is
    /// clamped to [`policy::MAX_WALL_SECS`] from now, with a warning.
    fn clamp_reset(&self, resets_at: Option<i64>, now: i64) -> Option<i64> {
        let latest = now.saturating_add(policy::MAX_WALL_SECS);
        match resets_at {
            Some(at) if at > latest => {
                notice::warn(format!(
                    "plugin {:?} ({}) gave a reset {} away; walling for at most {} days",
                    self.kind,
                    self.origin,
                    crate::timefmt::format_span(at.saturating_sub(now)),
                    policy::MAX_WALL_SECS / 86_400
                ));
                Some(latest)
            }
            other => other,
        }
    }

    /// Run one export in a fresh store under the runtime's limits, on the
    /// call thread: a call that computes past its deadline is interrupted
    /// by the epoch; one that waits in the host past it (plus a margin for
    /// the interruption to land) is abandoned.
    fn call<R: Send + 'static>(
        &self,
        what: &str,
        now: i64,
        mount: Option<&Path>,
        f: impl FnOnce(&mut Store<SandboxState>, &v0_1::Plugin) -> wasmtime::Result<R> + Send + 'static,
    ) -> Result<R, PluginError> {
        let rt = self.runtime;
        let (engine, pre, limits) = (rt.engine.clone(), self.pre.clone(), rt.limits);
        let mount = mount.map(Path::to_owned);
        let ticks = Ticker::ticks_for(limits.deadline);
        let _ticking = rt.ticker.start();
        let ran = rt.calls.run(limits.deadline + ABANDON_MARGIN, move || {
            let (state, stderr) = sandbox::sandbox(now, mount.as_deref(), &limits)?;
            let mut store = Store::new(&engine, state);
            store.limiter(|s| &mut s.limits);
            store.set_epoch_deadline(ticks);
            let result = pre.instantiate(&mut store).and_then(|instance| f(&mut store, &instance));
            let stderr = stderr.contents().to_vec();
            Ok::<_, std::io::Error>(Ran { result, memory_hit: store.data().limits.hit(), stderr })
        });
        let ran = match ran {
            Ok(Ok(ran)) => ran,
            Ok(Err(setup)) => return Err(self.failed(setup.to_string())),
            Err(Failed::Stuck) => {
                // Should the abandoned call ever return to wasm, its deadline
                // has passed: it traps at once instead of running on.
                rt.ticker.expire(ticks);
                return Err(self.failed(format!(
                    "{what} ran past the deadline of {} ms while waiting in the host (a sleep, a poll, or a \
                     file that blocks, such as a FIFO) and was abandoned",
                    limits.deadline.as_millis()
                )));
            }
            Err(Failed::Panicked(message)) => {
                return Err(self.failed(format!(
                    "{what} made the host's WASI layer panic ({}); the plugin was stopped",
                    Untrusted::new(message)
                )));
            }
        };
        if rt.verbose {
            let text = String::from_utf8_lossy(&ran.stderr).into_owned();
            for line in text.lines() {
                notice::plugin_line(&self.kind, line);
            }
        }
        ran.result.map_err(|e| self.failed(describe_failure(what, &e, &limits, ran.memory_hit)))
    }
}

/// Extra time a call gets past its deadline before it is abandoned, for
/// the epoch interruption (which names the limit more precisely) to land.
const ABANDON_MARGIN: Duration = Duration::from_millis(150);

/// What one call did on the call thread.
struct Ran<R> {
    result: wasmtime::Result<R>,
    memory_hit: bool,
    stderr: Vec<u8>,
}

/// Advances the engine's epoch every [`Ticker::TICK`] while a plugin call
/// runs, on one background thread started at the first call: a store whose
/// deadline (in ticks) passes traps with `Trap::Interrupt`. One thread per
/// process rather than one per call keeps the hot path free of thread
/// spawns; between calls it sleeps, so a long `exec` does not wake up a
/// hundred times a second for nothing.
struct Ticker {
    engine: Engine,
    calls: Arc<AtomicUsize>,
    thread: OnceLock<std::thread::Thread>,
}

/// A call in flight; the ticker keeps ticking until every one is dropped.
struct Ticking<'t>(&'t AtomicUsize);

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ticker {
    const TICK: Duration = Duration::from_millis(10);

    fn new(engine: Engine) -> Ticker {
        Ticker { engine, calls: Arc::new(AtomicUsize::new(0)), thread: OnceLock::new() }
    }

    /// Tick until the returned guard is dropped.
    fn start(&self) -> Ticking<'_> {
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
    fn ticks_for(deadline: Duration) -> u64 {
        deadline.as_nanos().div_ceil(Self::TICK.as_nanos()) as u64 + 1
    }

    /// Move the epoch past every deadline set so far (each is at most
    /// `ticks` ahead). Later calls set theirs from the new epoch.
    fn expire(&self, ticks: u64) {
        for _ in 0..=ticks {
            self.engine.increment_epoch();
        }
    }
}

fn describe_failure(what: &str, error: &wasmtime::Error, limits: &Limits, memory_hit: bool) -> String {
    if memory_hit {
        return format!("{what} exceeded the memory limit of {} MiB", limits.memory_bytes >> 20);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            format!("{what} ran past the deadline of {} ms and was stopped", limits.deadline.as_millis())
        }
        Some(Trap::StackOverflow) => {
            format!("{what} overflowed the wasm stack (unbounded recursion?)")
        }
        Some(trap) => {
            format!("{what} trapped ({trap}); run with --verbose to see the plugin's stderr")
        }
        None => format!("{what} failed: {}", one_line(error)),
    }
}

fn one_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

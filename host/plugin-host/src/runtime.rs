//! Loading and calling plugins: one engine per process, the compiled-artifact
//! cache, and for every call a fresh sandboxed instance on the call thread,
//! under limits that turn a misbehaving plugin into an error naming it.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::bindings::{self, Instance, Pre};
use super::cache::ArtifactCache;
use super::call_thread::{CallThread, Failed};
use super::failure;
use super::policy;
use super::registry::{Origin, PluginSource};
use super::sandbox::{self, Limits, SandboxState};
use super::spec::{
    self, AccountRequest, Conversation, ConversationQuery, CredentialStatus, Observed, Spec, UsageReading, Wall,
};
use crate::notice;
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
        // A file not loaded yet has no kind to name.
        match self.kind.as_str() {
            "" => write!(f, "plugin file {}: {}", self.origin, escape_controls(&self.message)),
            kind => write!(f, "plugin {kind:?} ({}): {}", self.origin, escape_controls(&self.message)),
        }
    }
}

impl std::error::Error for PluginError {}

pub struct Runtime {
    engine: Engine,
    /// Where calls run, so a call blocked in the host ends at its deadline.
    calls: CallThread,
    linker: Linker<SandboxState>,
    cache: Option<ArtifactCache>,
    limits: Limits,
    verbose: bool,
}

impl Runtime {
    /// A runtime whose compiled artifacts live in `cache_dir`; without one
    /// (or when it cannot be created) every plugin is compiled in memory on
    /// each load, but for the built-ins, which come precompiled.
    pub fn new(cache_dir: Option<&Path>, verbose: bool) -> anyhow::Result<Runtime> {
        let engine =
            Engine::new(&super::engine_config::config()).map_err(|e| anyhow::anyhow!("starting wasmtime: {e}"))?;
        let mut linker = Linker::new(&engine);
        sandbox::link_granted_wasi(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        bindings::link_host_imports(&mut linker).map_err(|e| anyhow::anyhow!("linking the host's imports: {e}"))?;
        let cache = cache_dir.and_then(|dir| match ArtifactCache::open(dir) {
            Ok(cache) => Some(cache),
            Err(e) => {
                if verbose {
                    notice::warn(format!("not caching compiled plugins in {}: {e}", dir.display()));
                }
                None
            }
        });
        Ok(Runtime { engine, calls: CallThread::default(), linker, cache, limits: Limits::default(), verbose })
    }

    pub fn with_limits(mut self, limits: Limits) -> Runtime {
        self.limits = limits;
        self
    }

    /// Compile (or map from the cache), link, and check a plugin's spec
    /// against the kind it was resolved by.
    pub fn load(&self, source: &PluginSource) -> Result<Plugin<'_>, PluginError> {
        self.load_as(source, Some(&source.kind))
    }

    /// A plugin file on its own (`plugins check`, `plugins install`): its
    /// kind is the one its spec names.
    pub fn load_file(&self, path: &Path) -> Result<Plugin<'_>, PluginError> {
        let origin = Origin::File(path.to_owned());
        let refuse =
            |message: String| PluginError { kind: String::new(), origin: origin.to_string(), message, refused: true };
        let bytes = crate::bounded::read(path, crate::bounded::PLUGIN_CAP)
            .map_err(|e| refuse(format!("cannot read it: {e}")))?;
        let sha256 = super::registry::sha256_hex(&bytes);
        let source = PluginSource { kind: String::new(), origin, bytes: bytes.into(), sha256 };
        self.load_as(&source, None)
    }

    /// [`Runtime::load`], checking the spec's kind against `kind`, or, with
    /// none, only that it is a valid kind name (and taking it).
    fn load_as(&self, source: &PluginSource, kind: Option<&str>) -> Result<Plugin<'_>, PluginError> {
        let origin = source.origin.to_string();
        let refuse =
            |message: String| PluginError { kind: source.kind.clone(), origin: origin.clone(), message, refused: true };
        let compiled = self.compile(source).map_err(&refuse)?;
        let contract = bindings::exported_version(&self.engine, &compiled.component).map_err(&refuse)?;
        sandbox::check_imports(&self.engine, &compiled.component, bindings::HOST_INTERFACES).map_err(&refuse)?;
        let pre = self
            .linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| refuse(format!("cannot be linked: {}", failure::one_line(&e))))?;
        let pre = Pre::new(pre, contract)
            .map_err(|e| refuse(format!("does not fit contract {}: {}", contract.version(), failure::one_line(&e))))?;
        let mut plugin = Plugin {
            runtime: self,
            kind: source.kind.clone(),
            origin: source.origin.clone(),
            pre,
            spec: None,
            declared: BTreeSet::new(),
        };
        let spec = match compiled.spec {
            Some(spec) => spec,
            None => plugin.call("spec", 0, None, |store, instance| instance.spec(store))?,
        };
        let resolved = match kind {
            Some(kind) => kind.to_owned(),
            None if super::registry::is_kind_name(&spec.kind) => spec.kind.clone(),
            None => return Err(refuse(format!("its spec's kind {:?} is not a valid kind name", spec.kind))),
        };
        let spec = spec::check(spec, &resolved).map_err(refuse)?;
        plugin.kind = resolved;
        plugin.declared = policy::check_declared(&spec.env_keys).map_err(|e| plugin.refused(e))?;
        // Cached only once the plugin passed every check.
        if let (Some(cache), Some(pending)) = (&self.cache, &compiled.to_cache) {
            let stored = match pending {
                ToCache::Entry { key, artifact } => cache.store(key, artifact, &spec),
                ToCache::Spec { key } => cache.store_spec(key, &spec),
            };
            if let Err(e) = stored
                && self.verbose
            {
                notice::warn(format!("could not cache the compiled plugin {:?}: {e}", source.kind));
            }
        }
        plugin.spec = Some(spec);
        Ok(plugin)
    }

    /// The plugin's component: from the cache when it has a verified entry,
    /// else the artifact precompiled into the binary for a built-in, else
    /// compiled now. The latter two are cached once the plugin passes its
    /// checks.
    fn compile(&self, source: &PluginSource) -> Result<Compiled, String> {
        let compile_error = |e: wasmtime::Error| format!("is not a valid component: {}", failure::one_line(&e));
        let cached = self.cache.as_ref().map(|cache| (cache, ArtifactCache::key(&self.engine, &source.sha256)));
        if let Some((cache, key)) = &cached
            && let Some(entry) = cache.load(&self.engine, key)
        {
            // An entry written by an older host has no spec yet.
            let to_cache = entry.spec.is_none().then(|| ToCache::Spec { key: key.clone() });
            return Ok(Compiled { component: entry.component, spec: entry.spec, to_cache });
        }
        let entry = |artifact| cached.map(|(_, key)| ToCache::Entry { key, artifact });
        if let Some(artifact) = precompiled(&source.sha256) {
            // SAFETY: the artifact is part of this binary, made by its build
            // with this engine configuration (`engine_config`); one that does
            // not fit this engine or CPU is refused by wasmtime's own checks.
            if let Ok(component) = unsafe { Component::deserialize(&self.engine, artifact) } {
                return Ok(Compiled { component, spec: None, to_cache: entry(Cow::Borrowed(artifact)) });
            }
        }
        let artifact = self.engine.precompile_component(&source.bytes).map_err(compile_error)?;
        // SAFETY: `artifact` was produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(compile_error)?;
        Ok(Compiled { component, spec: None, to_cache: entry(Cow::Owned(artifact)) })
    }
}

/// Make `store` trap with `Trap::Interrupt` once `deadline` has passed and
/// the engine's epoch moves: the caller moves it when it stops waiting
/// ([`CallThread::run`]). No thread ticks in the meantime; a move made by
/// another call, whose deadline came first, lets this one run on.
fn interrupt_at(store: &mut Store<SandboxState>, deadline: Instant) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Trap::Interrupt.into())
        } else {
            Ok(wasmtime::UpdateDeadline::Continue(1))
        }
    });
}

/// The artifact `build.rs` precompiled for the component with this
/// sha256, if it is a built-in.
fn precompiled(sha256: &str) -> Option<&'static [u8]> {
    super::builtin::PRECOMPILED.iter().find(|(digest, _)| *digest == sha256).map(|(_, artifact)| *artifact)
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
    /// Compiled by this call (or precompiled into the binary): the whole
    /// entry.
    Entry { key: String, artifact: Cow<'static, [u8]> },
    /// Loaded from an entry without a spec: the spec.
    Spec { key: String },
}

/// A loaded plugin, ready for calls.
pub struct Plugin<'r> {
    runtime: &'r Runtime,
    pub kind: String,
    pub origin: Origin,
    pre: Pre,
    /// Always set once `load` returns.
    spec: Option<Spec>,
    declared: BTreeSet<String>,
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

impl Plugin<'_> {
    pub fn spec(&self) -> &Spec {
        self.spec.as_ref().expect("a loaded plugin has its spec")
    }

    /// The per-call deadline calls of this plugin get.
    pub fn deadline(&self) -> Duration {
        self.runtime.limits.deadline
    }

    fn failed(&self, message: String) -> PluginError {
        PluginError { kind: self.kind.clone(), origin: self.origin.to_string(), message, refused: false }
    }

    fn refused(&self, message: String) -> PluginError {
        PluginError { refused: true, ..self.failed(message) }
    }

    /// Masks the call's own token and token-shaped words in plugin text.
    fn scrubbed(&self, message: &str, token: Option<&crate::secret::Secret>) -> Untrusted {
        let message: String = message.chars().take(policy::MAX_SPEC_STRING_BYTES).collect();
        let tokens: Vec<_> = token.cloned().into_iter().collect();
        Redactor::new(&tokens, &self.spec().token_prefixes).scrub(&Untrusted::new(message))
    }

    /// `Err(reason)` when the plugin refuses the token; the reason is the
    /// plugin's, scrubbed of the token.
    pub fn validate_token(&self, token: &crate::secret::Secret) -> Result<Result<(), Untrusted>, PluginError> {
        let owned = token.expose().to_owned();
        let verdict = self.call("validate-token", 0, None, move |store, p| p.validate_token(store, &owned))?;
        Ok(verdict.map_err(|reason| self.scrubbed(&reason, Some(token))))
    }

    /// The env to launch `account` with, checked against the env policy.
    pub fn launch_env(&self, account: &AccountRequest) -> Result<Vec<(String, String)>, PluginError> {
        let mount = account.config_dir.is_dir().then_some(account.config_dir.as_path());
        let request = account.clone();
        let result = self.call("launch-env", account.now, mount, move |store, p| p.launch_env(store, &request))?;
        let env = result.map_err(|message| {
            // The plugin's own words: it saw the account's token, so it may
            // have echoed it.
            let message = self.scrubbed(&message, account.token.as_ref());
            self.failed(format!("cannot launch account {:?}: {message}", account.name))
        })?;
        policy::check_env(&env, &self.declared).map_err(|e| self.failed(e))?;
        Ok(env)
    }

    /// What the account's files say about its login; `None` for a plugin
    /// whose contract has no `credential-status` (0.1.0).
    pub fn credential_status(&self, account: &AccountRequest) -> Result<Option<CredentialStatus>, PluginError> {
        let mount = account.config_dir.is_dir().then_some(account.config_dir.as_path());
        let request = account.clone();
        let status =
            self.call("credential-status", account.now, mount, move |store, p| p.credential_status(store, &request))?;
        for text in status.iter().flat_map(|s| [&s.identity, &s.plan]).flatten() {
            if text.raw().len() > policy::MAX_SPEC_STRING_BYTES {
                return Err(self.failed(format!(
                    "credential-status returned {} bytes of text; at most {} are allowed",
                    text.raw().len(),
                    policy::MAX_SPEC_STRING_BYTES
                )));
            }
        }
        Ok(status)
    }

    /// The wall in `output`, if any (see [`Plugin::observe`]).
    pub fn detect_wall(&self, output: &str, now: i64, zone: &str) -> Result<Option<Wall>, PluginError> {
        self.observe(output, now, zone).map(|observed| observed.wall)
    }

    /// What `output` says about the account's quota: its wall (reset
    /// clamped), and its usage readings (checked; see [`Plugin::checked_usage`]).
    pub fn observe(&self, output: &str, now: i64, zone: &str) -> Result<Observed, PluginError> {
        let (output, zone) = (output.to_owned(), zone.to_owned());
        let what = bindings::observe_call(&self.spec().contract);
        let observed = self.call(what, now, None, move |store, p| p.observe(store, &output, now, &zone))?;
        let wall = match observed.wall {
            Some(w) if w.matched.raw().len() > policy::MAX_SPEC_STRING_BYTES => {
                return Err(self.failed(format!(
                    "{what} returned {} bytes of matched text; at most {} are allowed",
                    w.matched.raw().len(),
                    policy::MAX_SPEC_STRING_BYTES
                )));
            }
            w => w.map(|w| Wall { resets_at: self.clamp_reset(w.resets_at, now), ..w }),
        };
        if observed.retrying.as_ref().is_some_and(|t| t.raw().len() > policy::MAX_SPEC_STRING_BYTES) {
            return Err(self.failed(format!(
                "{what} returned more than {} bytes of retrying text",
                policy::MAX_SPEC_STRING_BYTES
            )));
        }
        let usage = self.checked_usage(what, observed.usage, now)?;
        Ok(Observed { wall, usage, retrying: observed.retrying })
    }

    /// The usage readings the agent left in `account`'s config dir
    /// (checked; empty for a plugin before 0.3.0).
    pub fn read_usage(&self, account: &AccountRequest) -> Result<Vec<UsageReading>, PluginError> {
        let mount = account.config_dir.is_dir().then_some(account.config_dir.as_path());
        let request = account.clone();
        let usage = self.call("read-usage", account.now, mount, move |store, p| p.read_usage(store, &request))?;
        self.checked_usage("read-usage", usage, account.now)
    }

    /// Readings as the host keeps them: at most [`policy::MAX_OBSERVATIONS`],
    /// each window a short name, the fraction a number clamped to 0–1, a
    /// reset no further than a wall could be. A plugin breaking these is
    /// an error, not something to guess around.
    fn checked_usage(&self, what: &str, usage: Vec<UsageReading>, now: i64) -> Result<Vec<UsageReading>, PluginError> {
        if usage.len() > policy::MAX_OBSERVATIONS {
            return Err(self.failed(format!(
                "{what} returned {} usage readings; at most {} are allowed",
                usage.len(),
                policy::MAX_OBSERVATIONS
            )));
        }
        let latest = now.saturating_add(policy::MAX_WALL_SECS);
        usage
            .into_iter()
            .map(|u| {
                if !UsageReading::valid_window(&u.window) {
                    return Err(self.failed(format!(
                        "{what} returned a usage window named {}; a window is 1-{} of a-z, 0-9, - and _",
                        Untrusted::new(u.window.chars().take(64).collect::<String>()).shown(),
                        UsageReading::MAX_WINDOW_BYTES
                    )));
                }
                if u.used.is_nan() {
                    return Err(self.failed(format!(
                        "{what} returned a usage reading of window {} that is not a number",
                        u.window
                    )));
                }
                Ok(UsageReading { used: u.used.clamp(0.0, 1.0), resets_at: u.resets_at.map(|t| t.min(latest)), ..u })
            })
            .collect()
    }

    /// The conversation `query` describes in `account`'s config dir, as
    /// the plugin names it (its paths are checked by whoever copies them);
    /// `None` when there is none or the plugin keeps none.
    pub fn find_conversation(
        &self,
        account: &AccountRequest,
        query: &ConversationQuery,
    ) -> Result<Option<Conversation>, PluginError> {
        let mount = account.config_dir.is_dir().then_some(account.config_dir.as_path());
        let (request, query) = (account.clone(), query.clone());
        let found = self.call("find-conversation", account.now, mount, move |store, p| {
            p.find_conversation(store, &request, &query)
        })?;
        if let Some(c) = &found {
            let too_long = |t: &str| t.len() > policy::MAX_SPEC_STRING_BYTES;
            if c.files.len() > policy::MAX_CONVERSATION_FILES
                || too_long(c.id.raw())
                || c.files.iter().chain(&c.cwd).any(|f| too_long(f))
                || c.bound_to.as_ref().is_some_and(|b| too_long(b.raw()))
            {
                return Err(self.failed(format!(
                    "find-conversation returned more than the contract allows ({} files at most, {} bytes a string)",
                    policy::MAX_CONVERSATION_FILES,
                    policy::MAX_SPEC_STRING_BYTES
                )));
            }
        }
        Ok(found)
    }

    /// The argv that resumes conversation `id` from `argv`; `Err` is the
    /// plugin's reason this argv cannot be resumed.
    pub fn resume_argv(
        &self,
        argv: &[String],
        id: &str,
        prompt: &str,
    ) -> Result<Result<Vec<String>, Untrusted>, PluginError> {
        let (owned, id, prompt) = (argv.to_vec(), id.to_owned(), prompt.to_owned());
        let resumed = self.call("resume-argv", 0, None, move |store, p| p.resume_argv(store, &owned, &id, &prompt))?;
        match resumed {
            Ok(args) if args.is_empty() || args.len() > policy::MAX_RESUME_ARGS => Err(self.failed(format!(
                "resume-argv returned {} arguments; between 1 and {} are allowed",
                args.len(),
                policy::MAX_RESUME_ARGS
            ))),
            Ok(args) => Ok(Ok(args)),
            Err(reason) => Ok(Err(self.scrubbed(&reason, None))),
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
    /// through the epoch; one that waits in the host past it (plus a margin
    /// for the interruption to land) is abandoned.
    fn call<R: Send + 'static>(
        &self,
        what: &str,
        now: i64,
        mount: Option<&Path>,
        f: impl FnOnce(&mut Store<SandboxState>, &Instance) -> wasmtime::Result<R> + Send + 'static,
    ) -> Result<R, PluginError> {
        let rt = self.runtime;
        let (engine, pre, limits) = (rt.engine.clone(), self.pre.clone(), rt.limits);
        let mount = mount.map(Path::to_owned);
        let deadline = Instant::now() + limits.deadline;
        let ran = rt.calls.run(
            limits.deadline,
            ABANDON_MARGIN,
            || rt.engine.increment_epoch(),
            move || {
                let (state, stderr) = sandbox::sandbox(now, mount.as_deref(), &limits)?;
                let mut store = Store::new(&engine, state);
                store.limiter(|s| &mut s.limits);
                interrupt_at(&mut store, deadline);
                let result = pre.instantiate(&mut store).and_then(|instance| f(&mut store, &instance));
                let stderr = stderr.contents().to_vec();
                Ok::<_, std::io::Error>(Ran { result, memory_hit: store.data().limits.hit(), stderr })
            },
        );
        let ran = match ran {
            Ok(Ok(ran)) => ran,
            Ok(Err(setup)) => return Err(self.failed(setup.to_string())),
            // Should the abandoned call ever return to wasm, its deadline
            // has passed and the epoch moved: it traps at once.
            Err(Failed::Stuck) => return Err(self.failed(failure::abandoned(what, &limits))),
            Err(Failed::Panicked(message)) => {
                return Err(self.failed(failure::host_panic(what, &Untrusted::new(message).shown())));
            }
        };
        if rt.verbose {
            let text = String::from_utf8_lossy(&ran.stderr).into_owned();
            for line in text.lines() {
                notice::plugin_line(&self.kind, line);
            }
        }
        ran.result.map_err(|e| self.failed(failure::describe_failure(what, &e, &limits, ran.memory_hit)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{builtin, engine_config};

    /// Every built-in ships precompiled, and the artifacts load in the
    /// runtime's engine: `build.rs` and the runtime share one configuration,
    /// so a first call maps instead of compiling.
    #[test]
    fn every_builtin_is_precompiled_for_this_engine() {
        let engine = Engine::new(&engine_config::config()).unwrap();
        assert_eq!(builtin::PRECOMPILED.len(), builtin::BUILTINS.len());
        for (kind, _, sha256) in builtin::BUILTINS {
            let artifact = precompiled(sha256).unwrap_or_else(|| panic!("{kind} is not precompiled"));
            // SAFETY: as in `Runtime::compile`.
            let loaded = unsafe { Component::deserialize(&engine, artifact) };
            assert!(loaded.is_ok(), "{kind}: {:?}", loaded.err());
        }
    }
}

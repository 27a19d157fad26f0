//! The sandbox one plugin call runs in: WASI preview 2 with nothing granted.
//! No env, no args, no network, no stdin; a frozen clock at the time the host
//! passes; stdout and stderr captured into bounded buffers; and, only for
//! `launch-env`, the account's config dir mounted read-only at `/config`.

use std::path::Path;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::sync as wasi;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// The guest path of the account's config dir (documented in the WIT).
pub const CONFIG_MOUNT: &str = "/config";

/// How much of a plugin's stdout/stderr is kept, for `--verbose`.
const OUTPUT_CAPTURE_BYTES: usize = 64 * 1024;

/// Per-call limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: usize,
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 64 << 20, deadline: Duration::from_secs(1) }
    }
}

/// Store data for one call.
pub struct SandboxState {
    ctx: WasiCtx,
    table: ResourceTable,
    pub limits: CallLimiter,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// WASI interfaces a plugin may import, linked by [`link_granted_wasi`].
/// Everything else (`wasi:sockets`, `wasi:http`, anything unknown) is refused
/// by name before linking (besides the host's own interfaces, see
/// `bindings::HOST_INTERFACES`): the sandbox would deny it anyway, but a
/// plugin that asks for the network is not one to run.
pub const GRANTED_WASI: &[&str] = &["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:filesystem/", "wasi:random/"];

/// The imports of `component` outside what the host grants, if any, as
/// the reason to refuse it.
pub fn check_imports(engine: &Engine, component: &Component, host_interfaces: &[&str]) -> Result<(), String> {
    let forbidden: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .filter(|name| !GRANTED_WASI.iter().any(|granted| name.starts_with(granted)))
        .filter(|name| !host_interfaces.contains(&name.as_str()))
        .collect();
    if forbidden.is_empty() {
        return Ok(());
    }
    let granted: Vec<String> =
        GRANTED_WASI.iter().map(|g| format!("{g}*")).chain(host_interfaces.iter().map(|h| h.to_string())).collect();
    Err(format!(
        "imports {}, which the host does not grant; plugins may import only {}",
        forbidden.join(", "),
        granted.join(", ")
    ))
}

/// Link the WASI interfaces a plugin may import ([`GRANTED_WASI`]):
/// wasmtime-wasi's `add_to_linker_sync` minus `wasi:sockets`. Leaving the
/// sockets out also saves defining their ~50 functions on every call of the
/// host.
pub fn link_granted_wasi(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    type T = SandboxState;
    let l = linker;
    wasi::io::error::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    wasi::io::poll::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    wasi::io::streams::add_to_linker::<T, HasTable>(l, |t| &mut t.table)?;
    wasi::clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    wasi::clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    wasi::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    wasi::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    wasi::random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx.random())?;
    wasi::random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx.random())?;
    wasi::random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx.random())?;
    wasi::cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    wasi::cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}

/// The resource table, as the `wasi:io` bindings reach it.
struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// A new sandbox: the account's config dir mounted at `/config` (read-only)
/// when `mount` is given. Returns the state and the captured stderr.
pub fn sandbox(now: i64, mount: Option<&Path>, limits: &Limits) -> std::io::Result<(SandboxState, MemoryOutputPipe)> {
    let stderr = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
    let mut builder = WasiCtx::builder();
    builder
        .stderr(stderr.clone())
        .stdout(MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES))
        .wall_clock(FrozenClock(now))
        .monotonic_clock(FrozenClock(now))
        .allow_blocking_current_thread(true);
    if let Some(dir) = mount {
        builder
            .preopened_dir(dir, CONFIG_MOUNT, FsPerms::ReadOnly)
            .map_err(|e| std::io::Error::other(format!("cannot mount {}: {e}", dir.display())))?;
    }
    let state = SandboxState {
        ctx: builder.build(),
        table: ResourceTable::new(),
        limits: CallLimiter { memory_bytes: limits.memory_bytes, hit: false },
    };
    Ok((state, stderr))
}

/// A clock stopped at the time the host passed: plugins get time only as data.
struct FrozenClock(i64);

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.0.max(0) as u64)
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Caps linear memory and tables, and remembers when the cap was hit so the
/// error can say "memory limit" instead of a bare trap.
pub struct CallLimiter {
    memory_bytes: usize,
    hit: bool,
}

/// Table elements a plugin may grow to; generous for any real plugin.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl CallLimiter {
    pub fn hit(&self) -> bool {
        self.hit
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_bytes);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            wasmtime::bail!("table limit of {MAX_TABLE_ELEMENTS} elements reached");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        16
    }
    fn tables(&self) -> usize {
        16
    }
    fn memories(&self) -> usize {
        16
    }
}

//! The wasmtime configuration every plugin is compiled and run with.
//!
//! Shared by path with `host/plugin-host/build.rs`, which precompiles the built-in
//! plugins with it: a compiled artifact loads only in an engine configured
//! the same way (wasmtime checks the artifact's settings against the
//! engine's), so there is one definition for both. Only `wasmtime` here.

/// The engine configuration for plugins.
pub(crate) fn config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    // Epoch interruption enforces the per-call deadline; it is part of the
    // compiled code, so it is set identically for every artifact.
    config.epoch_interruption(true);
    config.max_wasm_stack(512 * 1024);
    // Unwind tables for the system unwinder only help profilers and
    // debuggers walk native stacks through wasm frames; wasmtime's own
    // traps and backtraces do not use them, and a host panic crosses wasm
    // frames by wasmtime's own trap unwinding, not the system's. Without
    // them the artifact is smaller and a load registers nothing with the
    // unwinder.
    config.native_unwind_info(false);
    // Winch, wasmtime's single-pass compiler (tier 1 on x86_64), compiles a
    // plugin about 3x faster than Cranelift; a plugin call runs for
    // microseconds, so the slower code it makes never shows. Cranelift
    // still compiles the trampolines between host and plugin (one per
    // import and per function the host may call); unoptimised, they compile
    // in a third less time, and each runs once per call.
    if cfg!(target_arch = "x86_64") {
        config.strategy(wasmtime::Strategy::Winch);
        config.cranelift_opt_level(wasmtime::OptLevel::None);
    }
    config
}

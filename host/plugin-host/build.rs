//! Builds the built-in plugins (`plugins/*` crates whose `Cargo.toml` has
//! `[package.metadata.accounts] builtin = true`) for `wasm32-wasip2` and
//! embeds them: `OUT_DIR/builtins.rs` lists `(kind, bytes, sha256)`.
//!
//! The pattern follows wasmtime's `crates/test-programs/artifacts/build.rs`:
//! an inner `cargo build` with its own target dir (under the shared `target/`,
//! so it never waits on the outer build's lock and is shared by debug and
//! release host builds), and `rerun-if-changed` on the plugin sources so an
//! unchanged plugin is not rebuilt.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

#[path = "../build_plugins.rs"]
mod build_plugins;
#[path = "src/engine_config.rs"]
mod engine_config;

use build_plugins::WASM_TARGET;

const GUEST_PROFILE: &str = "plugin";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    // host/plugin-host: the workspace is two levels up.
    let workspace = manifest_dir.parent().and_then(Path::parent).unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    let builtins = find_builtins(&workspace.join("plugins"));
    for path in [workspace.join("wit"), workspace.join("Cargo.lock")] {
        watch(&path);
    }
    watch(&workspace.join("plugins"));
    watch(&manifest_dir.join("src/engine_config.rs"));

    let target_dir = plugin_target_dir(&workspace);
    check_wasm_target_installed();
    let packages: Vec<&str> = builtins.iter().map(|(_, package)| package.as_str()).collect();
    let build = build_plugins::Build {
        dir: &workspace,
        target_dir: &target_dir,
        profile: GUEST_PROFILE,
        packages: &packages,
        features: &[],
    };
    if let Err(e) = build.run() {
        panic!("{e}");
    }

    let engine = precompiling_engine();
    let mut table = String::from("/// Built-in plugins: (kind, component bytes, sha256 of the bytes).\n");
    table.push_str("pub const BUILTINS: &[(&str, &[u8], &str)] = &[\n");
    let mut precompiled = String::from(
        "/// Built-in plugins compiled at build time by the engine configuration the\n\
         /// runtime uses: (sha256 of the component, compiled artifact).\n\
         pub const PRECOMPILED: &[(&str, &[u8])] = &[\n",
    );
    for (kind, package) in &builtins {
        let wasm = build.wasm(package);
        let bytes = fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
        let digest = sha256_hex(&bytes);
        writeln!(table, "    ({kind:?}, include_bytes!({:?}), {digest:?}),", wasm.display().to_string()).unwrap();
        if let Some(engine) = &engine {
            let artifact = engine
                .precompile_component(&bytes)
                .unwrap_or_else(|e| panic!("precompiling the built-in plugin {kind}: {e}"));
            let path = out_dir.join(format!("{kind}.cwasm"));
            fs::write(&path, artifact).unwrap();
            writeln!(precompiled, "    ({digest:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
        }
    }
    table.push_str("];\n");
    precompiled.push_str("];\n");
    fs::write(out_dir.join("builtins.rs"), table + &precompiled).unwrap();
}

/// The engine that precompiles the built-ins, so that the first call after
/// an install maps a ready artifact instead of compiling (about 25 ms of a
/// 35-40 ms first call). Only for a native build: the artifact is for the
/// machine's own CPU features, as the runtime's engine detects them. For a
/// cross build nothing is precompiled and the runtime compiles on first
/// use, as it does for any other plugin; should an artifact not fit the
/// machine it runs on (a binary copied to a CPU with other features),
/// wasmtime refuses it and the runtime compiles.
fn precompiling_engine() -> Option<wasmtime::Engine> {
    if env::var("TARGET").ok()? != env::var("HOST").ok()? {
        return None;
    }
    Some(wasmtime::Engine::new(&engine_config::config()).unwrap_or_else(|e| panic!("starting wasmtime: {e}")))
}

/// `(kind, package name)` of every built-in plugin crate, sorted by kind.
/// The kind is the crate's directory name.
fn find_builtins(plugins: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(plugins).expect("reading plugins/") {
        let dir = entry.unwrap().path();
        let Ok(text) = fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let manifest: toml::Table = text.parse().expect("plugin Cargo.toml parses");
        let package = &manifest["package"];
        let builtin = package
            .get("metadata")
            .and_then(|m| m.get("accounts"))
            .and_then(|a| a.get("builtin"))
            .and_then(|b| b.as_bool())
            .unwrap_or(false);
        if builtin {
            let kind = dir.file_name().unwrap().to_string_lossy().into_owned();
            found.push((kind, package["name"].as_str().unwrap().to_owned()));
        }
    }
    found.sort();
    found
}

/// The inner build's target dir: `<target>/wasm-plugins`, next to the outer
/// build's profiles but with a lock of its own. Tests build their plugins there
/// too (see `tests/support`).
fn plugin_target_dir(workspace: &Path) -> PathBuf {
    let target = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
    target.join("wasm-plugins")
}

fn check_wasm_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).args(["--print", "sysroot"]).output().expect("running rustc");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sysroot.join("lib/rustlib").join(WASM_TARGET).exists() {
        panic!(
            "the Rust target {WASM_TARGET} is not installed; the built-in plugins need it.\n\
             Fix: rustup target add {WASM_TARGET}"
        );
    }
}

/// Ask cargo to rerun this script when `path` changes; for a directory,
/// cargo scans every file below it.
fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

//! Building plugin crates for `wasm32-wasip2`: one helper for `build.rs`
//! (the built-ins) and the tests (test plugins, the out-of-tree example),
//! so the cargo call and its environment live in one place. Included by
//! path from both; std only.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const WASM_TARGET: &str = "wasm32-wasip2";

/// One `cargo build` of plugin crates.
pub struct Build<'a> {
    /// Where cargo runs (the workspace, or an out-of-tree crate).
    pub dir: &'a Path,
    /// The target dir: a lock of its own, so the inner build never waits
    /// on the outer one.
    pub target_dir: &'a Path,
    /// `plugin` for crates of this workspace, `release` for a standalone
    /// crate.
    pub profile: &'a str,
    /// `-p` packages (none: the crate in `dir`).
    pub packages: &'a [&'a str],
    pub features: &'a [&'a str],
}

impl Build<'_> {
    /// Run it; `Err` says what failed and how to build it by hand.
    pub fn run(&self) -> Result<(), String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(self.dir)
            .args(["build", "--quiet", "--target", WASM_TARGET, "--profile", self.profile])
            .env("CARGO_TARGET_DIR", self.target_dir)
            // The outer build's flags are for the host, not for the guest.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        for package in self.packages {
            cmd.args(["-p", package]);
        }
        if !self.features.is_empty() {
            cmd.args(["--features", &self.features.join(",")]);
        }
        let status = cmd.status().map_err(|e| format!("running cargo: {e}"))?;
        if status.success() {
            return Ok(());
        }
        Err(format!(
            "building {} for {WASM_TARGET} failed; build it by hand to see why: \
             `rustup target add {WASM_TARGET} && cd {} && cargo build --target {WASM_TARGET} --profile {}{}`",
            if self.packages.is_empty() { "the plugin".to_owned() } else { self.packages.join(", ") },
            self.dir.display(),
            self.profile,
            self.packages.iter().map(|p| format!(" -p {p}")).collect::<String>(),
        ))
    }

    /// Where the component of `package` lands.
    pub fn wasm(&self, package: &str) -> PathBuf {
        wasm_path(self.target_dir, self.profile, package)
    }
}

/// The component cargo writes for `package` built with `profile`.
pub fn wasm_path(target_dir: &Path, profile: &str, package: &str) -> PathBuf {
    let profile_dir = if profile == "dev" { "debug" } else { profile };
    target_dir.join(WASM_TARGET).join(profile_dir).join(format!("{}.wasm", package.replace('-', "_")))
}

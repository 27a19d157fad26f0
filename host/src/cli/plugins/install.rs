//! `plugins install FILE` and `plugins remove KIND`: the plugin dir, kept
//! by the host. A plugin is installed only when every check passes, under
//! the kind its own spec names, atomically; the roster block that pins it
//! is printed.

use std::path::Path;

use super::Context;
use crate::cli::print;
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::plugin::{builtin, conformance, registry};

pub fn install(ctx: &Context, file: &Path) -> Result<ExitStatus> {
    if std::fs::symlink_metadata(file).is_err() {
        let name = file.to_string_lossy();
        let hint = if builtin::BUILTINS.iter().any(|(k, _, _)| *k == name) {
            format!("{name:?} is a built-in kind: it needs no install")
        } else {
            "give the path of a plugin's .wasm file (`cargo build --release --target wasm32-wasip2` \
             in its crate writes one)"
                .into()
        };
        return Err(usage(format!("plugins install: there is no file {}; {hint}", file.display())));
    }
    let runtime = ctx.runtime(None)?;
    let plugin = runtime.load_file(file)?;
    let kind = plugin.kind.clone();
    if builtin::BUILTINS.iter().any(|(k, _, _)| *k == kind) {
        return Err(usage(format!(
            "{} is a plugin for {kind:?}, a built-in kind; the plugin dir cannot replace a built-in. \
             To use it anyway, add [plugins.{kind}] with its path and sha256 to the roster",
            file.display()
        )));
    }
    let failed: Vec<String> = conformance::check(&plugin, None, &[], None)
        .into_iter()
        .filter(|f| !f.passed)
        .map(|f| format!("{}: {}", f.check, f.detail))
        .collect();
    if !failed.is_empty() {
        return Err(usage(format!(
            "not installing plugin {kind:?} ({}): {} check(s) failed: {}. Run `accounts plugins check {}` for the report",
            file.display(),
            failed.len(),
            failed.join("; "),
            file.display()
        )));
    }
    let bytes = crate::bounded::read(file, crate::bounded::PLUGIN_CAP)
        .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    let dir = &ctx.paths.plugin_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot create the plugin dir {}: {e}", dir.display())))?;
    let target = dir.join(format!("{kind}.wasm"));
    crate::atomic_file::replace(dir, &target, &bytes)
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot write {}: {e}", target.display())))?;
    print(&format!(
        "installed plugin {kind:?} as {}\n\n# To pin it in your roster:\n[plugins.{kind}]\npath = {:?}\nsha256 = \"{}\"\n",
        target.display(),
        target.display().to_string(),
        registry::sha256_hex(&bytes)
    ))
}

pub fn remove(ctx: &Context, kind: &str) -> Result<ExitStatus> {
    if !registry::is_kind_name(kind) {
        return Err(usage(format!("{kind:?} is not a plugin kind (lower-case letters, digits, - and _)")));
    }
    if builtin::BUILTINS.iter().any(|(k, _, _)| *k == kind) {
        return Err(usage(format!("{kind:?} is a built-in plugin; it cannot be removed")));
    }
    let target = ctx.paths.plugin_dir.join(format!("{kind}.wasm"));
    match std::fs::remove_file(&target) {
        Ok(()) => print(&format!("removed {}\n", target.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(usage(format!("no plugin {kind:?} in the plugin dir ({} does not exist)", target.display())))
        }
        Err(e) => Err(Error::Other(anyhow::anyhow!("cannot remove {}: {e}", target.display()))),
    }
}

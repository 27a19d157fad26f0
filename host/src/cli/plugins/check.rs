//! `plugins check FILE|KIND`: load a plugin in the real sandbox and check
//! what the host relies on (`plugin::conformance`), as a report a person
//! can act on. Exit 1 when a check fails (the report is still printed).

use std::path::Path;

use super::Context;
use crate::bounded;
use crate::cli::{PluginHost, print};
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::plugin::Plugin;
use crate::plugin::conformance::{self, Finding};

pub fn run(
    ctx: &Context,
    target: &str,
    wall_sample: Option<&Path>,
    login_sample: Option<&Path>,
    json: bool,
) -> Result<ExitStatus> {
    let samples = match wall_sample {
        Some(path) => read_samples(path)?,
        None => Vec::new(),
    };
    if let Some(dir) = login_sample
        && !dir.is_dir()
    {
        return Err(usage(format!(
            "--login-sample {} is not a directory; give a config dir holding a live login of the agent's",
            dir.display()
        )));
    }
    // A file needs no roster (as for `plugins install`); a roster that is
    // there still gives its plugin_timeout. A kind is resolved through it.
    let is_file = Path::new(target).exists() || target.ends_with(".wasm");
    let roster = if is_file && !ctx.paths.roster.exists() { None } else { ctx.roster_if_any()? };
    let plugins = ctx.plugin_host(roster.as_ref())?;
    let (plugin, size) = load(&plugins, target)?;
    let findings = conformance::check(&plugin, size, &samples, login_sample);
    let failed = findings.iter().filter(|f| !f.passed).count();
    print(&if json { as_json(&plugin, &findings) } else { as_table(&plugin, &findings) })?;
    if failed == 0 {
        return Ok(ExitStatus::Success);
    }
    Err(Error::Other(anyhow::anyhow!(
        "plugin {:?}: {failed} of {} checks failed; see the report above",
        plugin.kind,
        findings.len()
    )))
}

/// A file (anything that names an existing path or ends in .wasm), else
/// an agent kind as the registry resolves it. Returns its size in bytes
/// when known.
pub fn load<'r>(plugins: &'r PluginHost, target: &str) -> Result<(Plugin<'r>, Option<usize>)> {
    let path = Path::new(target);
    if path.exists() || target.ends_with(".wasm") || target.contains('/') {
        let size = std::fs::metadata(path).ok().map(|m| m.len() as usize);
        return Ok((plugins.runtime.load_file(path)?, size));
    }
    let plugin = plugins.load(target)?;
    let size = plugin.origin.path().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len() as usize);
    Ok((plugin, size))
}

/// One wall message per line; `\n` inside a line stands for a line break
/// (for messages printed over several lines).
fn read_samples(path: &Path) -> Result<Vec<String>> {
    let text = bounded::read_text(path, bounded::ROSTER_CAP)
        .map_err(|e| usage(format!("--wall-sample: cannot read {}: {e}", path.display())))?;
    let samples: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.replace("\\n", "\n")).collect();
    if samples.is_empty() {
        return Err(usage(format!("--wall-sample {} has no lines; give one wall message per line", path.display())));
    }
    Ok(samples)
}

fn as_table(plugin: &Plugin<'_>, findings: &[Finding]) -> String {
    let mut out = format!("plugin {:?} ({}), contract {}\n", plugin.kind, plugin.origin, plugin.spec().contract);
    for f in findings {
        let mark = if f.passed { "ok  " } else { "FAIL" };
        let time = f.millis.map(|ms| format!(" ({ms:.1} ms)")).unwrap_or_default();
        out += &format!("  {mark} {}: {}{time}\n", f.check, crate::untrusted::escape_controls(&f.detail));
    }
    let failed = findings.iter().filter(|f| !f.passed).count();
    out += &if failed == 0 {
        format!("all {} checks passed\n", findings.len())
    } else {
        format!("{failed} of {} checks failed\n", findings.len())
    };
    out
}

fn as_json(plugin: &Plugin<'_>, findings: &[Finding]) -> String {
    let value = serde_json::json!({
        "kind": plugin.kind,
        "source": plugin.origin.to_string(),
        "contract": plugin.spec().contract,
        "passed": findings.iter().all(|f| f.passed),
        "checks": findings,
    });
    format!("{value:#}\n")
}

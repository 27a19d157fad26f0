//! `plugins list`, `plugins inspect`, `plugins policy`.

use serde_json::json;

use super::Context;
use crate::cli::print;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::plugin::{Origin, Spec, policy, sandbox};

/// One line of `plugins list`: a plugin's spec, or why it did not load.
struct Row {
    kind: String,
    origin: Origin,
    loaded: std::result::Result<Spec, String>,
}

pub fn list(ctx: &Context, json: bool) -> Result<ExitStatus> {
    let roster = ctx.roster_if_any()?;
    let plugins = ctx.plugin_host(roster.as_ref())?;
    for warning in plugins.registry.dir_warnings() {
        crate::notice::warn(warning);
    }
    // One broken plugin must not hide the others: each row carries its
    // spec or its error.
    let rows: Vec<Row> = plugins
        .registry
        .known()
        .into_iter()
        .map(|(kind, origin)| {
            let loaded = plugins.load(&kind).map(|p| p.spec().clone());
            Row { kind, origin, loaded: loaded.map_err(|e| e.to_string()) }
        })
        .collect();
    print(&if json { list_json(&rows) } else { list_table(&rows) })?;
    let broken: Vec<&str> = rows.iter().filter(|r| r.loaded.is_err()).map(|r| r.kind.as_str()).collect();
    if broken.is_empty() {
        return Ok(ExitStatus::Success);
    }
    Err(crate::error::usage(format!(
        "{} of {} plugins could not be loaded ({}); see their errors above",
        broken.len(),
        rows.len(),
        broken.join(", ")
    )))
}

fn list_json(rows: &[Row]) -> String {
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            let mut item = json!({"kind": r.kind, "source": r.origin.label(), "path": r.origin.path()});
            match &r.loaded {
                Ok(spec) => {
                    item["label"] = json!(spec.label);
                    item["contract"] = json!(spec.contract);
                }
                Err(error) => item["error"] = json!(error),
            }
            item
        })
        .collect();
    format!("{}\n", serde_json::Value::from(items))
}

fn list_table(rows: &[Row]) -> String {
    let mut out = format!("{:<12} {:<20} {:<9} {}\n", "KIND", "LABEL", "CONTRACT", "SOURCE");
    for r in rows {
        match &r.loaded {
            Ok(spec) => out += &format!("{:<12} {:<20} {:<9} {}\n", r.kind, spec.label, spec.contract, r.origin),
            Err(error) => {
                out += &format!("{:<12} {:<20} {:<9} {}\n  error: {error}\n", r.kind, "(broken)", "-", r.origin)
            }
        }
    }
    out
}

pub fn inspect(ctx: &Context, kind: &str, json: bool) -> Result<ExitStatus> {
    let roster = ctx.roster_if_any()?;
    let plugins = ctx.plugin_host(roster.as_ref())?;
    let plugin = plugins.load(kind)?;
    let s = plugin.spec();
    if json {
        let mut value = serde_json::to_value(s).expect("a spec is plain data");
        value["source"] = json!(plugin.origin.label());
        value["path"] = json!(plugin.origin.path());
        return print(&format!("{value:#}\n"));
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let argv = |v: Option<&Vec<String>>| v.map_or_else(|| "-".to_owned(), |a| a.join(" "));
    let list = |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(", ") };
    print(&format!(
        "kind:                 {}\nlabel:                {}\nsource:               {}\ncontract:             {}\n\
         config dir env:       {}\ntoken env:            {}\ntoken file name:      {}\n\
         credential file name: {}\ntoken prefixes:       {}\nlogin:                {}\n\
         headless login:       {}\nenroll hint:          {}\nenv keys:             {}\n",
        s.kind,
        s.label,
        plugin.origin,
        s.contract,
        opt(&s.config_dir_env),
        opt(&s.token_env),
        opt(&s.token_file_name),
        opt(&s.credential_file_name),
        list(&s.token_prefixes),
        argv(s.login.as_ref().map(|l| &l.interactive)),
        argv(s.login.as_ref().and_then(|l| l.headless.as_ref())),
        s.enroll_hint,
        s.env_keys.join(", "),
    ))
}

pub fn policy(json: bool) -> Result<ExitStatus> {
    let limits = sandbox::Limits::default();
    if json {
        let denied: Vec<_> = policy::DENIED.iter().map(|(names, why)| json!({"names": names, "why": why})).collect();
        let prefixes: Vec<_> =
            policy::DENIED_PREFIXES.iter().map(|(prefix, why)| json!({"prefix": prefix, "why": why})).collect();
        let value = json!({
            "contracts": crate::plugin::ACCEPTED_VERSIONS,
            "denied": denied,
            "denied_prefixes": prefixes,
            "imports": sandbox::GRANTED_WASI,
            "limits": {
                "deadline_ms": limits.deadline.as_millis() as u64,
                "memory_bytes": limits.memory_bytes,
                "env_entries": policy::MAX_ENV_ENTRIES,
                "name_bytes": policy::MAX_NAME_BYTES,
                "value_bytes": policy::MAX_VALUE_BYTES,
                "spec_string_bytes": policy::MAX_SPEC_STRING_BYTES,
                "wall_days": policy::MAX_WALL_SECS / 86_400,
            },
        });
        return print(&format!("{value:#}\n"));
    }
    let mut out = String::from("Variables no plugin may set (declaring one refuses the plugin):\n");
    for (names, why) in policy::DENIED {
        out += &format!("  {}\n    {why}\n", names.join(", "));
    }
    for (prefix, why) in policy::DENIED_PREFIXES {
        out += &format!("  {prefix}*\n    {why}\n");
    }
    out += &format!(
        "\nContracts accepted: {}\nImports granted: {}, and the host's accounts:auth/time-zones\n\
         Limits per call: {} ms (roster: plugin_timeout), {} MiB of memory, {} env entries, names up to {} bytes, \
         values up to {} KiB, spec strings and wall text up to {} KiB, walls up to {} days\n",
        crate::plugin::ACCEPTED_VERSIONS.join(", "),
        sandbox::GRANTED_WASI.iter().map(|g| format!("{g}*")).collect::<Vec<_>>().join(", "),
        limits.deadline.as_millis(),
        limits.memory_bytes >> 20,
        policy::MAX_ENV_ENTRIES,
        policy::MAX_NAME_BYTES,
        policy::MAX_VALUE_BYTES >> 10,
        policy::MAX_SPEC_STRING_BYTES >> 10,
        policy::MAX_WALL_SECS / 86_400,
    );
    print(&out)
}

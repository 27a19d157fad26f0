//! `accounts plugins list|inspect`.

use clap::Subcommand;
use serde_json::json;

use super::{Context, print};
use crate::error::Result;
use crate::plugin::Origin;

#[derive(Subcommand)]
pub enum Command {
    /// Every agent kind that resolves: kind, label, source, contract version
    List {
        #[arg(long)]
        json: bool,
    },
    /// One plugin's spec
    Inspect {
        kind: String,
        #[arg(long)]
        json: bool,
    },
}

/// The one contract version this host speaks; listed per plugin so a future
/// host that speaks several can show which one each plugin uses.
const WIT_VERSION: &str = "0.1.0";

pub fn run(ctx: &Context, cmd: Command) -> Result<()> {
    let roster = ctx.roster_if_any()?;
    let registry = ctx.registry(roster.as_ref());
    let runtime = ctx.runtime(roster.as_ref())?;
    match cmd {
        Command::List { json } => {
            for warning in registry.dir_warnings() {
                crate::notice::warn(warning);
            }
            // One broken plugin must not hide the others: each row carries
            // its label or its error.
            let rows: Vec<Row> = registry
                .known()
                .into_iter()
                .map(|(kind, origin)| {
                    let loaded = ctx.plugin(&registry, &runtime, &kind).map(|p| p.spec.label.clone());
                    Row { kind, origin, loaded: loaded.map_err(|e| e.to_string()) }
                })
                .collect();
            print(&if json { list_json(&rows) } else { list_table(&rows) })?;
            let broken: Vec<&str> = rows.iter().filter(|r| r.loaded.is_err()).map(|r| r.kind.as_str()).collect();
            if broken.is_empty() {
                return Ok(());
            }
            Err(crate::error::usage(format!(
                "{} of {} plugins could not be loaded ({}); see their errors above",
                broken.len(),
                rows.len(),
                broken.join(", ")
            )))
        }
        Command::Inspect { kind, json } => {
            let plugin = ctx.plugin(&registry, &runtime, &kind)?;
            let out = if json {
                let mut value = serde_json::to_value(&plugin.spec).expect("spec serialises");
                value["source"] = json!(plugin.origin.label());
                value["path"] = json!(plugin.origin.path());
                value["wit_version"] = json!(WIT_VERSION);
                format!("{value:#}\n")
            } else {
                let s = &plugin.spec;
                let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                format!(
                    "kind:                 {}\nlabel:                {}\nsource:               {}\nwit version:          {WIT_VERSION}\n\
                     config dir env:       {}\ntoken env:            {}\ntoken file name:      {}\n\
                     credential file name: {}\ntoken prefix:         {}\nenroll methods:       {}\n\
                     enroll hint:          {}\nenv keys:             {}\n",
                    s.kind,
                    s.label,
                    plugin.origin,
                    opt(&s.config_dir_env),
                    opt(&s.token_env),
                    opt(&s.token_file_name),
                    opt(&s.credential_file_name),
                    if s.token_prefix.is_empty() { "-" } else { &s.token_prefix },
                    s.enroll_methods.join(", "),
                    s.enroll_hint,
                    s.env_keys.join(", "),
                )
            };
            print(&out)
        }
    }
}

/// One line of `plugins list`: a plugin's label, or why it did not load.
struct Row {
    kind: String,
    origin: Origin,
    loaded: std::result::Result<String, String>,
}

fn list_json(rows: &[Row]) -> String {
    let items: Vec<_> = rows
        .iter()
        .map(|r| {
            let mut item = json!({
                "kind": r.kind, "source": r.origin.label(), "path": r.origin.path(), "wit_version": WIT_VERSION,
            });
            match &r.loaded {
                Ok(label) => item["label"] = json!(label),
                Err(error) => item["error"] = json!(error),
            }
            item
        })
        .collect();
    format!("{}\n", serde_json::Value::from(items))
}

fn list_table(rows: &[Row]) -> String {
    let mut out = format!("{:<12} {:<20} {:<8} {}\n", "KIND", "LABEL", "WIT", "SOURCE");
    for r in rows {
        match &r.loaded {
            Ok(label) => out += &format!("{:<12} {label:<20} {WIT_VERSION:<8} {}\n", r.kind, r.origin),
            Err(error) => {
                out += &format!("{:<12} {:<20} {:<8} {}\n  error: {error}\n", r.kind, "(broken)", "-", r.origin)
            }
        }
    }
    out
}

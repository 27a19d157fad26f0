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
            for warning in registry.shadow_warnings() {
                eprintln!("accounts: warning: {warning}");
            }
            let mut rows = Vec::new();
            for (kind, origin) in registry.known() {
                let plugin = ctx.plugin(&registry, &runtime, &kind)?;
                rows.push((kind, plugin.spec.label.clone(), origin));
            }
            print(&if json { list_json(&rows) } else { list_table(&rows) })
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

fn list_json(rows: &[(String, String, Origin)]) -> String {
    let items: Vec<_> = rows
        .iter()
        .map(|(kind, label, origin)| {
            json!({"kind": kind, "label": label, "source": origin.label(), "path": origin.path(), "wit_version": WIT_VERSION})
        })
        .collect();
    format!("{}\n", serde_json::Value::from(items))
}

fn list_table(rows: &[(String, String, Origin)]) -> String {
    let mut out = format!("{:<12} {:<20} {:<8} {}\n", "KIND", "LABEL", "WIT", "SOURCE");
    for (kind, label, origin) in rows {
        out += &format!("{kind:<12} {label:<20} {WIT_VERSION:<8} {origin}\n");
    }
    out
}

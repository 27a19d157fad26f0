//! `accounts status`: every account, its seats and holders, its wall, and
//! where its token comes from, masked. Never a token.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Context, print};
use crate::bounded;
use crate::error::Result;
use crate::holder;
use crate::report::{self, TokenInfo};
use crate::roster::{Account, TokenSource};
use crate::seats;
use crate::secret;
use crate::state::StateStore;
use crate::timefmt;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let roster = ctx.roster()?;
    let now = timefmt::now();
    let host = holder::host_name();
    let state = ctx.store()?.update(|state| {
        seats::prune(state, &host, now);
        Ok(state.clone())
    })?;
    let prefixes = token_prefixes(ctx, &roster);
    let none = Vec::new();
    let rows = report::rows(&roster, &state, now, |a| token_info(a, prefixes.get(&a.agent).unwrap_or(&none)));
    print(&if args.json {
        format!("{:#}\n", json!({"now": timefmt::format_instant(now), "accounts": rows}))
    } else {
        table(&rows)
    })
}

/// Each agent's declared token prefixes, to mask tokens as `prefix****`.
/// An agent whose plugin does not load gets none: fully masked.
fn token_prefixes(ctx: &Context, roster: &crate::roster::Roster) -> BTreeMap<String, Vec<String>> {
    let needs: std::collections::BTreeSet<&str> =
        roster.accounts.iter().filter(|a| a.token != TokenSource::None).map(|a| a.agent.as_str()).collect();
    if needs.is_empty() {
        return BTreeMap::new();
    }
    let registry = ctx.registry(Some(roster));
    let Ok(runtime) = ctx.runtime(Some(roster)) else { return BTreeMap::new() };
    needs
        .into_iter()
        .filter_map(|kind| {
            let plugin = ctx.plugin(&registry, &runtime, kind).ok()?;
            Some((kind.to_owned(), plugin.spec().token_prefixes.clone()))
        })
        .collect()
}

/// Where the token comes from, and the token masked (`prefix****`), or no
/// token when there is none or it cannot be read.
fn token_info(account: &Account, prefixes: &[String]) -> TokenInfo {
    let read = |raw: Option<String>| raw.map(|t| secret::mask(t.trim(), prefixes));
    match &account.token {
        TokenSource::None => TokenInfo { source: "none".into(), masked: None },
        TokenSource::File(path) => {
            let text = bounded::read_text(path, bounded::TOKEN_FILE_CAP).ok();
            TokenInfo { source: format!("file {}", path.display()), masked: read(text) }
        }
        TokenSource::Env(var) => TokenInfo { source: format!("env {var}"), masked: read(std::env::var(var).ok()) },
    }
}

fn table(rows: &[serde_json::Value]) -> String {
    let mut out = format!("{:<16} {:<10} {:<6} {:<44} {}\n", "ACCOUNT", "AGENT", "SEATS", "STATE", "TOKEN");
    for r in rows {
        let state = if r["disabled"] == true {
            "disabled".to_owned()
        } else if let Some(w) = r["wall"].as_object() {
            format!(
                "walled until {} (in {})",
                w["until"].as_str().unwrap_or(""),
                timefmt::format_span(w["in_seconds"].as_i64().unwrap_or(0))
            )
        } else {
            "ok".to_owned()
        };
        let token = match r["token"].as_str() {
            Some(masked) => format!("{} ({masked})", r["token_source"].as_str().unwrap_or("")),
            None => r["token_source"].as_str().unwrap_or("").to_owned(),
        };
        out += &format!(
            "{:<16} {:<10} {:<6} {:<44} {}\n",
            r["name"].as_str().unwrap_or(""),
            r["agent"].as_str().unwrap_or(""),
            format!("{}/{}", r["used"], r["seats"]),
            state,
            token
        );
        for l in r["leases"].as_array().into_iter().flatten() {
            out += &format!(
                "  {} pid {}@{} until {}\n",
                l["worker"].as_str().unwrap_or(""),
                l["pid"],
                l["host"].as_str().unwrap_or(""),
                l["expires_at"].as_str().unwrap_or("")
            );
        }
    }
    out
}

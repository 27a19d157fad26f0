//! `accounts status`: every account, its seats and holders, its wall, and
//! where its token comes from, masked. Never a token.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Context, print};
use crate::error::Result;
use crate::holder;
use crate::roster::{Account, TokenSource};
use crate::seats;
use crate::secret;
use crate::state::{State, StateStore};
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
    let rows: Vec<serde_json::Value> = roster
        .accounts
        .iter()
        .map(|a| account_json(a, &state, now, prefixes.get(&a.agent).map(String::as_str)))
        .collect();
    print(&if args.json {
        format!("{:#}\n", json!({"now": timefmt::format_instant(now), "accounts": rows}))
    } else {
        table(&rows)
    })
}

/// Each agent's declared token prefix, to mask tokens as `prefix****`. An
/// agent whose plugin does not load gets no prefix: fully masked.
fn token_prefixes(ctx: &Context, roster: &crate::roster::Roster) -> BTreeMap<String, String> {
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
            Some((kind.to_owned(), plugin.spec.token_prefix.clone()))
        })
        .collect()
}

fn account_json(account: &Account, state: &State, now: i64, prefix: Option<&str>) -> serde_json::Value {
    let leases: Vec<_> = state
        .leases
        .iter()
        .filter(|l| l.account == account.name)
        .map(|l| {
            json!({
                "worker": l.worker,
                "host": l.host,
                "pid": l.holder.pid,
                "acquired_at": timefmt::format_instant(l.acquired_at),
                "expires_at": timefmt::format_instant(l.expires_at),
            })
        })
        .collect();
    let wall = state.wall_of(&account.name).map(|w| {
        json!({
            "until": timefmt::format_instant(w.until),
            "in_seconds": w.until - now,
            "since": timefmt::format_instant(w.since),
            "reason": w.reason,
        })
    });
    let (source, masked) = token_source(account, prefix.unwrap_or(""));
    json!({
        "name": account.name,
        "agent": account.agent,
        "config_dir": account.config_dir,
        "seats": account.seats,
        "used": leases.len(),
        "priority": account.priority,
        "disabled": account.disabled,
        "wall": wall,
        "leases": leases,
        "token_source": source,
        "token": masked,
    })
}

/// Where the token comes from, and the token masked (`prefix****`), or
/// `None` when there is none or it cannot be read.
fn token_source(account: &Account, prefix: &str) -> (String, Option<String>) {
    match &account.token {
        TokenSource::None => ("none".into(), None),
        TokenSource::File(path) => (
            format!("file {}", path.display()),
            std::fs::read_to_string(path).ok().map(|t| secret::mask(t.trim(), prefix)),
        ),
        TokenSource::Env(var) => {
            (format!("env {var}"), std::env::var(var).ok().map(|t| secret::mask(t.trim(), prefix)))
        }
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

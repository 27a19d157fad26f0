//! `accounts status`: every account, its seats and holders, its wall, and
//! its credential health: its own login (live, expired, missing; whose it
//! is) and its static token's source, masked. Never a token.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Context, health, print};
use crate::credentials::{self, Health};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::report::{self, TokenInfo};
use crate::roster::Account;
use crate::timefmt;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let (state, now) = ctx.current_state(&roster)?;
    let host = ctx.plugin_host(Some(&roster))?;
    let plugins = health::Plugins::load(&roster, &host);
    let healths = health::all(&roster, &plugins, now);
    let by_name: BTreeMap<&str, &Health> = roster.accounts.iter().map(|a| a.name.as_str()).zip(&healths).collect();
    let token_of = |a: &Account| {
        let h = by_name[a.name.as_str()];
        TokenInfo { source: h.token_source.clone().unwrap_or_else(|| "none".into()), masked: h.token_masked.clone() }
    };
    let mut rows = report::rows(&roster, &state, now, token_of);
    for ((row, account), health) in rows.iter_mut().zip(&roster.accounts).zip(&healths) {
        let can_login = plugins.get(&account.agent).is_some_and(|p| p.spec().login.is_some());
        row["credential"] = credentials::to_json(health);
        row["credential"]["summary"] = credentials::describe(&account.name, health, can_login, now).into();
    }
    print(&if args.json {
        format!("{:#}\n", json!({"now": timefmt::format_instant(now), "accounts": rows}))
    } else {
        table(&rows)
    })
}

fn table(rows: &[serde_json::Value]) -> String {
    let mut out = format!("{:<16} {:<10} {:<6} {:<44} {}\n", "ACCOUNT", "AGENT", "SEATS", "STATE", "CREDENTIALS");
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
        out += &format!(
            "{:<16} {:<10} {:<6} {:<44} {}\n",
            r["name"].as_str().unwrap_or(""),
            r["agent"].as_str().unwrap_or(""),
            format!("{}/{}", r["used"], r["seats"]),
            state,
            r["credential"]["summary"].as_str().unwrap_or("")
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

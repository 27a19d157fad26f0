//! `accounts status`: every account, its seats and holders, its wall (and
//! soft wall), its usage windows, and its credential health: its own login
//! (live, expired, missing; whose it is) and its static token's source,
//! masked. Never a token.
//!
//! It writes only what it learned from the plugins (whose login each
//! account is, the usage readings in the config dirs), never prunes: a
//! command that reads (whose clock may be off) leaves leases and walls to
//! those that change them.

use std::collections::BTreeMap;

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use serde_json::json;

use std::io::IsTerminal;

use super::{Context, health, print};
use crate::credentials::{self, Health};
use crate::error::{Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::plugin::UsageReading;
use crate::report::{self, TokenInfo};
use crate::roster::Account;
use crate::state::StateStore;
use crate::timefmt;
use crate::{learn, seats, usage};

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON
    #[arg(long, conflicts_with = "watch")]
    json: bool,
    /// Redraw the table on the terminal every --interval until Ctrl-C, with
    /// a countdown to the next wall's reset
    #[arg(long)]
    watch: bool,
    /// How often --watch redraws
    #[arg(long, default_value = "2s", value_name = "DURATION", requires = "watch")]
    interval: String,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    if args.watch {
        return watch(ctx, &args.interval);
    }
    let rows = snapshot(ctx)?;
    print(&if args.json {
        format!("{:#}\n", json!({"now": timefmt::format_instant(rows.now), "accounts": rows.accounts}))
    } else {
        table(&rows.accounts, terminal_width())
    })
}

/// Every account's row at one moment of the store's clock.
struct Rows {
    accounts: Vec<serde_json::Value>,
    now: i64,
}

/// What `status` shows, gathered once: the roster, the state as it stands,
/// each account's credential health and usage readings (kept, as learned).
fn snapshot(ctx: &Context) -> Result<Rows> {
    let roster = ctx.roster()?;
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let host = ctx.plugin_host(Some(&roster))?;
    let plugins = health::Plugins::load(&roster, &host);
    let healths = health::all(&roster, &plugins, now);
    let logins: Vec<(String, learn::Login)> =
        roster.accounts.iter().zip(&healths).map(|(a, h)| (a.name.clone(), health::login_of(h))).collect();
    let readings: Vec<(&str, Vec<UsageReading>)> = roster
        .accounts
        .iter()
        .filter_map(|a| Some((a.name.as_str(), learn::config_usage(plugins.get(&a.agent)?, a, now).ok()?)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    let this_host = holder::host_name();
    let state = store.change(|state| {
        learn::keep_logins(state, &roster, &logins, now);
        for (account, found) in &readings {
            usage::record(state, account, found, &this_host, now);
        }
        let mut seen = state.clone();
        seats::prune(&mut seen, &this_host, now);
        seen
    })?;
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
    Ok(Rows { accounts: rows, now })
}

/// `status --watch`: the table redrawn every `interval` on the terminal,
/// under a line with the time and a countdown to the next reset. Everything
/// is read afresh each time (an account added meanwhile shows up); an error
/// is shown in place of the table and the watch goes on.
fn watch(ctx: &Context, interval: &str) -> Result<ExitStatus> {
    let every = timefmt::parse_duration_ms(interval).map_err(|e| usage(format!("--interval: {e}")))?;
    if !std::io::stdout().is_terminal() {
        return Err(usage("--watch redraws a terminal, and stdout is not one; use status (or --json) in a pipe"));
    }
    let every = std::time::Duration::from_millis(every.max(100));
    loop {
        let body = match snapshot(ctx) {
            Ok(rows) => watch_header(&rows, interval) + &table(&rows.accounts, terminal_width()),
            Err(e) => format!("accounts status --watch: {e}\n"),
        };
        // Home and clear, then the frame: one write, so it does not flicker.
        print(&format!("\x1b[H\x1b[2J{body}"))?;
        std::thread::sleep(every);
    }
}

/// `every 2s · 14:03:22 CET · next reset: work-2 in 41m08s`.
fn watch_header(rows: &Rows, interval: &str) -> String {
    let clock = timefmt::format_local_clock(rows.now);
    let next = rows
        .accounts
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?, r["wall"]["in_seconds"].as_i64()?)))
        .min_by_key(|(_, left)| *left)
        .map(|(name, left)| format!(" \u{b7} next reset: {name} in {}", timefmt::format_countdown(left)))
        .unwrap_or_default();
    format!("every {interval} \u{b7} {clock}{next}\n\n")
}

/// The table: one row per account, its usage windows and leases as more
/// lines of its STATE cell. Sized to the terminal (`width`), wrapping the
/// widest cells; unlimited when stdout is not a terminal (a pipe, a file)
/// so every row stays on its own first line for `grep`.
fn table(rows: &[serde_json::Value], width: Option<u16>) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    match width {
        Some(width) => table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    table.set_header(["ACCOUNT", "AGENT", "SEATS", "STATE", "CREDENTIALS"]);
    for r in rows {
        let mut state = vec![state_of(r)];
        let windows: Vec<String> = r["usage"].as_array().into_iter().flatten().map(window_line).collect();
        if !windows.is_empty() {
            state.push(format!("usage {}", windows.join(", ")));
        }
        for l in r["leases"].as_array().into_iter().flatten() {
            let until = l["expires_at"].as_str().unwrap_or("");
            let left = l["expires_in_seconds"].as_i64();
            let until = match (timefmt::parse_instant(until), left) {
                (Ok(at), Some(left)) => timefmt::format_local_short(at, at - left),
                _ => until.to_owned(),
            };
            state.push(format!(
                "{} pid {}@{} until {until}",
                l["worker"].as_str().unwrap_or(""),
                l["pid"],
                l["host"].as_str().unwrap_or("")
            ));
        }
        table.add_row([
            r["name"].as_str().unwrap_or("").to_owned(),
            r["agent"].as_str().unwrap_or("").to_owned(),
            format!("{}/{}", r["used"], r["seats"]),
            state.join("\n"),
            r["credential"]["summary"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    // A name, a kind and a seat count are never broken: the state and the
    // credential line wrap instead.
    // A wrapped cell keeps at least a word's width, past the terminal's
    // edge if it must.
    let wrapping = if width.is_some() {
        ColumnConstraint::LowerBoundary(Width::Fixed(16))
    } else {
        ColumnConstraint::ContentWidth
    };
    for (column, constraint) in table.column_iter_mut().zip([
        ColumnConstraint::ContentWidth,
        ColumnConstraint::ContentWidth,
        ColumnConstraint::ContentWidth,
        wrapping,
        wrapping,
    ]) {
        column.set_constraint(constraint);
    }
    let mut out = String::new();
    for line in table.lines() {
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// The STATE cell's first line: disabled, walled, soft-walled or ok.
fn state_of(r: &serde_json::Value) -> String {
    if r["disabled"] == true {
        "disabled".to_owned()
    } else if let Some(w) = r["wall"].as_object() {
        let until = w["until"].as_str().unwrap_or("");
        let left = w["in_seconds"].as_i64().unwrap_or(0);
        match timefmt::parse_instant(until) {
            Ok(at) => format!("walled until {}", timefmt::format_local_until(at, at - left)),
            Err(_) => format!("walled until {until} (in {})", timefmt::format_span(left)),
        }
    } else if let Some(w) = r["soft_wall"].as_object() {
        format!(
            "soft wall: {} at {} for {} (wall_at {})",
            w["window"].as_str().unwrap_or(""),
            percent(&w["used_percent"]),
            timefmt::format_span(w["in_seconds"].as_i64().unwrap_or(0)),
            percent(&w["wall_at_percent"])
        )
    } else {
        "ok".to_owned()
    }
}

/// The terminal's width when stdout is one.
fn terminal_width() -> Option<u16> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout).ok().map(|size| size.ws_col).filter(|&cols| cols > 0)
}

/// `7d 91% · resets Sat 10:00`, the reset on the user's own clock.
fn window_line(reading: &serde_json::Value) -> String {
    let mut line = format!("{} {}", reading["window"].as_str().unwrap_or(""), percent(&reading["used_percent"]));
    if let (Some(at), Some(left)) = (reading["resets_at"].as_str(), reading["resets_in_seconds"].as_i64()) {
        let at =
            timefmt::parse_instant(at).map_or_else(|_| at.to_owned(), |t| timefmt::format_local_short(t, t - left));
        line += &format!(" \u{b7} resets {at}");
    }
    line
}

/// `96%`, `99.5%`: a percentage to its tenth, without a trailing `.0`.
fn percent(value: &serde_json::Value) -> String {
    let p = value.as_f64().unwrap_or(0.0);
    if p.fract() == 0.0 { format!("{p:.0}%") } else { format!("{p:.1}%") }
}

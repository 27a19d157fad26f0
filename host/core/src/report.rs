//! The status report: every account with its seats, holders, wall and token
//! source (masked). Pure: roster, state and `now` in, JSON rows out; the
//! caller reads files and prints.

use std::collections::BTreeMap;

use serde_json::json;

use crate::roster::{Account, Roster};
use crate::state::{Lease, State, WallRecord};
use crate::timefmt;
use crate::untrusted::Untrusted;

/// Where an account's token comes from (`file PATH`, `env VAR`, `none`) and
/// the token masked to its public prefix, when it could be read.
pub struct TokenInfo {
    pub source: String,
    pub masked: Option<String>,
}

/// One JSON object per roster account, in roster order. `token_of` describes
/// each account's token (the caller reads it). Leases are grouped once, so
/// the report is linear in accounts + leases.
pub fn rows(
    roster: &Roster,
    state: &State,
    now: i64,
    token_of: impl Fn(&Account) -> TokenInfo,
) -> Vec<serde_json::Value> {
    let mut leases: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
    for lease in &state.leases {
        leases.entry(lease.account.as_str()).or_default().push(lease);
    }
    let walls: BTreeMap<&str, _> = state.walls.iter().map(|w| (w.account.as_str(), w)).collect();
    roster
        .accounts
        .iter()
        .map(|a| {
            let held = leases.get(a.name.as_str()).map_or(&[][..], Vec::as_slice);
            account_json(a, held, walls.get(a.name.as_str()).copied(), now, token_of(a))
        })
        .collect()
}

fn account_json(
    account: &Account,
    held: &[&Lease],
    wall: Option<&WallRecord>,
    now: i64,
    token: TokenInfo,
) -> serde_json::Value {
    let leases: Vec<_> = held
        .iter()
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
    let wall = wall.map(|w| {
        json!({
            "until": timefmt::format_instant(w.until),
            "in_seconds": w.until - now,
            "since": timefmt::format_instant(w.since),
            // Stored escaped; escaped again (a no-op) for state written by
            // older versions.
            "reason": w.reason.as_deref().map(Untrusted::new),
        })
    });
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
        "token_source": token.source,
        "token": token.masked,
    })
}

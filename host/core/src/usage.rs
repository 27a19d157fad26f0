//! What the agents report about each account's quota, as seat choice
//! needs it: whose login an account is (accounts of one login share one
//! quota: its walls, soft walls, readings and seats), each account's live
//! usage readings (its twins' included), its soft wall (a window past its
//! `wall_at`), and its headroom. Pure: the state and `now` in.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::plugin::UsageReading;
use crate::roster::Account;
use crate::state::{IdentityRecord, State, UsageRecord};

/// A reading unchanged in value is written again only this long after it
/// was last seen (so a stream of identical events costs no write each).
const REFRESH_UNCHANGED_SECS: i64 = 600;

/// A fraction (0.0–1.0) as thousandths, rounded.
pub fn permille(used: f64) -> u32 {
    (used.clamp(0.0, 1.0) * 1000.0).round() as u32
}

/// The key a login is kept under: a digest of the agent kind and the
/// identity the plugin gave (an e-mail, an account id), so the state and a
/// fleet's database never hold the identity itself, and the same e-mail on
/// two agents is two logins.
pub fn login_key(kind: &str, identity: &str) -> String {
    let digest = Sha256::new().chain_update(kind).chain_update([0]).chain_update(identity).finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Keep what the plugin said of `account`'s login: its key, or that it
/// named none. Returns whether anything changed.
pub fn learn_identity(state: &mut State, account: &Account, identity: Option<&str>, now: i64) -> bool {
    let login = identity.map(|id| login_key(&account.agent, id));
    match state.identities.get(&account.name) {
        Some(known) if known.login == login => false,
        _ => {
            state.identities.insert(account.name.clone(), IdentityRecord { login, seen_at: now });
            true
        }
    }
}

/// Record readings of `account` seen at `now` on `host`: a window's newer
/// reading replaces its older one. Returns whether anything changed.
pub fn record(state: &mut State, account: &str, readings: &[UsageReading], host: &str, now: i64) -> bool {
    let mut changed = false;
    for reading in readings {
        let record = UsageRecord {
            account: account.to_owned(),
            window: reading.window.clone(),
            used_permille: permille(reading.used),
            resets_at: reading.resets_at,
            seen_at: now,
            host: host.to_owned(),
        };
        let existing = state.usage.iter_mut().find(|u| u.account == account && u.window == reading.window);
        match existing {
            Some(old) if old.seen_at > now => {}
            Some(old)
                if old.used_permille == record.used_permille
                    && old.resets_at == record.resets_at
                    && now - old.seen_at < REFRESH_UNCHANGED_SECS => {}
            Some(old) => {
                *old = record;
                changed = true;
            }
            None => {
                state.usage.push(record);
                changed = true;
            }
        }
    }
    changed
}

/// One account's quota as its login's readings tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quota {
    /// The index (into the accounts given) of the first account of the
    /// same login: accounts with the same `group` share a quota.
    pub group: usize,
    /// The login's live readings, newest per window, by window name.
    pub readings: Vec<UsageRecord>,
    /// The window past the account's `wall_at`, and until when.
    pub soft_wall: Option<SoftWall>,
    /// Thousandths left in the login's fullest window; `None` without
    /// readings.
    pub headroom: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftWall {
    pub window: String,
    pub used_permille: u32,
    pub until: i64,
}

/// Each account's [`Quota`], in the order given.
pub fn quotas(accounts: &[&Account], state: &State, now: i64) -> Vec<Quota> {
    let groups = groups(accounts, state);
    let mut by_group: BTreeMap<usize, BTreeMap<&str, &UsageRecord>> = BTreeMap::new();
    let index: BTreeMap<&str, usize> = accounts.iter().enumerate().map(|(i, a)| (a.name.as_str(), i)).collect();
    for reading in state.usage.iter().filter(|u| u.is_live(now)) {
        let Some(&i) = index.get(reading.account.as_str()) else { continue };
        let windows = by_group.entry(groups[i]).or_default();
        let newer = windows.get(reading.window.as_str()).is_none_or(|known| reading.seen_at > known.seen_at);
        if newer {
            windows.insert(&reading.window, reading);
        }
    }
    accounts
        .iter()
        .zip(&groups)
        .map(|(account, &group)| {
            let readings: Vec<UsageRecord> =
                by_group.get(&group).map(|w| w.values().map(|r| (*r).clone()).collect()).unwrap_or_default();
            let soft_wall =
                account.wall_at.and_then(|mark| {
                    readings.iter().filter(|r| r.used_permille >= mark).max_by_key(|r| r.holds_until()).map(|r| {
                        SoftWall { window: r.window.clone(), used_permille: r.used_permille, until: r.holds_until() }
                    })
                });
            let headroom = readings.iter().map(|r| r.used_permille).max().map(|used| 1000u32.saturating_sub(used));
            Quota { group, readings, soft_wall, headroom }
        })
        .collect()
}

/// For each account, the index of the first account with its login; an
/// account whose login is unknown is a group of its own.
pub fn groups(accounts: &[&Account], state: &State) -> Vec<usize> {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    accounts
        .iter()
        .enumerate()
        .map(|(i, account)| match state.identities.get(&account.name).and_then(|r| r.login.as_deref()) {
            Some(login) => *first.entry(login).or_insert(i),
            None => i,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, wall_at: Option<u32>) -> Account {
        let roster = crate::roster::Roster::parse(
            std::path::Path::new("/r/roster.toml"),
            &format!("[[account]]\nname = \"{name}\"\nagent = \"k\"\nconfig_dir = \"/c/{name}\"\n"),
            None,
        )
        .unwrap();
        Account { wall_at, ..roster.accounts[0].clone() }
    }

    fn reading(window: &str, used: f64, resets_at: Option<i64>) -> UsageReading {
        UsageReading { window: window.into(), used, resets_at }
    }

    #[test]
    fn a_newer_reading_replaces_an_older_one_and_repeats_cost_no_write() {
        let mut state = State::default();
        assert!(record(&mut state, "a", &[reading("7d", 0.5, Some(900))], "h", 10));
        assert!(!record(&mut state, "a", &[reading("7d", 0.5, Some(900))], "h", 20), "same value, seen again soon");
        assert!(record(&mut state, "a", &[reading("7d", 0.6, Some(900))], "h", 30));
        assert!(!record(&mut state, "a", &[reading("7d", 0.1, Some(900))], "h", 25), "older than what is kept");
        assert_eq!(state.usage.len(), 1);
        assert_eq!((state.usage[0].used_permille, state.usage[0].seen_at), (600, 30));
        let prune = |state: &mut State, now| state.prune(now, "h", |_| true);
        prune(&mut state, 900);
        assert!(state.usage.is_empty(), "its reset passed");
        record(&mut state, "a", &[reading("5h", 0.2, None)], "h", 1_000);
        prune(&mut state, 1_000 + UsageRecord::WITHOUT_RESET_SECS - 1);
        assert_eq!(state.usage.len(), 1);
        prune(&mut state, 1_000 + UsageRecord::WITHOUT_RESET_SECS);
        assert!(state.usage.is_empty(), "a reading without a reset fades");
    }

    #[test]
    fn twins_share_readings_and_their_soft_wall() {
        let (a, b, c) = (account("a", Some(950)), account("b", Some(950)), account("c", Some(950)));
        let mut state = State::default();
        for (acc, id) in [(&a, Some("x@y")), (&b, Some("x@y")), (&c, None)] {
            assert!(learn_identity(&mut state, acc, id, 1));
        }
        assert!(!learn_identity(&mut state, &a, Some("x@y"), 2), "nothing new");
        record(&mut state, "a", &[reading("7d", 0.96, Some(500)), reading("5h", 0.1, Some(200))], "h", 10);
        let q = quotas(&[&a, &b, &c], &state, 100);
        assert_eq!(q[0].group, 0);
        assert_eq!(q[1].group, 0, "b has a's login");
        assert_eq!(q[2].group, 2);
        let wall = SoftWall { window: "7d".into(), used_permille: 960, until: 500 };
        assert_eq!(q[1].soft_wall, Some(wall));
        assert_eq!(q[1].headroom, Some(40));
        assert_eq!(q[2], Quota { group: 2, ..Quota::default() });
        let q = quotas(&[&a], &state, 300);
        assert_eq!(q[0].readings.len(), 1, "the 5h window reset at 200");
        assert_eq!(q[0].soft_wall.as_ref().map(|w| w.until), Some(500));
        let q = quotas(&[&a], &state, 500);
        assert_eq!((q[0].soft_wall.clone(), q[0].headroom), (None, None), "both reset");
        assert_ne!(login_key("k", "x@y"), login_key("other", "x@y"), "one e-mail on two agents is two logins");
    }
}

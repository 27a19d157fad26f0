//! The state: who holds which seat, which accounts are
//! walled until when. Pure data plus pure edits; `now` is always passed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::holder::Holder;

/// Everything the host keeps between calls. How it is stored (which file,
/// which format) is the backend's business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub leases: Vec<Lease>,
    pub walls: Vec<WallRecord>,
    /// When each account was last leased, for the least-recently-leased rule.
    pub last_leased: BTreeMap<String, i64>,
    /// What the agents last reported of each account's usage windows.
    pub usage: Vec<UsageRecord>,
    /// Whose login each account is, as its plugin last said, by account.
    pub identities: BTreeMap<String, IdentityRecord>,
}

/// One account's usage window as an agent last reported it. Never a
/// secret: a window name, numbers, a host name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    pub account: String,
    /// `5h`, `7d`: the plugin's short name.
    pub window: String,
    /// Used, in thousandths of the window (0–1000).
    pub used_permille: u32,
    pub resets_at: Option<i64>,
    /// When, and on which host, it was seen.
    pub seen_at: i64,
    pub host: String,
}

impl UsageRecord {
    /// How long a reading without a reset is believed: an agent that gives
    /// no reset says nothing of when the window ends, so the reading fades.
    pub const WITHOUT_RESET_SECS: i64 = 3_600;

    /// Until when the reading holds: its reset, else its fading.
    pub fn holds_until(&self) -> i64 {
        self.resets_at.unwrap_or(self.seen_at.saturating_add(Self::WITHOUT_RESET_SECS))
    }

    pub fn is_live(&self, now: i64) -> bool {
        self.holds_until() > now
    }
}

/// Whose login an account is: a digest of its agent kind and identity
/// (never the identity itself), or `None` when the plugin named none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRecord {
    pub login: Option<String>,
    pub seen_at: i64,
}

/// One worker's seat on one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    pub account: String,
    pub worker: String,
    pub host: String,
    pub holder: Holder,
    pub acquired_at: i64,
    pub expires_at: i64,
}

/// An account that hit its usage limit, skipped until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallRecord {
    pub account: String,
    pub until: i64,
    pub since: i64,
    #[serde(default)]
    pub reason: Option<String>,
}

impl State {
    /// Drop leases that expired or whose holder is gone, walls that
    /// lifted and readings that say nothing any more. `holder_alive` is
    /// asked only about leases of `this_host`.
    pub fn prune(&mut self, now: i64, this_host: &str, holder_alive: impl Fn(&Holder) -> bool) {
        self.leases.retain(|l| l.expires_at > now && (l.host != this_host || holder_alive(&l.holder)));
        self.walls.retain(|w| w.until > now);
        self.usage.retain(|u| u.is_live(now));
    }

    pub fn lease_of(&self, worker: &str) -> Option<&Lease> {
        self.leases.iter().find(|l| l.worker == worker)
    }

    pub fn wall_of(&self, account: &str) -> Option<&WallRecord> {
        self.walls.iter().find(|w| w.account == account)
    }

    /// Give `lease.worker` this lease, replacing any lease it had.
    pub fn put_lease(&mut self, lease: Lease) {
        self.last_leased.insert(lease.account.clone(), lease.acquired_at);
        self.leases.retain(|l| l.worker != lease.worker);
        self.leases.push(lease);
    }

    /// Remove the leases `matches` selects; returns how many.
    pub fn release(&mut self, matches: impl Fn(&Lease) -> bool) -> usize {
        let before = self.leases.len();
        self.leases.retain(|l| !matches(l));
        before - self.leases.len()
    }

    /// Wall `account` until `until`, replacing an earlier wall.
    pub fn put_wall(&mut self, wall: WallRecord) {
        self.walls.retain(|w| w.account != wall.account);
        self.walls.push(wall);
    }

    /// Undo the change that turned `before` into `after`, where nobody
    /// changed the same lease or wall since: for a change that could not
    /// be published after it was committed.
    pub fn revert(&mut self, before: &State, after: &State) {
        let workers: std::collections::BTreeSet<&str> =
            before.leases.iter().chain(&after.leases).map(|l| l.worker.as_str()).collect();
        for worker in workers {
            if self.lease_of(worker) == after.lease_of(worker) && before.lease_of(worker) != after.lease_of(worker) {
                self.leases.retain(|l| l.worker != worker);
                self.leases.extend(before.lease_of(worker).cloned());
            }
        }
        let accounts: std::collections::BTreeSet<&str> =
            before.walls.iter().chain(&after.walls).map(|w| w.account.as_str()).collect();
        for account in accounts {
            if self.wall_of(account) == after.wall_of(account) && before.wall_of(account) != after.wall_of(account) {
                self.walls.retain(|w| w.account != account);
                self.walls.extend(before.wall_of(account).cloned());
            }
        }
    }

    pub fn remove_wall(&mut self, account: &str) -> bool {
        let before = self.walls.len();
        self.walls.retain(|w| w.account != account);
        before != self.walls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(worker: &str, account: &str, host: &str, pid: u32, expires_at: i64) -> Lease {
        Lease {
            account: account.into(),
            worker: worker.into(),
            host: host.into(),
            holder: Holder { pid, start: Some(1) },
            acquired_at: 0,
            expires_at,
        }
    }

    #[test]
    fn prune_drops_expired_dead_and_lifted() {
        let mut s = State {
            leases: vec![
                lease("live", "a", "me", 1, 100),
                lease("expired", "a", "me", 1, 50),
                lease("dead", "a", "me", 2, 100),
                lease("other-host", "a", "them", 2, 100),
            ],
            walls: vec![
                WallRecord { account: "a".into(), until: 60, since: 0, reason: None },
                WallRecord { account: "b".into(), until: 40, since: 0, reason: None },
            ],
            ..State::default()
        };
        s.prune(50, "me", |h| h.pid == 1);
        let workers: Vec<&str> = s.leases.iter().map(|l| l.worker.as_str()).collect();
        assert_eq!(workers, ["live", "other-host"], "another host's holder cannot be checked here");
        assert_eq!(s.walls.len(), 1);
        assert_eq!(s.walls[0].account, "a");
    }

    #[test]
    fn revert_undoes_only_what_nobody_changed_since() {
        let before = State { leases: vec![lease("kept", "a", "me", 1, 9)], ..State::default() };
        let mut after = before.clone();
        after.put_lease(lease("new", "a", "me", 1, 9));
        after.put_lease(lease("kept", "b", "me", 1, 9));
        after.put_wall(WallRecord { account: "a".into(), until: 5, since: 0, reason: None });
        let mut now = after.clone();
        now.put_lease(lease("other", "c", "me", 1, 9));
        now.put_wall(WallRecord { account: "a".into(), until: 7, since: 0, reason: None });
        now.revert(&before, &after);
        let mut workers: Vec<(&str, &str)> =
            now.leases.iter().map(|l| (l.worker.as_str(), l.account.as_str())).collect();
        workers.sort();
        assert_eq!(workers, [("kept", "a"), ("other", "c")]);
        assert_eq!(now.wall_of("a").unwrap().until, 7, "changed since: kept");
    }

    #[test]
    fn one_lease_per_worker() {
        let mut s = State::default();
        s.put_lease(lease("w", "a", "me", 1, 9));
        s.put_lease(lease("w", "b", "me", 1, 9));
        assert_eq!(s.leases.len(), 1);
        assert_eq!(s.lease_of("w").unwrap().account, "b");
        assert_eq!(s.release(|l| l.account == "b"), 1);
    }
}

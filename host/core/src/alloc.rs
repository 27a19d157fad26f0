//! Seat choice. Pure: roster accounts, live leases, walls and `now` in; a
//! decision out. No files, no clock, no processes.
//!
//! Rules, in order:
//! 1. a worker keeps its own live lease while that account still serves
//!    (sticky);
//! 2. otherwise the serving account (enabled, not walled, a seat free) with the
//!    lowest load (leases ÷ seats), then the lowest `priority`, then the one
//!    leased least recently, then the name.
//!
//! Allocating N workers is N such picks in a row, done with a heap so 10,000
//! workers over 1,000 accounts stays cheap.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use serde::Serialize;

/// What allocation needs to know about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat<'a> {
    pub name: &'a str,
    pub seats: u32,
    pub priority: i64,
    pub disabled: bool,
    /// End of the account's wall, if it has one that is still up at `now`.
    pub walled_until: Option<i64>,
    /// Live leases on the account.
    pub used: u32,
    /// When the account was last leased (0 if never).
    pub last_leased: i64,
}

impl Seat<'_> {
    fn serving(&self) -> bool {
        !self.disabled && self.walled_until.is_none()
    }

    fn has_room(&self) -> bool {
        self.serving() && self.used < self.seats
    }
}

/// Why no seat could be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoSeat {
    pub agent: String,
    pub accounts: usize,
    pub disabled: usize,
    pub walled: usize,
    pub full: usize,
    /// Seats of the enabled accounts, walled ones included, and the leases
    /// on them.
    pub seats_total: u64,
    pub seats_used: u64,
    /// Of those, the seats and leases of accounts not walled: the ones a
    /// worker could get once a lease ends.
    pub open_total: u64,
    pub open_used: u64,
    /// The wall that lifts first: account and time.
    pub first_reset: Option<(String, i64)>,
}

impl NoSeat {
    pub fn from_seats(agent: &str, seats: &[Seat<'_>]) -> NoSeat {
        let enabled = seats.iter().filter(|s| !s.disabled);
        NoSeat {
            agent: agent.to_owned(),
            accounts: seats.len(),
            disabled: seats.iter().filter(|s| s.disabled).count(),
            walled: enabled.clone().filter(|s| s.walled_until.is_some()).count(),
            full: seats.iter().filter(|s| s.serving() && s.used >= s.seats).count(),
            seats_total: enabled.clone().map(|s| u64::from(s.seats)).sum(),
            seats_used: enabled.clone().map(|s| u64::from(s.used)).sum(),
            open_total: seats.iter().filter(|s| s.serving()).map(|s| u64::from(s.seats)).sum(),
            open_used: seats.iter().filter(|s| s.serving()).map(|s| u64::from(s.used)).sum(),
            first_reset: enabled
                .filter_map(|s| s.walled_until.map(|t| (s.name.to_owned(), t)))
                .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0))),
        }
    }

    /// `walled`, `full`, `disabled`, `mixed` or `none` (no accounts at all).
    pub fn reason(&self) -> &'static str {
        let enabled = self.accounts - self.disabled;
        match () {
            _ if self.accounts == 0 => "none",
            _ if enabled == 0 => "disabled",
            _ if self.walled == enabled => "walled",
            _ if self.full == enabled => "full",
            _ => "mixed",
        }
    }

    /// One line for stderr, with times rendered by `fmt_time(epoch)` and
    /// `fmt_in(seconds)`.
    pub fn message(&self, now: i64, fmt_time: impl Fn(i64) -> String, fmt_in: impl Fn(i64) -> String) -> String {
        let agent = &self.agent;
        let reset = self
            .first_reset
            .as_ref()
            .map(|(name, at)| format!("first reset: {name} at {} (in {})", fmt_time(*at), fmt_in(at - now)));
        let disabled_note =
            if self.disabled > 0 { format!(" ({} more disabled)", self.disabled) } else { String::new() };
        let enabled = self.accounts - self.disabled;
        match self.reason() {
            "none" => format!("no {agent} accounts in the roster; add an [[account]] with agent = \"{agent}\""),
            "disabled" => format!(
                "all {} {agent} accounts are disabled; set disabled = false on one in the roster",
                self.accounts
            ),
            "walled" => {
                format!("all {enabled} {agent} accounts are walled{disabled_note}; {}", reset.unwrap_or_default())
            }
            "full" => format!(
                "all {enabled} {agent} accounts are full ({} of {} seats in use){disabled_note}; a seat frees when its worker exits or its lease expires",
                self.open_used, self.open_total
            ),
            _ => format!(
                "no free {agent} seat: {} accounts full ({} of {} seats in use), {} walled{disabled_note}; {}",
                self.full,
                self.open_used,
                self.open_total,
                self.walled,
                reset.unwrap_or_default()
            ),
        }
    }
}

/// The order of preference between two accounts with room: lower load,
/// then lower priority, then least recently leased, then name.
fn better(a: &Seat<'_>, b: &Seat<'_>) -> Ordering {
    // used/seats compared exactly by cross-multiplying.
    let load_a = u64::from(a.used) * u64::from(b.seats);
    let load_b = u64::from(b.used) * u64::from(a.seats);
    load_a
        .cmp(&load_b)
        .then(a.priority.cmp(&b.priority))
        .then(a.last_leased.cmp(&b.last_leased))
        .then_with(|| a.name.cmp(b.name))
}

/// Pick a seat for one worker. `current` is the account of the worker's own
/// live lease, if any. Returns the index into `seats`.
pub fn pick(seats: &[Seat<'_>], current: Option<&str>) -> Option<usize> {
    if let Some(current) = current
        && let Some(i) = seats.iter().position(|s| s.name == current && s.serving())
    {
        return Some(i);
    }
    seats.iter().enumerate().filter(|(_, s)| s.has_room()).min_by(|(_, a), (_, b)| better(a, b)).map(|(i, _)| i)
}

/// Heap entry for [`allocate`]: an account with room, ordered so the best
/// account is the heap's maximum.
#[derive(Clone, Copy)]
struct Entry<'s, 'a> {
    seat: &'s Seat<'a>,
    used: u32,
    last_leased: i64,
    index: usize,
}

impl<'s, 'a> Entry<'s, 'a> {
    /// The seat as it stands after this entry's picks.
    fn current(&self) -> Seat<'a> {
        Seat { used: self.used, last_leased: self.last_leased, ..self.seat.clone() }
    }
}

impl PartialEq for Entry<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry<'_, '_> {}
impl PartialOrd for Entry<'_, '_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry<'_, '_> {
    fn cmp(&self, other: &Self) -> Ordering {
        better(&other.current(), &self.current())
    }
}

/// Allocate `workers` in order, each by the rules of [`pick`], as if picked
/// one after another at `now` (a picked account counts as just leased).
/// `current` maps a worker to its live lease's account. Returns the account
/// index per worker, or `None` where no seat was left.
pub fn allocate(seats: &[Seat<'_>], workers: &[&str], current: &BTreeMap<&str, &str>, now: i64) -> Vec<Option<usize>> {
    let mut heap: BinaryHeap<Entry<'_, '_>> = seats
        .iter()
        .enumerate()
        .filter(|(_, s)| s.has_room())
        .map(|(index, seat)| Entry { seat, used: seat.used, last_leased: seat.last_leased, index })
        .collect();
    workers
        .iter()
        .map(|worker| {
            let sticky = current.get(worker).and_then(|acc| seats.iter().position(|s| s.name == *acc && s.serving()));
            if sticky.is_some() {
                return sticky;
            }
            let mut entry = heap.pop()?;
            entry.used += 1;
            entry.last_leased = now;
            if entry.used < entry.seat.seats {
                heap.push(entry);
            }
            Some(entry.index)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seat(name: &str, seats: u32, used: u32) -> Seat<'_> {
        Seat { name, seats, priority: 0, disabled: false, walled_until: None, used, last_leased: 0 }
    }

    #[test]
    fn lowest_load_then_priority_then_recency_then_name() {
        let seats = [seat("a", 2, 1), seat("b", 4, 1), seat("c", 1, 0)];
        assert_eq!(pick(&seats, None), Some(2), "c is empty");
        let seats = [seat("a", 2, 1), seat("b", 4, 1)];
        assert_eq!(pick(&seats, None), Some(1), "1/4 < 1/2");
        let mut seats = [seat("a", 1, 0), seat("b", 1, 0)];
        seats[0].priority = 1;
        assert_eq!(pick(&seats, None), Some(1), "lower priority wins");
        seats[0].priority = 0;
        seats[0].last_leased = 10;
        assert_eq!(pick(&seats, None), Some(1), "least recently leased wins");
        seats[0].last_leased = 0;
        assert_eq!(pick(&seats, None), Some(0), "then the name");
    }

    #[test]
    fn sticky_unless_walled_or_disabled() {
        let mut seats = [seat("a", 1, 1), seat("b", 1, 0)];
        assert_eq!(pick(&seats, Some("a")), Some(0), "keeps its full account");
        seats[0].walled_until = Some(100);
        assert_eq!(pick(&seats, Some("a")), Some(1));
        seats[0].walled_until = None;
        seats[0].disabled = true;
        assert_eq!(pick(&seats, Some("a")), Some(1));
    }

    #[test]
    fn no_seat_reasons() {
        let mut seats = [seat("a", 1, 1), seat("b", 2, 2)];
        let full = NoSeat::from_seats("k", &seats);
        assert_eq!(pick(&seats, None), None);
        assert_eq!(full.reason(), "full");
        assert_eq!(
            full.message(0, |t| t.to_string(), |s| format!("{s}s")),
            "all 2 k accounts are full (3 of 3 seats in use); a seat frees when its worker exits or its lease expires"
        );
        seats[0].walled_until = Some(500);
        seats[1].walled_until = Some(300);
        let walled = NoSeat::from_seats("k", &seats);
        assert_eq!(walled.reason(), "walled");
        assert_eq!(walled.first_reset, Some(("b".into(), 300)));
        // The roster still has its 3 seats, all in use; none is open.
        assert_eq!((walled.seats_total, walled.seats_used, walled.open_total), (3, 3, 0));
        assert_eq!(
            walled.message(100, |t| format!("T{t}"), |s| format!("{s}s")),
            "all 2 k accounts are walled; first reset: b at T300 (in 200s)"
        );
        seats[1].walled_until = None;
        assert_eq!(NoSeat::from_seats("k", &seats).reason(), "mixed");
        seats[0].disabled = true;
        seats[1].disabled = true;
        assert_eq!(NoSeat::from_seats("k", &seats).reason(), "disabled");
        assert_eq!(NoSeat::from_seats("k", &[]).reason(), "none");
    }

    fn arb_seats() -> impl Strategy<Value = Vec<(u32, u32, i64, bool, bool, i64)>> {
        // (seats, used, priority, disabled, walled, last_leased)
        prop::collection::vec(
            (1u32..5, 0u32..5, -2i64..3, prop::bool::weighted(0.15), prop::bool::weighted(0.2), 0i64..4),
            0..12,
        )
    }

    fn build(names: &[String], raw: &[(u32, u32, i64, bool, bool, i64)]) -> Vec<Seat<'static>> {
        raw.iter()
            .zip(names)
            .map(|(&(seats, used, priority, disabled, walled, last), name)| Seat {
                name: Box::leak(name.clone().into_boxed_str()),
                seats,
                priority,
                disabled,
                walled_until: walled.then_some(1_000),
                used: used.min(seats),
                last_leased: last,
            })
            .collect()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("acct{i:02}")).collect()
    }

    /// N sequential picks, the reference `allocate` must match.
    fn sequential(seats: &[Seat<'_>], n: usize, now: i64) -> Vec<Option<usize>> {
        let mut seats = seats.to_vec();
        (0..n)
            .map(|_| {
                let i = pick(&seats, None)?;
                seats[i].used += 1;
                seats[i].last_leased = now;
                Some(i)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn never_over_seats_nor_walled_nor_disabled(raw in arb_seats(), n in 0usize..40) {
            let names = names(raw.len());
            let seats = build(&names, &raw);
            let workers: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
            let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
            let picks = allocate(&seats, &refs, &BTreeMap::new(), 10);
            let mut used: Vec<u32> = seats.iter().map(|s| s.used).collect();
            for i in picks.iter().flatten() {
                prop_assert!(!seats[*i].disabled && seats[*i].walled_until.is_none());
                used[*i] += 1;
            }
            for (s, u) in seats.iter().zip(&used) {
                prop_assert!(*u <= s.seats, "{} over its seats", s.name);
            }
            // Everyone who got nothing found every serving account full.
            if picks.iter().any(Option::is_none) {
                prop_assert!(seats.iter().zip(&used).all(|(s, u)| !s.has_room() || *u >= s.seats));
            }
        }

        #[test]
        fn allocate_equals_sequential_picks(raw in arb_seats(), n in 0usize..40) {
            let names = names(raw.len());
            let seats = build(&names, &raw);
            let workers: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
            let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
            prop_assert_eq!(allocate(&seats, &refs, &BTreeMap::new(), 10), sequential(&seats, n, 10));
        }

        #[test]
        fn sticky_when_still_serving(raw in arb_seats(), which in 0usize..12) {
            let names = names(raw.len());
            let seats = build(&names, &raw);
            prop_assume!(which < seats.len());
            let current = seats[which].name;
            let picked = pick(&seats, Some(current));
            if seats[which].serving() {
                prop_assert_eq!(picked, Some(which));
            } else {
                prop_assert_ne!(picked, Some(which));
            }
        }

        #[test]
        fn equal_seat_counts_stay_within_one_of_even(accounts in 1usize..20, seats_each in 1u32..6, n in 0usize..120) {
            let names = names(accounts);
            let raw: Vec<_> = (0..accounts).map(|_| (seats_each, 0, 0, false, false, 0)).collect();
            let seats = build(&names, &raw);
            let workers: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
            let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
            let mut used = vec![0u32; accounts];
            for i in allocate(&seats, &refs, &BTreeMap::new(), 1).into_iter().flatten() {
                used[i] += 1;
            }
            let (min, max) = (used.iter().min().unwrap(), used.iter().max().unwrap());
            prop_assert!(max - min <= 1, "loads {:?}", used);
        }
    }
}

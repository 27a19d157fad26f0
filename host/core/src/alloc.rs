//! Seat choice. Pure: roster accounts, live leases, walls, usage and `now`
//! in; a decision out. No files, no clock, no processes.
//!
//! Rules, in order:
//! 1. a worker keeps its own live lease while that account still serves
//!    (sticky);
//! 2. otherwise the serving account (enabled, not walled, not past its
//!    usage mark, a seat free) whose login's fullest usage window has the
//!    most room left, in whole percent (an account without readings counts
//!    as all room, so without readings this rule is silent); then the
//!    lowest load (leases ÷ seats), then the lowest `priority`, then the one
//!    leased least recently, then the name.
//!
//! Accounts of one login (twins: the same identity in two config dirs)
//! share one quota: a group's seats are the largest of its members'
//! counts, its leases all of theirs, and the caller gives every member the
//! group's walls and readings.
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
    /// End of the account's wall (or its twin's), if one is still up at `now`.
    pub walled_until: Option<i64>,
    /// End of its soft wall: a usage window past the account's `wall_at`.
    /// New work keeps off it; a running worker goes on to its own wall.
    pub soft_walled_until: Option<i64>,
    /// Thousandths left in its login's fullest usage window; `None`
    /// without readings.
    pub headroom: Option<u32>,
    /// Live leases on the account.
    pub used: u32,
    /// When the account was last leased (0 if never).
    pub last_leased: i64,
    /// The index (in the same slice) of the first account of its login:
    /// its own index when it shares its quota with no other.
    pub group: usize,
    /// Nothing to log in with (no login in its config dir, no token): taken
    /// only when no account with a credential has room, since its agent
    /// would stop at a login prompt.
    pub missing_credential: bool,
}

impl Seat<'_> {
    /// Serving new work: enabled, not walled, not past its usage mark.
    pub fn serving(&self) -> bool {
        !self.disabled && self.walled_until.is_none() && self.soft_walled_until.is_none()
    }

    /// When it serves again, if a wall (hard or soft) keeps it off now.
    fn back_at(&self) -> Option<i64> {
        self.walled_until.max(self.soft_walled_until)
    }

    /// Whole percent left: an account without readings has all its room.
    fn headroom_percent(&self) -> u32 {
        self.headroom.map_or(100, |h| h / 10)
    }
}

/// Each group's seats (the largest of its enabled members' counts) and
/// leases (all of its members'), by group index.
struct Groups {
    seats: Vec<u32>,
    used: Vec<u32>,
}

impl Groups {
    fn of(seats: &[Seat<'_>]) -> Groups {
        let mut groups = Groups { seats: vec![0; seats.len()], used: vec![0; seats.len()] };
        for s in seats {
            let g = s.group;
            if !s.disabled {
                groups.seats[g] = groups.seats[g].max(s.seats);
            }
            groups.used[g] += s.used;
        }
        groups
    }

    fn has_room(&self, seat: &Seat<'_>) -> bool {
        let g = seat.group;
        seat.serving() && seat.used < seat.seats && self.used[g] < self.seats[g]
    }
}

/// Why no seat could be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoSeat {
    pub agent: String,
    pub accounts: usize,
    pub disabled: usize,
    /// Enabled accounts kept off by a wall, soft ones included.
    pub walled: usize,
    /// Of those, the ones kept off only by their usage mark (`wall_at`).
    pub soft_walled: usize,
    pub full: usize,
    /// Seats of the enabled accounts, walled ones included (a login's
    /// once), and the leases on them.
    pub seats_total: u64,
    pub seats_used: u64,
    /// Of those, the seats and leases of accounts not walled: the ones a
    /// worker could get once a lease ends.
    pub open_total: u64,
    pub open_used: u64,
    /// The account that serves again first, and when.
    pub first_reset: Option<(String, i64)>,
}

impl NoSeat {
    pub fn from_seats(agent: &str, seats: &[Seat<'_>]) -> NoSeat {
        let groups = Groups::of(seats);
        let enabled = seats.iter().filter(|s| !s.disabled);
        // A login's seats count once: at its first enabled member.
        let mut counted = vec![false; seats.len()];
        let (mut seats_total, mut seats_used, mut open_total, mut open_used) = (0, 0, 0, 0);
        for s in enabled.clone() {
            let g = s.group;
            if std::mem::replace(&mut counted[g], true) {
                continue;
            }
            let (total, used) = (u64::from(groups.seats[g]), u64::from(groups.used[g]));
            seats_total += total;
            seats_used += used;
            if seats.iter().any(|m| m.group == g && m.serving()) {
                open_total += total;
                open_used += used;
            }
        }
        NoSeat {
            agent: agent.to_owned(),
            accounts: seats.len(),
            disabled: seats.iter().filter(|s| s.disabled).count(),
            walled: enabled.clone().filter(|s| s.back_at().is_some()).count(),
            soft_walled: enabled.clone().filter(|s| s.walled_until.is_none() && s.soft_walled_until.is_some()).count(),
            full: seats.iter().filter(|s| s.serving() && !groups.has_room(s)).count(),
            seats_total,
            seats_used,
            open_total,
            open_used,
            first_reset: enabled
                .filter_map(|s| s.back_at().map(|t| (s.name.to_owned(), t)))
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
        let soft_note = match self.soft_walled {
            0 => String::new(),
            1 => " (1 of them past its wall_at usage mark)".to_owned(),
            n => format!(" ({n} of them past their wall_at usage mark)"),
        };
        let enabled = self.accounts - self.disabled;
        match self.reason() {
            "none" => format!("no {agent} accounts in the roster; add an [[account]] with agent = \"{agent}\""),
            "disabled" => format!(
                "all {} {agent} accounts are disabled; set disabled = false on one in the roster",
                self.accounts
            ),
            "walled" => format!(
                "all {enabled} {agent} accounts are walled{soft_note}{disabled_note}; {}",
                reset.unwrap_or_default()
            ),
            "full" => format!(
                "all {enabled} {agent} accounts are full ({} of {} seats in use){disabled_note}; a seat frees when its worker exits or its lease expires",
                self.open_used, self.open_total
            ),
            _ => format!(
                "no free {agent} seat: {} accounts full ({} of {} seats in use), {} walled{soft_note}{disabled_note}; {}",
                self.full,
                self.open_used,
                self.open_total,
                self.walled,
                reset.unwrap_or_default()
            ),
        }
    }
}

/// Seats still free for new work: each serving login's room, no more than
/// its serving members' own.
pub fn free_seats(seats: &[Seat<'_>]) -> u64 {
    let groups = Groups::of(seats);
    let mut members_room = vec![0u64; seats.len()];
    for s in seats.iter().filter(|s| s.serving()) {
        members_room[s.group] += u64::from(s.seats.saturating_sub(s.used));
    }
    members_room
        .iter()
        .enumerate()
        .map(|(g, room)| (*room).min(u64::from(groups.seats[g].saturating_sub(groups.used[g]))))
        .sum()
}

/// One account as a pick sees it: its own leases and last lease, and its
/// login's.
#[derive(Clone, Copy)]
struct View<'s, 'a> {
    seat: &'s Seat<'a>,
    used: u32,
    last_leased: i64,
    group_used: u32,
    group_seats: u32,
}

/// The order of preference between two accounts with room: one with a
/// credential, then more headroom (whole percent), then lower load (its
/// login's), then lower priority, then least recently leased, then name.
fn better(a: &View<'_, '_>, b: &View<'_, '_>) -> Ordering {
    // used/seats compared exactly by cross-multiplying.
    let load_a = u64::from(a.group_used) * u64::from(b.group_seats);
    let load_b = u64::from(b.group_used) * u64::from(a.group_seats);
    a.seat
        .missing_credential
        .cmp(&b.seat.missing_credential)
        .then(b.seat.headroom_percent().cmp(&a.seat.headroom_percent()))
        .then(load_a.cmp(&load_b))
        .then(a.seat.priority.cmp(&b.seat.priority))
        .then(a.last_leased.cmp(&b.last_leased))
        .then_with(|| a.seat.name.cmp(b.seat.name))
}

fn view<'s, 'a>(seat: &'s Seat<'a>, groups: &Groups) -> View<'s, 'a> {
    let g = seat.group;
    View {
        seat,
        used: seat.used,
        last_leased: seat.last_leased,
        group_used: groups.used[g],
        group_seats: groups.seats[g],
    }
}

/// Pick a seat for one worker. `current` is the account of the worker's own
/// live lease, if any. Returns the index into `seats`.
pub fn pick(seats: &[Seat<'_>], current: Option<&str>) -> Option<usize> {
    pick_among(seats, current, |_| true)
}

/// [`pick`], choosing only among the accounts `allowed` takes (by index);
/// the others still count, as twins whose leases fill a login.
pub fn pick_among(seats: &[Seat<'_>], current: Option<&str>, allowed: impl Fn(usize) -> bool) -> Option<usize> {
    if let Some(current) = current
        && let Some(i) = seats.iter().position(|s| s.name == current && s.serving())
        && allowed(i)
    {
        return Some(i);
    }
    let groups = Groups::of(seats);
    seats
        .iter()
        .enumerate()
        .filter(|(i, s)| allowed(*i) && groups.has_room(s))
        .min_by(|(_, a), (_, b)| better(&view(a, &groups), &view(b, &groups)))
        .map(|(i, _)| i)
}

/// Heap entry for [`allocate`]: an account with room as it stood when
/// pushed, ordered so the best account is the heap's maximum.
#[derive(Clone, Copy)]
struct Entry<'s, 'a> {
    view: View<'s, 'a>,
    index: usize,
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
        better(&other.view, &self.view)
    }
}

/// Allocate `workers` in order, each by the rules of [`pick`], as if picked
/// one after another at `now` (a picked account counts as just leased).
/// `current` maps a worker to its live lease's account. Returns the account
/// index per worker, or `None` where no seat was left.
///
/// A pick on one twin fills its login for the other too: the other's heap
/// entry is then stale (its login's leases grew, so it only got worse), and
/// is brought up to date when it comes to the top.
pub fn allocate(seats: &[Seat<'_>], workers: &[&str], current: &BTreeMap<&str, &str>, now: i64) -> Vec<Option<usize>> {
    let mut groups = Groups::of(seats);
    let mut heap: BinaryHeap<Entry<'_, '_>> = seats
        .iter()
        .enumerate()
        .filter(|(_, s)| groups.has_room(s))
        .map(|(index, seat)| Entry { view: view(seat, &groups), index })
        .collect();
    workers
        .iter()
        .map(|worker| {
            let sticky = current.get(worker).and_then(|acc| seats.iter().position(|s| s.name == *acc && s.serving()));
            if sticky.is_some() {
                return sticky;
            }
            loop {
                let mut entry = heap.pop()?;
                let g = entry.view.seat.group;
                if entry.view.group_used != groups.used[g] {
                    // Stale: a twin was picked since. Back in, as it stands.
                    entry.view.group_used = groups.used[g];
                    if entry.view.group_used < entry.view.group_seats {
                        heap.push(entry);
                    }
                    continue;
                }
                entry.view.used += 1;
                entry.view.group_used += 1;
                groups.used[g] += 1;
                entry.view.last_leased = now;
                if entry.view.used < entry.view.seat.seats && entry.view.group_used < entry.view.group_seats {
                    heap.push(entry);
                }
                return Some(entry.index);
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seat(name: &str, seats: u32, used: u32) -> Seat<'_> {
        Seat {
            name,
            seats,
            priority: 0,
            disabled: false,
            walled_until: None,
            soft_walled_until: None,
            headroom: None,
            used,
            last_leased: 0,
            group: usize::MAX,
            missing_credential: false,
        }
    }

    /// `seats` with each in a group of its own (where `seat` left it open).
    fn alone<'a>(mut seats: Vec<Seat<'a>>) -> Vec<Seat<'a>> {
        for (i, s) in seats.iter_mut().enumerate() {
            if s.group == usize::MAX {
                s.group = i;
            }
        }
        seats
    }

    #[test]
    fn lowest_load_then_priority_then_recency_then_name() {
        let seats = alone(vec![seat("a", 2, 1), seat("b", 4, 1), seat("c", 1, 0)]);
        assert_eq!(pick(&seats, None), Some(2), "c is empty");
        let seats = alone(vec![seat("a", 2, 1), seat("b", 4, 1)]);
        assert_eq!(pick(&seats, None), Some(1), "1/4 < 1/2");
        let mut seats = alone(vec![seat("a", 1, 0), seat("b", 1, 0)]);
        seats[0].priority = 1;
        assert_eq!(pick(&seats, None), Some(1), "lower priority wins");
        seats[0].priority = 0;
        seats[0].last_leased = 10;
        assert_eq!(pick(&seats, None), Some(1), "least recently leased wins");
        seats[0].last_leased = 0;
        assert_eq!(pick(&seats, None), Some(0), "then the name");
    }

    #[test]
    fn an_account_without_a_credential_only_when_none_with_one_has_room() {
        let mut seats = alone(vec![seat("a", 1, 0), seat("b", 4, 3)]);
        seats[0].missing_credential = true;
        seats[0].headroom = Some(1000);
        seats[1].headroom = Some(100);
        assert_eq!(pick(&seats, None), Some(1), "b is fuller and used, but it can log in");
        seats[1].used = 4;
        assert_eq!(pick(&seats, None), Some(0), "taken when it is all there is");
        assert_eq!(pick(&seats, Some("a")), Some(0), "sticky");
    }

    #[test]
    fn sticky_unless_walled_or_disabled() {
        let mut seats = alone(vec![seat("a", 1, 1), seat("b", 1, 0)]);
        assert_eq!(pick(&seats, Some("a")), Some(0), "keeps its full account");
        seats[0].walled_until = Some(100);
        assert_eq!(pick(&seats, Some("a")), Some(1));
        seats[0].walled_until = None;
        seats[0].disabled = true;
        assert_eq!(pick(&seats, Some("a")), Some(1));
    }

    #[test]
    fn no_seat_reasons() {
        let mut seats = alone(vec![seat("a", 1, 1), seat("b", 2, 2)]);
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

    /// One generated account: (seats, used, priority, disabled, walled,
    /// last_leased), then its soft wall, its headroom and whose twin it is.
    type Raw = ((u32, u32, i64, bool, bool, i64), (bool, Option<u32>, Option<usize>));

    fn arb_seats() -> impl Strategy<Value = Vec<Raw>> {
        prop::collection::vec(
            (
                (1u32..5, 0u32..5, -2i64..3, prop::bool::weighted(0.15), prop::bool::weighted(0.2), 0i64..4),
                (
                    prop::bool::weighted(0.15),
                    prop::option::weighted(0.5, 0u32..=1000),
                    prop::option::weighted(0.3, 0usize..12),
                ),
            ),
            0..12,
        )
    }

    /// Without soft walls, readings or twins: today's accounts.
    fn plain(raw: Vec<Raw>) -> Vec<Raw> {
        raw.into_iter().map(|(a, _)| (a, (false, None, None))).collect()
    }

    /// The seats `raw` describes. A twin points at an earlier account's
    /// group, and shares its walls and readings, as `seats_of` makes them.
    fn build(names: &[String], raw: &[Raw]) -> Vec<Seat<'static>> {
        let mut seats: Vec<Seat<'static>> = Vec::new();
        for (i, (&(count, used, priority, disabled, walled, last), &(soft, headroom, twin)), name) in
            raw.iter().map(|(a, b)| (a, b)).enumerate().map(|(i, (a, b))| (i, (a, b), &names[i]))
        {
            let mut seat = Seat {
                name: Box::leak(name.clone().into_boxed_str()),
                seats: count,
                priority,
                disabled,
                walled_until: walled.then_some(1_000),
                soft_walled_until: soft.then_some(900),
                headroom,
                used: used.min(count),
                last_leased: last,
                group: i,
                missing_credential: false,
            };
            if let Some(of) = twin.filter(|&t| t < i) {
                let first = &seats[of];
                seat.group = first.group;
                seat.walled_until = first.walled_until;
                seat.soft_walled_until = first.soft_walled_until;
                seat.headroom = first.headroom;
            }
            seats.push(seat);
        }
        seats
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

    /// Today's rule, before readings and twins: lowest load, priority,
    /// recency, name.
    fn todays_pick(seats: &[Seat<'_>]) -> Option<usize> {
        seats
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.disabled && s.walled_until.is_none() && s.used < s.seats)
            .min_by(|(_, a), (_, b)| {
                (u64::from(a.used) * u64::from(b.seats))
                    .cmp(&(u64::from(b.used) * u64::from(a.seats)))
                    .then(a.priority.cmp(&b.priority))
                    .then(a.last_leased.cmp(&b.last_leased))
                    .then_with(|| a.name.cmp(b.name))
            })
            .map(|(i, _)| i)
    }

    fn workers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("w{i}")).collect()
    }

    proptest! {
        #[test]
        fn never_over_seats_nor_a_logins_seats_nor_walled(raw in arb_seats(), n in 0usize..40) {
            let names = names(raw.len());
            let seats = build(&names, &raw);
            let workers = workers(n);
            let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
            let picks = allocate(&seats, &refs, &BTreeMap::new(), 10);
            let mut used: Vec<u32> = seats.iter().map(|s| s.used).collect();
            let mut picked_of_group = vec![0u32; seats.len()];
            for i in picks.iter().flatten() {
                prop_assert!(seats[*i].serving(), "{} is walled, soft-walled or disabled", seats[*i].name);
                used[*i] += 1;
                picked_of_group[seats[*i].group] += 1;
            }
            for (s, u) in seats.iter().zip(&used) {
                prop_assert!(*u <= s.seats, "{} over its seats", s.name);
            }
            let groups = Groups::of(&seats);
            for (g, picked) in picked_of_group.iter().enumerate().filter(|(_, p)| **p > 0) {
                prop_assert!(groups.used[g] + picked <= groups.seats[g],
                    "login {g} got more workers than its largest seat count");
            }
            // Everyone who got nothing found every serving account full.
            if picks.iter().any(Option::is_none) {
                prop_assert_eq!(free_seats(&seats), u64::from(picks.iter().flatten().count() as u32));
            }
        }

        #[test]
        fn allocate_equals_sequential_picks(raw in arb_seats(), n in 0usize..40) {
            let names = names(raw.len());
            let seats = build(&names, &raw);
            let workers = workers(n);
            let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
            prop_assert_eq!(allocate(&seats, &refs, &BTreeMap::new(), 10), sequential(&seats, n, 10));
        }

        #[test]
        fn the_account_with_most_room_left_is_taken_first(raw in arb_seats(), n in 1usize..30) {
            let names = names(raw.len());
            let mut seats = build(&names, &raw);
            for _ in 0..n {
                let Some(i) = pick(&seats, None) else { break };
                let groups = Groups::of(&seats);
                for other in seats.iter().filter(|s| groups.has_room(s)) {
                    prop_assert!(other.headroom_percent() <= seats[i].headroom_percent(),
                        "{} has more room left than {}", other.name, seats[i].name);
                }
                seats[i].used += 1;
                seats[i].last_leased = 10;
            }
        }

        #[test]
        fn an_account_with_a_credential_goes_first(
            raw in arb_seats(),
            missing in prop::collection::vec(any::<bool>(), 16),
            n in 1usize..30,
        ) {
            let names = names(raw.len());
            let mut seats = build(&names, &raw);
            for (seat, missing) in seats.iter_mut().zip(&missing) {
                seat.missing_credential = *missing;
            }
            for _ in 0..n {
                let Some(i) = pick(&seats, None) else { break };
                let groups = Groups::of(&seats);
                if seats[i].missing_credential {
                    for other in seats.iter().filter(|s| groups.has_room(s)) {
                        prop_assert!(other.missing_credential,
                            "{} has no credential, {} has one and room", seats[i].name, other.name);
                    }
                }
                seats[i].used += 1;
                seats[i].last_leased = 10;
            }
        }

        #[test]
        fn without_readings_or_twins_accounts_rank_as_today(raw in arb_seats(), n in 1usize..30) {
            let names = names(raw.len());
            let mut seats = build(&names, &plain(raw));
            for _ in 0..n {
                let i = pick(&seats, None);
                prop_assert_eq!(i, todays_pick(&seats));
                let Some(i) = i else { break };
                seats[i].used += 1;
                seats[i].last_leased = 10;
            }
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
            let raw: Vec<Raw> = (0..accounts).map(|_| ((seats_each, 0, 0, false, false, 0), (false, None, None))).collect();
            let seats = build(&names, &raw);
            let workers = workers(n);
            let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
            let mut used = vec![0u32; accounts];
            for i in allocate(&seats, &refs, &BTreeMap::new(), 1).into_iter().flatten() {
                used[i] += 1;
            }
            let (min, max) = (used.iter().min().unwrap(), used.iter().max().unwrap());
            prop_assert!(max - min <= 1, "loads {:?}", used);
        }
    }

    #[test]
    fn twins_share_the_larger_seat_count_and_a_soft_wall_keeps_new_work_off() {
        // fx2 and fx3 are one login with 2 and 3 seats: 3 workers at most.
        let mut seats = alone(vec![seat("fx2", 2, 0), seat("fx3", 3, 0), seat("other", 9, 0)]);
        seats[1].group = 0;
        let refs = ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9"];
        let picks = allocate(&seats, &refs, &BTreeMap::new(), 1);
        let on_twins = picks.iter().flatten().filter(|&&i| i < 2).count();
        assert_eq!(on_twins, 3, "{picks:?}");
        assert_eq!(picks.iter().flatten().count(), 9);
        assert_eq!(NoSeat::from_seats("k", &seats).seats_total, 12, "the login's 3 seats once, and 9");
        seats[2].soft_walled_until = Some(50);
        seats[0].headroom = Some(30);
        seats[1].headroom = Some(30);
        assert_eq!(pick(&seats, Some("other")), Some(0), "past its mark, other takes no new work");
        let why = NoSeat::from_seats("k", &[Seat { group: 0, ..seats[2].clone() }]);
        assert_eq!((why.reason(), why.soft_walled, why.first_reset.clone()), ("walled", 1, Some(("other".into(), 50))));
        assert!(why.message(0, |t| t.to_string(), |s| format!("{s}s")).contains("past its wall_at usage mark"));
    }
}

//! In-process benchmarks of the pure core. Run: `cargo bench --bench inprocess`
//! (part of `bench/run`). Prints the median of repeated runs and the ratio to
//! each target; a target not met is a finding to profile, not to hide.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use accounts::alloc::{Seat, allocate};
use accounts::holder::Holder;
use accounts::report::{self, TokenInfo};
use accounts::roster::Roster;
use accounts::state::{Lease, State};

const ACCOUNTS: usize = 1_000;
const WORKERS: usize = 10_000;

fn main() {
    let names: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct{i:04}")).collect();
    let seats: Vec<Seat<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Seat {
            name,
            seats: 10 + (i % 3) as u32,
            priority: (i % 5) as i64,
            disabled: i % 97 == 0,
            walled_until: (i % 89 == 0).then_some(10),
            soft_walled_until: (i % 83 == 0).then_some(10),
            // A third with readings, in whole-percent steps of room.
            headroom: (i % 3 == 0).then_some((i % 100) as u32 * 10),
            used: 0,
            last_leased: (i % 7) as i64,
            // Every 50th account is the previous one's twin (one login).
            group: if i % 50 == 1 { i - 1 } else { i },
            missing_credential: i % 71 == 0,
        })
        .collect();
    let workers: Vec<String> = (0..WORKERS).map(|i| format!("w{i}")).collect();
    let refs: Vec<&str> = workers.iter().map(String::as_str).collect();
    let placed = allocate(&seats, &refs, &BTreeMap::new(), 1).iter().flatten().count();
    assert_eq!(placed, WORKERS, "the bench roster has room for every worker");
    report_line("allocate 10,000 workers over 1,000 accounts", Duration::from_millis(20), || {
        std::hint::black_box(allocate(&seats, &refs, &BTreeMap::new(), 1));
    });

    let mut roster_text = String::from("default_agent = \"k\"\n");
    for name in &names {
        roster_text +=
            &format!("[[account]]\nname = \"{name}\"\nagent = \"k\"\nconfig_dir = \"/c/{name}\"\nseats = 10\n");
    }
    let roster = Roster::parse(Path::new("/bench/roster.toml"), &roster_text, None).unwrap();
    report_line("parse a 1,000-account roster", Duration::from_millis(20), || {
        std::hint::black_box(Roster::parse(Path::new("/bench/roster.toml"), &roster_text, None).unwrap());
    });

    let state = State {
        leases: (0..WORKERS)
            .map(|i| Lease {
                account: names[i % ACCOUNTS].clone(),
                worker: format!("w{i}"),
                host: "bench".into(),
                holder: Holder { pid: 1, start: Some(1) },
                acquired_at: 0,
                expires_at: 100,
            })
            .collect(),
        ..State::default()
    };
    report_line("status over 1,000 accounts with 10,000 leases", Duration::from_millis(50), || {
        let rows = report::rows(&roster, &state, 1, |_| TokenInfo { source: "none".into(), masked: None });
        std::hint::black_box(serde_json::to_string(&rows).unwrap());
    });
}

/// Time `f` over enough runs for a stable median and print it against `target`.
fn report_line(name: &str, target: Duration, mut f: impl FnMut()) {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<Duration> = (0..31)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name}: median {:.2} ms (min {:.2}, max {:.2}); target <= {:.0} ms: ratio {:.2} {}",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1]),
        ms(target),
        ms(median) / ms(target),
        if median <= target { "MET" } else { "NOT MET" }
    );
}

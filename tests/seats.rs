//! Seats end to end: the real binary, many processes at once, a real state
//! file under a real lock, real holder processes.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn roster(accounts: &[(&str, u32)]) -> String {
    let mut r = String::from("default_agent = \"claude\"\nwall_cooldown = \"30m\"\n");
    for (name, seats) in accounts {
        r += &format!(
            "[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"dirs/{name}\"\nseats = {seats}\ntoken_file = \"tokens/{name}\"\n"
        );
    }
    r
}

fn fixture(accounts: &[(&str, u32)]) -> Fixture {
    let fx = Fixture::new(&roster(accounts));
    for (name, _) in accounts {
        fx.write(&format!("tokens/{name}"), CLAUDE_TOKEN);
    }
    fx
}

fn status(fx: &Fixture) -> serde_json::Value {
    serde_json::from_str(&fx.ok(&["status", "--json"])).unwrap()
}

/// worker -> account, from `status --json`.
fn leases(fx: &Fixture) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for a in status(fx)["accounts"].as_array().unwrap() {
        for l in a["leases"].as_array().unwrap() {
            let prev = out.insert(l["worker"].as_str().unwrap().to_owned(), a["name"].as_str().unwrap().to_owned());
            assert!(prev.is_none(), "worker {} holds two leases", l["worker"]);
        }
    }
    out
}

fn account_of(env_output: &str) -> String {
    env_output
        .lines()
        .find_map(|l| l.strip_prefix("export ACCOUNTS_ACCOUNT='").map(|v| v.trim_end_matches('\'').to_owned()))
        .expect("ACCOUNTS_ACCOUNT in output")
}

#[test]
fn spreads_workers_and_keeps_them_sticky() {
    let fx = fixture(&[("a", 2), ("b", 2)]);
    let holder = Sleeper::new();
    let pick = |w: &str| account_of(&fx.ok(&["launch-env", "--worker", w, "--holder-pid", &holder.pid()]));
    assert_eq!(pick("w1"), "a");
    assert_eq!(pick("w2"), "b", "lowest load next");
    assert_eq!(pick("w1"), "a", "sticky");
    assert_eq!(pick("w3"), "a");
    assert_eq!(pick("w4"), "b");
    let err = fx.fails(&["launch-env", "--worker", "w5", "--holder-pid", &holder.pid()], 75);
    assert!(err.contains("all 2 claude accounts are full (4 of 4 seats in use)"), "{err}");
    let out = fx.run(&["launch-env", "--worker", "w5", "--holder-pid", &holder.pid(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(75));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["error"].as_str(), json["reason"].as_str()), (Some("no_seat"), Some("full")));
    let env = eval_env("dash", &fx.ok(&["launch-env", "--worker", "w2", "--holder-pid", &holder.pid()]), &[]);
    assert_eq!(env["ACCOUNTS_WORKER"], "w2");
    assert_eq!(env["ACCOUNTS_ACCOUNT"], "b");
}

#[test]
fn sixty_four_processes_race_for_ten_seats() {
    let fx = fixture(&[("a", 3), ("b", 3), ("c", 4)]);
    let holder = Sleeper::new();
    let children: Vec<Child> = (0..64)
        .map(|k| {
            fx.cmd(&["launch-env", "--agent", "claude", "--worker", &format!("w{k}"), "--holder-pid", &holder.pid()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut got_env, mut no_seat) = (0, 0);
    for child in children {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => {
                assert!(text(&out.stdout).contains("export CLAUDE_CONFIG_DIR="));
                got_env += 1;
            }
            Some(75) => {
                assert!(out.stdout.is_empty());
                no_seat += 1;
            }
            other => panic!("unexpected exit {other:?}: {}", text(&out.stderr)),
        }
    }
    assert_eq!((got_env, no_seat), (10, 54));
    let leases = leases(&fx);
    assert_eq!(leases.len(), 10);
    for (name, seats) in [("a", 3), ("b", 3), ("c", 4)] {
        assert_eq!(leases.values().filter(|a| *a == name).count(), seats, "{name} exactly full");
    }
}

/// 16 processes × 60 mixed operations. Each process works on its own worker
/// and tracks where it should be; walls and unwalls hit any account. At the
/// end the state parses and every worker's lease is exactly where its own
/// last successful command put it.
#[test]
fn mixed_operations_lose_and_duplicate_nothing() {
    let accounts = [("a", 2), ("b", 2), ("c", 3), ("d", 1)];
    let fx = fixture(&accounts);
    let holder = Sleeper::new();
    let fx = &fx;
    let holder_pid = holder.pid();
    let expected: BTreeMap<String, Option<String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let holder_pid = holder_pid.clone();
                scope.spawn(move || {
                    let worker = format!("w{t}");
                    let mut rng = t as u64 * 2_654_435_761 + 1;
                    let mut next = move || {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng
                    };
                    let mut mine: Option<String> = None;
                    for _ in 0..60 {
                        let account = accounts[(next() % 4) as usize].0;
                        let op = next() % 5;
                        let args: Vec<&str> = match op {
                            0 => vec!["launch-env", "--worker", &worker, "--holder-pid", &holder_pid],
                            1 => vec!["wall", account, "--for", "1h"],
                            2 => vec!["unwall", account],
                            3 => vec!["release", "--worker", &worker],
                            _ => vec!["rotate", "--worker", &worker, "--holder-pid", &holder_pid, "--for", "1m"],
                        };
                        let out = fx.run(&args);
                        let code = out.status.code();
                        match (op, code) {
                            (0 | 4, Some(0)) => mine = Some(account_of(&text(&out.stdout))),
                            (0, Some(75)) => {
                                // A no-seat launch leaves a walled-off worker where it was,
                                // unless its own account got walled: then it had no seat to keep.
                            }
                            (4, Some(75)) => mine = None,
                            (4, Some(2)) => assert!(mine.is_none(), "rotate refused but {worker} had a lease"),
                            (3, Some(0)) => mine = None,
                            (1 | 2, Some(0)) => {}
                            _ => panic!("{args:?} exited {code:?}: {}", text(&out.stderr)),
                        }
                    }
                    (worker, mine)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let actual = leases(fx);
    for (worker, account) in &expected {
        assert_eq!(actual.get(worker), account.as_ref(), "{worker}");
    }
    assert_eq!(actual.len(), expected.values().flatten().count());
    for (name, seats) in accounts {
        assert!(actual.values().filter(|a| *a == name).count() <= seats as usize, "{name} over its seats");
    }
}

#[test]
fn a_killed_lock_holder_does_not_block_the_next_call() {
    let fx = fixture(&[("a", 1)]);
    // A long plugin deadline, so the spinning call is still inside the lock
    // when it is killed.
    let mut r = format!("plugin_timeout = \"20s\"\n{}", roster(&[("a", 1)]));
    for name in ["first", "spin"] {
        r += &format!("[[account]]\nname = \"{name}\"\nagent = \"hostile\"\nconfig_dir = \"dirs/{name}\"\n");
    }
    fx.write_roster(&r);
    std::fs::copy(test_plugin("hostile"), fx.plugin_dir().join("hostile.wasm")).unwrap();
    let holder = Sleeper::new();
    let first = fx.ok(&["launch-env", "--agent", "hostile", "--worker", "x", "--holder-pid", &holder.pid()]);
    assert_eq!(account_of(&first), "first");
    // Rotating moves the worker to "spin", whose plugin call spins while the
    // rotation holds the state lock.
    let mut stuck =
        fx.cmd(&["rotate", "--worker", "x", "--holder-pid", &holder.pid()]).stderr(Stdio::null()).spawn().unwrap();
    // The lock is on the state dir itself.
    let lock = fx.state_dir();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lock_is_held(&lock) {
        assert!(Instant::now() < deadline, "the spinning call never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill").args(["-KILL", &stuck.id().to_string()]).status().unwrap();
    stuck.wait().unwrap();
    let start = Instant::now();
    fx.ok(&["launch-env", "--worker", "next", "--holder-pid", &holder.pid()]);
    assert!(start.elapsed() < Duration::from_secs(5), "next call was blocked");
    assert_eq!(leases(&fx)["x"], "first", "the killed rotation changed nothing");
}

fn lock_is_held(lock: &std::path::Path) -> bool {
    lock.exists() && !Command::new("flock").args(["-n"]).arg(lock).arg("true").status().unwrap().success()
}

#[test]
fn dead_holders_and_expired_leases_are_reclaimed() {
    let fx = fixture(&[("a", 1)]);
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "first", "--holder-pid", &holder.pid()]);
    fx.fails(&["launch-env", "--worker", "second", "--holder-pid", &holder.pid()], 75);
    drop(holder);
    let holder = Sleeper::new();
    assert_eq!(account_of(&fx.ok(&["launch-env", "--worker", "second", "--holder-pid", &holder.pid()])), "a");
    assert_eq!(leases(&fx).keys().collect::<Vec<_>>(), ["second"], "the dead holder's lease is gone");

    fx.ok(&["release", "--worker", "second"]);
    fx.ok(&["launch-env", "--worker", "short", "--holder-pid", &holder.pid(), "--ttl", "1s"]);
    fx.fails(&["launch-env", "--worker", "other", "--holder-pid", &holder.pid()], 75);
    std::thread::sleep(Duration::from_millis(2100));
    fx.ok(&["launch-env", "--worker", "other", "--holder-pid", &holder.pid()]);
}

#[test]
fn walls_skip_accounts_until_reset_and_rotate_moves_the_worker() {
    let fx = fixture(&[("a", 1), ("b", 1)]);
    let holder = Sleeper::new();
    let pid = holder.pid();
    assert_eq!(account_of(&fx.ok(&["launch-env", "--worker", "w", "--holder-pid", &pid])), "a");
    let out = fx.run(&["rotate", "--worker", "w", "--holder-pid", &pid, "--reason", "limit"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(account_of(&text(&out.stdout)), "b");
    let st = status(&fx);
    let a = &st["accounts"][0];
    let in_secs = a["wall"]["in_seconds"].as_i64().unwrap();
    assert!((1790..=1800).contains(&in_secs), "the roster's 30m cooldown, got {in_secs}");
    assert_eq!(a["wall"]["reason"], "limit");
    assert_eq!(leases(&fx)["w"], "b");

    fx.ok(&["wall", "b", "--for", "2s"]);
    let err = fx.fails(&["launch-env", "--worker", "v", "--holder-pid", &pid], 75);
    assert!(err.contains("all 2 claude accounts are walled; first reset: b at "), "{err}");
    fx.ok(&["unwall", "a"]);
    assert_eq!(account_of(&fx.ok(&["launch-env", "--worker", "v", "--holder-pid", &pid])), "a");
    std::thread::sleep(Duration::from_millis(2100));
    let st = status(&fx);
    assert!(st["accounts"][1]["wall"].is_null(), "the wall lifted at its reset");

    // Rotating off the last serving seat: walled, released, exit 75.
    fx.ok(&["wall", "b", "--for", "300d"]);
    let err = fx.fails(&["rotate", "--worker", "v", "--holder-pid", &pid], 75);
    assert!(err.contains("walled"), "{err}");
    assert!(!leases(&fx).contains_key("v"));
    let err = fx.fails(&["rotate", "--worker", "nobody"], 2);
    assert!(err.contains("holds no lease"), "{err}");
}

#[test]
fn allocate_is_all_or_nothing() {
    let fx = fixture(&[("a", 2), ("b", 1)]);
    let holder = Sleeper::new();
    let out = fx.ok(&["allocate", "--workers", "3", "--holder-pid", &holder.pid(), "--json"]);
    let placed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pairs: Vec<(&str, &str)> = placed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["worker"].as_str().unwrap(), p["account"].as_str().unwrap()))
        .collect();
    assert_eq!(pairs, [("w1", "a"), ("w2", "b"), ("w3", "a")]);
    fx.ok(&["release", "--account", "a"]);
    let err = fx.fails(&["allocate", "x", "y", "z", "--holder-pid", &holder.pid()], 75);
    assert!(err.contains("only 2 of 3 claude workers fit"), "{err}");
    assert_eq!(leases(&fx).len(), 1, "nothing more was leased");
}

/// The default holder is the calling script's shell, also when bash forks a
/// subshell for `$(accounts ... 2>/dev/null)`.
#[test]
fn default_holder_is_the_calling_shell() {
    let fx = fixture(&[("a", 4)]);
    for (shell_name, subst) in [
        ("dash", "$ACC launch-env"),
        ("bash", "$ACC launch-env"),
        ("bash", "$ACC launch-env 2>/dev/null"),
        ("dash", "$ACC launch-env 2>/dev/null"),
    ] {
        let script = format!("out=$({subst}) || exit 9; eval \"$out\"; echo \"$$ $ACCOUNTS_WORKER\"");
        let mut cmd = Command::new(shell_name);
        cmd.arg("-c").arg(&script);
        fx.point_at_fixture(&mut cmd);
        let out = cmd.env("ACC", &*BIN).output().unwrap();
        assert!(out.status.success(), "{shell_name} {subst}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let (shell_pid, worker) = stdout.trim().split_once(' ').unwrap();
        assert!(
            worker.ends_with(&format!("-{shell_pid}")),
            "{shell_name} `{subst}`: worker {worker} for shell {shell_pid}"
        );
        let st = status(&fx);
        let pids: Vec<String> =
            st["accounts"][0]["leases"].as_array().unwrap().iter().map(|l| l["pid"].to_string()).collect();
        assert!(!pids.contains(&shell_pid.to_owned()), "the shell exited, so its lease must be gone: {pids:?}");
    }
}

#[test]
fn corrupt_state_is_reported_and_kept() {
    let fx = fixture(&[("a", 1)]);
    make_private_dir(&fx.state_dir());
    std::fs::write(fx.state_dir().join("state.json"), "{\"version\":1,\"leases\":[").unwrap();
    let err = fx.fails(&["launch-env", "--worker", "w", "--holder-pid", &Sleeper::new().pid()], 1);
    assert!(err.contains("state.json is corrupt") && err.contains("mv "), "{err}");
    assert_eq!(std::fs::read_to_string(fx.state_dir().join("state.json")).unwrap(), "{\"version\":1,\"leases\":[");
}

/// The same tests against the fleet's backend, a real PostgreSQL server
/// (each fixture in a namespace of its own). The two left out test the
/// file store's own lock and files.
mod on_postgres {
    use crate::support::{pg, with_state_url};

    macro_rules! on_postgres {
        ($($test:ident),* $(,)?) => {$(
            #[test]
            fn $test() {
                with_state_url(&pg::shared().url(), super::$test);
            }
        )*};
    }

    on_postgres!(
        spreads_workers_and_keeps_them_sticky,
        sixty_four_processes_race_for_ten_seats,
        mixed_operations_lose_and_duplicate_nothing,
        dead_holders_and_expired_leases_are_reclaimed,
        walls_skip_accounts_until_reset_and_rotate_moves_the_worker,
        allocate_is_all_or_nothing,
        default_holder_is_the_calling_shell,
    );
}

/// Background subshells of one pool script are workers of their own: each
/// holds its own lease for its agent's life, so a one-seat account gets one
/// of them, not three.
#[test]
fn background_subshells_of_a_pool_script_are_separate_workers() {
    let fx = fixture(&[("a", 1)]);
    for shell_name in ["bash", "dash"] {
        let script = r#"for i in 1 2 3; do ( out=$($ACC launch-env) || exit 75; eval "$out"; echo "got $ACCOUNTS_WORKER"; exec sh -c 'sleep 3' ) & done; wait"#;
        let mut cmd = Command::new(shell_name);
        cmd.arg("-c").arg(script);
        fx.point_at_fixture(&mut cmd);
        let out = cmd.env("ACC", &*BIN).output().unwrap();
        let stdout = text(&out.stdout);
        let got: Vec<&str> = stdout.lines().filter(|l| l.starts_with("got ")).collect();
        assert_eq!(got.len(), 1, "{shell_name}: one seat, one agent: {stdout}\n{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr).matches("accounts are full (1 of 1 seats in use)").count(),
            2,
            "{}",
            text(&out.stderr)
        );
        // Held for the agent's life: gone once it exited.
        assert!(leases(&fx).is_empty(), "{shell_name}: the lease outlived its agent");
    }
}

#[test]
fn twins_share_one_quota_in_the_file_store() {
    let fx = Fixture::new("");
    let roster = twins_roster(&fx, "");
    fx.write_roster(&roster);
    twins_share_one_quota(&fx);
}

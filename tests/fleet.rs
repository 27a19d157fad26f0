//! The fleet: many hosts share one roster's seats and walls through a real
//! PostgreSQL server that these tests start (a throwaway cluster on a Unix
//! socket, see `support/pg.rs`). Hosts are played by `ACCOUNTS_HOST_ID`; a
//! host with a wrong clock by `ACCOUNTS_CLOCK_SKEW` (the binary is static,
//! so LD_PRELOAD tools such as libfaketime cannot reach it).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::pg::{self, Bouncer, Cluster};
use crate::support::*;

/// A roster whose `[state]` points at `url`, in the fixture's own namespace.
fn fleet(url: &str, accounts: &[(String, u32)]) -> Fixture {
    let fx = Fixture::new("");
    let mut r = format!(
        "default_agent = \"claude\"\n[state]\nurl = \"{url}\"\nnamespace = \"{}\"\nconnect_timeout = \"2s\"\n",
        fx.namespace()
    );
    for (name, seats) in accounts {
        r += &format!(
            "[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"dirs/{name}\"\nseats = {seats}\ntoken_file = \"tokens/{name}\"\n"
        );
        fx.write(&format!("tokens/{name}"), CLAUDE_TOKEN);
    }
    fx.write_roster(&r);
    fx
}

fn accounts(list: &[(&str, u32)]) -> Vec<(String, u32)> {
    list.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

/// `accounts ARGS` as host `host`.
fn on_host(fx: &Fixture, host: &str, args: &[&str]) -> Output {
    fx.cmd(args).env("ACCOUNTS_HOST_ID", host).output().unwrap()
}

fn account_of(env_output: &str) -> String {
    env_output
        .lines()
        .find_map(|l| l.strip_prefix("export ACCOUNTS_ACCOUNT='").map(|v| v.trim_end_matches('\'').to_owned()))
        .expect("ACCOUNTS_ACCOUNT in output")
}

/// worker -> account, from `status --json`; panics on a worker with two.
fn leases(status: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for a in status["accounts"].as_array().unwrap() {
        for l in a["leases"].as_array().unwrap() {
            let prev = out.insert(l["worker"].as_str().unwrap().to_owned(), a["name"].as_str().unwrap().to_owned());
            assert!(prev.is_none(), "worker {} holds two leases", l["worker"]);
        }
    }
    out
}

fn status(fx: &Fixture) -> serde_json::Value {
    serde_json::from_str(&fx.ok(&["status", "--json"])).unwrap()
}

#[test]
fn twenty_processes_posing_as_ten_hosts_make_1000_claims_for_100_seats() {
    let list: Vec<(String, u32)> = (0..25).map(|i| (format!("acct{i:02}"), 4)).collect();
    let fx = fleet(&pg::shared().url(), &list);
    let holder = Sleeper::new();
    let start = Instant::now();
    let results: Vec<(String, Option<i32>, String)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..20)
            .map(|p| {
                let (fx, pid) = (&fx, holder.pid());
                scope.spawn(move || {
                    let host = format!("host-{}", p % 10);
                    (0..50)
                        .map(|c| {
                            let worker = format!("{host}-p{p}-c{c}");
                            let out = on_host(fx, &host, &["launch-env", "--worker", &worker, "--holder-pid", &pid]);
                            assert!(out.status.code() != Some(0) || !out.stdout.is_empty(), "exit 0 with no env");
                            (worker, out.status.code(), text(&out.stderr))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    eprintln!("1000 claims by 20 processes: {:?}", start.elapsed());
    let granted: BTreeSet<&str> = results.iter().filter(|r| r.1 == Some(0)).map(|r| r.0.as_str()).collect();
    for (worker, code, stderr) in &results {
        assert!(matches!(code, Some(0 | 75)), "{worker} exited {code:?}: {stderr}");
    }
    assert_eq!((granted.len(), results.len() - granted.len()), (100, 900), "100 seats, 900 claims turned away");
    let held = leases(&status(&fx));
    assert_eq!(held.len(), 100);
    assert_eq!(held.keys().map(String::as_str).collect::<BTreeSet<_>>(), granted, "the leases are the granted claims");
    for (name, seats) in &list {
        assert_eq!(held.values().filter(|a| *a == name).count(), *seats as usize, "{name} exactly full");
    }
}

#[test]
fn a_wall_written_on_one_host_is_obeyed_by_the_next_claim_on_another() {
    let fx = fleet(&pg::shared().url(), &accounts(&[("a", 1), ("b", 1)]));
    let holder = Sleeper::new();
    let pid = holder.pid();
    // A reason with quotes, a backslash and placeholders goes in and comes
    // out exactly (the rows travel as SQL literals).
    let reason = r#"Bob's "weekly" limit \ $1 $2'); DROP TABLE accounts_walls; --"#;
    let out = on_host(&fx, "host-a", &["wall", "a", "--for", "1h", "--reason", reason]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let st: serde_json::Value = serde_json::from_slice(&on_host(&fx, "host-b", &["status", "--json"]).stdout).unwrap();
    assert_eq!(st["accounts"][0]["wall"]["reason"], reason);
    let out = on_host(&fx, "host-b", &["launch-env", "--worker", "w1", "--holder-pid", &pid]);
    assert_eq!(account_of(&text(&out.stdout)), "b", "host b skips the wall host a wrote");
    let out = on_host(&fx, "host-b", &["launch-env", "--worker", "w2", "--holder-pid", &pid]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("walled"), "{}", text(&out.stderr));
    let out = on_host(&fx, "host-a", &["unwall", "a"]);
    assert!(out.status.success());
    let out = on_host(&fx, "host-b", &["launch-env", "--worker", "w2", "--holder-pid", &pid]);
    assert_eq!(account_of(&text(&out.stdout)), "a", "and the lifted wall at once");
}

/// A command run with this host's clock shifted by `offset`.
fn skewed(fx: &Fixture, offset: &str, host: &str, args: &[&str]) -> Output {
    fx.cmd(args).env("ACCOUNTS_HOST_ID", host).env("ACCOUNTS_CLOCK_SKEW", offset).output().unwrap()
}

#[test]
fn a_host_whose_clock_is_an_hour_off_neither_steals_leases_nor_lifts_walls() {
    let holder = Sleeper::new();
    let pid = holder.pid();
    // The control: with the local file store, an hour-fast host does see a
    // 30-minute lease as expired. So the clock shift is real.
    let local = Fixture::new(
        "default_agent = \"claude\"\n[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"dirs/a\"\n",
    );
    local.ok(&["launch-env", "--worker", "w1", "--holder-pid", &pid, "--ttl", "30m"]);
    let out = skewed(&local, "+1h", "other", &["launch-env", "--worker", "w2", "--holder-pid", &pid]);
    assert_eq!(out.status.code(), Some(0), "control: the skewed host took the seat: {}", text(&out.stderr));

    let fx = fleet(&pg::shared().url(), &accounts(&[("a", 1), ("b", 1)]));
    let out = on_host(&fx, "host-a", &["launch-env", "--worker", "w1", "--holder-pid", &pid, "--ttl", "30m"]);
    assert_eq!(account_of(&text(&out.stdout)), "a");
    assert!(on_host(&fx, "host-a", &["wall", "b", "--for", "30m"]).status.success());
    for offset in ["+1h", "-1h"] {
        let out = skewed(&fx, offset, "host-c", &["launch-env", "--worker", "w2", "--holder-pid", &pid]);
        assert_eq!(out.status.code(), Some(75), "clock {offset}: {}", text(&out.stderr));
        let st: serde_json::Value =
            serde_json::from_slice(&skewed(&fx, offset, "host-c", &["status", "--json"]).stdout).unwrap();
        assert_eq!(leases(&st)["w1"], "a", "clock {offset}: the live lease stays");
        let wall = st["accounts"][1]["wall"]["in_seconds"].as_i64().unwrap();
        assert!(
            (1700..=1800).contains(&wall),
            "clock {offset}: the wall lifts in 30m by the fleet's clock, got {wall}s"
        );
    }
    // A wall set from a skewed host lasts what it says, on the fleet's clock.
    assert!(skewed(&fx, "-1h", "host-c", &["wall", "a", "--for", "10m"]).status.success());
    let wall = status(&fx)["accounts"][0]["wall"]["in_seconds"].as_i64().unwrap();
    assert!((500..=600).contains(&wall), "got {wall}s");
}

/// One claim of the crash test.
struct Call {
    worker: String,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    /// Started after the server was stopped.
    was_down: bool,
}

#[test]
fn a_server_crash_in_the_middle_of_claims_leaves_whole_changes_only() {
    let cluster = Cluster::start();
    // More seats (1,000) than the threads can claim (4 × 201), so a fast
    // machine never fills them before the crash and every claim is either
    // granted or a clean failure of the server.
    let list: Vec<(String, u32)> = (0..10).map(|i| (format!("acct{i}"), 100)).collect();
    let fx = fleet(&cluster.url(), &list);
    let holder = Sleeper::new();
    let crashed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Call> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (fx, pid, crashed) = (&fx, holder.pid(), &crashed);
                scope.spawn(move || {
                    let mut calls = Vec::new();
                    let mut after_crash = 0;
                    for c in 0.. {
                        let worker = format!("t{t}-c{c}");
                        let was_down = crashed.load(std::sync::atomic::Ordering::SeqCst);
                        let out = fx.run(&["launch-env", "--worker", &worker, "--holder-pid", &pid]);
                        let stderr = text(&out.stderr);
                        calls.push(Call { worker, code: out.status.code(), stdout: out.stdout, stderr, was_down });
                        after_crash += usize::from(was_down);
                        if after_crash >= 5 || c > 200 {
                            break;
                        }
                    }
                    calls
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        cluster.crash_server();
        crashed.store(true, std::sync::atomic::Ordering::SeqCst);
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let mut granted = BTreeSet::new();
    for Call { worker, code, stdout, stderr, was_down } in &results {
        match code {
            Some(0) => {
                assert!(text(stdout).contains("export CLAUDE_CONFIG_DIR="), "{worker}");
                granted.insert(worker.clone());
            }
            Some(1) => {
                assert!(stdout.is_empty(), "{worker} failed but printed: {}", text(stdout));
                assert_eq!(stderr.lines().count(), 1, "{worker}: one line: {stderr}");
                assert!(stderr.contains("the state database postgres@"), "{worker} names the server: {stderr}");
            }
            other => panic!("{worker} exited {other:?}: {stderr}"),
        }
        if *was_down {
            assert_eq!(*code, Some(1), "{worker} ran against a stopped server: {stderr}");
        }
    }
    eprintln!("{} claims: {} granted before the crash, the rest failed cleanly", results.len(), granted.len());
    assert!(granted.len() >= 4, "claims succeeded before the crash: {}", granted.len());
    cluster.start_server();
    let held = leases(&status(&fx));
    for worker in &granted {
        assert!(held.contains_key(worker), "{worker} was told it has a seat; its lease must survive the crash");
    }
    let claimed: BTreeSet<&String> = results.iter().map(|r| &r.worker).collect();
    assert!(held.keys().all(|w| claimed.contains(w)));
    for (name, seats) in &list {
        assert!(held.values().filter(|a| *a == name).count() <= *seats as usize, "{name} over its seats");
    }
    // And the fleet works on: the next claim gets a seat.
    fx.ok(&["launch-env", "--worker", "after", "--holder-pid", &holder.pid()]);
}

#[test]
fn exec_keeps_its_agent_running_while_the_server_is_down() {
    let cluster = Cluster::start();
    let fx = fleet(&cluster.url(), &accounts(&[("a", 1)]));
    // Renewals every second (TTL / 3); the agent runs 5 s.
    let child = fx
        .cmd(&["exec", "--worker", "w", "--ttl", "3s", "--", "sh", "-c", "sleep 5; echo agent-finished"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    cluster.crash_server();
    std::thread::sleep(Duration::from_millis(2500));
    cluster.start_server();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(text(&out.stdout).contains("agent-finished"), "the agent ran to its end: {stderr}");
    assert!(stderr.contains("renewing the lease"), "the failed renewals were said: {stderr}");
    assert!(leases(&status(&fx)).is_empty(), "released at the end, once the server was back");
}

#[test]
fn the_database_never_holds_a_token() {
    let cluster = pg::shared();
    let fx = fleet(&cluster.url(), &accounts(&[("a", 1), ("b", 1)]));
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w", "--holder-pid", &holder.pid()]);
    let reset = 4102444800i64;
    let log = fx.write("o.txt", &format!("Claude AI usage limit reached|{reset} {CLAUDE_TOKEN}\n"));
    fx.ok(&["wall", "a", "--from-output", log.to_str().unwrap()]);
    let dump = cluster.psql(&format!(
        "SELECT l::text FROM accounts_leases l WHERE namespace = '{ns}' UNION ALL
         SELECT w::text FROM accounts_walls w WHERE namespace = '{ns}' UNION ALL
         SELECT x::text FROM accounts_last_leased x WHERE namespace = '{ns}'",
        ns = fx.namespace()
    ));
    assert!(dump.contains("\"w\"") || dump.contains(",w,"), "the rows are there: {dump}");
    assert!(dump.contains(&reset.to_string()), "the wall is there: {dump}");
    assert!(!dump.contains("FIXTURE"), "a token reached the database: {dump}");
    assert!(!dump.contains("dirs/"), "a config dir reached the database: {dump}");
}

#[test]
fn bad_urls_and_unreachable_servers_fail_cleanly() {
    // A password in the roster: refused where it stands, never echoed.
    let fx = fleet("postgres://postgres:hunter2@db.invalid/x", &accounts(&[("a", 1)]));
    let err = fx.fails(&["status"], 2);
    assert!(err.contains("roster.toml:3:7") && err.contains("PGPASSWORD") && !err.contains("hunter2"), "{err}");
    // On the command line too.
    let fx = fleet(&pg::shared().url(), &accounts(&[("a", 1)]));
    let err = fx.fails(&["--state-url", "postgres://u:hunter2@db.invalid/x", "status"], 2);
    assert!(err.contains("--state-url") && !err.contains("hunter2"), "{err}");
    // A server that is not there: one line naming it, exit 1.
    let gone = tempfile::tempdir().unwrap();
    let url = format!("postgres://postgres@/postgres?host={}", gone.path().display());
    let err = fx.fails(&["--state-url", &url, "launch-env", "--worker", "w"], 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("cannot connect to the state database postgres@{}", gone.path().display())), "{err}");
    // A user the server does not know.
    let url = pg::shared().url().replace("postgres@", "nosuchuser@");
    let err = fx.fails(&["--state-url", &url, "status"], 1);
    assert!(err.contains("nosuchuser") && err.contains("does not exist"), "{err}");
}

#[test]
fn a_schema_newer_than_this_binary_is_refused() {
    let cluster = pg::shared();
    cluster.psql("CREATE DATABASE newer_schema");
    let url = cluster.url().replace("/postgres?", "/newer_schema?");
    let fx = fleet(&url, &accounts(&[("a", 1)]));
    fx.ok(&["status"]);
    cluster.psql("SELECT 1"); // the tables exist now in newer_schema
    let out = Command::new(pg::server_bin_dir().unwrap().join("psql"))
        .args(["-X", "-q", "-h"])
        .arg(url.split("host=").nth(1).unwrap())
        .args(["-U", "postgres", "-d", "newer_schema", "-c", "INSERT INTO accounts_schema (version) VALUES (99)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = fx.fails(&["launch-env", "--worker", "w"], 1);
    assert!(err.contains("schema version 99") && err.contains("upgrade accounts"), "{err}");
}

#[test]
fn state_copy_moves_walls_and_live_leases_to_the_fleet_and_back() {
    let holder = Sleeper::new();
    let roster = "default_agent = \"claude\"\n[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"dirs/a\"\nseats = 2\n[[account]]\nname = \"b\"\nagent = \"claude\"\nconfig_dir = \"dirs/b\"\n";
    let local = Fixture::new(roster);
    local.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);
    local.ok(&["wall", "b", "--for", "7d", "--reason", "weekly"]);
    let url = pg::shared().url();
    let out = local.ok(&["--state-namespace", &local.namespace(), "state", "copy", "--to", &url]);
    assert_eq!(out, format!("copied 1 wall and 1 lease to {}\n", describe(&url, &local.namespace())));
    let namespace = local.namespace();
    let on_fleet = |args: &[&str]| {
        let mut all = vec!["--state-url", &url, "--state-namespace", &namespace];
        all.extend(args);
        local.ok(&all)
    };
    let st: serde_json::Value = serde_json::from_str(&on_fleet(&["status", "--json"])).unwrap();
    assert_eq!(leases(&st)["w1"], "a");
    assert_eq!(st["accounts"][1]["wall"]["reason"], "weekly");
    // And back, into an empty state dir.
    let back = tempfile::tempdir().unwrap();
    make_private_dir(back.path());
    let out = on_fleet(&["state", "copy", "--to", back.path().to_str().unwrap()]);
    assert!(out.starts_with("copied 1 wall and 1 lease to "), "{out}");
    let st: serde_json::Value =
        serde_json::from_str(&local.ok(&["status", "--json", "--state-dir", back.path().to_str().unwrap()])).unwrap();
    assert_eq!(leases(&st)["w1"], "a");
    assert!(st["accounts"][1]["wall"]["in_seconds"].as_i64().unwrap() > 6 * 86400);
}

fn describe(url: &str, namespace: &str) -> String {
    let socket = url.split("host=").nth(1).unwrap();
    format!("postgres@{socket} (socket, port 5432)/postgres (namespace {namespace})")
}

#[test]
fn tls_checks_the_servers_certificate_and_name() {
    let cluster = Cluster::start_tls();
    let fx = fleet(&pg::shared().url(), &accounts(&[("a", 1)]));
    let ca = cluster.ca_cert();
    let ca = ca.to_str().unwrap();
    // Encrypted and checked against the cluster's own CA: works.
    let url = cluster.tcp_url("localhost", &format!("sslmode=require&sslrootcert={ca}"));
    fx.ok(&["--state-url", &url, "status"]);
    // The server takes no plain TCP (hostnossl: reject), so that was TLS.
    let err = fx.fails(&["--state-url", &cluster.tcp_url("localhost", "sslmode=disable"), "status"], 1);
    assert!(err.contains("no encryption") || err.contains("pg_hba.conf"), "{err}");
    // A CA it does not know: refused, though libpq's require would go on.
    let err = fx.fails(&["--state-url", &cluster.tcp_url("localhost", "sslmode=require"), "status"], 1);
    assert!(err.contains("certificate") && err.contains("UnknownIssuer"), "{err}");
    // The right CA, the wrong name (the certificate is for localhost).
    let err = fx.fails(
        &["--state-url", &cluster.tcp_url("127.0.0.1", &format!("sslmode=require&sslrootcert={ca}")), "status"],
        1,
    );
    assert!(err.contains("certificate not valid for name"), "{err}");
}

/// A relay on loopback TCP to `cluster`'s socket that passes everything
/// on until the client sends a query holding `freeze_at`; from then on that
/// connection is held open and nothing more is passed either way: a server
/// frozen in the middle of an exchange, after startup and authentication.
fn freezing_relay(cluster: &Cluster, freeze_at: &'static str) -> u16 {
    let socket = cluster.socket_path();
    freezing_relay_to(freeze_at, move || {
        let server = std::os::unix::net::UnixStream::connect(&socket)?;
        Ok((Box::new(server.try_clone()?), Box::new(server)))
    })
}

/// The server's two ends, to read from and to write to.
type Ends = (Box<dyn std::io::Read + Send>, Box<dyn std::io::Write + Send>);

/// [`freezing_relay`] to whatever `connect` reaches (a server's socket, a
/// pooler's port).
fn freezing_relay_to(freeze_at: &'static str, connect: impl Fn() -> std::io::Result<Ends> + Send + 'static) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let Ok((mut server_out, mut server)) = connect() else { continue };
            let mut client_in = client.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server_out, &mut client);
            });
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = client_in.read(&mut buf) {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(freeze_at.len()).any(|w| w == freeze_at.as_bytes()) {
                        // Hold both ends open, answer nothing.
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                    seen.drain(..seen.len().saturating_sub(freeze_at.len()));
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// `args` must fail with exit 1 in under `within`, stdout empty, one line
/// on stderr naming `server`; returns that line.
fn fails_within(fx: &Fixture, args: &[&str], within: Duration, server: &str) -> String {
    let started = Instant::now();
    let mut child = fx.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > within + Duration::from_secs(10) {
            let _ = child.kill();
            panic!("accounts {args:?} hung on a server that does not answer");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(elapsed < within, "{args:?} took {elapsed:?}, more than its deadline allows: {stderr}");
    assert_eq!(text(&out.stdout), "", "{args:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(server), "{stderr}");
    stderr
}

#[test]
fn a_server_that_never_answers_fails_every_command_within_its_deadline() {
    // connect_timeout 2s (the fleet roster), statement_timeout 1s: an
    // exchange may take 2s.
    let roster_with = |fx: &Fixture, url: &str| {
        let roster = std::fs::read_to_string(fx.path("roster.toml")).unwrap();
        let roster: String =
            roster.lines().filter(|l| !l.starts_with("statement_timeout")).map(|l| format!("{l}\n")).collect();
        let url_line = roster.lines().find(|l| l.starts_with("url = ")).unwrap().to_owned();
        fx.write_roster(&roster.replace(&url_line, &format!("url = \"{url}\"\nstatement_timeout = \"1s\"")));
    };
    let holder = Sleeper::new();
    let claim = ["launch-env", "--worker", "w", "--holder-pid", &holder.pid()];

    // A listener that accepts and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    let fx = fleet("postgres://placeholder@/x", &accounts(&[("a", 1)]));
    roster_with(&fx, &format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"));
    let server = format!("postgres@127.0.0.1:{port}/postgres");
    for args in [&claim[..], &["status"], &["release", "--worker", "w"]] {
        let line = fails_within(&fx, args, Duration::from_secs(4), &server);
        assert!(line.contains("cannot connect to the state database") && line.contains("no answer"), "{line}");
    }

    // A real server, frozen (SIGSTOP): the same, and it works once thawed.
    let cluster = Cluster::start();
    let fx = fleet(&cluster.url(), &accounts(&[("a", 1)]));
    fx.ok(&["status"]);
    cluster.freeze();
    let line = fails_within(&fx, &claim, Duration::from_secs(4), "cannot connect to the state database postgres@");
    cluster.thaw();
    assert!(line.contains("no answer"), "{line}");
    fx.ok(&claim);
    fx.ok(&["release", "--worker", "w"]);

    // Frozen in the middle of a change, after startup: the exchange's own
    // deadline (statement_timeout + 1s), and no lease is left behind.
    let port = freezing_relay(&cluster, "pg_advisory_xact_lock");
    roster_with(&fx, &format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"));
    let line = fails_within(&fx, &claim, Duration::from_secs(5), &format!("postgres@127.0.0.1:{port}"));
    assert!(line.contains("the change failed at") && line.contains("no answer while waiting for a query"), "{line}");
    roster_with(&fx, &cluster.url());
    assert!(leases(&status(&fx)).is_empty(), "the frozen change left nothing");
}

#[test]
fn exec_holds_no_connection_between_renewals() {
    // 12 agents on a server that takes 8 connections, all usable by the
    // test's user: each exec connects only to renew, so all 12 run their
    // whole time on their seat.
    let cluster = Cluster::start_with("-c max_connections=8 -c superuser_reserved_connections=0");
    let fx = fleet(&cluster.url(), &accounts(&[("a", 6), ("b", 6)]));
    let agents: Vec<_> = (0..12)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(50));
            fx.cmd(&["exec", "--worker", &format!("w{i}"), "--ttl", "3s", "--", "sleep", "6"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let open = cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'accounts'");
    let during = leases(&status(&fx)).len();
    for agent in agents {
        let out = agent.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("too many clients") && !stderr.contains("without a seat"), "{stderr}");
    }
    assert_eq!(during, 12, "every agent held its seat while it ran");
    assert!(open.trim().parse::<u32>().unwrap() < 8, "connections held between renewals: {open}");
}

#[test]
fn twins_share_one_quota_across_the_fleet() {
    let fx = Fixture::new("");
    let state = format!("[state]\nurl = \"{}\"\nnamespace = \"{}\"\n", pg::shared().url(), fx.namespace());
    let roster = twins_roster(&fx, &state);
    fx.write_roster(&roster);
    twins_share_one_quota(&fx);
    // The logins live in the database as digests: no e-mail, no token.
    let dump = pg::shared().psql(&format!(
        "SELECT i::text FROM accounts_identities i WHERE namespace = '{ns}' UNION ALL
         SELECT u::text FROM accounts_usage u WHERE namespace = '{ns}'",
        ns = fx.namespace()
    ));
    assert_eq!(dump.lines().count(), 3, "one login row per account: {dump}");
    assert!(!dump.contains("example.com") && !dump.contains("sk-ant-"), "{dump}");
}

/// A host that is gone: `release --host` frees its leases at once (they
/// would last until their TTL: no other host can see its processes), and
/// only its; the host you are on is refused without --force.
#[test]
fn release_host_frees_a_vanished_hosts_leases() {
    let fx = fleet(&pg::shared().url(), &accounts(&[("a", 2), ("b", 2)]));
    let holder = Sleeper::new();
    let pid = holder.pid();
    for (host, worker) in [("gone", "g1"), ("gone", "g2"), ("here", "h1")] {
        let out = on_host(&fx, host, &["launch-env", "--worker", worker, "--holder-pid", &pid]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = on_host(&fx, "here", &["release", "--host", "here"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is this host") && text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let out = on_host(&fx, "here", &["release", "--host", "gone"]);
    assert_eq!(text(&out.stdout), "released 2 leases\n", "{}", text(&out.stderr));
    let held: Vec<String> = leases(&status(&fx)).into_keys().collect();
    assert_eq!(held, ["h1"], "only the vanished host's");
    let out = on_host(&fx, "here", &["release", "--host", "here", "--force"]);
    assert_eq!(text(&out.stdout), "released 1 lease\n", "{}", text(&out.stderr));
    assert!(leases(&status(&fx)).is_empty());
}

/// The fleet through PgBouncer in transaction mode, as fleets run it: no
/// startup options for it to refuse, every claim a transaction of its own.
/// Ten hosts race for four seats (exactly four win), a wall written on one
/// host holds on another, and an `exec` renews its lease through it.
#[test]
fn the_fleet_works_through_pgbouncer_in_transaction_mode() {
    let cluster = Cluster::start();
    let bouncer = Bouncer::start(&cluster);
    let fx = fleet(&bouncer.url(), &accounts(&[("a", 2), ("b", 2)]));
    let holder = Sleeper::new();
    let pid = holder.pid();
    let racers: Vec<_> = (0..10)
        .map(|i| {
            fx.cmd(&["launch-env", "--worker", &format!("w{i}"), "--holder-pid", &pid])
                .env("ACCOUNTS_HOST_ID", format!("host-{i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<Option<i32>> = racers.into_iter().map(|c| c.wait_with_output().unwrap().status.code()).collect();
    assert_eq!(codes.iter().filter(|c| **c == Some(0)).count(), 4, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == Some(75)).count(), 6, "{codes:?}");
    assert_eq!(leases(&status(&fx)).len(), 4);
    assert!(on_host(&fx, "host-0", &["release", "--host", "host-1"]).status.success());
    for i in 0..10 {
        on_host(&fx, &format!("host-{i}"), &["release", "--worker", &format!("w{i}")]);
    }
    let out = on_host(&fx, "host-a", &["wall", "a", "--for", "1h", "--reason", "it's \\ weekly"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let st: serde_json::Value = serde_json::from_slice(&on_host(&fx, "host-b", &["status", "--json"]).stdout).unwrap();
    assert_eq!(st["accounts"][0]["wall"]["reason"], "it's \\ weekly", "a literal with a quote and a backslash");
    let out = fx.cmd(&["exec", "--worker", "renewing", "--ttl", "3s", "--", "sleep", "4"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("renewing the lease"), "every renewal went through: {}", text(&out.stderr));
    let log = cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'");
    assert_eq!(log.trim(), "0");
}

/// A host frozen inside its transaction (it holds the namespace's lock)
/// behind PgBouncer: the transaction's own idle timeout, set inside it,
/// ends it on the server, so the other hosts get their seats within
/// seconds. (Set as a startup option, PgBouncer refused the connection;
/// with `ignore_startup_parameters = options` the timeouts were lost and
/// every other host waited as long as the frozen one.)
#[test]
fn a_host_frozen_in_its_transaction_behind_pgbouncer_holds_no_one_up() {
    let cluster = Cluster::start();
    let bouncer = Bouncer::start(&cluster);
    let fx = fleet(&bouncer.url(), &accounts(&[("a", 2)]));
    // statement_timeout 1s: the idle-in-transaction timeout is 2s.
    let roster = std::fs::read_to_string(fx.roster()).unwrap();
    fx.write_roster(
        &roster.replace("connect_timeout = \"2s\"\n", "connect_timeout = \"2s\"\nstatement_timeout = \"1s\"\n"),
    );
    fx.ok(&["status"]);
    let holder = Sleeper::new();
    let pid = holder.pid();
    // Host A reaches the pooler through a relay that stops passing its
    // bytes at its commit: A has the lock, and then says nothing.
    let bouncer_port = bouncer.port;
    let relay = freezing_relay_to("COMMIT", move || {
        let server = std::net::TcpStream::connect(("127.0.0.1", bouncer_port))?;
        Ok((Box::new(server.try_clone()?), Box::new(server)))
    });
    let frozen = fx
        .cmd(&["launch-env", "--worker", "frozen", "--holder-pid", &pid])
        .env("ACCOUNTS_STATE_URL", format!("postgres://postgres@127.0.0.1:{relay}/postgres?sslmode=disable"))
        .env("ACCOUNTS_HOST_ID", "frozen-host")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let claimed = loop {
        let out = on_host(&fx, "host-b", &["launch-env", "--worker", "b", "--holder-pid", &pid]);
        if out.status.success() {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "host b never got a seat: {}", text(&out.stderr));
    };
    assert!(claimed < Duration::from_secs(6), "host b waited {claimed:?} on a frozen host");
    let out = frozen.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "the frozen host printed no env");
    let held: Vec<String> = leases(&status(&fx)).into_keys().collect();
    assert_eq!(held, ["b"], "the frozen host's change was rolled back");
}

//! `accounts exec` end to end: the real binary runs real shell scripts as
//! agents, the built-in Claude plugin reads their wall messages, and the
//! state file shows what was recorded.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

/// Two Claude accounts, `a` and `b`, one seat each, with static tokens.
fn fixture() -> Fixture {
    let mut roster = String::from("default_agent = \"claude\"\nwall_cooldown = \"30m\"\n");
    for name in ["a", "b"] {
        roster += &format!(
            "[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"dirs/{name}\"\ntoken_file = \"tokens/{name}\"\n"
        );
    }
    let fx = Fixture::new(&roster);
    for name in ["a", "b"] {
        fx.write(&format!("tokens/{name}"), CLAUDE_TOKEN);
    }
    fx
}

/// `accounts exec ARGS -- sh -c SCRIPT`, with `$TEST_BIN` naming the binary
/// so the script can look at the state.
fn exec_cmd(fx: &Fixture, args: &[&str], script: &str) -> Command {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "sh", "-c", script]);
    let mut cmd = fx.cmd(&all);
    cmd.env("TEST_BIN", &*BIN);
    cmd
}

fn exec(fx: &Fixture, args: &[&str], script: &str) -> Output {
    exec_cmd(fx, args, script).output().unwrap()
}

fn status(fx: &Fixture) -> serde_json::Value {
    serde_json::from_str(&fx.ok(&["status", "--json"])).unwrap()
}

fn account<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["accounts"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap()
}

fn lease_count(fx: &Fixture) -> usize {
    let s = status(fx);
    s["accounts"].as_array().unwrap().iter().map(|a| a["leases"].as_array().unwrap().len()).sum()
}

/// The next `hour`:00 in `zone` after `after`, as the status output shows it.
fn next_clock_time(after: Timestamp, hour: i8, zone: &str) -> String {
    let zone = TimeZone::get(zone).unwrap();
    let here = after.to_zoned(zone.clone());
    let today = here.date().to_datetime(Time::new(hour, 0, 0, 0).unwrap()).to_zoned(zone.clone()).unwrap();
    let next = if today.timestamp() > after { today } else { today.tomorrow().unwrap() };
    next.timestamp().to_string()
}

/// A whole second three days from now.
fn in_three_days() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + 3 * 86_400).unwrap()
}

/// A wall message the Claude plugin reads, for account `a` only.
const WALL_ON_A: &str = r#"
echo "working on $ACCOUNTS_ACCOUNT"
if [ "$ACCOUNTS_ACCOUNT" = a ]; then
  echo "You've hit your limit · resets 3pm (Europe/Paris)"
  sleep 30
fi
echo "finished on $ACCOUNTS_ACCOUNT"
"#;

#[test]
fn a_wall_moves_the_command_to_the_next_seat() {
    let fx = fixture();
    let before = Timestamp::now();
    let out = exec(&fx, &["--account", "a", "--rotate", "--grace", "2s"], WALL_ON_A);
    let after = Timestamp::now();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stdout.contains("working on a\n"), "{stdout}");
    assert!(stdout.ends_with("working on b\nfinished on b\n"), "{stdout}");
    assert!(!stdout.contains("finished on a"), "the walled run was stopped: {stdout}");
    assert!(stderr.contains("moving worker"), "{stderr}");

    // Walled until the reset the plugin parsed: the next 3pm in Paris.
    let s = status(&fx);
    let wall = &account(&s, "a")["wall"];
    let expected = [next_clock_time(before, 15, "Europe/Paris"), next_clock_time(after, 15, "Europe/Paris")];
    assert!(expected.contains(&wall["until"].as_str().unwrap().to_owned()), "{wall} vs {expected:?}");
    assert_eq!(wall["reason"], "You've hit your limit · resets 3pm (Europe/Paris)");
    assert!(account(&s, "b")["wall"].is_null());
    assert_eq!(lease_count(&fx), 0, "the lease is released after the rotation and the exit");
}

#[test]
fn a_wall_printed_just_before_exiting_still_rotates() {
    let fx = fixture();
    let reset = in_three_days();
    let script = format!(
        r#"
if [ "$ACCOUNTS_ACCOUNT" = a ]; then echo "Claude AI usage limit reached|{}"; exit 1; fi
echo "ran on $ACCOUNTS_ACCOUNT"
"#,
        reset.as_second()
    );
    let out = exec(&fx, &["--account", "a", "--rotate"], &script);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("ran on b\n"));
    // The epoch form.
    assert_eq!(account(&status(&fx), "a")["wall"]["until"], reset.to_string());
}

#[test]
fn exhaustion_exits_75() {
    let fx = fixture();
    let always = r#"echo "Claude AI usage limit reached|4102444800"; sleep 30"#;
    let out = exec(&fx, &["--rotate", "--grace", "1s"], always);
    assert_eq!(out.status.code(), Some(75), "every seat walled: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("all 2 claude accounts are walled"), "{}", text(&out.stderr));
    let s = status(&fx);
    assert!(!account(&s, "a")["wall"].is_null() && !account(&s, "b")["wall"].is_null());
    assert_eq!(lease_count(&fx), 0);

    let fx = fixture();
    let out = exec(&fx, &["--account", "a", "--rotate", "--max-rotations", "0", "--grace", "1s"], always);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--max-rotations 0"), "{}", text(&out.stderr));
    let s = status(&fx);
    assert!(!account(&s, "a")["wall"].is_null());
    assert!(account(&s, "b")["wall"].is_null(), "no rotation was allowed, so b never ran");
    assert_eq!(lease_count(&fx), 0);
}

#[test]
fn a_child_that_ignores_sigterm_is_killed_after_the_grace() {
    let fx = fixture();
    let script = r#"
if [ "$ACCOUNTS_ACCOUNT" = a ]; then
  trap '' TERM
  echo "Claude AI usage limit reached|4102444800"
  while :; do sleep 0.1; done
fi
echo "ran on $ACCOUNTS_ACCOUNT"
"#;
    let started = Instant::now();
    let out = exec(&fx, &["--account", "a", "--rotate", "--grace", "300ms"], script);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("killing it"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("ran on b\n"));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn exit_codes_are_the_childs() {
    let fx = fixture();
    assert_eq!(exec(&fx, &[], "exit 7").status.code(), Some(7));
    assert_eq!(exec(&fx, &[], "exit 0").status.code(), Some(0));
    assert_eq!(exec(&fx, &[], "kill -TERM $$").status.code(), Some(143), "128 + SIGTERM");
    assert_eq!(exec(&fx, &["--rotate"], "kill -KILL $$").status.code(), Some(137), "128 + SIGKILL");
    let out = fx.run(&["exec", "--", "/nonexistent/agent"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).contains("cannot run"));
    assert_eq!(lease_count(&fx), 0, "every way out releases the lease");
}

#[test]
fn the_child_gets_the_accounts_env_and_nothing_else_leaks() {
    let fx = fixture();
    let script = r#"echo "account=$ACCOUNTS_ACCOUNT dir=$CLAUDE_CONFIG_DIR token=$CLAUDE_CODE_OAUTH_TOKEN api=${ANTHROPIC_API_KEY-unset}""#;
    let mut cmd = exec_cmd(&fx, &["--account", "b"], script);
    // A stale key from the caller's env is removed, not passed through.
    cmd.env("ANTHROPIC_API_KEY", "sk-ant-api03-stale");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = format!("account=b dir={} token={CLAUDE_TOKEN} api=unset\n", fx.path("dirs/b").display());
    assert_eq!(text(&out.stdout), expected);
    assert!(!text(&out.stderr).contains(CLAUDE_TOKEN), "accounts itself never prints the token");
}

#[test]
fn the_lease_is_held_while_running_renewed_and_released_after() {
    let fx = fixture();
    // TTL 3s (the shortest exec takes) renews every second: after 4s the
    // lease is still there.
    let script = r#"sleep 4; "$TEST_BIN" status --json"#;
    let out = exec(&fx, &["--worker", "w1", "--ttl", "3s"], script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let during: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let leases: Vec<_> =
        during["accounts"].as_array().unwrap().iter().flat_map(|a| a["leases"].as_array().unwrap().clone()).collect();
    assert_eq!(leases.len(), 1, "{during}");
    assert_eq!(leases[0]["worker"], "w1");
    assert_eq!(lease_count(&fx), 0, "released after a normal exit");
}

#[test]
fn signals_reach_the_child_and_the_lease_is_released() {
    let fx = fixture();
    let script = r#"
trap 'echo got USR1' USR1
trap 'echo got TERM; exit 42' TERM
echo ready
while :; do sleep 0.05; done
"#;
    for rotate in [false, true] {
        let args: &[&str] = if rotate { &["--rotate"] } else { &[] };
        let mut child = exec_cmd(&fx, args, script).stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        assert_eq!(lease_count(&fx), 1);
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::USR1).unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "got USR1");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "got TERM");
        assert_eq!(child.wait().unwrap().code(), Some(42), "rotate: {rotate}");
        assert_eq!(lease_count(&fx), 0, "released after a signal");
    }
}

#[test]
fn nesting_is_refused_unless_asked_for() {
    let fx = fixture();
    let mut cmd = exec_cmd(&fx, &[], "echo inner");
    let out = cmd.env("ACCOUNTS_ACCOUNT", "outer").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("--nested"), "{}", text(&out.stderr));
    let out = exec_cmd(&fx, &["--nested"], "echo $ACCOUNTS_ACCOUNT").env("ACCOUNTS_ACCOUNT", "outer").output().unwrap();
    assert!(out.status.success());
    assert!(["a\n", "b\n"].contains(&text(&out.stdout).as_str()));
}

#[test]
fn wait_sleeps_until_a_wall_lifts() {
    let fx = fixture();
    fx.ok(&["wall", "a", "--for", "1h"]);
    fx.ok(&["wall", "b", "--for", "1h"]);
    assert_eq!(exec(&fx, &[], "echo ran").status.code(), Some(75), "no seat and no --wait");
    // An explicit reset replaces the longer wall: a lifts in 2 s.
    fx.ok(&["wall", "a", "--for", "2s"]);
    let started = Instant::now();
    let out = exec(&fx, &["--wait"], "echo ran on $ACCOUNTS_ACCOUNT");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ran on a\n");
    assert!(text(&out.stderr).contains("waiting"), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("to go"), "no countdown off a terminal: {}", text(&out.stderr));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // On a terminal it counts down, in place, and wipes its line at the end.
    fx.ok(&["wall", "a", "--for", "3s"]);
    let (master, slave) = open_pty();
    let mut waiting = exec_cmd(&fx, &["--wait", "-q"], "echo ran on $ACCOUNTS_ACCOUNT");
    let waiting = waiting.stderr(slave).stdout(Stdio::piped()).spawn().unwrap();
    let shown = terminal_output(master, Duration::from_millis(4500));
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "ran on a\n");
    for second in ["3s to go", "2s to go", "1s to go"] {
        assert!(shown.contains(&format!("\raccounts: {second} (--wait)\x1b[K")), "{second}: {shown:?}");
    }
    assert!(shown.ends_with("\r\x1b[K"), "the countdown line is wiped: {shown:?}");
}

#[test]
fn output_passes_through_byte_for_byte() {
    let fx = fixture();
    let mut data = vec![0u8; 10_000_000];
    rand_fill(&mut data);
    let file = fx.path("random.bin");
    std::fs::write(&file, &data).unwrap();
    let script = format!("cat '{}'; cat '{}' >&2", file.display(), file.display());
    // -q: no line of exec's own on stderr, only the agent's bytes.
    let out = exec(&fx, &["--rotate", "-q"], &script);
    assert!(out.status.success());
    assert!(out.stdout == data, "stdout differs ({} bytes vs {})", out.stdout.len(), data.len());
    assert!(out.stderr == data, "stderr differs ({} bytes vs {})", out.stderr.len(), data.len());
}

/// Random bytes from the kernel.
fn rand_fill(buf: &mut [u8]) {
    std::fs::File::open("/dev/urandom").unwrap().read_exact(buf).unwrap();
}

#[test]
fn under_rotate_in_a_terminal_the_child_still_sees_a_terminal() {
    let fx = fixture();
    // The wall comes in colour and with a carriage return, as a TUI prints it.
    let script = r#"
if [ -t 1 ]; then echo "tty on $ACCOUNTS_ACCOUNT"; else echo "no tty on $ACCOUNTS_ACCOUNT"; fi
if [ "$ACCOUNTS_ACCOUNT" = a ]; then
  printf '\033[1mYou'"'"'ve hit your limit\033[0m · resets 3pm (Europe/Paris)\r\n'
  sleep 30
fi
"#;
    let (master, slave) = open_pty();
    let mut child = exec_cmd(&fx, &["--account", "a", "--rotate", "--grace", "2s"], script)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut reader = std::fs::File::from(master.as_fd().try_clone_to_owned().unwrap());
    let collected = std::thread::spawn(move || {
        let mut all = Vec::new();
        // EIO once every slave is closed.
        let _ = reader.read_to_end(&mut all);
        all
    });
    let exit = child.wait().unwrap();
    drop(master);
    // Everything the child printed is in; the reader may wait on the test's own
    // slave copies, which `Command` dropped already.
    let output = text(&collected.join().unwrap());
    assert_eq!(exit.code(), Some(0), "{output}");
    assert!(output.contains("tty on a"), "{output}");
    assert!(output.contains("tty on b"), "{output}");
    assert!(!output.contains("no tty"), "{output}");
    assert!(!account(&status(&fx), "a")["wall"].is_null(), "the coloured wall was read");

    // Without a terminal the same command gets pipes.
    let out = exec(&fx, &["--account", "b", "--rotate"], "[ -t 1 ] && echo tty || echo pipe");
    assert_eq!(text(&out.stdout), "pipe\n");
}

#[test]
fn wall_from_output_finds_the_reset_or_records_nothing() {
    let fx = fixture();
    let log = fx.write("agent.log", "some work\n\u{1b}[2mWeekly limit reached · resets 10am (Asia/Seoul)\u{1b}[0m\n");
    let before = Timestamp::now();
    let said = fx.ok(&["wall", "a", "--from-output", log.to_str().unwrap()]);
    let after = Timestamp::now();
    assert!(said.starts_with("walled a until "), "{said}");
    let until = account(&status(&fx), "a")["wall"]["until"].as_str().unwrap().to_owned();
    let expected = [next_clock_time(before, 10, "Asia/Seoul"), next_clock_time(after, 10, "Asia/Seoul")];
    assert!(expected.contains(&until), "{until} vs {expected:?}");

    // From stdin.
    let mut cmd = fx.cmd(&["wall", "b", "--from-output", "-"]);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    let reset = in_three_days();
    let line = format!("Claude AI usage limit reached|{}\n", reset.as_second());
    child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(account(&status(&fx), "b")["wall"]["until"], reset.to_string());

    // No wall: exit 1, nothing on stdout, nothing recorded.
    let fx = fixture();
    let log = fx.write("agent.log", "all good\n");
    let stderr = fx.fails(&["wall", "a", "--from-output", log.to_str().unwrap()], 1);
    assert!(stderr.contains("no claude rate-limit message found in"), "{stderr}");
    assert!(account(&status(&fx), "a")["wall"].is_null());
    let stderr = fx.fails(&["wall", "a", "--from-output", "/nonexistent.log"], 2);
    assert!(stderr.contains("cannot read /nonexistent.log"), "{stderr}");
}

/// Two Codex accounts, `x` and `y`.
fn codex_fixture() -> Fixture {
    let mut roster = String::from("default_agent = \"codex\"\nwall_cooldown = \"60m\"\n");
    for name in ["x", "y"] {
        roster += &format!("[[account]]\nname = \"{name}\"\nagent = \"codex\"\nconfig_dir = \"dirs/{name}\"\n");
    }
    Fixture::new(&roster)
}

/// The message arrives in two writes 200 ms apart, the reset in the second.
const SPLIT_WALL: &str = r#"
if [ "$ACCOUNTS_ACCOUNT" = x ]; then
  printf "You've hit your usage limit. Upgrade to Pro or"
  sleep 0.2
  printf " try again in 58 hours.\n"
  sleep 30
fi
echo "done on $ACCOUNTS_ACCOUNT"
"#;

fn walled_for_58_hours(fx: &Fixture, started: Timestamp) {
    let until: Timestamp = account(&status(fx), "x")["wall"]["until"].as_str().unwrap().parse().unwrap();
    let hours = (until - started).total(jiff::Unit::Hour).unwrap();
    assert!((57.9..58.1).contains(&hours), "walled for {hours} h, not until the reset the message gave");
}

#[test]
fn a_wall_split_across_two_writes_keeps_its_reset() {
    let fx = codex_fixture();
    let started = Timestamp::now();
    let out = exec(&fx, &["--account", "x", "--rotate", "--grace", "2s"], SPLIT_WALL);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("done on y\n"), "{}", text(&out.stdout));
    walled_for_58_hours(&fx, started);

    // The same on a pseudo-terminal.
    let fx = codex_fixture();
    let (master, slave) = open_pty();
    let started = Timestamp::now();
    let mut child = exec_cmd(&fx, &["--account", "x", "--rotate", "--grace", "2s"], SPLIT_WALL)
        .stdin(Stdio::null())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut reader = std::fs::File::from(master.as_fd().try_clone_to_owned().unwrap());
    let collected = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = reader.read_to_end(&mut all);
        all
    });
    assert!(child.wait().unwrap().success());
    drop(master);
    let output = text(&collected.join().unwrap());
    assert!(output.contains("done on y"), "{output}");
    walled_for_58_hours(&fx, started);
}

#[test]
fn a_wall_the_agent_says_it_retries_past_is_withdrawn() {
    // The reference third-party plugin: "ACME QUOTA" without a reset is held
    // a moment for one; "acme: retrying on its own" after it withdraws it.
    let mut roster = String::from("wall_cooldown = \"30m\"\n");
    for name in ["a", "b"] {
        roster += &format!("[[account]]\nname = \"{name}\"\nagent = \"acme\"\nconfig_dir = \"dirs/{name}\"\n");
    }
    let fx = Fixture::new(&roster);
    std::fs::copy(thirdparty_plugin(), fx.plugin_dir().join("acme.wasm")).unwrap();
    let retried = "echo 'ACME QUOTA'; sleep 0.3; echo 'acme: retrying on its own'; sleep 1.5; echo done";
    let out = exec(&fx, &["--rotate", "--account", "a"], retried);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout.matches("done").count(), 1, "one run, not restarted: {stdout}");
    assert!(
        stderr.contains("not a wall after all: the agent retries by itself (acme: retrying on its own)"),
        "{stderr}"
    );
    assert!(account(&status(&fx), "a")["wall"].is_null());
    // Without the line, the same quota is a wall (held, then walled for the
    // cooldown) and the run moves on.
    let walled = "echo 'ACME QUOTA'; sleep 1.5; echo done";
    let out = exec(&fx, &["--rotate", "--account", "a"], walled);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("moving worker"), "{}", text(&out.stderr));
    assert!(!account(&status(&fx), "a")["wall"].is_null());
}

/// With a claude and a codex account, no `--agent` and no `default_agent`,
/// the command's own program picks the kind; a program another kind claims
/// is refused on this kind's seat (it would run under the wrong login).
#[test]
fn exec_takes_the_kind_whose_plugin_claims_the_command() {
    let fx = Fixture::new(
        "[[account]]\nname = \"x\"\nagent = \"codex\"\nconfig_dir = \"dirs/x\"\n\
         [[account]]\nname = \"c\"\nagent = \"claude\"\nconfig_dir = \"dirs/c\"\ntoken_file = \"tokens/c\"\n",
    );
    fx.write("tokens/c", CLAUDE_TOKEN);
    // A login on file (its content is codex's business, not this test's).
    fx.write("dirs/x/auth.json", "{}");
    for program in ["claude", "codex"] {
        let path =
            fx.write(&format!("bin/{program}"), "#!/bin/sh\necho \"$(basename \"$0\") $* on $ACCOUNTS_ACCOUNT\"\n");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", fx.path("bin").display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        let mut cmd = fx.cmd(args);
        cmd.env("PATH", &path);
        cmd.output().unwrap()
    };
    let out = run(&["exec", "--rotate", "--", "claude", "-p", "hi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "claude -p hi on c\n");
    let said = text(&out.stderr);
    assert!(said.starts_with("accounts: worker ") && said.ends_with(" on c (claude)\n"), "one line says where: {said}");
    let out = run(&["exec", "-q", "--", fx.path("bin/codex").to_str().unwrap(), "exec", "hi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "codex exec hi on x\n", "a path names its program too");
    assert_eq!(text(&out.stderr), "", "-q");

    let refused = |args: &[&str], says: &str| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    };
    refused(&["exec", "--", "sh", "-c", "true"], "several agents; pass --agent KIND");
    refused(&["exec", "--agent", "codex", "--", "claude", "-p", "hi"], "`claude` is the claude agent's program");
    refused(&["exec", "--account", "x", "--", "claude"], "codex seat (account x)");
    assert_eq!(lease_count(&fx), 0, "a refused run takes no seat");
}

/// A wall's reset reads on the user's clock with the zone's name, in
/// `wall`'s answer and the status table; `--json` keeps RFC 3339 in UTC.
#[test]
fn walls_show_on_the_users_clock() {
    let fx = fixture();
    let until = Timestamp::from_second((Timestamp::now().as_second() / 60 + 5 * 60 + 39) * 60).unwrap();
    let rfc = until.to_string();
    for zone in ["Europe/Paris", "America/New_York"] {
        let shown = until.to_zoned(TimeZone::get(zone).unwrap()).strftime("%H:%M %Z").to_string();
        let mut wall = fx.cmd(&["wall", "a", "--until", &rfc]);
        let out = wall.env("TZ", zone).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains(&format!("until {shown} (in 5h3")), "{zone}: {}", text(&out.stdout));
        let table = text(&fx.cmd(&["status"]).env("TZ", zone).output().unwrap().stdout);
        let row = table.lines().find(|l| l.starts_with("a ")).unwrap();
        assert!(row.contains(&format!("walled until {shown} (in 5h3")), "{zone}: {table}");
    }
    assert_eq!(account(&status(&fx), "a")["wall"]["until"], rfc, "--json stays UTC");
}

/// What a program wrote to the terminal `master` within `within`, read on
/// a thread (a pty read blocks).
fn terminal_output(master: std::os::fd::OwnedFd, within: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::fs::File::from(master);
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(bytes) => out.extend(bytes),
            Err(_) => break,
        }
    }
    text(&out)
}

/// `status --watch` redraws the table on the terminal with the time and a
/// countdown to the next reset, picking up a wall set meanwhile; in a pipe
/// it refuses, since there is nothing to redraw.
#[test]
fn status_watch_redraws_with_a_countdown() {
    let fx = fixture();
    fx.ok(&["wall", "b", "--for", "2h"]);
    let (master, slave) = open_pty();
    let mut watch = fx.cmd(&["status", "--watch", "--interval", "500ms"]).stdout(slave).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    fx.ok(&["wall", "a", "--for", "30m"]);
    let shown = terminal_output(master, Duration::from_millis(1500));
    watch.kill().unwrap();
    watch.wait().unwrap();
    let frames: Vec<&str> = shown.split("\x1b[H\x1b[2J").filter(|f| !f.is_empty()).collect();
    assert!(frames.len() >= 4, "{} frames: {shown}", frames.len());
    let first = frames[0];
    assert!(first.starts_with("every 500ms \u{b7} "), "{first}");
    assert!(first.contains("next reset: b in 2h00m00s") || first.contains("next reset: b in 1h59m"), "{first}");
    assert!(first.contains("ACCOUNT") && first.contains("walled until"), "{first}");
    let last = frames.last().unwrap();
    assert!(
        last.contains("next reset: a in 29m") || last.contains("next reset: a in 30m00s"),
        "the wall set meanwhile: {last}"
    );
    let err = fx.fails(&["status", "--watch"], 2);
    assert!(err.contains("--watch redraws a terminal"), "{err}");
}

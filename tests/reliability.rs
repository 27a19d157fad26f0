//! Promises kept under bad input and bad luck: outputs that cannot be
//! written, a lock taken from outside, files that are not files, ids and
//! paths that are wrong, a supervisor killed under its agent, and the
//! pseudo-terminal's corner cases. The real binary, real files, real
//! processes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Claude accounts `a` and `b`, one seat each.
fn fixture() -> Fixture {
    let mut roster = String::from("default_agent = \"claude\"\n");
    for name in ["a", "b"] {
        roster += &format!("[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"d/{name}\"\n");
    }
    Fixture::new(&roster)
}

fn status(fx: &Fixture) -> serde_json::Value {
    serde_json::from_str(&fx.ok(&["status", "--json"])).unwrap()
}

/// `status --json` without its clock reading: what the state holds.
fn state_seen(fx: &Fixture) -> serde_json::Value {
    let mut seen = status(fx);
    seen.as_object_mut().unwrap().remove("now");
    drop_countdowns(&mut seen);
    seen
}

/// Without `in_seconds`, `expires_in_seconds`: they count down with the clock.
fn drop_countdowns(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|key, _| !key.ends_with("in_seconds"));
            map.values_mut().for_each(drop_countdowns);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_countdowns),
        _ => {}
    }
}

fn workers(fx: &Fixture) -> Vec<String> {
    let mut out = Vec::new();
    for a in status(fx)["accounts"].as_array().unwrap() {
        for l in a["leases"].as_array().unwrap() {
            out.push(l["worker"].as_str().unwrap().to_owned());
        }
    }
    out.sort();
    out
}

/// Every entry of the state dir with its bytes (regular files under 1 MiB)
/// or what it is (anything else: the tests plant links to /dev/zero and
/// huge sparse files).
fn state_files(fx: &Fixture) -> Vec<(String, Vec<u8>)> {
    let describe = |path: &std::path::Path| {
        let meta = std::fs::symlink_metadata(path).unwrap();
        if meta.is_file() && meta.len() < 1 << 20 {
            std::fs::read(path).unwrap()
        } else {
            format!("{:?} {}", meta.file_type(), meta.len()).into_bytes()
        }
    };
    let mut files: Vec<_> = std::fs::read_dir(fx.state_dir())
        .map(|entries| {
            entries
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name().into_string().unwrap(), describe(&e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Run with stdout on /dev/full: the write fails.
fn to_full_disk(fx: &Fixture, args: &[&str]) -> std::process::Output {
    fx.cmd(args).stdout(std::fs::File::create("/dev/full").unwrap()).output().unwrap()
}

#[test]
fn an_env_that_cannot_be_written_leases_nothing() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);
    // Compared as read: a copy prepared and never committed may stay in a
    // slot, passed over.
    let before = state_seen(&fx);

    let out = to_full_disk(&fx, &["launch-env", "--worker", "w2", "--holder-pid", &holder.pid()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("writing to stdout"), "{}", text(&out.stderr));
    assert_eq!(state_seen(&fx), before, "launch-env >/dev/full kept its lease");

    let out = to_full_disk(&fx, &["rotate", "--worker", "w1", "--holder-pid", &holder.pid()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(state_seen(&fx), before, "rotate >/dev/full walled or moved");

    let out = to_full_disk(&fx, &["allocate", "--holder-pid", &holder.pid(), "x1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(state_seen(&fx), before, "allocate >/dev/full kept its lease");
    assert_eq!(workers(&fx), ["w1"]);
}

/// `accounts args` with every `syscall` failing with ENOSPC, as on a full
/// disk (strace's fault injection; no filesystem to fill).
fn on_full_state_disk(fx: &Fixture, syscall: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={syscall}")])
        .args(["-e", &format!("inject={syscall}:error=ENOSPC")])
        .arg(&*BIN)
        .args(args);
    fx.point_at_fixture(&mut cmd);
    cmd.output().expect("strace is installed (tests/run installs it)")
}

#[test]
fn a_full_state_disk_prints_no_env_and_changes_nothing() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);
    let before = state_seen(&fx);
    // The lease copy is written with pwrite; the walls file (rotate walls
    // the account it leaves) is fsynced, where a full disk can fail too.
    for (syscall, args) in [
        ("pwrite64", &["launch-env", "--worker", "w2", "--holder-pid", &holder.pid()][..]),
        ("pwrite64", &["rotate", "--worker", "w1", "--holder-pid", &holder.pid(), "--for", "5m"]),
        ("fsync", &["rotate", "--worker", "w1", "--holder-pid", &holder.pid(), "--for", "5m"]),
    ] {
        let out = on_full_state_disk(&fx, syscall, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{syscall} {args:?}: {stderr}");
        assert_eq!(text(&out.stdout), "", "{syscall} {args:?}: an env was printed though nothing was leased");
        assert!(stderr.contains("No space left on device"), "{stderr}");
        // What reads the state sees it as it was; a pending copy left in a
        // slot is passed over.
        assert_eq!(state_seen(&fx), before, "{syscall} {args:?} changed the state");
    }
    assert_eq!(workers(&fx), ["w1"]);
}

#[test]
fn the_lock_cannot_be_deleted_from_under_its_holder() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);
    // Hold the state lock from outside for a second, and delete every file
    // that could be taken for a lock meanwhile.
    let mut locker = Command::new("flock").arg(fx.state_dir()).args(["sleep", "1"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::fs::remove_file(fx.state_dir().join("state.lock"));
    let started = Instant::now();
    fx.ok(&["launch-env", "--worker", "w2", "--holder-pid", &holder.pid()]);
    assert!(started.elapsed() >= Duration::from_millis(600), "a second writer got in while the lock was held");
    locker.wait().unwrap();
}

/// `sh -c` agent that starts a grandchild and a daemon (double fork,
/// own session, like `nohup`/`setsid` tools and `npx` servers), writes
/// their pids and its own to `pids`, then runs `tail`.
fn job_script(pids: &std::path::Path, tail: &str) -> String {
    let pids = pids.display();
    format!(
        "sleep 600 & echo $! >> '{pids}'; \
         setsid sh -c 'sleep 600 </dev/null >/dev/null 2>&1 & echo $! >> \"{pids}\"' </dev/null >/dev/null 2>&1 & \
         wait $!; echo $$ >> '{pids}'; echo ready >> '{pids}'; {tail}"
    )
}

/// The pids `job_script` wrote, once it wrote them all.
fn job_pids(pids: &std::path::Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(pids).unwrap_or_default();
        if text.ends_with("ready\n") {
            return text.lines().filter_map(|l| l.parse().ok()).collect();
        }
        assert!(Instant::now() < deadline, "the agent never started its job: {text:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// Wait until none of `pids` runs; `why` says what it would mean if one did.
fn all_gone(pids: &[i32], why: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(pid) = pids.iter().find(|pid| alive(**pid)) {
        assert!(Instant::now() < deadline, "{why}: pid {pid} of {pids:?} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_exec_takes_its_whole_job_with_it() {
    // Plain (the agent on our stdio) and --rotate (its output on pipes we
    // read): the job is the agent, its grandchild and its daemon.
    for args in [&["exec", "--account", "a", "--worker", "e"][..], &["exec", "--rotate", "--worker", "e"]] {
        let fx = fixture();
        let pids = fx.path("job.pids");
        let script = job_script(&pids, "exec sleep 600");
        let mut all = args.to_vec();
        all.extend(["--", "sh", "-c", &script]);
        let mut exec = fx.cmd(&all).stdout(Stdio::null()).spawn().unwrap();
        let job = job_pids(&pids);
        assert_eq!(job.len(), 3, "{job:?}");
        assert!(job.iter().all(|pid| alive(*pid)), "{job:?}");
        assert_eq!(workers(&fx), ["e"]);
        Command::new("kill").args(["-KILL", &exec.id().to_string()]).status().unwrap();
        exec.wait().unwrap();
        all_gone(&job, &format!("{args:?}: the job outlived its exec and runs on a freed seat"));
        assert!(workers(&fx).is_empty(), "the seat is free again");
    }
}

#[test]
fn what_an_agent_leaves_running_ends_with_it() {
    let fx = fixture();
    let pids = fx.path("job.pids");
    // The agent exits at once; its grandchild and daemon would run on.
    let script = job_script(&pids, "exit 3");
    let out = fx.run(&["exec", "--worker", "e", "--grace", "1s", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(3), "the agent's own code: {}", text(&out.stderr));
    all_gone(&job_pids(&pids), "a process the agent left behind outlived the job");
    assert!(workers(&fx).is_empty());
    // One that ignores SIGTERM is killed after the grace (twice: to finish,
    // then from SIGTERM to SIGKILL).
    std::fs::remove_file(&pids).unwrap();
    let stubborn = format!("trap '' TERM; {}", job_script(&pids, "exit 0"));
    let started = Instant::now();
    let out = fx.run(&["exec", "--worker", "e", "--grace", "500ms", "--", "sh", "-c", &stubborn]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    all_gone(&job_pids(&pids), "a leftover that ignores SIGTERM outlived the grace");
    assert!(started.elapsed() < Duration::from_secs(8));
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

/// Run `args`, expecting `code` within a few seconds (no hang), empty
/// stdout, and the state as it was. Returns stderr.
fn refused_promptly(fx: &Fixture, args: &[&str], code: i32) -> String {
    let before = state_files(fx);
    let mut child = fx.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("accounts {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "accounts {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "accounts {args:?} printed {}", text(&out.stdout));
    assert_eq!(state_files(fx), before, "accounts {args:?} changed the state");
    stderr
}

fn mkfifo(path: &std::path::Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR, 0).unwrap();
}

#[test]
fn files_that_are_not_files_are_refused_without_hanging() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);

    // The roster.
    let err = refused_promptly(&fx, &["--roster", "/dev/zero", "status"], 2);
    assert!(err.contains("/dev/zero") && err.contains("character device"), "{err}");
    let fifo = fx.path("roster.fifo");
    mkfifo(&fifo);
    let err = refused_promptly(&fx, &["--roster", fifo.to_str().unwrap(), "status"], 2);
    assert!(err.contains("roster.fifo") && err.contains("FIFO"), "{err}");

    // A token file.
    fx.write_roster(
        "[[account]]\nname = \"z\"\nagent = \"claude\"\nconfig_dir = \"d/z\"\ntoken_file = \"/dev/zero\"\n\
         [[account]]\nname = \"f\"\nagent = \"claude\"\nconfig_dir = \"d/f\"\ntoken_file = \"roster.fifo\"\n",
    );
    let err = refused_promptly(&fx, &["launch-env", "--account", "z"], 2);
    assert!(err.contains("token file /dev/zero") && err.contains("character device"), "{err}");
    let err = refused_promptly(&fx, &["launch-env", "--account", "f"], 2);
    assert!(err.contains("roster.fifo") && err.contains("FIFO"), "{err}");

    // --from-output.
    let err = refused_promptly(&fx, &["wall", "z", "--from-output", "/dev/zero"], 2);
    assert!(err.contains("cannot read /dev/zero") && err.contains("character device"), "{err}");
    let err = refused_promptly(&fx, &["wall", "z", "--from-output", fifo.to_str().unwrap()], 2);
    assert!(err.contains("FIFO"), "{err}");
}

#[test]
fn state_files_that_are_not_files_or_too_large_are_refused() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);
    let slot = fx.state_dir().join("leases.0");
    std::fs::remove_file(&slot).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &slot).unwrap();
    let err = refused_promptly(&fx, &["launch-env", "--worker", "w2", "--holder-pid", &holder.pid()], 1);
    assert!(err.contains("leases.0") && err.contains("character device"), "{err}");
    std::fs::remove_file(&slot).unwrap();
    std::fs::File::create(&slot).unwrap().set_len(1 << 30).unwrap();
    let err = refused_promptly(&fx, &["status"], 1);
    assert!(err.contains("leases.0") && err.contains("over the limit of 64 MiB"), "{err}");
}

#[test]
fn bad_ids_paths_and_tokens_are_usage_errors() {
    let fx = fixture();
    let holder = Sleeper::new();
    let pid = holder.pid();
    for (worker, problem) in
        [("", "is empty"), ("a\nforged line", "control character"), (&"w".repeat(129)[..], "longer than 128 bytes")]
    {
        let err = refused_promptly(&fx, &["launch-env", "--worker", worker, "--holder-pid", &pid], 2);
        assert!(err.contains(problem), "{err}");
    }
    refused_promptly(&fx, &["release", "--worker", "x\ty"], 2);
    refused_promptly(&fx, &["allocate", "ok", "bad\u{1b}[2J"], 2);

    std::fs::create_dir_all(fx.path("d")).unwrap();
    std::fs::write(fx.path("d/a"), "a file").unwrap();
    let err = refused_promptly(&fx, &["launch-env", "--account", "a"], 2);
    assert!(err.contains("config_dir") && err.contains("is a file, not a directory"), "{err}");
    std::os::unix::fs::symlink("nowhere", fx.path("d/b")).unwrap();
    let err = refused_promptly(&fx, &["launch-env", "--account", "b"], 2);
    assert!(err.contains("is a dangling symlink"), "{err}");

    fx.write_roster("[[account]]\nname = \"t\"\nagent = \"claude\"\nconfig_dir = \"d/t\"\ntoken_file = \"big\"\n");
    fx.write("big", &format!("sk-ant-oat01-{}", "x".repeat(10 << 20)));
    let err = refused_promptly(&fx, &["launch-env", "--account", "t"], 2);
    assert!(err.contains("big") && err.contains("over the limit of 64 KiB"), "{err}");
    fx.write("big", &format!("sk-ant-oat01-{}", "x".repeat(40 << 10)));
    let err = refused_promptly(&fx, &["launch-env", "--account", "t"], 2);
    assert!(err.contains("longer than any token"), "{err}");
    assert!(!err.contains("xxxxxxxx"), "{err}");

    fx.write_roster(
        "[[account]]\nname = \"e\"\nagent = \"claude\"\nconfig_dir = \"d/e\"\ntoken_env = \"NOT-A-NAME\"\n",
    );
    let err = refused_promptly(&fx, &["status"], 2);
    assert!(err.contains(":5:13: token_env \"NOT-A-NAME\" is not a variable name"), "{err}");
}

#[test]
fn a_token_file_others_can_read_gets_one_warning() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new(
        "[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"d/a\"\ntoken_file = \"t\"\n\
         [[account]]\nname = \"b\"\nagent = \"claude\"\nconfig_dir = \"d/b\"\ntoken_file = \"t\"\n",
    );
    let token = fx.write("t", CLAUDE_TOKEN);
    let out = fx.run(&["launch-env", "--account", "a"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", text(&out.stderr));
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let holder = Sleeper::new();
    let out = fx.run(&["allocate", "--agent", "claude", "--holder-pid", &holder.pid(), "w1", "w2"]);
    let out2 = fx.run(&["launch-env", "--agent", "claude", "--worker", "w1", "--holder-pid", &holder.pid()]);
    let stderr = text(&out2.stderr);
    assert!(out.status.success() && out2.status.success());
    assert_eq!(stderr.matches("readable by other users").count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("chmod 600 {}", token.display())), "{stderr}");
}

#[test]
fn a_state_dir_of_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to give the state dir to another user");
        return;
    }
    let fx = fixture();
    std::fs::create_dir_all(fx.state_dir()).unwrap();
    let nobody = rustix::process::Uid::from_raw(65534);
    rustix::fs::chown(fx.state_dir(), Some(nobody), None).unwrap();
    let err = refused_promptly(&fx, &["status"], 1);
    assert!(err.contains("belongs to uid 65534") && err.contains("--state-dir"), "{err}");
}

#[test]
fn bad_files_in_the_plugin_dir_are_skipped_and_named() {
    let fx = Fixture::new("[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"d/a\"\n");
    let dir = fx.plugin_dir();
    std::fs::create_dir(dir.join("adir.wasm")).unwrap();
    mkfifo(&dir.join("afifo.wasm"));
    std::os::unix::fs::symlink("loop.wasm", dir.join("loop.wasm")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).unwrap();
    std::fs::copy(thirdparty_plugin(), dir.join("acme.wasm")).unwrap();

    let out = fx.run(&["plugins", "list", "--json"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kinds: Vec<String> = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["acme", "claude", "codex", "gemini"]);
    for (name, problem) in
        [("adir", "a directory"), ("afifo", "a FIFO"), ("loop", "symbolic links"), ("zero", "character device")]
    {
        assert!(
            stderr.contains(&format!("ignoring {}/{name}.wasm: ", dir.display())) && stderr.contains(problem),
            "{name}: {stderr}"
        );
    }

    // Asked for, the bad file is named with what is wrong with it.
    fx.write_roster("[[account]]\nname = \"a\"\nagent = \"afifo\"\nconfig_dir = \"d/a\"\n");
    let err = refused_promptly(&fx, &["launch-env", "--account", "a"], 2);
    assert!(err.contains("afifo.wasm") && err.contains("FIFO"), "{err}");
    fx.write_roster("[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"d/a\"\n");
    let err = refused_promptly(&fx, &["plugins", "inspect", "nope"], 2);
    assert!(err.contains("known kinds: acme, claude, codex, gemini."), "{err}");
}

/// `script` gives `accounts` a terminal; its own stdin is /dev/null, so it
/// sends an end-of-file as soon as it starts.
fn under_script(fx: &Fixture, command: &str) -> (Option<i32>, Vec<u8>) {
    let line = format!("{} {command}", *BIN);
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    fx.point_at_fixture(&mut cmd);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command} hung under script");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), out.stdout)
}

#[test]
fn an_end_of_file_before_raw_mode_reaches_the_agent_as_one() {
    let fx = fixture();
    // A login on file, so that exec has nothing to say on the terminal.
    fx.write("d/a/.credentials.json", "{}");
    let (code, out) = under_script(&fx, "exec --rotate -q -- echo hi");
    assert_eq!(code, Some(0));
    assert_eq!(out, b"hi\r\n", "no stray ^@ or NUL");
    // The agent sees the end of its input, so one that reads stdin ends.
    let (code, out) = under_script(&fx, "exec --rotate -q -- cat");
    assert_eq!(code, Some(0), "{}", text(&out));
}

#[test]
fn output_after_the_agent_exits_passes_until_its_pipes_close() {
    let fx = fixture();
    let out = fx
        .cmd(&["exec", "--rotate", "--grace", "5s", "--", "sh", "-c", "(sleep 1; echo late) & echo now"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "now\nlate\n");
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_directory_accounts_did_not_create_is_never_changed() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    let dir = fx.path("shared");
    std::fs::create_dir(&dir).unwrap();
    for open in [0o1777, 0o755] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(open)).unwrap();
        for args in [&["status"][..], &["launch-env", "--worker", "w"], &["wall", "a", "--for", "1h"]] {
            let mut all = vec!["--state-dir", dir.to_str().unwrap()];
            all.extend_from_slice(args);
            let out = fx.run(&all);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}");
            assert!(err.contains(&format!("mode {open:o}")) && err.contains("chmod 700"), "{err}");
            assert!(err.contains("--state-dir"), "{err}");
            assert_eq!(mode_of(&dir), open, "{args:?} changed the mode of a dir it did not create");
        }
        // A cache dir others can write is not used (its artifacts are
        // mapped as code), and not changed either; the command works.
        let out = fx.run(&["--cache-dir", dir.to_str().unwrap(), "launch-env", "--account", "a"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(mode_of(&dir), open);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing cached in it");
    }
    // A state dir accounts creates is private, parents included.
    let fresh = fx.path("new/state");
    fx.ok(&["--state-dir", fresh.to_str().unwrap(), "status"]);
    assert_eq!((mode_of(&fresh), mode_of(&fx.path("new"))), (0o700, 0o700));
}

#[test]
fn remove_with_the_state_dir_beside_the_roster_does_not_wait_on_itself() {
    let fx = fixture();
    let roster_dir = fx.roster().parent().unwrap().to_owned();
    make_private_dir(&roster_dir);
    let mut cmd = fx.cmd(&["--state-dir", roster_dir.to_str().unwrap(), "remove", "b"]);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("remove waited on its own lock");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!std::fs::read_to_string(fx.roster()).unwrap().contains("name = \"b\""));
}

#[test]
fn parallel_adds_with_no_roster_yet_keep_every_account() {
    let fx = fixture();
    let roster = fx.path("fresh/dir/roster.toml");
    let children: Vec<_> = (0..10)
        .map(|i| {
            let name = format!("n{i}");
            let mut cmd = fx.cmd(&["--roster", roster.to_str().unwrap(), "add", &name, "--agent", "claude"]);
            cmd.env("HOME", fx.path("home")).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let text = std::fs::read_to_string(&roster).unwrap();
    for i in 0..10 {
        assert!(text.contains(&format!("name = \"n{i}\"")), "n{i} lost: {text}");
    }
}

#[test]
fn a_stopped_holder_of_the_state_lock_is_named_and_waited_for_with_a_limit() {
    let fx = fixture();
    fx.ok(&["status"]);
    // A holder that stops with the lock held (Ctrl-Z at the wrong moment).
    let mut locker = Command::new("flock").arg(fx.state_dir()).args(["sleep", "60"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(locker.id() as i32).unwrap(),
        rustix::process::Signal::STOP,
    )
    .unwrap();
    let before = state_files(&fx);
    let started = Instant::now();
    let out = fx.cmd(&["launch-env", "--worker", "w"]).env("ACCOUNTS_LOCK_WAIT", "3s").output().unwrap();
    let took = started.elapsed();
    let err = text(&out.stderr);
    let _ = locker.kill();
    let _ = locker.wait();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!((Duration::from_secs(3)..Duration::from_secs(10)).contains(&took), "{took:?}");
    // Said once while waiting, and again when giving up; flock(1) or its
    // child holds it: either pid is named.
    assert!(err.contains("waiting for the state lock on") && err.contains("held by pid "), "{err}");
    assert!(err.contains("has been held by pid") && err.contains("resume or end it"), "{err}");
    assert_eq!(state_files(&fx), before, "nothing changed");
}

#[test]
fn hand_made_walls_are_bounded_and_their_reasons_masked() {
    let fx = fixture();
    for args in [&["wall", "a", "--for", "7304484d"][..], &["wall", "a", "--until", "2999-01-01T00:00:00Z"]] {
        let err = fx.fails(args, 2);
        assert!(err.contains("more than a year away") && err.contains("disabled = true"), "{err}");
    }
    fx.ok(&["wall", "a", "--for", "366d"]);
    let until = status(&fx)["accounts"][0]["wall"]["until"].as_str().unwrap().to_owned();
    assert!(until.parse::<jiff::Timestamp>().is_ok(), "RFC 3339: {until}");

    // A token pasted into --reason never reaches the state.
    let token = format!("{CLAUDE_TOKEN}-pasted");
    fx.ok(&["wall", "b", "--for", "1h", "--reason", &format!("limit for {token}")]);
    let holder = Sleeper::new();
    fx.ok(&["unwall", "a"]);
    fx.ok(&["launch-env", "--worker", "w", "--holder-pid", &holder.pid()]);
    // b is walled, so no seat is left, but the wall on a stands.
    let out = fx.run(&["rotate", "--worker", "w", "--for", "1h", "--reason", &format!("rotated: {token}")]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("FIXTURE"));
    for (name, bytes) in state_files(&fx) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("FIXTURE"), "{name} holds the token: {text}");
    }
    let shown = fx.ok(&["status", "--json"]);
    assert!(shown.contains("sk-ant-oat01-****") && !shown.contains("FIXTURE"), "{shown}");
}

#[test]
fn add_help_says_what_the_allocator_does_with_priority() {
    let fx = Fixture::new(
        "default_agent = \"claude\"\n\
         [[account]]\nname = \"high\"\nagent = \"claude\"\nconfig_dir = \"d/high\"\npriority = 5\n\
         [[account]]\nname = \"low\"\nagent = \"claude\"\nconfig_dir = \"d/low\"\npriority = 1\n",
    );
    let help = fx.ok(&["add", "--help"]);
    assert!(help.contains("lower is picked first"), "{help}");
    let holder = Sleeper::new();
    let env = eval_env("dash", &fx.ok(&["launch-env", "--worker", "w", "--holder-pid", &holder.pid()]), &[]);
    assert_eq!(env["ACCOUNTS_ACCOUNT"], "low", "the lower priority is picked first, as the help says");
}

#[test]
fn a_damaged_lease_slot_is_an_error_not_free_seats() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid()]);
    // Only leases.0 exists after one claim: damage it three ways.
    let slot = fx.state_dir().join("leases.0");
    assert!(!fx.state_dir().join("leases.1").exists());
    let good = std::fs::read(&slot).unwrap();
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x20;
    let big_generation = {
        // "accounts-slot <gen> <len> <digest>\n...": replace the generation.
        let text = String::from_utf8(good.clone()).unwrap();
        let rest = text.splitn(3, ' ').nth(2).unwrap().to_owned();
        format!("accounts-slot 18446744073709551615 {rest}").into_bytes()
    };
    for (bad, says) in [(flipped, "checksum"), (vec![0u8; good.len()], "zero bytes"), (big_generation, "out of range")]
    {
        std::fs::write(&slot, &bad).unwrap();
        let err = refused_promptly(&fx, &["launch-env", "--worker", "w2", "--holder-pid", &holder.pid()], 1);
        assert!(err.contains("leases.0") && err.contains(says) && err.contains("corrupt"), "{err}");
        assert_eq!(std::fs::read(&slot).unwrap(), bad, "left untouched");
    }
    std::fs::write(&slot, &good).unwrap();
    assert_eq!(workers(&fx), ["w1"], "w1's seat was never given away");
}

#[test]
fn a_symlinked_roster_is_edited_where_it_points() {
    let fx = fixture();
    let dotfiles = fx.path("dotfiles/roster.toml");
    std::fs::create_dir_all(dotfiles.parent().unwrap()).unwrap();
    std::fs::rename(fx.roster(), &dotfiles).unwrap();
    std::os::unix::fs::symlink(&dotfiles, fx.roster()).unwrap();
    let home = fx.path("home");
    let mut add = fx.cmd(&["add", "n1", "--agent", "claude"]);
    let out = add.env("HOME", &home).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(fx.roster()).unwrap().is_symlink(), "the link was replaced by a file");
    assert!(std::fs::read_to_string(&dotfiles).unwrap().contains("name = \"n1\""));
    fx.ok(&["remove", "n1"]);
    assert!(!std::fs::read_to_string(&dotfiles).unwrap().contains("name = \"n1\""));
    assert!(std::fs::symlink_metadata(fx.roster()).unwrap().is_symlink());
}

#[test]
fn two_accounts_cannot_share_one_config_dir_through_dotdot_or_a_symlink() {
    let fx = fixture();
    // d/x does not exist: d/x/../a is a's dir all the same.
    let sneaky = fx.path("d/x/../a");
    let err = fx.fails(&["add", "n3", "--agent", "claude", "--config-dir", sneaky.to_str().unwrap()], 2);
    assert!(err.contains("already account \"a\"'s"), "{err}");
    // A hand-written account whose config_dir is a link to a's: login
    // refuses before the agent's login runs.
    std::fs::create_dir_all(fx.path("d/a")).unwrap();
    std::os::unix::fs::symlink(fx.path("d/a"), fx.path("d/alias")).unwrap();
    let roster = std::fs::read_to_string(fx.roster()).unwrap();
    fx.write_roster(&format!("{roster}[[account]]\nname = \"c\"\nagent = \"claude\"\nconfig_dir = \"d/alias\"\n"));
    let err = fx.fails(&["login", "c"], 2);
    assert!(err.contains("which is account \"a\"'s") && err.contains("overwrite"), "{err}");
}

#[test]
fn exec_never_runs_its_agent_without_a_seat() {
    let fx = Fixture::new("[[account]]\nname = \"only\"\nagent = \"claude\"\nconfig_dir = \"d/only\"\n");
    let err = fx.fails(&["exec", "--ttl", "1s", "--", "true"], 2);
    assert!(err.contains("--ttl 1s is too short") && err.contains("at least 3s"), "{err}");

    // Its lease released from outside while a seat is free: leased again.
    let spawn = |worker: &str, secs: &str| {
        fx.cmd(&["exec", "--worker", worker, "--ttl", "3s", "--", "sleep", secs])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let exec = spawn("e1", "4");
    std::thread::sleep(Duration::from_millis(500));
    fx.ok(&["release", "--worker", "e1"]);
    assert!(workers(&fx).is_empty());
    std::thread::sleep(Duration::from_millis(1_800));
    assert_eq!(workers(&fx), ["e1"], "leased again at the next renewal");
    let out = exec.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("leased again"), "{}", text(&out.stderr));

    // Released, and the seat taken by another worker meanwhile: the agent
    // is stopped, not left running beside the new holder.
    let exec = spawn("e2", "30");
    std::thread::sleep(Duration::from_millis(500));
    fx.ok(&["release", "--worker", "e2"]);
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "other", "--holder-pid", &holder.pid()]);
    let started = Instant::now();
    let out = exec.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "the agent ran on");
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no free seat now; stopping the agent"), "{}", text(&out.stderr));
    assert_eq!(workers(&fx), ["other"]);
}

#[test]
fn a_state_dir_replaced_while_waiting_is_locked_again_at_its_new_self() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    fx.ok(&["status"]);
    let dir = fx.state_dir();
    let started = Instant::now();
    let mut old_holder = Command::new("flock").arg(&dir).args(["sleep", "1.5"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let waiter =
        fx.cmd(&["launch-env", "--worker", "w2"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The dir is replaced, and the new one is locked by someone else.
    std::fs::rename(&dir, fx.path("state.old")).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut new_holder = Command::new("flock").arg(&dir).args(["sleep", "3"]).spawn().unwrap();
    let out = waiter.wait_with_output().unwrap();
    let took = started.elapsed();
    old_holder.wait().unwrap();
    new_holder.wait().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(took >= Duration::from_millis(3_200), "went in under the new dir's lock-holder after {took:?}");
    assert_eq!(workers(&fx), ["w2"], "the lease is in the dir at the path");
}

#[test]
fn small_bounds_on_names_hosts_clocks_and_scaffolds() {
    let fx = fixture();
    let err = fx.fails(&["plugins", "new", "claude", fx.path("scaffold").to_str().unwrap()], 2);
    assert!(err.contains("built-in kind"), "{err}");
    assert!(!fx.path("scaffold").exists());
    let err = fx.fails(&["add", "--agent", "claude", "--", "-x"], 2);
    assert!(err.contains("not starting with '-'"), "{err}");
    let out = fx.cmd(&["status"]).env("ACCOUNTS_CLOCK_SKEW", "+7304484d").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("more than a year") && out.stdout.is_empty());
    // A 100 KB host id is not copied into every lease.
    let holder = Sleeper::new();
    let huge = "h".repeat(100_000);
    let out =
        fx.cmd(&["launch-env", "--worker", "w", "--holder-pid", &holder.pid()]).env("ACCOUNTS_HOST_ID", &huge).output();
    assert!(out.unwrap().status.success());
    let total: usize = state_files(&fx).iter().map(|(_, bytes)| bytes.len()).sum();
    assert!(total < 4_096, "{total} bytes of state");
}

#[test]
fn the_low_ones_each_say_what_is_wrong() {
    let fx = fixture();
    // An empty setting is not a flag given without its value, nor the default.
    let out = fx.cmd(&["status"]).env("ACCOUNTS_ROSTER", "").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("ACCOUNTS_ROSTER is set but empty") && out.stdout.is_empty());
    // A roster link to nothing says so.
    std::os::unix::fs::symlink(fx.path("gone.toml"), fx.path("link.toml")).unwrap();
    let err = fx.fails(&["--roster", fx.path("link.toml").to_str().unwrap(), "status"], 2);
    assert!(err.contains("a symlink to") && err.contains("gone.toml") && err.contains("does not exist"), "{err}");
    // Durations in the user's words, not the time library's.
    for (ttl, says) in [("0", "has no unit"), ("19998y", "days or weeks"), ("99999999999999h", "longer than any")] {
        let err = fx.fails(&["launch-env", "--worker", "w", "--ttl", ttl], 2);
        assert!(err.contains(says) && !err.contains("jiff") && !err.contains("Span"), "{ttl}: {err}");
    }
    // --format help names formats, not our functions.
    let help = fx.ok(&["launch-env", "--help"]);
    assert!(!help.contains("dotenv_quote") && !help.contains("docker_args"), "{help}");
    // A plugin to install is a file; a built-in kind needs none.
    let err = fx.fails(&["plugins", "install", "claude"], 2);
    assert!(err.contains("built-in kind") && !err.contains("\"?\""), "{err}");
    // A token file that is not there is refused at `add`, not at launch.
    let err = fx.fails(&["add", "c", "--agent", "claude", "--token-file", "/nonexistent/token"], 2);
    assert!(err.contains("no such file") && err.contains("enroll c"), "{err}");
    // A token file with a second line is not a fine token.
    fx.write("tokens/two", &format!("{CLAUDE_TOKEN}\nmy note about it\n"));
    let roster = std::fs::read_to_string(fx.roster()).unwrap();
    fx.write_roster(&format!(
        "{roster}[[account]]\nname = \"t\"\nagent = \"claude\"\nconfig_dir = \"dirs/t\"\ntoken_file = \"tokens/two\"\n"
    ));
    let status_text = fx.ok(&["status"]);
    let row = status_text.lines().find(|l| l.starts_with("t ")).unwrap();
    assert!(row.contains("line break"), "{status_text}");
    assert!(!status_text.contains(CLAUDE_TOKEN));
    fx.write_roster(&roster);
}

#[test]
fn all_walled_says_how_many_seats_there_are_and_status_writes_nothing() {
    let fx = fixture();
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "w1", "--holder-pid", &holder.pid(), "--ttl", "1h"]);
    fx.ok(&["wall", "a", "--for", "2h"]);
    fx.ok(&["wall", "b", "--for", "3h"]);
    let out = fx.cmd(&["launch-env", "--worker", "w2", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(75));
    let why: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(why["reason"], "walled");
    assert_eq!((why["seats_total"].as_u64(), why["seats_used"].as_u64()), (Some(2), Some(1)), "{why}");
    assert_eq!(why["seats_open_total"], 0, "{why}");
    // A status whose clock is a day ahead sees the lease expired and the
    // walls lifted, and changes nothing for the others.
    let before = state_files(&fx);
    let out = fx.cmd(&["status", "--json"]).env("ACCOUNTS_CLOCK_SKEW", "+1d").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(seen["accounts"].as_array().unwrap().iter().all(|a| a["leases"].as_array().unwrap().is_empty()));
    assert_eq!(state_files(&fx), before, "a read command rewrote the state");
    assert_eq!(workers(&fx), ["w1"]);
}

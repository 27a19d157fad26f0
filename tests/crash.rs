//! Crash safety, tested the way storage engines test it: every command that
//! changes the state is run again and again under strace, killed with
//! SIGKILL at one system call after another (every call from the moment it
//! takes the state lock), and after each kill the state must still parse
//! and hold every lease whose holder is alive, every wall it held, and no
//! account over its seats.
//!
//! Run alone: `cargo test --test tests crash::` (about a minute on 2 cores). It
//! needs strace (`tests/run` installs it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::*;

/// System calls that touch files: the ones a state change is made of.
/// Others (futex, mmap, clock reads) vary from run to run and write nothing.
const FILE_SYSCALLS: &str = "openat,read,write,pwrite64,ftruncate,fsync,fdatasync,rename,renameat,renameat2,\
                             unlink,unlinkat,flock,close,newfstatat,statx,fstat,getdents64,mkdir,mkdirat,fchmod,lseek";

/// How many copies of the fixture work through a sweep at once.
const PARALLEL: usize = 3;

/// One copy of the fixture: three claude accounts of two seats, three
/// workers holding live leases, one account walled; its state saved so
/// every run starts from it.
struct Scene {
    fx: Fixture,
    holder: Sleeper,
    saved: Vec<(PathBuf, Vec<u8>)>,
    baseline: BTreeMap<String, String>,
}

impl Scene {
    fn new() -> Scene {
        Scene::with_state_beside_roster(false)
    }

    /// With `beside`, the state dir is the roster's own directory: a
    /// command that edits the roster then locks both in one directory.
    fn with_state_beside_roster(beside: bool) -> Scene {
        let mut roster = String::from("default_agent = \"claude\"\n");
        for name in ["a", "b", "c"] {
            roster +=
                &format!("[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"d/{name}\"\nseats = 2\n");
        }
        let mut fx = Fixture::new(&roster);
        fx.state_beside_roster = beside;
        if beside {
            // A state dir must be private (the temp dir is 0755 here).
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(fx.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let holder = Sleeper(Command::new("sleep").arg("3600").spawn().unwrap());
        let pid = holder.0.id().to_string();
        for worker in ["w1", "w2", "w3"] {
            fx.ok(&["launch-env", "--worker", worker, "--holder-pid", &pid]);
        }
        fx.ok(&["wall", "c", "--for", "1h", "--reason", "weekly limit"]);
        let saved = state_files(&fx)
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        let baseline = leases(&status(&fx).expect("baseline status"));
        assert_eq!(baseline.len(), 3);
        Scene { fx, holder, saved, baseline }
    }

    fn restore(&self) {
        for path in state_files(&self.fx) {
            std::fs::remove_file(path).unwrap();
        }
        for (path, bytes) in &self.saved {
            std::fs::write(path, bytes).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    /// `args` with `{pid}` replaced by the live holder's pid.
    fn args(&self, args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.replace("{pid}", &self.holder.0.id().to_string())).collect()
    }

    /// `accounts args` under `strace strace_args`, output discarded.
    fn strace(&self, strace_args: &[String], args: &[String]) -> Command {
        let mut cmd = Command::new("strace");
        cmd.args(strace_args).arg(&*BIN).args(args);
        self.fx.point_at_fixture(&mut cmd);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }
}

/// The regular files in the state dir: the state, and beside the roster
/// the roster and its lock too (not the config dirs).
fn state_files(fx: &Fixture) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(fx.state_dir()).unwrap();
    entries.map(|e| e.unwrap().path()).filter(|p| p.symlink_metadata().unwrap().is_file()).collect()
}

/// worker -> account, from a parsed `status --json`.
fn leases(status: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for a in status["accounts"].as_array().unwrap() {
        for l in a["leases"].as_array().unwrap() {
            out.insert(l["worker"].as_str().unwrap().to_owned(), a["name"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn status(fx: &Fixture) -> Result<serde_json::Value, String> {
    let out = fx.run(&["status", "--json"]);
    if !out.status.success() {
        return Err(text(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("status --json does not parse: {e}"))
}

/// The file system calls `args` makes once it holds the state lock (the
/// first `flock`), as (name, ordinal among calls of that name): one entry
/// per point to kill at. `flocks` picks which lock-holding stretch (1 for
/// the first).
fn points_after_lock(scene: &Scene, args: &[String], flocks: std::ops::RangeInclusive<usize>) -> Vec<(String, usize)> {
    // Outside the state dir, which `restore` empties.
    let trace_file = tempfile::NamedTempFile::new().unwrap();
    let trace = trace_file.path().to_owned();
    let strace_args = ["-o".into(), trace.display().to_string(), "-e".into(), format!("trace={FILE_SYSCALLS}")];
    scene.restore();
    assert!(scene.strace(&strace_args, args).status().unwrap().success(), "strace {args:?} failed");
    scene.restore();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut flock = 0;
    let mut points = Vec::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let Some(name) = line.split('(').next().filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let n = seen.entry(name.to_owned()).or_default();
        *n += 1;
        if name == "flock" && line.contains("LOCK_EX") {
            flock += 1;
        }
        if flock > *flocks.end() {
            break;
        }
        if flocks.contains(&flock) {
            points.push((name.to_owned(), *n));
        }
    }
    assert!(!points.is_empty(), "{args:?} took no lock");
    points
}

/// Kill `args` at every point, each time from the saved state, and check
/// what the kill left. `moved` is a worker the command may move, `gone` one
/// it may release, `unwalled` an account whose wall it may lift.
fn sweep(args: &[&str], flocks: std::ops::RangeInclusive<usize>, moved: &[&str], gone: &[&str], unwalled: &[&str]) {
    sweep_scenes(Scene::new, args, flocks, moved, gone, unwalled);
}

fn sweep_scenes(
    scene: fn() -> Scene,
    args: &[&str],
    flocks: std::ops::RangeInclusive<usize>,
    moved: &[&str],
    gone: &[&str],
    unwalled: &[&str],
) {
    let scenes: Vec<Scene> = (0..PARALLEL).map(|_| scene()).collect();
    let args0 = scenes[0].args(args);
    let points = points_after_lock(&scenes[0], &args0, flocks);
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = scenes
            .iter()
            .enumerate()
            .map(|(i, scene)| {
                let points: Vec<&(String, usize)> = points.iter().skip(i).step_by(PARALLEL).collect();
                s.spawn(move || {
                    let args = scene.args(args);
                    let mut failures = Vec::new();
                    for (name, n) in points {
                        scene.restore();
                        let inject = format!("inject={name}:signal=SIGKILL:when={n}");
                        scene.strace(&["-o".into(), "/dev/null".into(), "-e".into(), inject], &args).status().unwrap();
                        if let Err(e) = check(scene, moved, gone, unwalled) {
                            failures.push(format!("{args:?} killed at {name} #{n}: {e}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} kill points broke the state:\n{}",
        failures.len(),
        points.len(),
        failures.join("\n")
    );
    eprintln!("{args:?}: {} kill points, state intact after each", points.len());
}

/// What must hold after any kill.
fn check(scene: &Scene, moved: &[&str], gone: &[&str], unwalled: &[&str]) -> Result<(), String> {
    let status = status(&scene.fx)?;
    let now = leases(&status);
    for worker in scene.baseline.keys() {
        if gone.contains(&worker.as_str()) {
            continue;
        }
        match now.get(worker) {
            None => return Err(format!("the live lease of {worker} was lost")),
            Some(account) if account != &scene.baseline[worker] && !moved.contains(&worker.as_str()) => {
                return Err(format!("{worker} moved to {account}"));
            }
            Some(_) => {}
        }
    }
    for a in status["accounts"].as_array().unwrap() {
        let used = a["leases"].as_array().unwrap().len() as u64;
        if used > a["seats"].as_u64().unwrap() {
            return Err(format!("{} is over its seats", a["name"]));
        }
        if a["name"] == "c" && a["wall"].is_null() && !unwalled.contains(&"c") {
            return Err("the wall on c was lost".into());
        }
    }
    let files: BTreeSet<String> =
        state_files(&scene.fx).iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
    let known: BTreeSet<String> =
        ["state.json", "leases.0", "leases.1", "leases.json", "roster.toml", ".roster.toml.lock"]
            .map(String::from)
            .into();
    // An edit killed before its rename leaves the roster's temp file; the
    // next edit (here one that finds nothing to remove) cleans it.
    if files.iter().any(|f| f.starts_with(".roster-")) {
        scene.fx.run(&["remove", "--force", "no-such-account"]);
        if state_files(&scene.fx).iter().any(|p| p.to_str().unwrap().contains("/.roster-")) {
            return Err("the temp file of a killed roster edit outlived the next edit".into());
        }
    }
    let files: BTreeSet<String> = files.into_iter().filter(|f| !f.starts_with(".roster-")).collect();
    if !files.is_subset(&known) {
        return Err(format!("stray files after the next call: {:?}", files.difference(&known).collect::<Vec<_>>()));
    }
    Ok(())
}

fn strace_available() {
    assert!(
        Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()),
        "strace is not installed; the crash sweep needs it (tests/run installs it: apt-get install strace)"
    );
}

#[test]
fn killed_launch_env_loses_nothing() {
    strace_available();
    sweep(&["launch-env", "--worker", "new", "--holder-pid", "{pid}"], 1..=1, &[], &[], &[]);
}

#[test]
fn killed_rotate_loses_nothing() {
    strace_available();
    // rotate takes the lock twice: to find the worker, then to move it.
    sweep(&["rotate", "--worker", "w1", "--holder-pid", "{pid}", "--for", "5m"], 1..=2, &["w1"], &[], &[]);
}

#[test]
fn killed_release_loses_nothing_else() {
    strace_available();
    sweep(&["release", "--worker", "w2"], 1..=1, &[], &["w2"], &[]);
}

#[test]
fn killed_wall_and_unwall_lose_nothing() {
    strace_available();
    sweep(&["wall", "b", "--for", "2h"], 1..=1, &[], &[], &[]);
    sweep(&["unwall", "c"], 1..=1, &[], &[], &["c"]);
}

#[test]
fn killed_allocate_loses_nothing() {
    strace_available();
    sweep(&["allocate", "--holder-pid", "{pid}", "x1", "x2"], 1..=1, &[], &[], &[]);
}

#[test]
fn killed_exec_renewal_loses_nothing() {
    strace_available();
    // exec takes the lock to lease, every second to renew (--ttl 3s), and to
    // release: sweep the renewal, the second stretch.
    sweep(&["exec", "--account", "a", "--worker", "e1", "--ttl", "3s", "--", "sleep", "1.3"], 2..=2, &[], &[], &[]);
}

#[test]
fn killed_remove_with_the_state_beside_the_roster_loses_nothing_else() {
    strace_available();
    // `remove` locks the roster, then the state, in one directory here.
    // c's lease (w3) and its wall go with it; the roster's temp file a
    // killed edit leaves is cleaned by the next edit, not left for good.
    let scene = || Scene::with_state_beside_roster(true);
    sweep_scenes(scene, &["remove", "--force", "c"], 1..=2, &[], &["w3"], &["c"]);
}

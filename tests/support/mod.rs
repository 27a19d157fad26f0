//! Shared test harness: the real `accounts` binary, fixture rosters in temp
//! dirs, test plugins built from source for wasm32-wasip2, and real shells.

pub mod pg;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The binary under test: this build's, or `ACCOUNTS_TEST_BIN` (to check
/// that a new test fails on an older build).
pub static BIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("ACCOUNTS_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_accounts").to_owned())
});

/// Fixture tokens: tests assert these never show up where they must not.
pub const CLAUDE_TOKEN: &str = "sk-ant-oat01-FIXTURE-claude-0123456789abcdef";
pub const CODEX_TOKEN: &str = "sk-FIXTURE-codex-0123456789abcdef";
pub const GEMINI_TOKEN: &str = "AIzaFIXTURE-gemini-0123456789abcdef";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Compiled plugins are shared by all tests (compiling is the slow part);
/// cache tests use their own dir.
pub fn shared_cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
    target.join("test-plugin-cache")
}

thread_local! {
    /// Set by [`with_state_url`] for the test running on this thread.
    static STATE_URL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Run `test` with every fixture it makes keeping its leases and walls in
/// the database at `url`, each in a namespace of its own: the same test
/// against the fleet's backend.
pub fn with_state_url(url: &str, test: impl FnOnce()) {
    STATE_URL.set(Some(url.to_owned()));
    test();
    STATE_URL.set(None);
}

/// A temp dir with a roster, a state dir and a plugin dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The database the state is kept in, when not the state dir.
    pub state_url: Option<String>,
    /// The state dir is the roster's own directory (the fixture's root),
    /// not `state/` below it.
    pub state_beside_roster: bool,
}

impl Fixture {
    pub fn new(roster: &str) -> Fixture {
        let fx = Fixture {
            dir: tempfile::tempdir().unwrap(),
            state_url: STATE_URL.with_borrow(Clone::clone),
            state_beside_roster: false,
        };
        fx.write_roster(roster);
        std::fs::create_dir_all(fx.plugin_dir()).unwrap();
        fx
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn roster(&self) -> PathBuf {
        self.path("roster.toml")
    }
    pub fn state_dir(&self) -> PathBuf {
        if self.state_beside_roster { self.dir.path().to_owned() } else { self.path("state") }
    }
    pub fn plugin_dir(&self) -> PathBuf {
        self.path("plugins")
    }

    pub fn write_roster(&self, text: &str) {
        std::fs::write(self.roster(), text).unwrap();
    }

    /// Write a file (0600, as token files should be) below the fixture.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A command for the real binary with a clean environment pointing at
    /// this fixture.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&*BIN);
        cmd.args(args);
        self.point_at_fixture(&mut cmd);
        cmd
    }

    /// A clean environment pointing at this fixture, for `cmd` (the binary,
    /// or a program that runs it).
    pub fn point_at_fixture(&self, cmd: &mut Command) {
        clean_env(cmd);
        cmd.env("ACCOUNTS_ROSTER", self.roster())
            .env("ACCOUNTS_STATE_DIR", self.state_dir())
            .env("ACCOUNTS_PLUGIN_DIR", self.plugin_dir())
            .env("ACCOUNTS_CACHE_DIR", shared_cache_dir())
            .stdin(Stdio::null());
        if let Some(url) = &self.state_url {
            cmd.env("ACCOUNTS_STATE_URL", url).env("ACCOUNTS_STATE_NAMESPACE", self.namespace());
        }
    }

    /// This fixture's namespace in a shared database: its temp dir's name.
    pub fn namespace(&self) -> String {
        self.dir.path().file_name().unwrap().to_string_lossy().into_owned()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "accounts {args:?} failed: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Run and expect failure with `code`, empty stdout, one error line;
    /// returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "accounts {args:?}: stderr: {stderr}");
        assert!(out.stdout.is_empty(), "stdout must stay empty on error, got: {}", text(&out.stdout));
        stderr
    }
}

/// A pseudo-terminal for the test: the child's side and our reading side.
pub fn open_pty() -> (std::os::fd::OwnedFd, std::fs::File) {
    use rustix::pty::OpenptFlags;
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY;
    let slave = rustix::fs::open(name.as_c_str(), flags, rustix::fs::Mode::empty()).unwrap();
    (master, std::fs::File::from(slave))
}

/// A process that stays alive (a lease holder) until dropped.
pub struct Sleeper(pub std::process::Child);

impl Sleeper {
    pub fn new() -> Sleeper {
        Sleeper(Command::new("sleep").arg("600").spawn().unwrap())
    }
    pub fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Remove everything from the environment that could steer the binary.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("ACCOUNTS_")
            || key.starts_with("CLAUDE")
            || key.starts_with("ANTHROPIC")
            || key.starts_with("OPENAI")
            || key.starts_with("CODEX")
            || key.starts_with("GEMINI")
        {
            cmd.env_remove(&*key);
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[path = "../../host/build_plugins.rs"]
mod build_plugins;

pub use build_plugins::Build;

/// Where plugins built for the tests land (shared with build.rs).
pub fn plugin_target_dir() -> PathBuf {
    target_dir().join("wasm-plugins")
}

/// Build a test plugin crate (`tests/plugins/<name>`) for wasm32-wasip2 and
/// return the component's path. Built once per test process.
pub fn test_plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let package = format!("test-plugin-{name}");
    let target = plugin_target_dir();
    let build =
        Build { dir: &workspace(), target_dir: &target, profile: "plugin", packages: &[&package], features: &[] };
    build.run().unwrap_or_else(|e| panic!("{e}"));
    let path = build.wasm(&package);
    built.insert(name.to_owned(), path.clone());
    path
}

/// The reference third-party plugin (`tests/plugins/thirdparty`, on the
/// SDK), built out of tree like an outside author's crate.
pub fn thirdparty_plugin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = workspace().join("tests/plugins/thirdparty");
            let target = plugin_target_dir();
            let build = Build { dir: &dir, target_dir: &target, profile: "release", packages: &[], features: &[] };
            build.run().unwrap_or_else(|e| panic!("{e}"));
            build.wasm("acme-plugin")
        })
        .clone()
}

/// The shared `target/` dir.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"))
}

/// The version of python-dotenv the dotenv format is promised to.
pub const PYTHON_DOTENV: &str = "1.1.1";

/// A Python with python-dotenv installed: a venv under `target/`, made on
/// first use (pip from PyPI) and shared by every test after.
pub fn python_with_dotenv() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let venv = target_dir().join(format!("test-venv-dotenv-{PYTHON_DOTENV}"));
            let python = venv.join("bin/python");
            let _lock = FileLock::take(&target_dir().join("test-venv.lock"));
            if !python.exists() || !venv.join("ready").exists() {
                let _ = std::fs::remove_dir_all(&venv);
                run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv");
                run_ok(
                    Command::new(&python).args([
                        "-m",
                        "pip",
                        "install",
                        "-q",
                        &format!("python-dotenv=={PYTHON_DOTENV}"),
                    ]),
                    "pip install python-dotenv (needs PyPI)",
                );
                std::fs::write(venv.join("ready"), "").unwrap();
            }
            python
        })
        .clone()
}

fn run_ok(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed");
}

/// An exclusive `flock` on a file, across test processes; held while the
/// value lives (the file is kept only to keep the lock).
pub struct FileLock {
    _held: std::fs::File,
}

impl FileLock {
    pub fn take(path: &Path) -> FileLock {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap();
        file.lock().unwrap();
        FileLock { _held: file }
    }
}

pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

/// Run `script` in `shell` with `input` exported as `$OUT` and a controlled
/// environment; the script's stdout is returned.
pub fn shell(shell: &str, script: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(shell);
    cmd.arg("-c").arg(script).env_clear().env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The environment a shell ends up with after `eval`-ing `output`: runs
/// `eval "$OUT"; env -0` and parses the result.
pub fn eval_env(shell_name: &str, output: &str, before: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env: Vec<(&str, &str)> = before.to_vec();
    env.push(("OUT", output));
    let out = shell(shell_name, r#"eval "$OUT"; unset OUT; exec env -0"#, &env);
    assert!(out.status.success(), "{shell_name} eval failed: {}", text(&out.stderr));
    parse_env0(&out.stdout)
}

pub fn parse_env0(bytes: &[u8]) -> BTreeMap<String, String> {
    bytes
        .split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = text(e);
            let (k, v) = e.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Build `tests/plugins/variants` with one feature and return a copy of the
/// component that later builds with other features cannot overwrite.
pub fn test_plugin_variant(feature: &str) -> PathBuf {
    test_plugin_with("variants", feature)
}

/// Build `tests/plugins/<name>` with one feature and return a copy of the
/// component that later builds with other features cannot overwrite.
pub fn test_plugin_with(name: &str, feature: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let package = format!("test-plugin-{name}");
    let target = plugin_target_dir();
    let copy = target.join(name).join(format!("{feature}.wasm"));
    let features: Vec<&str> = [feature].into_iter().filter(|f| !f.is_empty()).collect();
    let build =
        Build { dir: &workspace(), target_dir: &target, profile: "plugin", packages: &[&package], features: &features };
    build.run().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(build.wasm(&package), &copy).unwrap();
    copy
}

/// Make `dir` (and its parents) as a careful user would for accounts: a
/// directory of their own, mode 0700. accounts refuses an existing dir
/// others can reach, and never changes one it did not create.
pub fn make_private_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Twins: `fx2` (2 seats) and `fx3` (3 seats) logged in to Claude as the
/// same user in their own config dirs, and `fx4` (9 seats) as another.
/// `state` goes before the accounts (a `[state]` table, or nothing).
pub fn twins_roster(fx: &Fixture, state: &str) -> String {
    let future_ms =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 86_400) * 1000;
    let mut roster = format!("default_agent = \"claude\"\n{state}");
    for (name, seats, email) in
        [("fx2", 2, "twin@example.com"), ("fx3", 3, "twin@example.com"), ("fx4", 9, "other@example.com")]
    {
        fx.write(
            &format!("dirs/{name}/.credentials.json"),
            &format!(r#"{{"claudeAiOauth":{{"accessToken":"sk-ant-oat01-FIXTURE-{name}","refreshToken":"sk-ant-ort01-FIXTURE","expiresAt":{future_ms},"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}}}"#),
        );
        fx.write(&format!("dirs/{name}/.claude.json"), &format!(r#"{{"oauthAccount":{{"emailAddress":"{email}"}}}}"#));
        roster += &format!(
            "[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"dirs/{name}\"\nseats = {seats}\n"
        );
    }
    roster
}

/// What twins promise, on whichever store `fx`'s roster names: `allocate`
/// never gives fx2 and fx3 together more workers than the larger of their
/// seat counts, and a wall on fx2 is obeyed on fx3.
pub fn twins_share_one_quota(fx: &Fixture) {
    let placed: serde_json::Value =
        serde_json::from_str(&fx.ok(&["allocate", "--agent", "claude", "--workers", "12", "--json"])).unwrap();
    let on = |name: &str| placed.as_array().unwrap().iter().filter(|p| p["account"] == name).count();
    assert_eq!((on("fx2") + on("fx3"), on("fx4")), (3, 9), "{placed}");
    let status: serde_json::Value = serde_json::from_str(&fx.ok(&["status", "--json"])).unwrap();
    let fx3 = status["accounts"].as_array().unwrap().iter().find(|a| a["name"] == "fx3").unwrap();
    assert_eq!(fx3["same_quota_as"], serde_json::json!(["fx2"]), "{fx3}");
    // One more is one too many: the twins' login is full at 3.
    let out = fx.run(&["allocate", "--agent", "claude", "--json", "w13"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    for name in ["fx2", "fx3", "fx4"] {
        fx.ok(&["release", "--account", name]);
    }

    fx.ok(&["wall", "fx2", "--for", "2h", "--reason", "weekly limit"]);
    let holder = Sleeper::new();
    for i in 0..9 {
        let worker = format!("after-{i}");
        let env = fx.ok(&["launch-env", "--agent", "claude", "--worker", &worker, "--holder-pid", &holder.pid()]);
        assert!(env.contains("export ACCOUNTS_ACCOUNT='fx4'"), "fx2's wall is fx3's too: {env}");
    }
    let out = fx.run(&["launch-env", "--agent", "claude", "--worker", "one-more", "--holder-pid", &holder.pid()]);
    assert_eq!(out.status.code(), Some(75), "fx4 full, the twins walled: {}", text(&out.stderr));
}

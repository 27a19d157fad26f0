//! The account lifecycle end to end: `add`, `remove`, `login` (on a
//! terminal and headless), `enroll`, `forget`, credential health in
//! `status`, docker arguments and completions. The vendors' login commands
//! need their servers, so scripts stand in for them, first on `PATH` under
//! the vendor's command name, printing what the real ones print (from their
//! bundles) and writing a login the way the real ones leave it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::*;

/// A fixture with a home, a `PATH` that starts with stand-in agents, and a
/// log dir the stand-ins write to.
struct Scene {
    fx: Fixture,
}

impl Scene {
    fn new(roster: &str) -> Scene {
        let fx = Fixture::new(roster);
        for dir in ["bin", "log", "home", "data", "config"] {
            std::fs::create_dir_all(fx.path(dir)).unwrap();
        }
        Scene { fx }
    }

    /// Put a stand-in for `name` on the PATH.
    fn stand_in(&self, name: &str, script: &str) {
        let path = self.fx.path(&format!("bin/{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.fx.cmd(args);
        self.env(&mut cmd);
        cmd
    }

    fn env(&self, cmd: &mut Command) {
        let path = format!("{}:{}", self.fx.path("bin").display(), std::env::var("PATH").unwrap());
        cmd.env("PATH", path)
            .env("HOME", self.fx.path("home"))
            .env("XDG_DATA_HOME", self.fx.path("data"))
            .env("XDG_CONFIG_HOME", self.fx.path("config"))
            .env("STANDIN_LOG", self.fx.path("log"));
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "accounts {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Expect exit `code` with nothing on stdout; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "accounts {args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
        text(&out.stderr)
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    fn credential(&self, name: &str) -> serde_json::Value {
        let status = self.status();
        let account = status["accounts"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap();
        account["credential"].clone()
    }

    fn roster_text(&self) -> String {
        std::fs::read_to_string(self.fx.roster()).unwrap()
    }
}

/// `claude auth login` as Claude Code 2.1.197 runs it: the URL, then a
/// prompt for the code from the browser; with the right code, the login
/// (an access token, a refresh token, the plan) and the identity, written
/// into `$CLAUDE_CONFIG_DIR`. It records the env it got.
const CLAUDE_LOGIN: &str = r#"#!/bin/sh
[ "$1 $2" = "auth login" ] || { echo "stand-in: unexpected arguments: $*" >&2; exit 64; }
env > "$STANDIN_LOG/env"
printf 'Opening browser to sign in\342\200\246\n'
printf "If the browser didn't open, visit: https://claude.ai/oauth/authorize?code=true&client_id=standin&state=%s\n" "$$"
printf 'Paste code here if prompted > '
IFS= read -r code || exit 1
[ "$code" = "${STANDIN_CODE:-right-code}" ] || { echo "OAuth error: Invalid code"; exit 1; }
expires=$(( ($(date +%s) + 28800) * 1000 ))
printf '{"claudeAiOauth":{"accessToken":"sk-ant-oat01-STANDIN-access","refreshToken":"sk-ant-ort01-STANDIN-refresh","expiresAt":%s,"subscriptionType":"max"}}' "$expires" > "$CLAUDE_CONFIG_DIR/.credentials.json"
printf '{"oauthAccount":{"emailAddress":"%s"}}' "${STANDIN_EMAIL:-a@example.com}" > "$CLAUDE_CONFIG_DIR/.claude.json"
echo "Login successful."
"#;

/// `codex login --device-auth` as codex 0.169.0 prints it; the real one
/// polls until the user entered the code in a browser, this one until the
/// test says so, then writes the `auth.json` the test prepared.
const CODEX_DEVICE_LOGIN: &str = r#"#!/bin/sh
[ "$*" = "login --device-auth" ] || { echo "stand-in: unexpected arguments: $*" >&2; exit 64; }
printf 'Follow these steps to sign in with ChatGPT using device code authorization:\n\n'
printf '1. Open this link in your browser and sign in to your account\n   \033[94mhttps://auth.openai.com/codex/device\033[0m\n\n'
printf '2. Enter this one-time code \033[90m(expires in 15 minutes)\033[0m\n   \033[94mWXYZ-12345\033[0m\n\n'
while [ ! -e "$STANDIN_LOG/approved" ]; do sleep 0.05; done
cp "$STANDIN_LOG/auth.json" "$CODEX_HOME/auth.json"
echo "Successfully logged in"
"#;

fn claude_roster(names: &[&str]) -> String {
    let mut roster = String::from("# my accounts\ndefault_agent = \"claude\"\n");
    for name in names {
        roster += &format!("\n[[account]]\nname = \"{name}\"\nagent = \"claude\"\nconfig_dir = \"dirs/{name}\"\n");
    }
    roster
}

/// A Claude login in `dir` as `claude auth login` leaves it.
fn write_claude_login(fx: &Fixture, dir: &str, email: &str, expires_at: i64, refreshable: bool) {
    let refresh = if refreshable { r#","refreshToken":"sk-ant-ort01-FIXTURE""# } else { "" };
    fx.write(
        &format!("{dir}/.credentials.json"),
        &format!(
            r#"{{"claudeAiOauth":{{"accessToken":"sk-ant-oat01-FIXTURE-access"{refresh},"expiresAt":{},"subscriptionType":"pro"}}}}"#,
            expires_at * 1000
        ),
    );
    fx.write(&format!("{dir}/.claude.json"), &format!(r#"{{"oauthAccount":{{"emailAddress":"{email}"}}}}"#));
}

/// base64url without padding, for JWTs.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn jwt(claims: &serde_json::Value) -> String {
    format!("{}.{}.sig", b64url(br#"{"alg":"RS256"}"#), b64url(claims.to_string().as_bytes()))
}

/// A ChatGPT login in Codex's `auth.json`.
fn codex_auth(email: &str, exp: i64, refreshable: bool) -> String {
    let id = jwt(&serde_json::json!({"email": email, "https://api.openai.com/auth": {"chatgpt_plan_type": "plus"}}));
    let mut tokens = serde_json::json!({"id_token": id, "access_token": jwt(&serde_json::json!({"exp": exp}))});
    if refreshable {
        tokens["refresh_token"] = "rt-FIXTURE".into();
    }
    serde_json::json!({"tokens": tokens}).to_string()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Read the pty until `needle` shows up; everything read so far.
fn read_until(master: &mut std::fs::File, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    while !text(seen).contains(needle) {
        let n = master.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "the terminal closed before {needle:?}; it showed: {}", text(seen));
        seen.extend_from_slice(&buf[..n]);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn add_keeps_the_roster_and_refuses_bad_input() {
    let scene = Scene::new(&claude_roster(&["w1"]));
    let before = scene.roster_text();
    let said = scene.ok(&["add", "w2", "--agent", "claude", "--seats", "2"]);
    let default_dir = scene.fx.path("data/accounts/config-dirs/w2");
    assert!(said.contains(&format!("config dir {}", default_dir.display())), "{said}");
    assert!(said.contains("next: accounts login w2"), "{said}");
    let after = scene.roster_text();
    assert!(after.starts_with(&before), "comments and layout kept:\n{after}");
    assert!(after.ends_with(&format!(
        "[[account]]\nname = \"w2\"\nagent = \"claude\"\nconfig_dir = \"{}\"\nseats = 2\n",
        default_dir.display()
    )));
    assert_eq!(mode(&default_dir), 0o700);

    // Every refusal: exit 2, nothing on stdout, nothing changed.
    let roster = scene.roster_text();
    let dirs_before: Vec<_> = std::fs::read_dir(scene.fx.path("data/accounts/config-dirs")).unwrap().collect();
    let refusals: &[(&[&str], &str)] = &[
        (&["add", "w1", "--agent", "claude"], ":5:8: an account named \"w1\" is already there"),
        (&["add", "w3", "--agent", "nosuch"], "unknown agent kind \"nosuch\""),
        (&["add", "a b", "--agent", "claude"], "account name \"a b\" is not allowed"),
        (&["add", "..", "--agent", "claude"], "account name \"..\" is not allowed"),
        (&["add", "w3", "--agent", "claude", "--token-env", "1X"], "not a variable name"),
    ];
    for (args, expected) in refusals {
        let err = scene.fails(args, 2);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(scene.roster_text(), roster, "{args:?} changed the roster");
    }
    let in_use = scene.fx.path("dirs/w1");
    let err = scene.fails(&["add", "w3", "--agent", "claude", "--config-dir", in_use.to_str().unwrap()], 2);
    assert!(err.contains("is already account \"w1\"'s"), "{err}");
    assert!(scene.fails(&["add", "w3", "--agent", "nosuch"], 2).contains("known kinds: claude, codex, gemini"));
    let dirs_after: Vec<_> = std::fs::read_dir(scene.fx.path("data/accounts/config-dirs")).unwrap().collect();
    assert_eq!(dirs_before.len(), dirs_after.len(), "no config dir left behind");

    // A roster that does not parse: its error, nothing written.
    scene.fx.write_roster("[[account]]\nname = \"x\n");
    let err = scene.fails(&["add", "w3", "--agent", "claude"], 2);
    assert!(err.contains(&format!("{}:2:", scene.fx.roster().display())), "{err}");
    assert_eq!(scene.roster_text(), "[[account]]\nname = \"x\n");

    // A read-only roster.
    scene.fx.write_roster(&roster);
    std::fs::set_permissions(scene.fx.roster(), std::fs::Permissions::from_mode(0o444)).unwrap();
    let err = scene.fails(&["add", "w3", "--agent", "claude"], 2);
    assert!(err.contains("is read-only"), "{err}");
    assert_eq!(scene.roster_text(), roster);
    assert!(!scene.fx.path("data/accounts/config-dirs/w3").exists(), "no dir made for a failed add");
}

#[test]
fn add_creates_the_roster_at_the_default_path() {
    let scene = Scene::new("");
    let mut cmd = scene.cmd(&["add", "w1", "--agent", "codex", "--config-dir", "rel/w1"]);
    cmd.env_remove("ACCOUNTS_ROSTER").current_dir(scene.fx.path("home"));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let roster = std::fs::read_to_string(scene.fx.path("config/accounts/roster.toml")).unwrap();
    assert!(roster.starts_with("# Accounts for `accounts`"), "{roster}");
    assert!(roster.contains("default_agent = \"codex\""), "a new roster defaults to its first kind: {roster}");
    let dir = scene.fx.path("home/rel/w1");
    assert!(roster.contains(&format!("config_dir = \"{}\"", dir.display())), "relative to where it ran: {roster}");
    assert!(dir.is_dir());
}

#[test]
fn remove_refuses_live_leases_and_keeps_the_config_dir() {
    let scene = Scene::new(&claude_roster(&["w1", "w2"]));
    write_claude_login(&scene.fx, "dirs/w1", "a@example.com", now() + 3600, true);
    let me = std::process::id().to_string();
    scene.ok(&["launch-env", "--agent", "claude", "--worker", "job-7", "--holder-pid", &me]);
    let leased = scene.status()["accounts"][0]["leases"][0]["worker"].clone();
    assert_eq!(leased, "job-7");
    let roster = scene.roster_text();
    let err = scene.fails(&["remove", "w1"], 2);
    assert!(err.contains("has live leases (workers job-7)") && err.contains("--force"), "{err}");
    assert_eq!(scene.roster_text(), roster);

    let said = scene.ok(&["remove", "w1", "--force"]);
    assert!(said.contains("is kept"), "{said}");
    assert!(scene.fx.path("dirs/w1/.credentials.json").exists(), "the login is the agent's, never deleted");
    assert!(!scene.roster_text().contains("name = \"w1\""));
    let status = scene.status();
    assert_eq!(status["accounts"].as_array().unwrap().len(), 1);
    let err = scene.fails(&["remove", "w1"], 2);
    assert!(err.contains("no account \"w1\" in"), "{err}");
}

#[test]
fn an_interactive_login_on_a_terminal() {
    let scene = Scene::new(&claude_roster(&["w1"]));
    scene.stand_in("claude", CLAUDE_LOGIN);
    let (master, slave) = open_pty();
    let mut child = scene
        .cmd(&["login", "w1"])
        // An inherited key must not shadow the login being written.
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-INHERITED-0123456789")
        .env("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-INHERITED-0123456789")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut terminal = std::fs::File::from(master.as_fd().try_clone_to_owned().unwrap());
    let mut seen = Vec::new();
    read_until(&mut terminal, &mut seen, "Paste code here if prompted > ");
    terminal.write_all(b"right-code\r").unwrap();
    read_until(&mut terminal, &mut seen, "w1: login live");
    let status = child.wait().unwrap();
    let _ = terminal.read_to_end(&mut seen);
    let shown = text(&seen);
    assert_eq!(status.code(), Some(0), "{shown}");
    assert!(shown.contains("w1: login live, expires in 8h (a@example.com, max)"), "{shown}");

    let env = std::fs::read_to_string(scene.fx.path("log/env")).unwrap();
    assert!(env.contains(&format!("CLAUDE_CONFIG_DIR={}", scene.fx.path("dirs/w1").display())), "{env}");
    assert!(!env.contains("INHERITED"), "inherited keys are removed: {env}");
    assert_eq!(scene.credential("w1")["state"], "live");
    assert_eq!(scene.credential("w1")["identity"], "a@example.com");
}

/// `accounts login --headless` with its stdin and stdout as pipes: the
/// supervisor's side.
struct Supervisor {
    child: std::process::Child,
    events: BufReader<std::process::ChildStdout>,
    stderr: std::thread::JoinHandle<String>,
}

impl Supervisor {
    fn start(scene: &Scene, args: &[&str]) -> Supervisor {
        let mut child =
            scene.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let events = BufReader::new(child.stdout.take().unwrap());
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Supervisor { child, events, stderr }
    }

    fn next_event(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.events.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "no more events");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    fn finish(mut self) -> (Option<i32>, Vec<serde_json::Value>, String) {
        drop(self.child.stdin.take());
        let mut rest = Vec::new();
        let mut line = String::new();
        while self.events.read_line(&mut line).unwrap() > 0 {
            rest.push(serde_json::from_str(&line).unwrap());
            line.clear();
        }
        let code = self.child.wait().unwrap().code();
        (code, rest, self.stderr.join().unwrap())
    }
}

#[test]
fn a_headless_login_relays_the_url_and_types_the_code() {
    let scene = Scene::new(&claude_roster(&["w1"]));
    scene.stand_in("claude", CLAUDE_LOGIN);
    let mut supervisor = Supervisor::start(&scene, &["login", "w1", "--headless"]);
    let event = supervisor.next_event();
    assert_eq!(event["event"], "url");
    let url = event["url"].as_str().unwrap();
    assert!(url.starts_with("https://claude.ai/oauth/authorize?code=true&client_id=standin&state="), "{url}");
    supervisor.type_line("right-code");
    let (code, rest, stderr) = supervisor.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    let result = &rest[0];
    assert_eq!((result["event"].as_str(), result["ok"].as_bool()), (Some("result"), Some(true)));
    assert_eq!((result["identity"].as_str(), result["plan"].as_str()), (Some("a@example.com"), Some("max")));
    assert!(stderr.contains("Paste code here if prompted"), "the login's own output goes to stderr: {stderr}");

    // The wrong code: the stand-in writes nothing, the login fails.
    let scene = Scene::new(&claude_roster(&["w1"]));
    scene.stand_in("claude", CLAUDE_LOGIN);
    let mut supervisor = Supervisor::start(&scene, &["login", "w1", "--headless"]);
    supervisor.next_event();
    supervisor.type_line("wrong-code");
    let (code, rest, stderr) = supervisor.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(rest[0]["ok"], false);
    assert!(rest[0]["error"].as_str().unwrap().contains("failed (exit 1)"), "{rest:?}");
    assert!(stderr.contains("OAuth error: Invalid code"), "{stderr}");
    assert_eq!(scene.credential("w1")["state"], "missing");
}

#[test]
fn a_headless_device_login_relays_the_code_and_uses_the_headless_command() {
    let scene = Scene::new(
        "[[account]]\nname = \"x1\"\nagent = \"codex\"\nconfig_dir = \"dirs/x1\"\n\
         [[account]]\nname = \"x2\"\nagent = \"codex\"\nconfig_dir = \"dirs/x2\"\n",
    );
    scene.stand_in("codex", CODEX_DEVICE_LOGIN);
    std::fs::write(scene.fx.path("log/auth.json"), codex_auth("c@example.com", now() + 7200, true)).unwrap();
    let mut supervisor = Supervisor::start(&scene, &["login", "x1", "--headless"]);
    let url = "https://auth.openai.com/codex/device";
    assert_eq!(supervisor.next_event(), serde_json::json!({"event": "url", "url": url, "code": null}));
    assert_eq!(supervisor.next_event(), serde_json::json!({"event": "url", "url": url, "code": "WXYZ-12345"}));
    std::fs::write(scene.fx.path("log/approved"), "").unwrap();
    let (code, rest, stderr) = supervisor.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(rest[0]["identity"], "c@example.com");
    assert_eq!(rest[0]["plan"], "plus");

    // The same login for another account: flagged, exit 3, and in status.
    let supervisor = Supervisor::start(&scene, &["login", "x2", "--headless"]);
    let (code, events, stderr) = supervisor.finish();
    assert_eq!(code, Some(3), "{stderr}");
    let result = events.last().unwrap();
    assert_eq!((result["event"].as_str(), result["ok"].as_bool()), (Some("result"), Some(true)), "{events:?}");
    assert_eq!(result["same_login_as"], serde_json::json!(["x1"]));
    assert!(
        stderr.contains("x2 is logged in as c@example.com, the same login as x1: they share one quota"),
        "{stderr}"
    );
}

#[test]
fn a_headless_login_nobody_completes_is_killed_at_the_timeout() {
    let scene = Scene::new(&claude_roster(&["w1"]));
    scene.stand_in("claude", "#!/bin/sh\necho $$ > \"$STANDIN_LOG/pid\"\necho waiting\nsleep 600\n");
    let started = std::time::Instant::now();
    let supervisor = Supervisor::start(&scene, &["login", "w1", "--headless", "--timeout", "2s"]);
    let (code, rest, stderr) = supervisor.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(rest[0]["error"].as_str().unwrap().contains("did not finish within 2s"), "{rest:?}");
    let pid: i32 = std::fs::read_to_string(scene.fx.path("log/pid")).unwrap().trim().parse().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the login command was killed");
}

#[test]
fn a_login_must_write_a_real_file_and_be_live() {
    let scene = Scene::new(&claude_roster(&["w1", "w2"]));
    // Exits 0 and writes nothing.
    scene.stand_in("claude", "#!/bin/sh\necho 'Login successful.'\n");
    let err = scene.fails(&["login", "w1"], 1);
    assert!(err.contains("the login wrote no file in"), "{err}");
    assert!(err.contains("Claude Code does not read a live login"), "{err}");

    // Only points a symlink at another account's live login.
    write_claude_login(&scene.fx, "dirs/w2", "b@example.com", now() + 3600, true);
    let other = scene.fx.path("dirs/w2/.credentials.json");
    scene.stand_in(
        "claude",
        &format!("#!/bin/sh\nln -s '{}' \"$CLAUDE_CONFIG_DIR/.credentials.json\"\n", other.display()),
    );
    let err = scene.fails(&["login", "w1"], 1);
    assert!(err.contains("the login wrote no file in"), "{err}");

    // Writes a file but no login.
    scene.stand_in("claude", "#!/bin/sh\necho '{}' > \"$CLAUDE_CONFIG_DIR/settings.json\"\n");
    std::fs::remove_file(scene.fx.path("dirs/w1/.credentials.json")).unwrap();
    let err = scene.fails(&["login", "w1"], 1);
    assert!(!err.contains("wrote no file"), "{err}");
    assert!(err.contains("does not read a live login") && err.contains("no login"), "{err}");

    // The agent is not installed.
    std::fs::remove_file(scene.fx.path("bin/claude")).unwrap();
    let mut cmd = scene.cmd(&["login", "w1"]);
    cmd.env("PATH", scene.fx.path("bin"));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("claude is not on PATH"), "{}", text(&out.stderr));
}

#[test]
fn login_refuses_an_agent_without_a_login_and_warns_about_live_leases() {
    let scene = Scene::new(
        "[[account]]\nname = \"g\"\nagent = \"gemini\"\nconfig_dir = \"dirs/g\"\n\
         [[account]]\nname = \"w1\"\nagent = \"claude\"\nconfig_dir = \"dirs/w1\"\n",
    );
    let err = scene.fails(&["login", "g"], 2);
    assert!(err.contains("Gemini CLI has no login command"), "{err}");
    assert!(err.contains("accounts enroll g --token-stdin"), "the plugin's hint, with the name: {err}");

    scene.stand_in("claude", CLAUDE_LOGIN);
    let me = std::process::id().to_string();
    scene.ok(&["launch-env", "--agent", "claude", "--worker", "job-1", "--holder-pid", &me]);
    let mut supervisor = Supervisor::start(&scene, &["login", "w1", "--headless"]);
    supervisor.next_event();
    supervisor.type_line("right-code");
    let (code, _, stderr) = supervisor.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("account \"w1\" is in use by job-1"), "{stderr}");
}

#[test]
fn an_interactive_duplicate_login_is_flagged_by_login_and_status() {
    let scene = Scene::new(&claude_roster(&["w1", "w2", "w3"]));
    write_claude_login(&scene.fx, "dirs/w1", "A@Example.com", now() + 3600, true);
    scene.stand_in("claude", CLAUDE_LOGIN);
    let mut supervisor = Supervisor::start(&scene, &["login", "w2", "--headless"]);
    supervisor.next_event();
    supervisor.type_line("right-code");
    let (code, _, stderr) = supervisor.finish();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("w2 is logged in as a@example.com, the same login as w1"), "{stderr}");
    assert_eq!(scene.credential("w1")["same_login_as"], serde_json::json!(["w2"]));
    assert_eq!(scene.credential("w2")["same_login_as"], serde_json::json!(["w1"]));
    assert_eq!(scene.credential("w3")["same_login_as"], serde_json::json!([]));
    let table = scene.ok(&["status"]);
    let line = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap().to_owned();
    assert!(line("w1").contains("SAME LOGIN AS w2"), "{table}");
    assert!(line("w2").contains("SAME LOGIN AS w1"), "{table}");
    assert!(line("w3").contains("nothing: run accounts login w3"), "{table}");
}

#[test]
fn enroll_stores_a_private_token_that_launch_env_uses_and_forget_removes() {
    let scene = Scene::new(
        "[[account]]\nname = \"c\"\nagent = \"claude\"\nconfig_dir = \"dirs/c\"\n\
         [[account]]\nname = \"x\"\nagent = \"codex\"\nconfig_dir = \"dirs/x\"\n",
    );
    let enroll = |name: &str, input: &[u8]| {
        let mut child = scene
            .cmd(&["enroll", name, "--token-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };

    // Claude: into the plugin's token file in the config dir.
    let out = enroll("c", format!("{CLAUDE_TOKEN}\n").as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stored a Claude Code token (sk-ant-oat01-****)"), "{}", text(&out.stdout));
    let stored = scene.fx.path("dirs/c/.oauth-token");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), format!("{CLAUDE_TOKEN}\n"));
    assert_eq!(mode(&stored), 0o600);
    assert_eq!(mode(&scene.fx.path("dirs/c")), 0o700);
    let env = eval_env("dash", &scene.ok(&["launch-env", "--account", "c"]), &[]);
    assert_eq!(env["CLAUDE_CODE_OAUTH_TOKEN"], CLAUDE_TOKEN);

    // Codex names no token file: one in the config dir, named in the roster.
    let mut cmd = scene.cmd(&["enroll", "x", "--token-env", "MY_KEY"]);
    let out = cmd.env("MY_KEY", CODEX_TOKEN).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored_x = scene.fx.path("dirs/x/.accounts-token");
    assert_eq!(mode(&stored_x), 0o600);
    assert!(scene.roster_text().contains(&format!("token_file = \"{}\"", stored_x.display())));
    let env = eval_env("dash", &scene.ok(&["launch-env", "--account", "x"]), &[]);
    assert_eq!(env["CODEX_API_KEY"], CODEX_TOKEN);
    assert_eq!(scene.credential("x")["token"], "sk-****");
    assert_eq!(scene.credential("c")["token"], "sk-ant-oat01-****");

    // Bad tokens: exit 2, nothing written.
    let roster = scene.roster_text();
    for (input, why) in [
        (&b""[..], "the token is empty"),
        (b"\n", "the token is empty"),
        (b"sk-ant-oat01-a\nsk-ant-oat01-b\n", "more than one line"),
        (b"not-a-claude-token\n", "not a valid Claude Code token"),
    ] {
        let out = enroll("c", input);
        assert_eq!(out.status.code(), Some(2), "{input:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr).contains(why), "{input:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("nothing was stored"), "{}", text(&out.stderr));
    }
    let out = enroll("x", format!("{CLAUDE_TOKEN}\n").as_bytes());
    assert!(text(&out.stderr).contains("not a valid Codex CLI token: it is an Anthropic key"), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains(CLAUDE_TOKEN));
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), format!("{CLAUDE_TOKEN}\n"));
    assert_eq!(scene.roster_text(), roster);

    // A terminal on stdin is refused without reading it.
    let (_master, slave) = open_pty();
    let out = scene.cmd(&["enroll", "c", "--token-stdin"]).stdin(slave).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("reads a pipe, not a terminal"), "{}", text(&out.stderr));

    // Forget: the stored token goes, the roster entry enroll made too; the
    // agent's own login files stay.
    write_claude_login(&scene.fx, "dirs/c", "a@example.com", now() + 3600, true);
    scene.ok(&["forget", "c"]);
    assert!(!stored.exists());
    assert!(scene.fx.path("dirs/c/.credentials.json").exists(), "forget never logs the agent out");
    scene.ok(&["forget", "x"]);
    assert!(!stored_x.exists());
    assert!(!scene.roster_text().contains("token_file"), "{}", scene.roster_text());
    let env = eval_env("dash", &scene.ok(&["launch-env", "--account", "x"]), &[]);
    assert!(!env.contains_key("CODEX_API_KEY"));
    assert!(scene.ok(&["forget", "x"]).contains("no stored token"));
}

#[test]
fn status_reads_live_expired_and_missing_logins_for_each_builtin() {
    let mut roster = String::new();
    for agent in ["claude", "codex", "gemini"] {
        for state in ["live", "expired", "missing"] {
            roster += &format!(
                "[[account]]\nname = \"{agent}-{state}\"\nagent = \"{agent}\"\nconfig_dir = \"dirs/{agent}-{state}\"\n"
            );
        }
    }
    let scene = Scene::new(&roster);
    let fx = &scene.fx;
    let (soon, ago) = (now() + 5 * 3600, now() - 2 * 86_400);
    write_claude_login(fx, "dirs/claude-live", "a@example.com", soon, false);
    write_claude_login(fx, "dirs/claude-expired", "b@example.com", ago, false);
    fx.write("dirs/codex-live/auth.json", &codex_auth("c@example.com", soon, false));
    fx.write("dirs/codex-expired/auth.json", &codex_auth("d@example.com", ago, false));
    let gemini = |exp: i64| format!(r#"{{"access_token":"ya29.FIXTURE","expiry_date":{}}}"#, exp * 1000);
    fx.write("dirs/gemini-live/.gemini/oauth_creds.json", &gemini(soon));
    fx.write("dirs/gemini-live/.gemini/google_accounts.json", r#"{"active":"e@example.com","old":[]}"#);
    fx.write("dirs/gemini-expired/.gemini/oauth_creds.json", &gemini(ago));
    for dir in ["claude-missing", "codex-missing"] {
        std::fs::create_dir_all(fx.path(&format!("dirs/{dir}"))).unwrap();
    }

    let expect = [
        ("claude-live", "live", Some("a@example.com"), Some("pro")),
        ("claude-expired", "expired", Some("b@example.com"), Some("pro")),
        ("claude-missing", "missing", None, None),
        ("codex-live", "live", Some("c@example.com"), Some("plus")),
        ("codex-expired", "expired", Some("d@example.com"), Some("plus")),
        ("codex-missing", "missing", None, None),
        ("gemini-live", "live", Some("e@example.com"), None),
        ("gemini-expired", "expired", None, None),
        ("gemini-missing", "missing", None, None),
    ];
    for (name, state, identity, plan) in expect {
        let c = scene.credential(name);
        assert_eq!(c["state"], state, "{name}: {c}");
        assert_eq!(c["identity"].as_str(), identity, "{name}: {c}");
        assert_eq!(c["plan"].as_str(), plan, "{name}: {c}");
        assert_eq!(c["token_source"], serde_json::Value::Null, "{name}");
    }
    let c = scene.credential("codex-live");
    assert_eq!(c["expires_at"], jiff::Timestamp::from_second(soon).unwrap().to_string());
    let table = scene.ok(&["status"]);
    let line = |name: &str| table.lines().find(|l| l.starts_with(name)).unwrap().to_owned();
    assert!(line("claude-live").contains("login live, expires in 5h (a@example.com, pro)"), "{table}");
    assert!(
        line("codex-expired").contains("login expired 2d ago (d@example.com, plus); run accounts login"),
        "{table}"
    );
    assert!(line("gemini-missing").contains("nothing: run accounts enroll gemini-missing"), "{table}");
}

#[test]
fn the_docker_recipe_keeps_the_token_out_of_every_argv() {
    let scene =
        Scene::new("[[account]]\nname = \"c\"\nagent = \"claude\"\nconfig_dir = \"dirs/c\"\ntoken_file = \"t\"\n");
    scene.fx.write("t", CLAUDE_TOKEN);
    scene.stand_in(
        "docker",
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$STANDIN_LOG/argv\"\nenv > \"$STANDIN_LOG/env\"\n",
    );
    let recipe = r#"
mapfile -t args < <("$BIN" launch-env --account c --format docker --mount-at /home/agent/.claude)
"$BIN" exec --account c -- docker run --rm "${args[@]}" agent-image claude -p hello
"#;
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(recipe);
    scene.fx.point_at_fixture(&mut cmd);
    scene.env(&mut cmd);
    let out = cmd.env("BIN", &*BIN).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let argv = std::fs::read_to_string(scene.fx.path("log/argv")).unwrap();
    let expected = format!(
        "run\n--rm\n-v\n{dir}:/home/agent/.claude\n-e\nCLAUDE_CONFIG_DIR=/home/agent/.claude\n-e\nCLAUDE_CODE_OAUTH_TOKEN\n\
         -e\nANTHROPIC_CONFIG_DIR=/home/agent/.claude/anthropic-profiles\n-e\nACCOUNTS_ACCOUNT\nagent-image\nclaude\n-p\nhello\n",
        dir = scene.fx.path("dirs/c").display()
    );
    assert_eq!(argv, expected);
    assert!(!argv.contains(CLAUDE_TOKEN));
    let env = std::fs::read_to_string(scene.fx.path("log/env")).unwrap();
    assert!(env.contains(&format!("CLAUDE_CODE_OAUTH_TOKEN={CLAUDE_TOKEN}")), "docker gets the token in its env");

    // Bad mount points.
    for bad in ["relative/dir", "/a:b"] {
        let err = scene.fails(&["launch-env", "--account", "c", "--format", "docker", "--mount-at", bad], 2);
        assert!(err.contains("cannot be a docker mount"), "{err}");
    }
    let err = scene.fails(&["launch-env", "--account", "c", "--mount-at", "/x"], 2);
    assert!(err.contains("--mount-at goes with --format docker"), "{err}");
}

/// Completions as a user meets them: each real shell in tmux, the script
/// `accounts completions SHELL` prints loaded the way the README says, and
/// TAB pressed after `accounts login `: the roster's account names appear,
/// and after `--agent ` the kinds. Dynamic: an account added later is
/// offered without reloading anything.
#[test]
fn completions_offer_account_names_and_kinds_in_real_shells() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: no tmux (tests/run installs it)");
        return;
    }
    let scene = Scene::new(&claude_roster(&["night-shift", "day-shift"]));
    let load = |shell: &str| match shell {
        "zsh" => "autoload -U compinit && compinit -u && source <(accounts completions zsh)".to_owned(),
        "fish" => "accounts completions fish | source".to_owned(),
        shell => format!("source <(accounts completions {shell})"),
    };
    in_each_shell(&scene, load, |shell, session| {
        session.line("clear");
        session.keys(&["accounts login ", "Tab", "Tab"]);
        let screen = session.wait_for(|s| s.contains("night-shift") && s.contains("day-shift"));
        assert!(screen.contains("night-shift") && screen.contains("day-shift"), "{shell}:\n{screen}");
        session.keys(&["C-u"]);
        scene.ok(&["add", "late-shift", "--agent", "codex"]);
        session.line("clear");
        session.keys(&["accounts login late", "Tab"]);
        let screen = session.wait_for(|s| s.contains("late-shift"));
        assert!(screen.contains("accounts login late-shift"), "{shell}: an account added later:\n{screen}");
        session.keys(&["C-u"]);
        session.line("clear");
        session.keys(&["accounts launch-env --agent co", "Tab"]);
        let screen = session.wait_for(|s| s.contains("--agent codex"));
        assert!(screen.contains("--agent codex"), "{shell}: kinds:\n{screen}");
        scene.ok(&["remove", "late-shift"]);
    });
}

/// Run `test` in each of bash, zsh and fish (those installed), each in a
/// tmux session of its own with the binary on PATH and `load(shell)` typed.
fn in_each_shell(scene: &Scene, load: impl Fn(&str) -> String, test: impl Fn(&str, &Tmux)) {
    let bin_dir = Path::new(&*BIN).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let shells: [(&str, &[&str]); 3] =
        [("bash", &["--norc", "--noprofile"]), ("zsh", &["-f"]), ("fish", &["--no-config"])];
    for (shell, flags) in shells {
        if Command::new(shell).arg("--version").output().is_err() {
            eprintln!("skipped {shell}: not installed (tests/run installs it)");
            continue;
        }
        let session = Tmux::start(scene, shell, flags, &path);
        session.line(&load(shell));
        test(shell, &session);
    }
}

/// A shell running in a detached tmux session of its own.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(scene: &Scene, shell: &str, flags: &[&str], path: &str) -> Tmux {
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("accounts-test-{}-{n}-{shell}", std::process::id());
        let mut cmd = Command::new("tmux");
        cmd.args(["new-session", "-d", "-x", "160", "-y", "40", "-s", &name]);
        // The shell's environment, exactly: the fixture's, the binary on
        // PATH (through `env -i`: tmux gives a new pane the server's PATH).
        cmd.args(["--", "env", "-i"]);
        let env = scene.cmd(&[]);
        for (key, value) in env.get_envs() {
            if let Some(value) = value {
                cmd.arg(format!("{}={}", key.to_string_lossy(), value.to_string_lossy()));
            }
        }
        cmd.args([&format!("PATH={path}"), "TERM=xterm-256color", "LC_ALL=C.UTF-8"]);
        cmd.arg(shell).args(flags);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        let session = Tmux { name };
        session.wait_for(|s| !s.trim().is_empty());
        session
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            // A literal string, or a key name tmux knows (Tab, Enter, C-u).
            let literal = !["Tab", "Enter", "C-u"].contains(key);
            let mut cmd = Command::new("tmux");
            cmd.args(["send-keys", "-t", &self.name]);
            if literal {
                cmd.arg("-l");
            }
            assert!(cmd.arg(key).status().unwrap().success());
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
    }

    fn line(&self, line: &str) {
        self.keys(&[line, "Enter"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    fn screen(&self) -> String {
        text(&Command::new("tmux").args(["capture-pane", "-p", "-t", &self.name]).output().unwrap().stdout)
    }

    /// The screen once `ready` holds, or after 10 s, whatever it shows.
    fn wait_for(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if ready(&screen) || std::time::Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.name]).status();
    }
}

/// The README's quick start, as a newcomer runs it: from nothing to two
/// logged-in accounts and a rotating `exec`, without an editor.
#[test]
fn the_quick_start_works_from_nothing() {
    let scene = Scene::new("");
    std::fs::remove_file(scene.fx.roster()).unwrap();
    scene.stand_in("claude", CLAUDE_LOGIN);
    scene.ok(&["add", "work-1", "--agent", "claude"]);
    scene.ok(&["add", "work-2", "--agent", "claude"]);
    for (name, email) in [("work-1", "one@example.com"), ("work-2", "two@example.com")] {
        let mut cmd = scene.cmd(&["login", name, "--headless"]);
        cmd.env("STANDIN_EMAIL", email).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"right-code\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let script = r#"
if [ "$ACCOUNTS_ACCOUNT" = work-1 ]; then echo "You've hit your session limit · resets 3pm (UTC)"; exit 1; fi
echo "working on $ACCOUNTS_ACCOUNT as $CLAUDE_CONFIG_DIR"
"#;
    let out = scene.cmd(&["exec", "--rotate", "--", "sh", "-c", script]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = scene.fx.path("data/accounts/config-dirs/work-2");
    assert!(text(&out.stdout).contains(&format!("working on work-2 as {}", dir.display())), "{}", text(&out.stdout));
}

/// An account with nothing to log in with ranks after every account that
/// has a credential and room (even one with a better priority); when it is
/// all there is, it is taken with a note that says how to log it in.
#[test]
fn seat_choice_takes_a_logged_in_account_before_one_with_nothing() {
    let roster = claude_roster(&["fresh", "in"]).replace("dirs/fresh\"\n", "dirs/fresh\"\npriority = -5\n");
    let scene = Scene::new(&roster);
    write_claude_login(&scene.fx, "dirs/in", "in@example.com", now() + 3600, true);
    let holder = Sleeper::new();
    let launch = |worker: &str| {
        let out = scene.run(&["launch-env", "--worker", worker, "--holder-pid", &holder.pid(), "--format", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (env["account"].as_str().unwrap().to_owned(), text(&out.stderr))
    };
    let (account, said) = launch("w1");
    assert_eq!(account, "in", "the logged-in account wins over fresh's priority");
    assert_eq!(said, "", "nothing to note");
    let (account, said) = launch("w2");
    assert_eq!(account, "fresh", "in's one seat is taken");
    assert!(said.contains("\"fresh\" has nothing to log in with") && said.contains("accounts login fresh"), "{said}");
    let (account, said) = launch("w2");
    assert_eq!(account, "fresh", "sticky: a worker keeps its seat");
    assert!(said.contains("nothing to log in with"), "{said}");
}

/// The status table fits the terminal it is printed on: columns as wide as
/// their widest name, long cells wrapped, no line past the width; piped,
/// every account keeps one first line for `grep`.
#[test]
fn the_status_table_fits_the_terminal() {
    let long = "a-rather-long-account-name-for-the-night-shift";
    let scene = Scene::new(&claude_roster(&["w1", long]));
    let table_at = |cols: u16| {
        let (master, slave) = open_pty();
        let size = rustix::termios::Winsize { ws_row: 40, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(&master, size).unwrap();
        let out = scene.cmd(&["status"]).stdout(slave).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut shown = Vec::new();
        let mut reader = std::fs::File::from(master);
        let mut buf = [0u8; 65536];
        // The child is gone; read what it left until the pty runs dry.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.extend_from_slice(&buf[..n]);
            if shown.ends_with(b"\r\n") && n < buf.len() {
                break;
            }
        }
        text(&shown).replace("\r\n", "\n")
    };
    let narrow = table_at(100);
    for line in narrow.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line:?}\n{narrow}", line.chars().count());
    }
    let header = narrow.lines().next().unwrap();
    let row = narrow.lines().find(|l| l.starts_with(long)).unwrap_or_else(|| panic!("{narrow}"));
    assert_eq!(row.find(" claude"), header.find(" AGENT"), "the agent column lines up:\n{narrow}");
    assert!(narrow.contains("nothing: run") && narrow.contains("accounts login"), "{narrow}");
    let piped = scene.ok(&["status"]);
    let line = piped.lines().find(|l| l.starts_with(long)).unwrap();
    assert!(line.contains(&format!("nothing: run accounts login {long}")), "unwrapped when piped: {piped}");
}

/// Help as a newcomer reads it: examples at the end of each command's
/// help, the flags every command takes under their own heading; a man page
/// per command that `man` renders.
#[test]
fn every_command_has_examples_a_global_heading_and_a_man_page() {
    let scene = Scene::new("");
    let dir = scene.fx.path("man");
    let said = scene.ok(&["man", "--dir", dir.to_str().unwrap()]);
    let pages = std::fs::read_dir(&dir).unwrap().count();
    assert!(
        pages > 20 && said.starts_with(&format!("wrote {pages} man pages")),
        "accounts.1 and one per command: {said}"
    );
    for command in ["launch-env", "exec", "status", "login", "doctor", "completions", "man"] {
        let help = scene.ok(&[command, "--help"]);
        let (own, global) = help.split_once("Global options:").unwrap_or_else(|| panic!("{command}: {help}"));
        assert!(global.contains("--roster") && !own.contains("--roster"), "{command}: {help}");
        assert!(help.contains("\nExamples") && help.contains(&format!("accounts {command}")), "{command}: {help}");
        let page = dir.join(format!("accounts-{command}.1"));
        let roff = std::fs::read_to_string(&page).unwrap();
        assert!(roff.contains(&format!(".TH accounts-{command} 1")), "{roff}");
        if let Ok(out) = Command::new("man").arg("-l").arg(&page).env("MANWIDTH", "100").output() {
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(text(&out.stdout).contains("Examples:"), "{}", text(&out.stdout));
        }
    }
    let top = scene.ok(&["man"]);
    assert!(top.contains(".TH accounts 1") && top.contains("doctor"), "{top}");
    let rotate = scene.ok(&["rotate", "--help"]);
    assert!(rotate.contains("Usage: accounts rotate [OPTIONS]\n"), "--worker defaults to $ACCOUNTS_WORKER: {rotate}");
    let err = scene.fails(&["rotate"], 2);
    assert!(err.contains("which worker? pass --worker ID"), "{err}");
}

/// A directory bound to an account: `launch-env` there (and below) takes
/// it first, elsewhere the usual pick; a directory bound to a kind gives
/// that kind; the shell hook, in real bash, zsh and fish in tmux, sets the
/// account's env on `cd` into it and unsets it on leaving.
#[test]
fn a_bound_directory_takes_its_account_first_and_the_hook_follows_cd() {
    let scene = Scene::new(&format!(
        "{}\n[[account]]\nname = \"x1\"\nagent = \"codex\"\nconfig_dir = \"dirs/x1\"\n",
        claude_roster(&["w1", "w2"])
    ));
    for dir in ["proj/sub", "ml"] {
        std::fs::create_dir_all(scene.fx.path(dir)).unwrap();
    }
    let proj = scene.fx.path("proj");
    let said = scene.ok(&["bind", "--account", "w2", "--path", proj.to_str().unwrap()]);
    assert!(
        said.starts_with(&format!("bound path {} -> account w2", proj.canonicalize().unwrap().display())),
        "{said}"
    );
    let ml = scene.fx.path("ml");
    scene.ok(&["bind", "--agent", "codex", "--path", ml.to_str().unwrap()]);
    let err = scene.fails(&["bind", "--account", "nobody"], 2);
    assert!(err.contains("account \"nobody\", which is not in this roster"), "{err}");
    let listed = scene.ok(&["bind"]);
    assert_eq!(listed.lines().count(), 2, "{listed}");

    let holder = Sleeper::new();
    let launched_in = |dir: &str, worker: &str| {
        let out = scene
            .cmd(&["launch-env", "--worker", worker, "--holder-pid", &holder.pid(), "--format", "json"])
            .current_dir(scene.fx.path(dir))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["account"].as_str().unwrap().to_owned()
    };
    assert_eq!(launched_in("proj/sub", "a"), "w2", "the bound account first, below it too");
    assert_eq!(launched_in("proj", "b"), "w1", "w2 is full: the usual pick");
    assert_eq!(launched_in("ml", "c"), "x1", "a directory bound to a kind");
    scene.ok(&["release", "--account", "w2"]);
    scene.ok(&["release", "--account", "w1"]);
    assert_eq!(launched_in(".", "d"), "w1", "elsewhere, default_agent and the usual pick");
    scene.ok(&["release", "--account", "w1"]);

    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped the hook: no tmux (tests/run installs it)");
        return;
    }
    let w2_dir = scene.fx.path("dirs/w2").display().to_string();
    let load = |shell: &str| match shell {
        "fish" => "accounts hook fish | source".to_owned(),
        shell => format!("eval \"$(accounts hook {shell})\""),
    };
    in_each_shell(&scene, load, |shell, session| {
        session.line(&format!("cd {}", scene.fx.path("proj/sub").display()));
        session.line("clear");
        session.line("echo \"in=[$ACCOUNTS_ACCOUNT] [$CLAUDE_CONFIG_DIR]\"");
        let screen = session.wait_for(|s| s.contains("in=[w2]"));
        assert!(screen.contains(&format!("in=[w2] [{w2_dir}]")), "{shell}: entering\n{screen}");
        session.line("cd /");
        session.line("clear");
        session.line("echo \"out=[$ACCOUNTS_ACCOUNT] [$CLAUDE_CONFIG_DIR]\"");
        let screen = session.wait_for(|s| s.contains("out=["));
        assert!(screen.contains("out=[] []"), "{shell}: leaving\n{screen}");
    });
}

/// A binding by git remote applies in every clone of it (an ssh remote
/// bound, an https clone matched), and `unbind` takes it away.
#[test]
fn a_remote_binding_follows_every_clone_and_unbind_removes_it() {
    let scene = Scene::new(&claude_roster(&["w1", "w2"]));
    let clone = scene.fx.path("src/app");
    std::fs::create_dir_all(clone.join("deep")).unwrap();
    let git =
        |args: &[&str]| assert!(Command::new("git").args(args).current_dir(&clone).output().unwrap().status.success());
    git(&["init", "-q"]);
    git(&["remote", "add", "origin", "https://github.com/Acme/app.git"]);
    scene.ok(&["bind", "--account", "w2", "--remote", "git@github.com:acme/app.git"]);
    let launch = |dir: &Path| {
        let out = scene.cmd(&["launch-env", "--worker", "w", "--format", "json"]).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        scene.ok(&["release", "--worker", "w"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["account"].as_str().unwrap().to_owned()
    };
    assert_eq!(launch(&clone.join("deep")), "w2");
    assert_eq!(launch(&scene.fx.path("src")), "w1", "outside the clone");
    let said = scene.ok(&["unbind", "--remote", "https://github.com/acme/app"]);
    assert!(said.contains("unbound remote github.com/acme/app -> account w2"), "{said}");
    assert!(!scene.roster_text().contains("[[bind]]"), "{}", scene.roster_text());
    assert_eq!(launch(&clone), "w1");
    let err = scene.fails(&["unbind", "--remote", "https://github.com/acme/app"], 2);
    assert!(err.contains("nothing is bound at remote github.com/acme/app"), "{err}");
}

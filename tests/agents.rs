//! The built-in plugins against the real agents: pinned versions of Claude
//! Code, Codex CLI and Gemini CLI from the npm registry, run through
//! `accounts exec` with HOME and every config dir in temp dirs and no
//! network. What each agent reports (its status command) or does (the
//! credential it sends to a local stand-in for its API) must match what
//! the plugin believes. When a newer version changes a fact, this is where
//! we find out: bump the versions below and run `cargo test --test agents`.
//!
//! The agents are installed once into `target/agents-<versions>/` with npm
//! (about 750 MB).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::*;

/// The agents, pinned. Facts in plugins/*/src and the corpora were checked
/// against these.
const AGENTS: &[(&str, &str)] =
    &[("@anthropic-ai/claude-code", "2.1.197"), ("@openai/codex", "0.169.0"), ("@google/gemini-cli", "0.61.0")];

/// The `node_modules/.bin` of the pinned agents, installed on first use.
fn agents_bin() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let tag: Vec<String> =
                AGENTS.iter().map(|(p, v)| format!("{}-{v}", p.rsplit('/').next().unwrap())).collect();
            let dir = target_dir().join(format!("agents-{}", tag.join("-")));
            let bin = dir.join("node_modules/.bin");
            let _lock = FileLock::take(&target_dir().join("agents.lock"));
            if !dir.join("ready").exists() {
                std::fs::create_dir_all(&dir).unwrap();
                let packages: Vec<String> = AGENTS.iter().map(|(p, v)| format!("{p}@{v}")).collect();
                let status = Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
                    .arg(&dir)
                    .args(&packages)
                    .status()
                    .expect("npm is needed to install the real agents (tests/run installs Node.js and npm)");
                assert!(status.success(), "npm install {packages:?} failed");
                std::fs::write(dir.join("ready"), "").unwrap();
            }
            bin
        })
        .clone()
}

/// A fixture whose agents run with their own HOME, the pinned agents first
/// on PATH, and none of the agents' variables from our environment.
struct Scene {
    fx: Fixture,
}

impl Scene {
    fn new(roster: &str) -> Scene {
        let fx = Fixture::new(roster);
        std::fs::create_dir_all(fx.path("home")).unwrap();
        Scene { fx }
    }

    fn home(&self) -> PathBuf {
        self.fx.path("home")
    }

    /// `accounts ARGS` with the scene's environment.
    fn accounts(&self, args: &[&str]) -> Command {
        let mut cmd = self.fx.cmd(args);
        self.agent_env(&mut cmd);
        cmd
    }

    /// An agent run directly, without accounts.
    fn agent(&self, program: &str) -> Command {
        let mut cmd = Command::new(agents_bin().join(program));
        self.fx.point_at_fixture(&mut cmd);
        self.agent_env(&mut cmd);
        cmd
    }

    fn agent_env(&self, cmd: &mut Command) {
        let path = format!("{}:{}", agents_bin().display(), std::env::var("PATH").unwrap());
        cmd.env("HOME", self.home()).env("PATH", path).env_remove("XDG_CONFIG_HOME").env("NO_COLOR", "1");
        for key in ["GOOGLE_GENAI_USE_GCA", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL", "GEMINI_CLI_HOME"] {
            cmd.env_remove(key);
        }
    }

    /// Every file below HOME, to check an agent wrote nothing there.
    fn home_files(&self) -> BTreeSet<PathBuf> {
        files_below(&self.home())
    }
}

fn files_below(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_below(&path));
            } else {
                out.insert(path);
            }
        }
    }
    out
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// `claude auth status` as JSON, through `accounts exec` on `account`.
fn claude_status(scene: &Scene, account: &str, extra_env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = scene.accounts(&["exec", "--account", account, "--", "claude", "auth", "status"]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("claude auth status: {e}: {} {}", text(&out.stdout), text(&out.stderr)))
}

/// A Claude login as `claude auth login` leaves it: an expired access token
/// with a refresh token, and the account's identity.
fn write_claude_login(scene: &Scene, dir: &str) {
    let past_ms = (jiff::Timestamp::now().as_second() - 3600) * 1000;
    scene.fx.write(
        &format!("{dir}/.credentials.json"),
        &format!(
            r#"{{"claudeAiOauth":{{"accessToken":"sk-ant-oat01-FIXTURE-access","refreshToken":"sk-ant-ort01-FIXTURE-refresh","expiresAt":{past_ms},"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}}}"#
        ),
    );
    scene.fx.write(
        &format!("{dir}/.claude.json"),
        r#"{"oauthAccount":{"accountUuid":"11111111-2222-3333-4444-555555555555","emailAddress":"a@example.com","organizationUuid":"66666666-7777-8888-9999-000000000000","organizationName":"Example Org"}}"#,
    );
}

#[test]
fn claude_uses_the_env_and_files_the_plugin_gives_it() {
    let scene = Scene::new(
        "[[account]]\nname = \"c\"\nagent = \"claude\"\nconfig_dir = \"d/c\"\ntoken_file = \"t\"\n\
         [[account]]\nname = \"bare\"\nagent = \"claude\"\nconfig_dir = \"d/bare\"\n",
    );
    scene.fx.write("t", CLAUDE_TOKEN);
    let home_before = scene.home_files();

    // No login: the static token is what Claude authenticates with.
    let status = claude_status(&scene, "c", &[]);
    assert_eq!((status["loggedIn"].as_bool(), status["authMethod"].as_str()), (Some(true), Some("oauth_token")));

    // A login whose access token expired but can be refreshed: Claude uses
    // the login (the plugin must not splice the token over it), even with a
    // stale API key inherited from the parent shell.
    write_claude_login(&scene, "d/c");
    let status = claude_status(&scene, "c", &[("ANTHROPIC_API_KEY", "sk-ant-api03-INHERITED-stale")]);
    assert_eq!(status["authMethod"], "claude.ai", "{status}");
    assert_eq!(status["email"], "a@example.com", "{status}");
    assert!(status["apiKeySource"].is_null(), "an inherited API key would shadow the login: {status}");

    // The shared Anthropic profile in ~/.config/anthropic logs in any Claude
    // without a login of its own...
    let profiles = scene.home().join(".config/anthropic");
    std::fs::create_dir_all(profiles.join("configs")).unwrap();
    std::fs::create_dir_all(profiles.join("credentials")).unwrap();
    std::fs::write(profiles.join("active_config"), "shared\n").unwrap();
    std::fs::write(profiles.join("configs/shared.json"), r#"{"authentication":{"type":"user_oauth"}}"#).unwrap();
    std::fs::write(
        profiles.join("credentials/shared.json"),
        r#"{"type":"oauth_token","access_token":"sk-ant-oat01-SHARED","refresh_token":"r","expires_at":"2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let direct = run(scene.agent("claude").args(["auth", "status"]).env("CLAUDE_CONFIG_DIR", scene.fx.path("d/bare")));
    let direct: serde_json::Value = serde_json::from_slice(&direct.stdout).unwrap();
    assert_eq!(direct["loggedIn"], true, "CLAUDE_CONFIG_DIR alone leaks the shared profile: {direct}");
    // ...but not one launched by accounts.
    let status = claude_status(&scene, "bare", &[]);
    assert_eq!(status["loggedIn"], false, "the shared profile reached the account: {status}");
    std::fs::remove_dir_all(&profiles).unwrap();

    // Claude wrote only inside the config dirs.
    assert_eq!(scene.home_files(), home_before, "Claude wrote into HOME");
    assert!(scene.fx.path("d/c/.claude.json").is_file());

    // The login commands the plugin describes exist.
    let help = text(&run(scene.agent("claude").args(["auth", "login", "--help"])).stdout);
    for flag in ["--claudeai", "--console", "--email", "--sso"] {
        assert!(help.contains(flag), "claude auth login has no {flag}: {help}");
    }
    assert!(run(scene.agent("claude").args(["setup-token", "--help"])).status.success());
}

/// A stand-in for an agent's API on 127.0.0.1: records the credential
/// headers of each request and answers 401.
struct Recorder {
    port: u16,
    seen: Receiver<String>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = channel();
        let tx = Mutex::new(tx);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut credential = String::from("none");
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = line.trim().split_once(':') {
                        let name = name.to_ascii_lowercase();
                        if name == "authorization" || name == "x-goog-api-key" {
                            credential = format!("{name}: {}", value.trim());
                        }
                    }
                    line.clear();
                }
                let _ = tx.lock().unwrap().send(credential);
                let body = r#"{"error":{"code":401,"message":"recorded","status":"UNAUTHENTICATED"}}"#;
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Recorder { port, seen }
    }

    /// The first credential a request carried (`name: value`, the name in
    /// lower case), or "none".
    fn first(&self) -> String {
        self.seen.recv_timeout(Duration::from_secs(60)).expect("the agent never called the API")
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `codex exec` sends as its credential when launched on `account`.
fn codex_credential(scene: &Scene, account: &str, extra_env: &[(&str, &str)]) -> String {
    let recorder = Recorder::start();
    let base = format!("openai_base_url=\"http://127.0.0.1:{}/v1\"", recorder.port);
    let mut cmd = scene.accounts(&["exec", "--account", account, "--", "codex", "exec", "-c", &base]);
    cmd.args(["--skip-git-repo-check", "say hi"])
        .current_dir(scene.fx.path("."))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    // Killing exec takes codex with it (it would retry for a while).
    let _running = Killed(cmd.spawn().unwrap());
    recorder.first()
}

#[test]
fn codex_uses_the_env_and_files_the_plugin_gives_it() {
    let scene = Scene::new("[[account]]\nname = \"x\"\nagent = \"codex\"\nconfig_dir = \"d/x\"\ntoken_file = \"t\"\n");
    scene.fx.write("t", CODEX_TOKEN);
    let home_before = scene.home_files();

    // No login: codex sends the static key, from the variable the plugin set
    // (and not an OPENAI_API_KEY inherited from the parent shell).
    let sent = codex_credential(&scene, "x", &[("OPENAI_API_KEY", "sk-proj-INHERITED-stale")]);
    assert_eq!(sent, format!("authorization: Bearer {CODEX_TOKEN}"));

    // A key stored the agent's own way is the account's login: launched on
    // it, codex sends that key (the plugin does not splice the static one,
    // which would win).
    let store = run(&mut scene.accounts(&[
        "exec",
        "--account",
        "x",
        "--",
        "sh",
        "-c",
        "printf %s sk-proj-STORED-0123456789 | codex login --with-api-key",
    ]));
    assert!(store.status.success(), "{}", text(&store.stderr));
    let auth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scene.fx.path("d/x/auth.json")).unwrap()).unwrap();
    assert_eq!(auth["OPENAI_API_KEY"], "sk-proj-STORED-0123456789", "codex login writes into CODEX_HOME");
    let status = run(&mut scene.accounts(&["exec", "--account", "x", "--", "codex", "login", "status"]));
    // codex login status reports on stderr.
    assert!(text(&status.stderr).contains("API key configured - sk-proj-***"), "{}", text(&status.stderr));
    assert!(!text(&status.stderr).contains("STORED-0123456789"));
    assert_eq!(codex_credential(&scene, "x", &[]), "authorization: Bearer sk-proj-STORED-0123456789");

    assert_eq!(scene.home_files(), home_before, "codex wrote into HOME");

    let help = text(&run(scene.agent("codex").args(["login", "--help"])).stdout);
    for flag in ["--device-auth", "--with-api-key", "--with-access-token"] {
        assert!(help.contains(flag), "codex login has no {flag}: {help}");
    }
    assert!(text(&run(scene.agent("codex").args(["login", "status", "--help"])).stdout).contains("status"));
}

/// What `gemini -p` sends as its credential when launched on `account`.
fn gemini_credential(scene: &Scene, account: &str) -> Option<String> {
    let recorder = Recorder::start();
    let out = run(scene
        .accounts(&["exec", "--account", account, "--", "gemini", "--skip-trust", "-p", "say hi"])
        .env("GOOGLE_GEMINI_BASE_URL", format!("http://127.0.0.1:{}", recorder.port))
        .current_dir(scene.fx.path(".")));
    let _ = out;
    recorder.seen.recv_timeout(Duration::from_secs(2)).ok()
}

#[test]
fn gemini_uses_the_env_and_files_the_plugin_gives_it() {
    let scene = Scene::new("[[account]]\nname = \"g\"\nagent = \"gemini\"\nconfig_dir = \"d/g\"\ntoken_file = \"t\"\n");
    scene.fx.write("t", GEMINI_TOKEN);
    scene.fx.write("d/g/.gemini/settings.json", r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#);
    let home_before = scene.home_files();

    assert_eq!(gemini_credential(&scene, "g"), Some(format!("x-goog-api-key: {GEMINI_TOKEN}")));

    // Another auth type selected: the CLI ignores the key. Run directly, it
    // makes no request at all; through accounts, the launch is refused.
    scene.fx.write("d/g/.gemini/settings.json", r#"{"security":{"auth":{"selectedType":"oauth-personal"}}}"#);
    let recorder = Recorder::start();
    let direct = run(scene
        .agent("gemini")
        .args(["--skip-trust", "-p", "say hi"])
        .env("GEMINI_CLI_HOME", scene.fx.path("d/g"))
        .env("GEMINI_API_KEY", GEMINI_TOKEN)
        .env("GOOGLE_GEMINI_BASE_URL", format!("http://127.0.0.1:{}", recorder.port))
        .current_dir(scene.fx.path(".")));
    assert!(!direct.status.success());
    assert!(recorder.seen.recv_timeout(Duration::from_secs(1)).is_err(), "the key was used after all");
    let refused = run(&mut scene.accounts(&["launch-env", "--account", "g"]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("would be ignored"), "{}", text(&refused.stderr));

    // Gemini kept its files inside GEMINI_CLI_HOME.
    assert_eq!(scene.home_files(), home_before, "gemini wrote into HOME");
    assert!(scene.fx.path("d/g/.gemini").is_dir());
}

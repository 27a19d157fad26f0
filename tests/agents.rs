//! The built-in plugins against the real agents: pinned versions of Claude
//! Code, Codex CLI and Gemini CLI from the npm registry, run through
//! `accounts exec` with HOME and every config dir in temp dirs and no
//! network. What each agent reports (its status command) or does (the
//! credential it sends to a local stand-in for its API) must match what
//! the plugin believes. When a newer version changes a fact, this is where
//! we find out: bump the versions below and run `cargo test --test tests agents::`.
//!
//! The agents are installed once into `target/agents-<versions>/` with npm
//! (about 750 MB).

mod standin;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::support::*;

/// The agents, pinned. Facts in plugins/*/src and the corpora were checked
/// against these (the corpora of older versions stay: users run them).
/// `tests/agents-latest` runs this file against the newest versions.
const AGENTS: &[(&str, &str)] =
    &[("@anthropic-ai/claude-code", "2.1.332"), ("@openai/codex", "0.171.0"), ("@google/gemini-cli", "0.61.0")];

/// The pins, or the versions `tests/agents-latest` asks for in
/// `ACCOUNTS_TEST_AGENTS` ("pkg@version pkg@version ...").
fn agents() -> Vec<(String, String)> {
    match std::env::var("ACCOUNTS_TEST_AGENTS") {
        Ok(list) if !list.trim().is_empty() => list
            .split_whitespace()
            .map(|p| {
                let at = p.rfind('@').filter(|&i| i > 0).unwrap_or_else(|| panic!("ACCOUNTS_TEST_AGENTS: {p:?}"));
                (p[..at].to_owned(), p[at + 1..].to_owned())
            })
            .collect(),
        _ => AGENTS.iter().map(|(p, v)| ((*p).to_owned(), (*v).to_owned())).collect(),
    }
}

/// The `node_modules/.bin` of the pinned agents, installed on first use.
fn agents_bin() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let agents = agents();
            let tag: Vec<String> =
                agents.iter().map(|(p, v)| format!("{}-{v}", p.rsplit('/').next().unwrap())).collect();
            let dir = target_dir().join(format!("agents-{}", tag.join("-")));
            let bin = dir.join("node_modules/.bin");
            let _lock = FileLock::take(&target_dir().join("agents.lock"));
            if !dir.join("ready").exists() {
                std::fs::create_dir_all(&dir).unwrap();
                let packages: Vec<String> = agents.iter().map(|(p, v)| format!("{p}@{v}")).collect();
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

/// Inherited, each wins over the account's login in `claude auth status`
/// (claude-code 2.1.332): the plugin declares and so clears them.
const BEATS_THE_CLAUDE_LOGIN: [&str; 8] = [
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS",
    "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD",
    "CLAUDE_CODE_USE_MANTLE",
    "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
    "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
];

/// `cmd`'s output, with a token waiting on its stdin.
fn with_token_on_stdin(cmd: &mut Command) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"sk-ant-oat01-FROM-A-DESCRIPTOR").unwrap();
    child.wait_with_output().unwrap()
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
    // Each of these, inherited, beats the login when Claude runs directly
    // (a provider switch, a token from a file descriptor)...
    // A descriptor variable names fd 0 here, a pipe holding a token.
    for var in BEATS_THE_CLAUDE_LOGIN {
        let value = if var.ends_with("FILE_DESCRIPTOR") { "0" } else { "1" };
        let mut direct = scene.agent("claude");
        direct.args(["auth", "status"]).env("CLAUDE_CONFIG_DIR", scene.fx.path("d/c")).env(var, value);
        let direct: serde_json::Value = serde_json::from_slice(&with_token_on_stdin(&mut direct).stdout).unwrap();
        assert_ne!(direct["authMethod"], "claude.ai", "{var} no longer beats the login: drop it from the plugin");
        // ...but not through accounts, which clears it.
        let mut through = scene.accounts(&["exec", "--account", "c", "--", "claude", "auth", "status"]);
        through.env(var, value);
        let status: serde_json::Value = serde_json::from_slice(&with_token_on_stdin(&mut through).stdout).unwrap();
        assert_eq!(status["authMethod"], "claude.ai", "{var} inherited: {status}");
    }

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
    // An inherited CODEX_ACCESS_TOKEN beats that login when codex runs
    // directly (it then sends no credential at all); launched by accounts,
    // the account's own key goes.
    let recorder = Recorder::start();
    let base = format!("openai_base_url=\"http://127.0.0.1:{}/v1\"", recorder.port);
    let mut direct = scene.agent("codex");
    direct
        .args(["exec", "-c", &base, "--skip-git-repo-check", "say hi"])
        .env("CODEX_HOME", scene.fx.path("d/x"))
        .env("CODEX_ACCESS_TOKEN", "inherited-access-token")
        .current_dir(scene.fx.path("."))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let running = Killed(direct.spawn().unwrap());
    let stored = "authorization: Bearer sk-proj-STORED-0123456789";
    assert_ne!(recorder.first(), stored, "CODEX_ACCESS_TOKEN no longer beats the login: drop it from the plugin");
    drop(running);
    assert_eq!(codex_credential(&scene, "x", &[("CODEX_ACCESS_TOKEN", "inherited-access-token")]), stored);

    assert_eq!(scene.home_files(), home_before, "codex wrote into HOME");

    let help = text(&run(scene.agent("codex").args(["login", "--help"])).stdout);
    for flag in ["--device-auth", "--with-api-key", "--with-access-token"] {
        assert!(help.contains(flag), "codex login has no {flag}: {help}");
    }
    assert!(text(&run(scene.agent("codex").args(["login", "status", "--help"])).stdout).contains("status"));
}

/// The Gemini roster: GOOGLE_GEMINI_BASE_URL, which the plugin clears when
/// inherited, set on purpose for the account by the roster's `env`.
fn gemini_roster(port: u16) -> String {
    format!(
        "[[account]]\nname = \"g\"\nagent = \"gemini\"\nconfig_dir = \"d/g\"\ntoken_file = \"t\"\n\
         env = {{ GOOGLE_GEMINI_BASE_URL = \"http://127.0.0.1:{port}\" }}\n"
    )
}

/// What `gemini -p` sends as its credential when launched on `account`,
/// with `extra_env` inherited.
fn gemini_credential(scene: &Scene, account: &str, recorder: &Recorder, extra_env: &[(&str, &str)]) -> Option<String> {
    let mut cmd = scene.accounts(&["exec", "--account", account, "--", "gemini", "--skip-trust", "-p", "say hi"]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let _ = run(cmd.current_dir(scene.fx.path(".")));
    recorder.seen.recv_timeout(Duration::from_secs(2)).ok()
}

#[test]
fn gemini_uses_the_env_and_files_the_plugin_gives_it() {
    let recorder = Recorder::start();
    let scene = Scene::new(&gemini_roster(recorder.port));
    scene.fx.write("t", GEMINI_TOKEN);
    scene.fx.write("d/g/.gemini/settings.json", r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#);
    let home_before = scene.home_files();

    assert_eq!(gemini_credential(&scene, "g", &recorder, &[]), Some(format!("x-goog-api-key: {GEMINI_TOKEN}")));
    // Inherited switches that beat GEMINI_API_KEY in gemini's choice of
    // auth type are cleared: the key still goes out.
    for var in ["GOOGLE_GENAI_USE_GCA", "GOOGLE_GENAI_USE_VERTEXAI"] {
        let sent = gemini_credential(&scene, "g", &recorder, &[(var, "true")]);
        assert_eq!(sent, Some(format!("x-goog-api-key: {GEMINI_TOKEN}")), "{var} inherited");
    }

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

/// A Claude login whose access token is `access` and still valid, as
/// `claude auth login` leaves it.
fn write_live_claude_login(scene: &Scene, dir: &str, access: &str, email: &str) {
    let future_ms = (jiff::Timestamp::now().as_second() + 86_400) * 1000;
    scene.fx.write(
        &format!("{dir}/.credentials.json"),
        &format!(
            r#"{{"claudeAiOauth":{{"accessToken":"{access}","refreshToken":"sk-ant-ort01-FIXTURE-refresh","expiresAt":{future_ms},"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}}}"#
        ),
    );
    scene.fx.write(&format!("{dir}/.claude.json"), &format!(r#"{{"oauthAccount":{{"emailAddress":"{email}"}}}}"#));
}

const CLAUDE_ONE: &str = "sk-ant-oat01-FIXTURE-account-one";
const CLAUDE_TWO: &str = "sk-ant-oat01-FIXTURE-account-two";

/// Two logged-in Claude accounts, `c1` then `c2`.
fn two_claude_accounts() -> Scene {
    let scene = Scene::new(
        "default_agent = \"claude\"\nwall_cooldown = \"45m\"\n\
         [[account]]\nname = \"c1\"\nagent = \"claude\"\nconfig_dir = \"d/c1\"\n\
         [[account]]\nname = \"c2\"\nagent = \"claude\"\nconfig_dir = \"d/c2\"\n",
    );
    write_live_claude_login(&scene, "d/c1", CLAUDE_ONE, "one@example.com");
    write_live_claude_login(&scene, "d/c2", CLAUDE_TWO, "two@example.com");
    scene
}

/// `accounts exec --rotate --account c1 -- claude -p ... --output-format
/// json` against `api`, with Claude's retry watchdog on (so Claude would
/// wait out a limit itself unless the rotation env stops it).
fn claude_rotated(scene: &Scene, api: &standin::StandIn) -> Output {
    let mut cmd = scene.accounts(&[
        "exec",
        "--rotate",
        "--account",
        "c1",
        "--",
        "claude",
        "-p",
        "say hi",
        "--output-format",
        "json",
    ]);
    cmd.env("ANTHROPIC_BASE_URL", api.url())
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("CLAUDE_CODE_RETRY_WATCHDOG", "1")
        .env("TZ", "Europe/Paris")
        .current_dir(scene.fx.path("."));
    run(&mut cmd)
}

/// A stand-in where account one's conversation gets a tool call holding
/// `marker` and then Anthropic's quota 429 (two hours to the reset), and
/// account two gets `reply`.
fn tool_then_quota(marker: &'static str, reply: &'static str) -> standin::StandIn {
    let reset = jiff::Timestamp::now().as_second() + 2 * 3_600;
    standin::StandIn::start(&[
        (CLAUDE_ONE, standin::Answer::ClaudeToolThenQuota { marker, claim: "five_hour", reset }),
        (CLAUDE_TWO, standin::Answer::ClaudeReply(reply)),
    ])
}

/// Point a Claude run at `api`, from the scene's dir.
fn against(cmd: &mut Command, scene: &Scene, api: &standin::StandIn) {
    cmd.env("ANTHROPIC_BASE_URL", api.url())
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .current_dir(scene.fx.path("."));
}

fn wall_of(scene: &Scene, name: &str) -> serde_json::Value {
    let status: serde_json::Value =
        serde_json::from_slice(&run(&mut scene.accounts(&["status", "--json"])).stdout).unwrap();
    status["accounts"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap()["wall"].clone()
}

fn rfc3339(epoch: i64) -> String {
    jiff::Timestamp::from_second(epoch).unwrap().to_string()
}

#[test]
fn claude_json_output_walls_until_the_reset_claude_printed_and_rotates() {
    let scene = two_claude_accounts();
    let reset = jiff::Timestamp::now().as_second() + 4 * 86_400 + 1_234;
    let api = standin::StandIn::start(&[
        (CLAUDE_ONE, standin::Answer::ClaudeQuota { claim: "seven_day", reset, paused: false }),
        (CLAUDE_TWO, standin::Answer::ClaudeReply("hello from account two")),
    ]);
    let out = claude_rotated(&scene, &api);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("hello from account two"), "{stdout}");
    assert!(stderr.contains("moving worker"), "{stderr}");
    // Claude printed the reset to the minute, in Paris time, at the end of
    // a JSON string: the wall lasts until then, not the 45 m cooldown.
    let wall = wall_of(&scene, "c1");
    assert_eq!(wall["until"], rfc3339(reset - reset % 60), "{wall}");
    assert!(wall["reason"].as_str().unwrap().starts_with("You've hit your weekly limit · resets"), "{wall}");
    assert!(wall_of(&scene, "c2").is_null());
    // One account's credential, then the other's.
    let posts: Vec<String> = api.posts().into_iter().map(|p| p.credential).collect();
    let first_two = posts.iter().position(|c| c == CLAUDE_TWO).expect("account two was never used");
    assert!(posts[..first_two].iter().all(|c| c == CLAUDE_ONE), "{posts:?}");
}

#[test]
fn claude_usage_paused_for_the_organization_walls_and_rotates() {
    let scene = two_claude_accounts();
    let reset = jiff::Timestamp::now().as_second() + 3_600;
    let api = standin::StandIn::start(&[
        (CLAUDE_ONE, standin::Answer::ClaudeQuota { claim: "five_hour", reset, paused: true }),
        (CLAUDE_TWO, standin::Answer::ClaudeReply("hello from account two")),
    ]);
    let before = jiff::Timestamp::now().as_second();
    let out = claude_rotated(&scene, &api);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("hello from account two"), "{stdout}");
    let wall = wall_of(&scene, "c1");
    assert!(wall["reason"].as_str().unwrap().starts_with("Usage is paused for your organization"), "{wall}");
    // No reset in the message: the roster's cooldown.
    let until: jiff::Timestamp = wall["until"].as_str().unwrap().parse().unwrap();
    let secs = until.as_second() - before;
    assert!((45 * 60 - 5..=45 * 60 + 60).contains(&secs), "walled {secs} s: {wall}");

    // Claude's wait cap is for rotated runs only: a plain launch neither
    // sets nor clears it.
    let plain = run(&mut scene.accounts(&["launch-env", "--account", "c2", "--format", "json"]));
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    let cap = "CLAUDE_CODE_RETRY_WATCHDOG_MAX_USAGE_LIMIT_WAIT_MS";
    assert!(plain["env"].get(cap).is_none() && !plain["unset"].as_array().unwrap().iter().any(|k| k == cap), "{plain}");
}

const CODEX_ONE: &str = "sk-proj-FIXTURE-account-one";
const CODEX_TWO: &str = "sk-proj-FIXTURE-account-two";

/// `accounts exec --rotate --account x1 -- codex exec --json ... "say hi"`
/// against `api`.
fn codex_rotated(scene: &Scene, api: &standin::StandIn) -> Command {
    let base = format!("openai_base_url=\"{}/v1\"", api.url());
    let args = ["exec", "--rotate", "--account", "x1", "--", "codex", "exec", "--json", "-c", &base];
    let mut cmd = scene.accounts(&[&args[..], &["--skip-git-repo-check", "say hi"]].concat());
    cmd.current_dir(scene.fx.path("."));
    cmd
}

/// Two Codex accounts with API keys, `x1` then `x2`.
fn two_codex_keys() -> Scene {
    let scene = Scene::new(
        "default_agent = \"codex\"\n\
         [[account]]\nname = \"x1\"\nagent = \"codex\"\nconfig_dir = \"d/x1\"\ntoken_file = \"t1\"\n\
         [[account]]\nname = \"x2\"\nagent = \"codex\"\nconfig_dir = \"d/x2\"\ntoken_file = \"t2\"\n",
    );
    scene.fx.write("t1", CODEX_ONE);
    scene.fx.write("t2", CODEX_TWO);
    scene
}

#[test]
fn codex_exec_json_walls_until_the_time_codex_printed() {
    let scene = two_codex_keys();
    // Both accounts are out: 7 h and 9 h from now. In New York, a reset
    // 7 h away is printed "at H:MM PM" or "AM": either way one half-day
    // wrong if the meridiem were misread at the end of a JSON string.
    let now = jiff::Timestamp::now().as_second();
    let (one, two) = (now + 7 * 3_600 + 120, now + 9 * 3_600 + 120);
    let api = standin::StandIn::start(&[
        (CODEX_ONE, standin::Answer::CodexUsageLimit { resets_at: one }),
        (CODEX_TWO, standin::Answer::CodexUsageLimit { resets_at: two }),
    ]);
    let mut cmd = codex_rotated(&scene, &api);
    cmd.env("TZ", "America/New_York").current_dir(scene.fx.path("."));
    let out = run(&mut cmd);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(75), "every account walled: stdout: {stdout}\nstderr: {stderr}");
    // The wall came inside codex's JSON events (the run is stopped there).
    assert!(stdout.contains(r#"{"type":"error","message":"You’ve hit your usage limit."#), "{stdout}");
    // codex prints the local time to the minute.
    assert_eq!(wall_of(&scene, "x1")["until"], rfc3339(one - one % 60));
    assert_eq!(wall_of(&scene, "x2")["until"], rfc3339(two - two % 60));
    assert!(api.wait_for(CODEX_TWO, Duration::from_secs(1)).is_some(), "rotated to x2");
}

#[test]
fn claude_resumes_its_conversation_on_the_next_account() {
    let scene = two_claude_accounts();
    // The marker is in account one's conversation only (a tool call the
    // stand-in made), never in the argv: a fresh start cannot send it.
    const MARKER: &str = "MARKER-7f3a-conversation";
    let api = tool_then_quota(MARKER, "resumed on account two");
    let started = std::time::Instant::now();
    let out = claude_rotated(&scene, &api);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("resumed on account two"), "{stdout}");
    assert!(stderr.contains("moving worker"), "{stderr}");
    assert!(stderr.contains("resuming conversation"), "{stderr}");
    eprintln!("{stderr}the whole run took {:?}; {}", started.elapsed(), wall_to_resume(&api));
    // Account two's first request carries account one's conversation,
    // with account two's credential.
    let first_two = api.posts().into_iter().find(|p| p.credential == CLAUDE_TWO).expect("account two was never used");
    assert!(first_two.body.contains(MARKER), "account two's first request lacks the conversation: {}", first_two.body);
    assert!(!first_two.body.contains("say hi\"},{\"type\":\"text\",\"text\":\"say hi"), "the prompt was sent twice");
    // The session file now sits in account two's config dir too, and no
    // credential moved.
    let copied = files_below(&scene.fx.path("d/c2/projects"));
    assert!(copied.iter().any(|p| p.extension().is_some_and(|e| e == "jsonl")), "{copied:?}");
    let creds = std::fs::read_to_string(scene.fx.path("d/c2/.credentials.json")).unwrap();
    assert!(creds.contains(CLAUDE_TWO) && !creds.contains(CLAUDE_ONE));
}

#[test]
fn claude_with_fresh_starts_over_on_the_next_account() {
    let scene = two_claude_accounts();
    const MARKER: &str = "MARKER-fresh-start";
    let api = tool_then_quota(MARKER, "fresh on account two");
    let mut cmd = scene.accounts(&["exec", "--rotate", "--fresh", "--account", "c1", "--", "claude", "-p", "say hi"]);
    against(&mut cmd, &scene, &api);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first_two = api.posts().into_iter().find(|p| p.credential == CLAUDE_TWO).unwrap();
    assert!(!first_two.body.contains(MARKER), "--fresh carried the conversation");
    assert!(!text(&out.stderr).contains("resuming conversation"));
}

#[test]
fn claude_restarts_fresh_when_the_conversation_cannot_be_carried() {
    let scene = two_claude_accounts();
    // Account two's projects folder is a file: the carry cannot place the
    // session there, undoes itself, and the agent starts afresh.
    scene.fx.write("d/c2/projects", "not a folder");
    const MARKER: &str = "MARKER-cannot-carry";
    let api = tool_then_quota(MARKER, "fresh on account two");
    let out = claude_rotated(&scene, &api);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("not resuming the conversation on c2"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("projects is in the way: not a directory") && line.ends_with("starting afresh"), "{line}");
    let first_two = api.posts().into_iter().find(|p| p.credential == CLAUDE_TWO).unwrap();
    assert!(!first_two.body.contains(MARKER));
    // Account one's conversation is still there, account two's file too.
    assert!(files_below(&scene.fx.path("d/c1/projects")).iter().any(|p| p.extension().is_some_and(|e| e == "jsonl")));
    assert_eq!(std::fs::read_to_string(scene.fx.path("d/c2/projects")).unwrap(), "not a folder");
}

#[test]
fn codex_exec_resumes_its_conversation_on_the_next_account() {
    let scene = two_codex_keys();
    const MARKER: &str = "MARKER-codex-rollout";
    let resets_at = jiff::Timestamp::now().as_second() + 3 * 3_600;
    let api = standin::StandIn::start(&[
        (CODEX_ONE, standin::Answer::CodexToolThenUsageLimit { marker: MARKER, resets_at }),
        (CODEX_TWO, standin::Answer::CodexReply("resumed on x2")),
    ]);
    let mut cmd = codex_rotated(&scene, &api);
    cmd.current_dir(scene.fx.path("."));
    let out = run(&mut cmd);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("resuming conversation"), "{stderr}");
    assert!(stdout.contains("resumed on x2"), "{stdout}");
    let first_two = api.posts().into_iter().find(|p| p.credential == CODEX_TWO).expect("x2 was never used");
    assert!(first_two.body.contains(MARKER), "x2's first request lacks the conversation: {}", first_two.body);
    let rollouts = files_below(&scene.fx.path("d/x2/sessions"));
    assert!(rollouts.iter().any(|p| p.file_name().unwrap().to_str().unwrap().starts_with("rollout-")), "{rollouts:?}");
}

#[test]
fn accounts_resume_continues_a_conversation_that_ended_at_a_wall() {
    let scene = two_claude_accounts();
    const MARKER: &str = "MARKER-accounts-resume";
    let api = tool_then_quota(MARKER, "continued on c2");
    let env = |cmd: &mut Command| against(cmd, &scene, &api);
    // A plain exec (no --rotate): Claude stops at its wall on c1.
    let mut first = scene.accounts(&["exec", "--account", "c1", "--", "claude", "-p", "say hi"]);
    env(&mut first);
    let out = run(&mut first);
    assert_ne!(out.status.code(), Some(0), "Claude stopped at its wall: {}", text(&out.stdout));
    run(&mut scene.accounts(&["wall", "c1", "--for", "1h"]));
    // `accounts resume` finds the newest conversation of this directory in
    // c1's config dir and continues it on the free seat, c2.
    let mut resume = scene.accounts(&["resume", "--", "-p"]);
    env(&mut resume);
    let out = run(&mut resume);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("continued on c2"), "{stdout}");
    assert!(stderr.contains("resuming conversation") && stderr.contains("carried from c1"), "{stderr}");
    let first_two = api.posts().into_iter().find(|p| p.credential == CLAUDE_TWO).expect("c2 was never used");
    assert!(first_two.body.contains(MARKER), "{}", first_two.body);
    // An id that no account has: exit 2, nothing on stdout.
    let mut missing = scene.accounts(&["resume", "00000000-0000-4000-8000-000000000000"]);
    env(&mut missing);
    let out = run(&mut missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty() && text(&out.stderr).contains("no conversation \"00000000-0000-4000-8000-000000000000\"")
    );
}

#[test]
fn a_codex_conversation_tied_to_a_chatgpt_login_is_not_carried_to_another() {
    let scene = two_codex_keys();
    // A rollout as codex 0.171 writes it under a ChatGPT login.
    let id = "019a0000-1111-7222-8333-444455556666";
    let meta = serde_json::json!({"timestamp": "2026-12-03T10:00:00.000Z", "type": "session_meta", "payload": {
        "id": id, "cwd": scene.fx.path(".").canonicalize().unwrap(), "account_scoped": true,
        "creator_account_id": "acct-chatgpt-one", "originator": "codex_exec", "cli_version": "0.171.0"}});
    let rollout = format!("d/x1/sessions/2026/12/03/rollout-2026-12-03T11-00-00-{id}.jsonl");
    scene.fx.write(&rollout, &format!("{meta}\n"));
    run(&mut scene.accounts(&["wall", "x1", "--for", "1h"]));
    let mut resume = scene.accounts(&["resume", id]);
    resume.current_dir(scene.fx.path("."));
    let out = run(&mut resume);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains(&format!("cannot resume conversation {id}: conversation {id} is tied to the login that made it (acct-chatgpt-one), and x2 is another login")), "{stderr}");
    assert!(!scene.fx.path("d/x2/sessions").exists(), "nothing was carried");
}

#[test]
fn exec_rotate_wait_resumes_on_the_account_that_frees_first() {
    let scene = two_claude_accounts();
    // c2 is walled for a few seconds: when c1 hits its wall, every seat is
    // walled, and --wait sleeps until c2 frees, then resumes there.
    run(&mut scene.accounts(&["wall", "c2", "--for", "3s"]));
    const MARKER: &str = "MARKER-after-the-wait";
    let api = tool_then_quota(MARKER, "resumed after the wait");
    let mut cmd = scene.accounts(&["exec", "--rotate", "--wait", "--account", "c1", "--", "claude", "-p", "say hi"]);
    against(&mut cmd, &scene, &api);
    let out = run(&mut cmd);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("(--wait)") && stderr.contains("resuming conversation"), "{stderr}");
    assert!(stdout.contains("resumed after the wait"), "{stdout}");
    let first_two = api.posts().into_iter().find(|p| p.credential == CLAUDE_TWO).expect("c2 was never used");
    assert!(first_two.body.contains(MARKER));
}

/// `launch-env --agent claude` for `worker` (held by this test process):
/// the account it takes.
fn launched_account(scene: &Scene, worker: &str, skew: &str) -> String {
    let pid = std::process::id().to_string();
    let mut cmd = scene.accounts(&["launch-env", "--agent", "claude", "--worker", worker, "--holder-pid", &pid]);
    let out = run(cmd.env("ACCOUNTS_CLOCK_SKEW", skew));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let env = text(&out.stdout);
    let line = env.lines().find(|l| l.starts_with("export ACCOUNTS_ACCOUNT=")).unwrap_or_else(|| panic!("{env}"));
    line.trim_start_matches("export ACCOUNTS_ACCOUNT=").trim_matches('\'').to_owned()
}

/// An account's usage windows in `status --json`: (window, used %).
fn windows_of(account: &serde_json::Value) -> Vec<(&str, f64)> {
    let usage = account["usage"].as_array().unwrap();
    usage.iter().map(|u| (u["window"].as_str().unwrap(), u["used_percent"].as_f64().unwrap())).collect()
}

fn status_of(scene: &Scene, name: &str, skew: &str) -> serde_json::Value {
    let out = run(scene.accounts(&["status", "--json"]).env("ACCOUNTS_CLOCK_SKEW", skew));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["accounts"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap().clone()
}

#[test]
fn a_claude_usage_warning_keeps_new_work_off_the_account_until_its_reset() {
    let scene = two_claude_accounts();
    let roster = std::fs::read_to_string(scene.fx.path("roster.toml")).unwrap();
    scene.fx.write("roster.toml", &format!("wall_at = \"95%\"\n{roster}"));
    let now = jiff::Timestamp::now().as_second();
    let (five_hour_reset, seven_day_reset) = (now + 3_600, now + 3 * 86_400);
    let api = standin::StandIn::start(&[
        (
            CLAUDE_ONE,
            standin::Answer::ClaudeWarning {
                text: "done on one",
                five_hour: 0.4,
                seven_day: 0.96,
                five_hour_reset,
                seven_day_reset,
            },
        ),
        (CLAUDE_TWO, standin::Answer::ClaudeReply("done on two")),
    ]);
    // The real Claude, in stream-json: its rate_limit_event carries the
    // windows Anthropic's headers gave.
    let args = ["exec", "--rotate", "--account", "c1", "--", "claude", "-p", "say hi"];
    let mut cmd = scene.accounts(&[&args[..], &["--output-format", "stream-json", "--verbose"]].concat());
    against(&mut cmd, &scene, &api);
    let out = run(&mut cmd);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(r#""type":"rate_limit_event""#) && stdout.contains("done on one"), "{stdout}");
    assert!(!stderr.contains("walled"), "a warning is not a wall: {stderr}");

    // Past its 95% mark, c1 takes no new work; c2 does.
    assert_eq!(launched_account(&scene, "next", ""), "c2");
    let c1 = status_of(&scene, "c1", "");
    let windows: Vec<(&str, f64, &str)> = c1["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["window"].as_str().unwrap(), u["used_percent"].as_f64().unwrap(), u["resets_at"].as_str().unwrap()))
        .collect();
    let (five, seven) = (rfc3339(five_hour_reset), rfc3339(seven_day_reset));
    assert_eq!(windows, [("5h", 40.0, five.as_str()), ("7d", 96.0, seven.as_str())], "{c1}");
    assert_eq!(c1["soft_wall"]["window"], "7d", "{c1}");
    assert_eq!(c1["soft_wall"]["until"], rfc3339(seven_day_reset), "{c1}");
    assert_eq!(c1["soft_wall"]["wall_at_percent"], 95.0, "{c1}");
    assert!(c1["wall"].is_null(), "a soft wall is not a wall: {c1}");
    let table = text(&run(&mut scene.accounts(&["status"])).stdout);
    assert!(table.contains("soft wall: 7d at 96% for 3d") && table.contains("usage 5h 40% · resets"), "{table}");

    // After the 7-day reset c1 is back (its readings are gone): the next
    // worker takes it, the emptier account.
    let after = "+3d1h";
    assert!(status_of(&scene, "c1", after)["soft_wall"].is_null());
    assert_eq!(launched_account(&scene, "later", after), "c1");
}

#[test]
fn codex_usage_windows_show_from_its_rollout_without_a_run_of_ours() {
    let scene = two_codex_keys();
    let now = jiff::Timestamp::now().as_second();
    let (primary_reset, secondary_reset) = (now + 2 * 3_600, now + 5 * 86_400);
    let api = standin::StandIn::start(&[(
        CODEX_ONE,
        standin::Answer::CodexReplyWithLimits {
            text: "hi",
            primary: 72.5,
            secondary: 40.0,
            primary_reset,
            secondary_reset,
        },
    )]);
    // The real codex, run by hand in x1's config dir: it writes its rollout
    // there, with the windows from the API's headers.
    std::fs::create_dir_all(scene.fx.path("d/x1")).unwrap();
    let base = format!("openai_base_url=\"{}/v1\"", api.url());
    let mut codex = scene.agent("codex");
    codex
        .args(["exec", "--json", "-c", &base, "--skip-git-repo-check", "say hi"])
        .env("CODEX_HOME", scene.fx.path("d/x1"))
        .env("CODEX_API_KEY", CODEX_ONE)
        .current_dir(scene.fx.path("."));
    let out = run(&mut codex);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let x1 = status_of(&scene, "x1", "");
    assert_eq!(windows_of(&x1), [("5h", 72.5), ("7d", 40.0)], "{x1}");
    assert_eq!(x1["usage"][0]["resets_at"], rfc3339(primary_reset));
    assert!(status_of(&scene, "x2", "")["usage"].as_array().unwrap().is_empty());
    let table = text(&run(&mut scene.accounts(&["status"])).stdout);
    assert!(table.contains("usage 5h 72.5% · resets") && table.contains("7d 40% · resets"), "{table}");
    // What was kept names no key.
    for file in files_below(&scene.fx.state_dir()) {
        let body = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!body.contains(CODEX_ONE) && !body.contains("sk-"), "{}: {body}", file.display());
    }
}

#[test]
fn exec_rotate_never_moves_a_worker_to_a_twin_of_the_walled_account() {
    let scene = Scene::new("");
    let roster = twins_roster(&scene.fx, "wall_cooldown = \"45m\"\n");
    scene.fx.write_roster(&roster);
    let reset = jiff::Timestamp::now().as_second() + 3_600;
    let api = standin::StandIn::start(&[
        ("sk-ant-oat01-FIXTURE-fx2", standin::Answer::ClaudeQuota { claim: "five_hour", reset, paused: false }),
        ("sk-ant-oat01-FIXTURE-fx3", standin::Answer::ClaudeReply("the twin: the same quota")),
        ("sk-ant-oat01-FIXTURE-fx4", standin::Answer::ClaudeReply("another login")),
    ]);
    let mut cmd = scene.accounts(&["exec", "--rotate", "--account", "fx2", "--", "claude", "-p", "say hi"]);
    against(&mut cmd, &scene, &api);
    let out = run(&mut cmd);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("another login") && stderr.contains("from fx2 to fx4"), "{stdout}\n{stderr}");
    let credentials: Vec<String> = api.posts().into_iter().map(|p| p.credential).collect();
    assert!(!credentials.iter().any(|c| c.ends_with("fx3")), "the twin was tried: {credentials:?}");
}

#[test]
fn statusline_keeps_the_readings_claude_hands_it_and_runs_the_users_own_command() {
    let scene = two_claude_accounts();
    let now = jiff::Timestamp::now().as_second();
    // The shape claude-code 2.1.332 gives a status-line command (its bundle
    // builds `rate_limits.<window>.{used_percentage, resets_at}`).
    let stdin = format!(
        r#"{{"session_id":"s1","model":{{"id":"claude-opus-5-5","display_name":"Opus"}},"workspace":{{"current_dir":"/w"}},"rate_limits":{{"five_hour":{{"used_percentage":12,"resets_at":{}}},"seven_day":{{"used_percentage":91,"resets_at":{}}}}}}}"#,
        now + 1_800,
        now + 86_400
    );
    let script = "cat > seen.json; echo 'my own status line'";
    let mut cmd = scene.accounts(&["statusline", "--", "sh", "-c", script]);
    cmd.env("ACCOUNTS_ACCOUNT", "c2").current_dir(scene.fx.path(".")).stdin(Stdio::piped());
    let out = with_stdin(cmd, &stdin);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "my own status line\n");
    assert_eq!(std::fs::read_to_string(scene.fx.path("seen.json")).unwrap(), stdin, "the same stdin, whole");
    let c2 = status_of(&scene, "c2", "");
    assert_eq!(windows_of(&c2), [("5h", 12.0), ("7d", 91.0)], "{c2}");
    // Without a command of the user's, the windows are the status line;
    // without an account, a warning, and the line all the same.
    let mut cmd = scene.accounts(&["statusline", "--account", "c1"]);
    cmd.stdin(Stdio::piped());
    assert_eq!(text(&with_stdin(cmd, &stdin).stdout), "5h 12% · 7d 91%\n");
    let mut cmd = scene.accounts(&["statusline", "--", "echo", "still here"]);
    cmd.env_remove("ACCOUNTS_ACCOUNT").stdin(Stdio::piped());
    let out = with_stdin(cmd, &stdin);
    assert_eq!(text(&out.stdout), "still here\n");
    assert!(text(&out.stderr).contains("pass --account NAME"), "{}", text(&out.stderr));
}

fn with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn claude_tui_resumes_its_conversation_on_the_next_account_in_the_same_terminal() {
    use std::io::Read;
    use std::os::fd::AsFd;
    let scene = two_claude_accounts();
    // Each account's Claude has been set up once (onboarding done, this
    // directory trusted), as a user's would be: else the TUI asks first.
    let cwd = scene.fx.path(".");
    let cwd = std::fs::canonicalize(&cwd).unwrap();
    for (dir, email) in [("d/c1", "one@example.com"), ("d/c2", "two@example.com")] {
        let projects = serde_json::json!({ cwd.to_str().unwrap(): {"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true} });
        let settings = serde_json::json!({"oauthAccount": {"emailAddress": email}, "hasCompletedOnboarding": true, "theme": "dark", "projects": projects});
        scene.fx.write(&format!("{dir}/.claude.json"), &settings.to_string());
    }
    const MARKER: &str = "MARKER-tui-conversation";
    let api = tool_then_quota(MARKER, "resumed in the TUI");
    let (master, slave) = open_pty();
    // The prompt before --allowedTools: that option takes every word after it.
    let args = ["exec", "--rotate", "--account", "c1", "--grace", "2s", "--", "claude", "run the echo"];
    let mut cmd = scene.accounts(&[&args[..], &["--allowedTools", "Bash(echo:*)"]].concat());
    against(&mut cmd, &scene, &api);
    cmd.env("TERM", "xterm-256color").env("TZ", "UTC").current_dir(&cwd);
    let mut child =
        cmd.stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave).spawn().unwrap();
    // The command keeps its copies of the terminal's slave side open: gone,
    // the reader sees the end once the agent's side closes.
    drop(cmd);
    let mut reader = std::fs::File::from(master.as_fd().try_clone_to_owned().unwrap());
    let mut answers = std::fs::File::from(master.as_fd().try_clone_to_owned().unwrap());
    let screen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&screen);
    let collector = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        // EIO once every slave is closed.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            // A terminal answers where its cursor is; the TUI asks.
            if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                let _ = answers.write_all(b"\x1b[1;1R");
            }
            seen.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let first_two = api.wait_for(CLAUDE_TWO, Duration::from_secs(90));
    // The resumed TUI waits for more input: stop it as a user would.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let shown = |s: &[u8]| without_escapes(&text(s)).chars().filter(|c| !c.is_whitespace()).collect::<String>();
    while !shown(&screen.lock().unwrap()).contains("resumedintheTUI") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM);
    let exited = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < exited {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(master);
    let _ = collector.join();
    let output = text(&screen.lock().unwrap());
    let posts: Vec<(String, usize)> = api.posts().into_iter().map(|p| (p.credential, p.body.len())).collect();
    let first_two = first_two.unwrap_or_else(|| panic!("account two was never used ({posts:?}):\n{output}"));
    assert!(first_two.body.contains(MARKER), "account two's first request lacks the conversation: {}", first_two.body);
    assert!(output.contains("resuming conversation") && output.contains("moving worker"), "{output}");
    eprintln!("TUI: {}", wall_to_resume(&api));
    // The TUI draws words between cursor jumps: compare the letters alone.
    let letters: String = without_escapes(&output).chars().filter(|c| !c.is_whitespace()).collect();
    assert!(letters.contains("resumedintheTUI"), "the resumed TUI came back on the same terminal: {output}");
}

/// `text` without its CSI and OSC escape sequences.
fn without_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\u{1b}', Some('[')) => {
                chars.next();
                while chars.next().is_some_and(|c| !c.is_ascii_alphabetic() && c != '~') {}
            }
            ('\u{1b}', Some(']')) => while chars.next().is_some_and(|c| c != '\u{7}') {},
            ('\u{1b}', _) => {
                chars.next();
            }
            (c, _) => out.push(c),
        }
    }
    out
}

/// From the wall (account one's last request, answered with the 429) to
/// the resumed agent's first request on account two.
fn wall_to_resume(api: &standin::StandIn) -> String {
    let posts = api.posts();
    let wall = posts.iter().filter(|p| p.credential == CLAUDE_ONE).map(|p| p.at).max();
    let resumed = posts.iter().filter(|p| p.credential == CLAUDE_TWO).map(|p| p.at).min();
    match (wall, resumed) {
        (Some(wall), Some(resumed)) => format!("wall to resumed agent's first request: {:?}", resumed - wall),
        _ => "no wall and resume seen".into(),
    }
}

/// `doctor` over a claude and a codex account with the real agents on
/// PATH: healthy, it exits 0 and shows each agent's version as the agent
/// prints it. An agent missing from PATH, a broken plugin and an
/// unreachable state server each make it exit 1, naming the part and its fix.
#[test]
fn doctor_checks_the_real_agents_plugins_logins_and_the_store() {
    let roster = "[[account]]\nname = \"c\"\nagent = \"claude\"\nconfig_dir = \"d/c\"\n\
                  [[account]]\nname = \"x\"\nagent = \"codex\"\nconfig_dir = \"d/x\"\ntoken_file = \"t\"\n";
    let scene = Scene::new(roster);
    write_live_claude_login(&scene, "d/c", CLAUDE_ONE, "c@example.com");
    scene.fx.write("t", CODEX_TOKEN);
    let doctor = |args: &[&str], change: &dyn Fn(&mut Command)| {
        let mut cmd = scene.accounts(&[&["doctor"], args].concat());
        change(&mut cmd);
        let out = run(&mut cmd);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let claude_version = text(&run(scene.agent("claude").arg("--version")).stdout);
    let (code, report, stderr) = doctor(&[], &|_| {});
    assert_eq!(code, Some(0), "{report}{stderr}");
    let line = |report: &str, part: &str| {
        report.lines().find(|l| l.contains(part)).unwrap_or_else(|| panic!("no {part} in {report}")).to_owned()
    };
    assert!(line(&report, "agent claude").contains(claude_version.trim()), "{report}");
    assert!(line(&report, "agent codex").contains("0.171.0"), "{report}");
    assert!(
        line(&report, "account c ").contains("login live") && line(&report, "account x ").contains("token"),
        "{report}"
    );
    assert!(report.contains(&scene.fx.roster().display().to_string()) && report.ends_with("all good\n"), "{report}");
    assert!(!report.contains(CLAUDE_ONE) && !report.contains(CODEX_TOKEN), "never a secret: {report}");
    let (_, json, _) = doctor(&["--json"], &|_| {});
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["paths"]["roster"], scene.fx.roster().display().to_string());

    // The agents gone from PATH.
    let (code, report, _) = doctor(&[], &|cmd| {
        cmd.env("PATH", "/usr/bin:/bin");
    });
    assert_eq!(code, Some(1), "{report}");
    assert!(
        line(&report, "agent claude").starts_with("  FAIL") && report.contains("`claude` is not on PATH"),
        "{report}"
    );
    assert!(report.contains("fix: install Claude Code so that `claude` runs"), "{report}");
    assert!(report.ends_with("2 problems to fix\n"), "{report}");

    // A broken plugin for codex.
    scene.fx.write("broken.wasm", "not a component");
    scene.fx.write_roster(&format!("{roster}[plugins.codex]\npath = \"broken.wasm\"\n"));
    let (code, report, _) = doctor(&[], &|_| {});
    assert_eq!(code, Some(1), "{report}");
    assert!(line(&report, "plugin codex").starts_with("  FAIL"), "{report}");
    assert!(report.contains("fix: check it with `accounts plugins check FILE`"), "{report}");
    assert!(line(&report, "account c ").starts_with("  ok"), "the other kind is still checked: {report}");
    scene.fx.write_roster(roster);

    // A state server nobody listens for.
    let (code, report, _) = doctor(&[], &|cmd| {
        cmd.env("ACCOUNTS_STATE_URL", "postgres://accounts@127.0.0.1:1/accounts");
    });
    assert_eq!(code, Some(1), "{report}");
    assert!(line(&report, "state").contains("postgres://accounts@127.0.0.1:1"), "{report}");
    assert!(report.contains("  FAIL  state") && report.contains("fix: check the roster's [state] url"), "{report}");
}

/// `login --headless` with the real `codex login --device-auth` that cannot
/// reach its server (a proxy nobody listens on stands for no network): codex
/// prints the URL it failed to reach inside its error; that is no page for
/// the operator, so no `url` event goes out, only the failed result.
#[test]
fn a_headless_codex_login_that_cannot_reach_its_server_relays_no_url() {
    let scene = Scene::new("[[account]]\nname = \"x\"\nagent = \"codex\"\nconfig_dir = \"d/x\"\n");
    let mut login = scene.accounts(&["login", "x", "--headless", "--timeout", "60s"]);
    login.env("HTTPS_PROXY", "http://127.0.0.1:9").env("HTTP_PROXY", "http://127.0.0.1:9").env("NO_PROXY", "");
    let out = run(&mut login);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    assert!(events.iter().all(|e| e["event"] != "url"), "a URL from codex's error went out: {events:?}");
    let result = events.last().unwrap();
    assert_eq!((result["event"].as_str(), result["ok"].as_bool()), (Some("result"), Some(false)), "{events:?}");
    assert!(text(&out.stderr).contains("error sending request for url"), "codex said why: {}", text(&out.stderr));
}

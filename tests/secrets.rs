//! Secret hygiene: with known fixture tokens in the roster, every subcommand,
//! on its success and error paths and with --verbose, keeps every token out
//! of stdout and stderr, except the env that launch-env and rotate print for
//! the agent.

use std::process::Command;

use crate::support::*;

const TOKENS: [&str; 3] = [CLAUDE_TOKEN, CODEX_TOKEN, GEMINI_TOKEN];

fn fixture() -> Fixture {
    let fx = Fixture::new(
        "default_agent = \"claude\"\n\
         [[account]]\nname = \"c1\"\nagent = \"claude\"\nconfig_dir = \"d/c1\"\ntoken_file = \"t/claude\"\n\
         [[account]]\nname = \"c2\"\nagent = \"claude\"\nconfig_dir = \"d/c2\"\ntoken_env = \"C2_TOKEN\"\n\
         [[account]]\nname = \"x1\"\nagent = \"codex\"\nconfig_dir = \"d/x1\"\ntoken_file = \"t/codex\"\n\
         [[account]]\nname = \"g1\"\nagent = \"gemini\"\nconfig_dir = \"d/g1\"\ntoken_file = \"t/gemini\"\n\
         [[account]]\nname = \"bad\"\nagent = \"codex\"\nconfig_dir = \"d/bad\"\ntoken_file = \"t/claude\"\n",
    );
    fx.write("t/claude", CLAUDE_TOKEN);
    fx.write("t/codex", CODEX_TOKEN);
    fx.write("t/gemini", GEMINI_TOKEN);
    fx
}

#[test]
fn no_subcommand_leaks_a_token() {
    let fx = fixture();
    let holder = Sleeper(Command::new("sleep").arg("600").spawn().unwrap());
    let pid = holder.0.id().to_string();
    // (args, whether stdout may carry a token because it is the agent's env)
    let calls: Vec<(Vec<&str>, bool)> = vec![
        (vec!["launch-env", "--account", "c1"], true),
        (vec!["launch-env", "--account", "x1", "--format", "json"], true),
        (vec!["launch-env", "--account", "g1", "--format", "dotenv", "--verbose"], true),
        (vec!["launch-env", "--account", "c1", "--format", "fish"], true),
        (vec!["launch-env", "--account", "bad"], false),
        (vec!["launch-env", "--account", "bad", "--verbose"], false),
        (vec!["launch-env", "--account", "c2"], false),
        (vec!["launch-env", "--account", "nope"], false),
        (vec!["launch-env", "--worker", "w1", "--holder-pid", &pid], true),
        (vec!["launch-env", "--worker", "w2", "--holder-pid", &pid, "--verbose"], true),
        (vec!["launch-env", "--worker", "w3", "--holder-pid", &pid, "--format", "json"], false),
        (vec!["launch-env", "--worker", "w3", "--holder-pid", &pid], false),
        (vec!["allocate", "--agent", "codex", "--workers", "1", "--holder-pid", &pid], false),
        (vec!["allocate", "--agent", "codex", "--workers", "5", "--holder-pid", &pid, "--json"], false),
        (vec!["status"], false),
        (vec!["status", "--json", "--verbose"], false),
        (vec!["wall", "c2", "--for", "1h", "--reason", "limit"], false),
        (vec!["wall", "c1", "--until", "yesterday"], false),
        (vec!["rotate", "--worker", "w1", "--holder-pid", &pid, "--for", "5m"], true),
        (vec!["rotate", "--worker", "w2", "--holder-pid", &pid, "--format", "json"], false),
        (vec!["rotate", "--worker", "ghost"], false),
        (vec!["unwall", "c2"], false),
        (vec!["unwall", "nope"], false),
        (vec!["release", "--worker", "w1"], false),
        (vec!["release", "--account", "x1"], false),
        (vec!["plugins", "list", "--verbose"], false),
        (vec!["plugins", "inspect", "claude", "--json"], false),
        (vec!["plugins", "inspect", "nope"], false),
        (vec!["--version"], false),
        (vec!["--help"], false),
    ];
    let mut leaked_env = 0;
    for (args, env_output) in &calls {
        let out = fx.cmd(args).env("C2_TOKEN", "not-a-claude-token-SECRET").output().unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        for token in TOKENS.iter().chain(&["not-a-claude-token-SECRET"]) {
            assert!(!stderr.contains(token), "`{}` stderr shows a token: {stderr}", args.join(" "));
            if !env_output {
                assert!(!stdout.contains(token), "`{}` stdout shows a token: {stdout}", args.join(" "));
            }
        }
        if *env_output && TOKENS.iter().any(|t| stdout.contains(t)) {
            leaked_env += 1;
        }
    }
    assert!(leaked_env >= 5, "the agent env does carry tokens ({leaked_env} calls)");

    // The corrupted-roster path too.
    let roster = std::fs::read_to_string(fx.roster()).unwrap();
    fx.write_roster(&format!("{roster}\nseat = \"{CLAUDE_TOKEN}\"\n"));
    let err = fx.fails(&["status"], 2);
    assert!(!err.contains(CLAUDE_TOKEN), "{err}");

    let st = {
        fx.write_roster(&roster);
        fx.ok(&["status", "--json"])
    };
    assert!(st.contains("sk-ant-oat01-****") && st.contains("sk-****") && st.contains("AIza****"), "{st}");
}

/// Run `accounts` with stdout on a real pseudo-terminal (util-linux `script`).
fn on_terminal(fx: &Fixture, args: &str) -> (i32, String) {
    let command = format!(
        "ACCOUNTS_ROSTER='{}' ACCOUNTS_STATE_DIR='{}' ACCOUNTS_PLUGIN_DIR='{}' ACCOUNTS_CACHE_DIR='{}' {} {args}",
        fx.roster().display(),
        fx.state_dir().display(),
        fx.plugin_dir().display(),
        shared_cache_dir().display(),
        *BIN
    );
    let out = Command::new("script").args(["-qec", &command, "/dev/null"]).output().unwrap();
    (out.status.code().unwrap(), text(&out.stdout))
}

#[test]
fn tokens_are_not_printed_to_a_terminal_without_reveal() {
    let fx = fixture();
    let (code, screen) = on_terminal(&fx, "launch-env --account c1");
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("refusing to print a token to a terminal"), "{screen}");
    assert!(!screen.contains(CLAUDE_TOKEN));
    let (code, screen) = on_terminal(&fx, "launch-env --account c1 --reveal");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains(CLAUDE_TOKEN));
    let (code, screen) = on_terminal(&fx, "launch-env --worker t --holder-pid $$");
    assert_eq!(code, 2, "{screen}");
    assert!(!fx.ok(&["status", "--json"]).contains("\"worker\": \"t\""), "a refused launch leases nothing");
    // No token, no refusal.
    fx.write_roster("[[account]]\nname = \"plain\"\nagent = \"claude\"\nconfig_dir = \"d/p\"\n");
    assert_eq!(on_terminal(&fx, "launch-env --account plain").0, 0);
}

/// The state dir's files, read whole, as text.
fn state_text(fx: &Fixture) -> String {
    std::fs::read_dir(fx.state_dir())
        .unwrap()
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned())
        .collect()
}

/// A token the roster does not know, but shaped like a Claude token.
const SHAPED: &str = "sk-ant-oat01-UNLISTED-0123456789";

fn assert_clean(what: &str, text: &str) {
    for token in TOKENS.iter().chain(&[SHAPED]) {
        assert!(!text.contains(token), "{what} shows a token: {text}");
    }
}

#[test]
fn tokens_inside_wall_messages_are_masked_everywhere() {
    let fx = fixture();
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let log = fx.write("o.txt", &format!("Claude AI usage limit reached|{reset} {CLAUDE_TOKEN} {SHAPED}\n"));
    let out = fx.run(&["wall", "c1", "--from-output", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_clean("wall stdout", &text(&out.stdout));
    assert_clean("wall stderr", &text(&out.stderr));

    // exec --rotate, with the agent echoing its own token in the wall line.
    let status_json = fx.ok(&["status", "--json"]);
    assert_clean("status --json", &status_json);
    assert!(status_json.contains("limit reached|") && status_json.contains("sk-ant-oat01-****"), "{status_json}");
    fx.ok(&["unwall", "c1"]);
    let script = r#"if [ "$ACCOUNTS_ACCOUNT" = c2 ]; then
  echo "Claude AI usage limit reached|4102444800 $CLAUDE_CODE_OAUTH_TOKEN"; sleep 30; fi; echo ok"#;
    let out = fx
        .cmd(&["exec", "--account", "c2", "--rotate", "--grace", "1s", "--", "sh", "-c", script])
        .env("C2_TOKEN", CLAUDE_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(CLAUDE_TOKEN), "the agent itself printed its token: passed through");
    assert_clean("exec stderr", &text(&out.stderr));

    let status_json = fx.ok(&["status", "--json"]);
    assert_clean("status --json", &status_json);
    assert_clean("status", &fx.ok(&["status"]));
    assert_clean("state files", &state_text(&fx));
    assert!(status_json.contains("limit reached|") && status_json.contains("sk-ant-oat01-****"), "{status_json}");
}

#[test]
fn a_plugin_echoing_the_token_in_its_error_is_masked() {
    let fx = Fixture::new(
        "[[account]]\nname = \"echo-token\"\nagent = \"hostile\"\nconfig_dir = \"d/e\"\ntoken_file = \"t/claude\"\n",
    );
    fx.write("t/claude", CLAUDE_TOKEN);
    std::fs::copy(test_plugin("hostile"), fx.plugin_dir().join("hostile.wasm")).unwrap();
    for verbose in [false, true] {
        let mut args = vec!["launch-env", "--account", "echo-token"];
        if verbose {
            args.push("--verbose");
        }
        let err = fx.fails(&args, 1);
        assert!(err.contains("cannot launch account \"echo-token\": refusing token ****"), "{err}");
        assert_clean("plugin error", &err);
    }
}

/// The lifecycle commands: `add`, `login` (its result and identity), `enroll`
/// (accepted and refused, from stdin and from a variable), `forget`,
/// `status` and docker arguments never show a token, nor the access token
/// the login wrote into the config dir.
#[test]
fn the_lifecycle_commands_never_show_a_token() {
    let fx = fixture();
    let login_token = "sk-ant-oat01-LOGIN-WRITTEN-0123456789abcdef";
    let bin = fx.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stand_in = bin.join("claude");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\nprintf '{{\"claudeAiOauth\":{{\"accessToken\":\"{login_token}\",\"refreshToken\":\"r\",\"expiresAt\":4102444800000}}}}' \
             > \"$CLAUDE_CONFIG_DIR/.credentials.json\"\nprintf '{{\"oauthAccount\":{{\"emailAddress\":\"a@example.com\"}}}}' \
             > \"$CLAUDE_CONFIG_DIR/.claude.json\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = fx.cmd(args);
        cmd.env("PATH", &path).env("MY_KEY", CODEX_TOKEN).env("XDG_DATA_HOME", fx.path("data"));
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        (out.status.code(), text(&out.stdout) + &text(&out.stderr))
    };
    let codex_token_file = fx.path("t/codex").display().to_string();
    let calls: Vec<(Vec<&str>, Option<String>, i32)> = vec![
        (vec!["add", "n1", "--agent", "claude"], None, 0),
        (vec!["add", "n2", "--agent", "codex", "--token-file", &codex_token_file], None, 0),
        (vec!["add", "c1", "--agent", "claude"], None, 2),
        (vec!["login", "n1"], None, 0),
        (vec!["login", "n1", "--headless"], None, 0),
        (vec!["enroll", "n1", "--token-stdin"], Some(format!("{CLAUDE_TOKEN}\n")), 0),
        (vec!["enroll", "n2", "--token-stdin"], Some(format!("{CLAUDE_TOKEN}\n")), 2),
        (vec!["enroll", "n2", "--token-stdin"], Some(format!("{CLAUDE_TOKEN}\n{CLAUDE_TOKEN}\n")), 2),
        (vec!["enroll", "n2", "--token-env", "MY_KEY"], None, 0),
        (vec!["enroll", "c2", "--token-stdin"], Some(format!("{CODEX_TOKEN}\n")), 2),
        (vec!["status"], None, 0),
        (vec!["status", "--json", "--verbose"], None, 0),
        (vec!["launch-env", "--account", "c1", "--format", "docker"], None, 0),
        (vec!["forget", "n1"], None, 0),
        (vec!["forget", "c2"], None, 2),
        (vec!["remove", "n1"], None, 0),
    ];
    for (args, stdin, code) in &calls {
        let (status, output) = run(args, stdin.as_deref());
        assert_eq!(status, Some(*code), "`{}`: {output}", args.join(" "));
        for token in TOKENS.iter().chain(&[login_token]) {
            assert!(!output.contains(token), "`{}` shows a token: {output}", args.join(" "));
        }
    }
}

#[test]
fn a_token_pasted_where_it_does_not_belong_is_masked_in_the_error() {
    let token = "sk-ant-oat01-PASTED-0123456789abcdef";
    let account = "[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"d\"\n";
    for roster in [
        format!("{account}token_env = \"{token}\"\n"),
        format!("{account}seats = \"{token}\"\n"),
        format!("[[account]]\nname = \"a\"\nagent = \"{token}\"\nconfig_dir = \"d\"\n"),
    ] {
        let fx = Fixture::new(&roster);
        let out = fx.run(&["status"]);
        let err = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0));
        assert!(out.stdout.is_empty());
        assert!(!err.contains("PASTED") && err.contains("sk-ant-oat01-****"), "{err}");
    }
    let fx = Fixture::new(account);
    for args in [&["add", "b", "--agent", "claude", "--token-env", token][..], &["enroll", "a", "--token-env", token]] {
        let out = fx.run(args);
        let err = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(!err.contains("PASTED"), "{args:?}: {err}");
    }
}

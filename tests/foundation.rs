//! The foundation, end to end: the real binary, the real built-in plugins in
//! the real sandbox, output eval'd in real shells, real files.

use std::collections::BTreeMap;

use crate::support::*;

/// A config dir name with every character that breaks naive quoting.
const NASTY_DIR: &str = "dirs/it's a \"dir\" $HOME `x` \\ back\nslash";

fn toml_str(s: &str) -> String {
    format!("{s:?}") // Rust's debug escaping is valid TOML basic-string escaping for these characters.
}

fn roster_with(agent: &str, dir: &str, extra: &str) -> String {
    format!("[[account]]\nname = \"acct\"\nagent = \"{agent}\"\nconfig_dir = {}\n{extra}\n", toml_str(dir))
}

/// Evaluate `launch-env` output in dash and bash (with stale values already
/// set) and check exactly which variables changed.
fn assert_eval(fx: &Fixture, expected_set: &[(&str, String)], expected_unset: &[&str]) {
    let out = fx.ok(&["launch-env", "--account", "acct"]);
    let mut stale: Vec<(&str, &str)> = expected_unset.iter().map(|k| (*k, "stale-value")).collect();
    stale.push(("KEEP_ME", "kept"));
    for shell_name in ["dash", "bash"] {
        let before: BTreeMap<String, String> = shell_env(shell_name, &stale);
        let after = eval_env(shell_name, &out, &stale);
        let mut changed: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &after {
            if before.get(k) != Some(v) {
                changed.insert(k.clone(), v.clone());
            }
        }
        let expected: BTreeMap<String, String> = expected_set.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        assert_eq!(changed, expected, "{shell_name}: variables set by\n{out}");
        for k in expected_unset {
            assert!(!after.contains_key(*k), "{shell_name}: {k} should be unset");
        }
        assert_eq!(after.get("KEEP_ME").map(String::as_str), Some("kept"));
    }
}

fn shell_env(shell_name: &str, env: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = env.to_vec();
    env.push(("OUT", ""));
    let out = shell(shell_name, "unset OUT; exec env -0", &env);
    parse_env0(&out.stdout)
}

fn config_dir(fx: &Fixture, rel: &str) -> String {
    fx.path(rel).to_str().unwrap().to_owned()
}

#[test]
fn claude_env_with_special_characters_evals_exactly_in_dash_and_bash() {
    let fx = Fixture::new(&roster_with("claude", NASTY_DIR, "token_file = \"claude.token\""));
    fx.write("claude.token", &format!("{CLAUDE_TOKEN}\n"));
    assert_eval(
        &fx,
        &[
            ("CLAUDE_CONFIG_DIR", config_dir(&fx, NASTY_DIR)),
            ("CLAUDE_CODE_OAUTH_TOKEN", CLAUDE_TOKEN.into()),
            ("ANTHROPIC_CONFIG_DIR", format!("{}/anthropic-profiles", config_dir(&fx, NASTY_DIR))),
            ("ACCOUNTS_ACCOUNT", "acct".into()),
        ],
        &["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"],
    );
    assert!(fx.path(NASTY_DIR).is_dir(), "a missing config dir is created");
}

#[test]
fn codex_and_gemini_envs_eval_exactly() {
    let fx = Fixture::new(&roster_with("codex", NASTY_DIR, "token_env = \"MY_CODEX_KEY\""));
    let out = fx.cmd(&["launch-env", "--account", "acct"]).env("MY_CODEX_KEY", CODEX_TOKEN).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = eval_env("dash", &text(&out.stdout), &[("OPENAI_API_KEY", "stale")]);
    assert_eq!(after["CODEX_HOME"], config_dir(&fx, NASTY_DIR));
    assert_eq!(after["CODEX_API_KEY"], CODEX_TOKEN, "the variable codex exec authenticates with");
    assert!(!after.contains_key("OPENAI_API_KEY"), "codex ignores it; another account's must not leak");

    let fx = Fixture::new(&roster_with("gemini", "g", "token_file = \"g.key\""));
    fx.write("g.key", GEMINI_TOKEN);
    assert_eval(
        &fx,
        &[
            ("GEMINI_CLI_HOME", config_dir(&fx, "g")),
            ("GEMINI_API_KEY", GEMINI_TOKEN.into()),
            ("ACCOUNTS_ACCOUNT", "acct".into()),
        ],
        &[],
    );
}

#[test]
fn claude_live_session_wins_over_static_token() {
    let fx = Fixture::new(&roster_with("claude", "c", "token_file = \"t\""));
    fx.write("t", CLAUDE_TOKEN);
    let far_future_ms = 4_102_444_800_000i64; // 2100-01-01
    fx.write(
        "c/.credentials.json",
        &format!(r#"{{"claudeAiOauth":{{"accessToken":"x","expiresAt":{far_future_ms}}}}}"#),
    );
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[("CLAUDE_CODE_OAUTH_TOKEN", "stale")]);
    assert_eq!(env["CLAUDE_CONFIG_DIR"], config_dir(&fx, "c"));
    assert!(!env.contains_key("CLAUDE_CODE_OAUTH_TOKEN"), "a live session must not be shadowed by the static token");

    // An expired access token with a refresh token is a live login: the
    // agent refreshes it (claude auth status reports it logged in).
    fx.write("c/.credentials.json", r#"{"claudeAiOauth":{"accessToken":"x","refreshToken":"r","expiresAt":1000}}"#);
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert!(!env.contains_key("CLAUDE_CODE_OAUTH_TOKEN"), "a refreshable login launches on the login");

    fx.write("c/.credentials.json", r#"{"claudeAiOauth":{"accessToken":"x","expiresAt":1000}}"#);
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert_eq!(env["CLAUDE_CODE_OAUTH_TOKEN"], CLAUDE_TOKEN, "expired, nothing to refresh with: the token");

    fx.write("c/.credentials.json", "not json");
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert_eq!(env["CLAUDE_CODE_OAUTH_TOKEN"], CLAUDE_TOKEN, "an unreadable session falls back to the token");
}

fn jwt_with_exp(exp: i64) -> String {
    let b64 = |s: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' '{s}' | base64 -w0 | tr '+/' '-_' | tr -d '='"))
            .output()
            .unwrap();
        text(&out.stdout)
    };
    format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(&format!(r#"{{"exp":{exp}}}"#)))
}

#[test]
fn codex_jwt_expiry_decides() {
    let fx = Fixture::new(&roster_with("codex", "x", "token_file = \"t\""));
    fx.write("t", CODEX_TOKEN);
    fx.write("x/auth.json", &format!(r#"{{"tokens":{{"access_token":"{}"}}}}"#, jwt_with_exp(4_102_444_800)));
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert!(!env.contains_key("CODEX_API_KEY"), "live JWT: no static key");
    let refreshable = format!(r#"{{"tokens":{{"access_token":"{}","refresh_token":"r"}}}}"#, jwt_with_exp(1_000));
    fx.write("x/auth.json", &refreshable);
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert!(!env.contains_key("CODEX_API_KEY"), "expired JWT with a refresh token: a live login");
    fx.write("x/auth.json", r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-proj-stored"}"#);
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert!(!env.contains_key("CODEX_API_KEY"), "a key stored with codex login --with-api-key is the login");
    fx.write("x/auth.json", &format!(r#"{{"tokens":{{"access_token":"{}"}}}}"#, jwt_with_exp(1_000)));
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert_eq!(env["CODEX_API_KEY"], CODEX_TOKEN, "expired JWT, nothing to refresh with: the static key");
}

#[test]
fn gemini_oauth_expiry_decides() {
    let fx = Fixture::new(&roster_with("gemini", "g", "token_file = \"t\""));
    fx.write("t", GEMINI_TOKEN);
    fx.write("g/.gemini/oauth_creds.json", r#"{"access_token":"a","expiry_date":4102444800000}"#);
    assert!(!fx.ok(&["launch-env", "--account", "acct"]).contains("export GEMINI_API_KEY"));
    fx.write("g/.gemini/oauth_creds.json", r#"{"access_token":"a","refresh_token":"r","expiry_date":1000}"#);
    assert!(!fx.ok(&["launch-env", "--account", "acct"]).contains("export GEMINI_API_KEY"), "refreshable");
    fx.write("g/.gemini/oauth_creds.json", r#"{"access_token":"a","expiry_date":1000}"#);
    assert!(fx.ok(&["launch-env", "--account", "acct"]).contains("export GEMINI_API_KEY"));

    // The auth type the account's settings select decides whether the key
    // is used at all.
    std::fs::remove_file(fx.path("g/.gemini/oauth_creds.json")).unwrap();
    fx.write("g/.gemini/settings.json", r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#);
    assert!(fx.ok(&["launch-env", "--account", "acct"]).contains("export GEMINI_API_KEY"));
    fx.write("g/.gemini/settings.json", r#"{"security":{"auth":{"selectedType":"oauth-personal"}}}"#);
    let err = fx.fails(&["launch-env", "--account", "acct"], 1);
    assert!(err.contains("selects the auth type \"oauth-personal\"") && err.contains("would be ignored"), "{err}");
    assert!(!err.contains(GEMINI_TOKEN));
}

#[test]
fn all_formats() {
    let fx = Fixture::new(&roster_with("claude", "c", ""));
    let dir = config_dir(&fx, "c");
    let json: serde_json::Value =
        serde_json::from_str(&fx.ok(&["launch-env", "--account", "acct", "--format", "json"])).unwrap();
    assert_eq!(json["account"], "acct");
    assert_eq!(json["agent"], "claude");
    assert_eq!(json["env"]["CLAUDE_CONFIG_DIR"], dir.as_str());
    assert_eq!(
        json["unset"],
        serde_json::json!([
            "CLAUDE_CODE_OAUTH_TOKEN",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "ANTHROPIC_PROFILE",
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
            "CLAUDE_CODE_USE_FOUNDRY",
            "CLAUDE_CODE_USE_ANTHROPIC_AWS",
            "CLAUDE_CODE_USE_ANTHROPIC_GOOGLE_CLOUD",
            "CLAUDE_CODE_USE_MANTLE",
            "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR",
            "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR"
        ])
    );
    assert_eq!(
        fx.ok(&["launch-env", "--account", "acct", "--format", "dotenv"]),
        format!(
            "CLAUDE_CONFIG_DIR=\"{dir}\"\nANTHROPIC_CONFIG_DIR=\"{dir}/anthropic-profiles\"\nACCOUNTS_ACCOUNT=\"acct\"\n"
        )
    );
    let fish = fx.ok(&["launch-env", "--account", "acct", "--format", "fish"]);
    assert!(fish.contains(&format!("set -gx CLAUDE_CONFIG_DIR '{dir}'")) && fish.contains("set -e ANTHROPIC_API_KEY"));
}

#[test]
fn an_invalid_token_is_refused_without_showing_it() {
    let fx = Fixture::new(&roster_with("claude", "c", "token_file = \"t\""));
    fx.write("t", "sk-wrong-SECRETVALUE");
    let err = fx.fails(&["launch-env", "--account", "acct"], 2);
    assert!(
        err.contains(
            "is not a valid Claude Code token: a Claude Code token starts with sk-ant-oat01- or sk-ant-api03-"
        ),
        "the plugin's own reason: {err}"
    );
    assert!(!err.contains("SECRETVALUE"), "{err}");
}

#[test]
fn unknown_kind_lists_known_kinds_and_places() {
    let fx = Fixture::new("default_agent = \"claude\"\n");
    let err = fx.fails(&["plugins", "inspect", "nope"], 2);
    assert!(err.contains("unknown agent kind \"nope\"; known kinds: claude, codex, gemini."), "{err}");
    assert!(err.contains(&format!("[plugins.nope] in {}", fx.roster().display())), "{err}");
    assert!(err.contains("the built-in plugins (claude, codex, gemini)"), "{err}");
    assert!(err.contains(&format!("{}/nope.wasm", fx.plugin_dir().display())), "{err}");
}

#[test]
fn builtin_set_is_exactly_the_declared_plugins() {
    let fx = Fixture::new("");
    let list: serde_json::Value = serde_json::from_str(&fx.ok(&["plugins", "list", "--json"])).unwrap();
    let kinds: Vec<(&str, &str)> =
        list.as_array().unwrap().iter().map(|p| (p["kind"].as_str().unwrap(), p["source"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("claude", "built-in"), ("codex", "built-in"), ("gemini", "built-in")]);
    assert!(list.as_array().unwrap().iter().all(|p| p["contract"] == "0.3.0"), "{list}");
    let inspect: serde_json::Value = serde_json::from_str(&fx.ok(&["plugins", "inspect", "codex", "--json"])).unwrap();
    assert_eq!(inspect["config_dir_env"], "CODEX_HOME");
    assert_eq!(inspect["kind"], "codex");
}

#[test]
fn third_party_plugin_from_the_plugin_dir() {
    let fx = Fixture::new(&roster_with("acme", "a", "token_file = \"t\""));
    std::fs::copy(thirdparty_plugin(), fx.plugin_dir().join("acme.wasm")).unwrap();
    fx.write("t", "acme-secret-1");
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[]);
    assert_eq!(env["ACME_HOME"], config_dir(&fx, "a"));
    assert_eq!(env["ACME_TOKEN"], "acme-secret-1");
    fx.write("a/session.json", r#"{"user": "u@acme", "refresh": "r"}"#);
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "acct"]), &[("ACME_TOKEN", "stale")]);
    assert!(!env.contains_key("ACME_TOKEN"), "the plugin read the mounted config dir");
    let list = fx.ok(&["plugins", "list"]);
    assert!(list.contains("acme") && list.contains("Acme Agent") && list.contains("from the plugin dir"), "{list}");
}

#[test]
fn plugin_dir_cannot_shadow_a_builtin() {
    let fx = Fixture::new(&roster_with("claude", "c", ""));
    std::fs::copy(thirdparty_plugin(), fx.plugin_dir().join("claude.wasm")).unwrap();
    let out = fx.run(&["launch-env", "--account", "acct"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("export CLAUDE_CONFIG_DIR="), "the built-in served the launch");
    assert!(
        text(&out.stderr).contains("ignoring") && text(&out.stderr).contains("claude.wasm"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_plugin_that_lies_about_its_kind_is_refused() {
    let fx = Fixture::new(&roster_with("liar", "l", ""));
    std::fs::copy(test_plugin("liar"), fx.plugin_dir().join("liar.wasm")).unwrap();
    let err = fx.fails(&["launch-env", "--account", "acct"], 2);
    assert!(err.contains("plugin \"liar\"") && err.contains("says it serves agent kind \"claude\""), "{err}");
    assert!(err.contains("liar.wasm from the plugin dir"), "{err}");
}

#[test]
fn roster_pin_is_checked_before_loading() {
    let wasm = thirdparty_plugin();
    let fx = Fixture::new("");
    let pinned = |sha: &str| {
        format!(
            "{}[plugins.acme]\npath = {}\nsha256 = \"{sha}\"\n",
            roster_with("acme", "a", ""),
            toml_str(wasm.to_str().unwrap())
        )
    };
    fx.write_roster(&pinned(&"0".repeat(64)));
    let err = fx.fails(&["launch-env", "--account", "acct"], 2);
    assert!(err.contains("sha256 mismatch") && err.contains(&sha256_file(&wasm)), "{err}");
    fx.write_roster(&pinned(&sha256_file(&wasm)));
    assert!(fx.ok(&["launch-env", "--account", "acct"]).contains("ACME_HOME"));
}

#[test]
fn bad_rosters_give_one_clear_line() {
    let fx = Fixture::new("");
    let cases: &[(&str, &str, &str)] = &[
        ("[[account]\nname = \"a\"\n", ":1:11:", "unclosed array table, expected `]`"),
        (
            "[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"d\"\nseat = 2\n",
            ":5:1:",
            "unknown field `seat`",
        ),
        (
            "[[account]]\nname = \"a\"\nagent = \"claude\"\nconfig_dir = \"d\"\n\n[[account]]\nname = \"a\"\nagent = \"codex\"\nconfig_dir = \"e\"\n",
            ":7:8:",
            "duplicate account name \"a\"",
        ),
        ("[[account]]\nname = \"a\"\nagent = \"claude\"\n", ":1:1:", "missing field `config_dir`"),
        (
            "default_agent = \"nope\"\n[[account]]\nname = \"a\"\nagent = \"nope\"\nconfig_dir = \"d\"\n",
            ":4:9:",
            "/PLUGINS/nope.wasm. Fix: use one of the known kinds, put the plugin in /PLUGINS as nope.wasm (a plugin \
             file there must be named <kind>.wasm",
        ),
        (
            "[[account]]\nname = \"a\"\nagent = \"nope\"\nconfig_dir = \"d\"\n",
            ":3:9:",
            "unknown agent kind \"nope\"; known kinds: claude, codex, gemini. Searched: [plugins.nope] in",
        ),
    ];
    for (roster, at, what) in cases {
        let what = &what.replace("/PLUGINS", &fx.plugin_dir().display().to_string());
        fx.write_roster(roster);
        let err = fx.fails(&["launch-env", "--account", "a"], 2);
        let expected_prefix = format!("accounts: error: {}{at}", fx.roster().display());
        assert!(err.starts_with(&expected_prefix), "expected {expected_prefix}…, got: {err}");
        assert!(err.contains(what), "expected {what:?} in: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    std::fs::remove_file(fx.roster()).unwrap();
    let err = fx.fails(&["launch-env", "--account", "a"], 2);
    assert!(err.contains("no roster here"), "{err}");
}

#[test]
fn version_and_unknown_account() {
    let fx = Fixture::new(&roster_with("claude", "c", ""));
    assert!(fx.ok(&["--version"]).starts_with("accounts 0.2.0"));
    let err = fx.fails(&["launch-env", "--account", "other"], 2);
    assert!(err.contains("no account \"other\"") && err.contains("accounts: acct"), "{err}");
}

/// Subcommands are built lazily; each one's help must still open with its
/// own summary, as `accounts --help` lists it (a flattened flag group's
/// doc comment once took its place).
#[test]
fn every_subcommand_help_opens_with_its_own_summary() {
    let fx = Fixture::new("");
    let top = fx.ok(&["--help"]);
    let listed: Vec<(String, String)> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once("  ").map(|(n, a)| (n.to_owned(), a.trim().to_owned())))
        .filter(|(name, _)| name != "help")
        .collect();
    assert!(listed.len() >= 9, "{top}");
    for (name, about) in listed {
        let help = fx.ok(&[&name, "--help"]);
        assert_eq!(help.lines().next(), Some(about.as_str()), "accounts {name} --help:\n{help}");
    }
}

/// `ACCOUNTS_CLOCK_SKEW` shifts what this process believes the time is
/// (the fleet's clock test rests on it), and a bad value is refused before
/// anything runs.
#[test]
fn a_clock_skew_shifts_this_process_and_a_bad_one_is_refused() {
    let fx = Fixture::new(&roster_with("claude", "dirs/a", ""));
    fx.ok(&["wall", "acct", "--for", "30m"]);
    let wall_in = |skew: &str| -> Option<i64> {
        let out = fx.cmd(&["status", "--json"]).env("ACCOUNTS_CLOCK_SKEW", skew).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        st["accounts"][0]["wall"]["in_seconds"].as_i64()
    };
    for bad in ["soon", "+", "--1h"] {
        let out = fx.cmd(&["launch-env", "--account", "acct"]).env("ACCOUNTS_CLOCK_SKEW", bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("ACCOUNTS_CLOCK_SKEW") && stderr.contains("+1h or -30m"), "{stderr}");
    }
    let unskewed = wall_in("").expect("the refused calls changed nothing: still walled");
    assert!((1700..=1800).contains(&unskewed), "{unskewed}");
    let behind = wall_in("-10m").expect("walled");
    assert!((2300..=2400).contains(&behind), "ten minutes behind, the wall is further off: {behind}");
    // Last: an hour ahead, the wall has run out (and the file store drops it).
    assert_eq!(wall_in("+1h"), None, "an hour ahead, the wall has lifted");
}

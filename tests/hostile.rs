//! The hostile-plugin suite: each plugin is built from source and misbehaves
//! on purpose. Each case must end in a specific, clear error with empty
//! stdout and unchanged state, and the next call with a good plugin must work.

use std::path::Path;

use crate::support::*;

/// A fixture with one hostile account (its name picks the misbehaviour) and
/// one good claude account, with a seat already leased so state exists.
fn fixture(case: &str) -> Fixture {
    let fx = Fixture::new(&format!(
        "plugin_timeout = \"300ms\"\n\
         [[account]]\nname = \"{case}\"\nagent = \"hostile\"\nconfig_dir = \"dirs/{case}\"\n\
         [[account]]\nname = \"good\"\nagent = \"claude\"\nconfig_dir = \"dirs/good\"\nseats = 2\n"
    ));
    std::fs::copy(test_plugin("hostile"), fx.plugin_dir().join("hostile.wasm")).unwrap();
    fx.write("dirs/outside-secret", "OUTSIDE-SECRET");
    std::fs::create_dir_all(fx.path(&format!("dirs/{case}"))).unwrap();
    std::os::unix::fs::symlink("../outside-secret", fx.path(&format!("dirs/{case}/link-out"))).unwrap();
    fx.ok(&["launch-env", "--agent", "claude", "--worker", "keeper", "--holder-pid", &std::process::id().to_string()]);
    fx
}

/// Every state file's bytes (leases and walls), to check nothing changed.
fn state_bytes(fx: &Fixture) -> Vec<Vec<u8>> {
    ["state.json", "leases.0", "leases.1"]
        .iter()
        .map(|f| std::fs::read(fx.state_dir().join(f)).unwrap_or_default())
        .collect()
}

/// Run the hostile launch through the seat path, check the error, that it
/// came within the deadline plus a margin, and that nothing changed; then
/// check that a good plugin still works.
fn contained(case: &str, expected: &[&str]) -> String {
    let fx = fixture(case);
    let before = state_bytes(&fx);
    let started = std::time::Instant::now();
    let err = fx.fails(&["launch-env", "--agent", "hostile", "--worker", "victim"], 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{case}: took {:?}", started.elapsed());
    assert!(!err.contains('\u{1b}'), "{case}: raw escape on stderr: {err:?}");
    assert!(err.contains(&format!("plugin \"hostile\" ({}", fx.plugin_dir().join("hostile.wasm").display())), "{err}");
    for e in expected {
        assert!(err.contains(e), "{case}: expected {e:?} in: {err}");
    }
    assert!(!err.contains("ESCAPED") && !err.contains("OUTSIDE-SECRET"), "{case}: {err}");
    assert_eq!(state_bytes(&fx), before, "{case}: state changed");
    assert!(!fx.path(&format!("dirs/{case}/planted")).exists());
    let pid = std::process::id().to_string();
    assert!(
        fx.ok(&["launch-env", "--agent", "claude", "--worker", "next", "--holder-pid", &pid])
            .contains("CLAUDE_CONFIG_DIR")
    );
    err
}

#[test]
fn infinite_loop_hits_the_deadline() {
    contained("spin", &["launch-env ran past the deadline of 300 ms and was stopped"]);
}

#[test]
fn memory_bomb_hits_the_cap() {
    contained("bomb", &["launch-env exceeded the memory limit of 64 MiB"]);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    contained("recurse", &["launch-env overflowed the wasm stack"]);
}

#[test]
fn reads_outside_the_mount_are_refused() {
    contained("dotdot", &["cannot launch account \"dotdot\": dotdot: refused"]);
    contained("absolute", &["cannot launch account \"absolute\": absolute: refused"]);
    contained("symlink", &["cannot launch account \"symlink\": symlink: refused"]);
}

#[test]
fn writes_into_the_mount_are_refused() {
    contained("write", &["cannot launch account \"write\": write: refused"]);
}

#[test]
fn denied_and_undeclared_variables_are_refused() {
    contained("ld-preload", &["returned a forbidden variable: LD_PRELOAD is on the host's deny list"]);
    contained("path", &["returned a forbidden variable: PATH is on the host's deny list"]);
    contained("undeclared", &["returned HOSTILE_OTHER, which its spec does not declare in env-keys"]);
}

#[test]
fn a_flood_of_entries_is_refused() {
    contained("flood", &["returned 100000 env entries; at most 64 are allowed"]);
}

#[test]
fn a_panic_is_a_trap_and_verbose_shows_its_message() {
    let err = contained("panic", &["launch-env trapped", "--verbose"]);
    assert!(!err.contains("panicked on purpose"), "the plugin's stderr is shown only with --verbose");
    let fx = fixture("panic");
    let out = fx.run(&["launch-env", "--agent", "hostile", "--worker", "v", "--verbose"]);
    assert!(text(&out.stderr).contains("plugin hostile: ") && text(&out.stderr).contains("panicked on purpose"));
}

/// Refused at load: the state is untouched and other agents still work.
fn refused_at_load(plugin: &Path, kind_file: &str, expected: &str) {
    let fx = Fixture::new(&format!(
        "[[account]]\nname = \"x\"\nagent = \"{kind_file}\"\nconfig_dir = \"dirs/x\"\n\
         [[account]]\nname = \"good\"\nagent = \"claude\"\nconfig_dir = \"dirs/good\"\n"
    ));
    std::fs::copy(plugin, fx.plugin_dir().join(format!("{kind_file}.wasm"))).unwrap();
    let pid = std::process::id().to_string();
    fx.ok(&["launch-env", "--agent", "claude", "--worker", "keeper", "--holder-pid", &pid]);
    let before = state_bytes(&fx);
    let err = fx.fails(&["launch-env", "--agent", kind_file, "--worker", "w"], 2);
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert_eq!(state_bytes(&fx), before);
    fx.ok(&["release", "--worker", "keeper"]);
    fx.ok(&["launch-env", "--agent", "claude", "--worker", "next", "--holder-pid", &pid]);
}

#[test]
fn a_socket_import_is_refused_at_load() {
    refused_at_load(&test_plugin_variant("sockets"), "variant", "imports wasi:sockets/");
}

#[test]
fn huge_spec_strings_are_refused() {
    refused_at_load(
        &test_plugin_variant("bigspec"),
        "variant",
        "its spec's label is 1048576 bytes; spec strings may be at most 4096 bytes",
    );
}

#[test]
fn declaring_a_denied_key_is_refused() {
    refused_at_load(&test_plugin_variant("denied-key"), "variant", "declares a forbidden env key: PATH");
}

#[test]
fn a_plugin_lying_about_its_kind_is_refused() {
    refused_at_load(
        &test_plugin("liar"),
        "liar",
        "says it serves agent kind \"claude\", but it was resolved as \"liar\"",
    );
}

#[test]
fn a_pin_mismatch_is_refused_before_compiling() {
    let fx = Fixture::new("");
    let wasm = thirdparty_plugin();
    fx.write_roster(&format!(
        "[plugins.acme]\npath = {:?}\nsha256 = \"{}\"\n\
         [[account]]\nname = \"x\"\nagent = \"acme\"\nconfig_dir = \"dirs/x\"\n\
         [[account]]\nname = \"good\"\nagent = \"claude\"\nconfig_dir = \"dirs/good\"\n",
        wasm.to_str().unwrap(),
        "ab".repeat(32)
    ));
    let pid = std::process::id().to_string();
    fx.ok(&["launch-env", "--agent", "claude", "--worker", "keeper", "--holder-pid", &pid]);
    let before = state_bytes(&fx);
    let err = fx.fails(&["launch-env", "--agent", "acme", "--worker", "w"], 2);
    assert!(err.contains("sha256 mismatch: the roster pins abab"), "{err}");
    assert_eq!(state_bytes(&fx), before);
}

#[test]
fn a_sleeping_plugin_is_stopped_at_its_deadline() {
    for case in ["sleep", "sleep-forever"] {
        contained(case, &["launch-env ran past the deadline of 300 ms while waiting in the host"]);
    }
}

#[test]
fn a_fifo_in_the_config_dir_cannot_hang_the_host() {
    let fx = fixture("fifo");
    let fifo = fx.path("dirs/fifo/fifo");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR, 0).unwrap();
    let before = state_bytes(&fx);
    let started = std::time::Instant::now();
    let err = fx.fails(&["launch-env", "--agent", "hostile", "--worker", "victim"], 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(err.contains("launch-env ran past the deadline of 300 ms while waiting in the host"), "{err}");
    assert!(err.contains("a FIFO"), "{err}");
    assert_eq!(state_bytes(&fx), before);
    let pid = std::process::id().to_string();
    fx.ok(&["launch-env", "--agent", "claude", "--worker", "next", "--holder-pid", &pid]);
}

#[test]
fn plugin_text_never_reaches_the_terminal_raw() {
    let err = contained("escape", &["cannot launch account \"escape\": \\u{1b}[2J\\u{1b}]52;c;ZXZpbA==\\u{7}cleared"]);
    assert!(!err.contains('\u{7}'));
    let fx = fixture("escape");
    let out = fx.run(&["launch-env", "--agent", "hostile", "--worker", "v", "--verbose"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin hostile: stderr \\u{1b}]52;c;c3RvbGVu\\u{7}\\u{1b}[2J"), "{stderr}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{7}'), "{stderr:?}");
    assert!(refused_spec("escape-spec").starts_with("its spec's label contains a control character"));
}

/// A fixture where `exec --rotate` runs on hostile accounts.
fn exec_fixture() -> Fixture {
    let fx = Fixture::new(
        "plugin_timeout = \"300ms\"\ndefault_agent = \"hostile\"\n\
         [[account]]\nname = \"h1\"\nagent = \"hostile\"\nconfig_dir = \"dirs/h1\"\n\
         [[account]]\nname = \"h2\"\nagent = \"hostile\"\nconfig_dir = \"dirs/h2\"\n",
    );
    std::fs::copy(test_plugin("hostile"), fx.plugin_dir().join("hostile.wasm")).unwrap();
    fx
}

fn wall_of(fx: &Fixture, account: &str) -> serde_json::Value {
    let status: serde_json::Value = serde_json::from_str(&fx.ok(&["status", "--json"])).unwrap();
    status["accounts"].as_array().unwrap().iter().find(|a| a["name"] == account).unwrap()["wall"].clone()
}

#[test]
fn a_sleeping_wall_detector_under_exec_is_stopped_and_the_agent_runs_on() {
    let fx = exec_fixture();
    let started = std::time::Instant::now();
    let out = fx
        .cmd(&["exec", "--account", "h1", "--rotate", "--", "sh", "-c", "echo SLEEP; sleep 1; echo done"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout), "SLEEP\ndone\n");
    assert!(stderr.contains("detect-wall ran past the deadline of 300 ms while waiting in the host"), "{stderr}");
    assert!(stderr.contains("no longer watching this run for a wall"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(wall_of(&fx, "h1").is_null());
}

#[test]
fn wall_text_is_escaped_where_it_is_shown_and_kept() {
    let fx = exec_fixture();
    let out = fx
        .cmd(&["exec", "--account", "h1", "--rotate", "--grace", "1s", "--", "sh", "-c", "echo ESCAPE; sleep 5"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("h1 hit its usage limit (limit \\u{1b}]52;c;ZXZpbA==\\u{7}\\u{1b}[2Jreached)"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let reason = wall_of(&fx, "h1")["reason"].as_str().unwrap().to_owned();
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    let state = std::fs::read_to_string(fx.state_dir().join("state.json")).unwrap();
    assert!(!state.contains("\\u001b"), "raw escape kept in the state: {state}");
}

#[test]
fn a_reset_without_end_is_clamped() {
    let fx = exec_fixture();
    let out = fx
        .cmd(&["exec", "--account", "h1", "--rotate", "--grace", "1s", "--", "sh", "-c", "echo FOREVER; sleep 5"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plugin \"hostile\"") && stderr.contains("walling for at most 35 days"), "{stderr}");
    let until: i64 = {
        let text = wall_of(&fx, "h1")["until"].as_str().unwrap().to_owned();
        let ts: jiff::Timestamp = text.parse().unwrap();
        ts.as_second()
    };
    let now = jiff::Timestamp::now().as_second();
    assert!((now + 35 * 86_400 - 60..=now + 35 * 86_400).contains(&until), "{until}");
}

#[test]
fn one_broken_plugin_does_not_hide_the_others() {
    let fx = Fixture::new("plugin_timeout = \"300ms\"\n");
    std::fs::copy(test_plugin_variant("spin-spec"), fx.plugin_dir().join("variant.wasm")).unwrap();
    let started = std::time::Instant::now();
    let out = fx.run(&["plugins", "list"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(2));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for kind in ["claude ", "codex ", "gemini "] {
        assert!(stdout.lines().any(|l| l.starts_with(kind)), "{kind}missing: {stdout}");
    }
    assert!(stdout.contains("variant") && stdout.contains("spec ran past the deadline of 300 ms"), "{stdout}");
    assert!(stderr.contains("1 of 4 plugins could not be loaded (variant)"), "{stderr}");
    let out = fx.run(&["plugins", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let variant = list.as_array().unwrap().iter().find(|p| p["kind"] == "variant").unwrap();
    assert!(variant["error"].as_str().unwrap().contains("ran past the deadline"), "{variant}");
    assert_eq!(list.as_array().unwrap().iter().filter(|p| p["label"].is_string()).count(), 3);
}

/// The error a variant gets at load, after `plugin "variant" (...): `.
fn refused_spec(feature: &str) -> String {
    let fx = Fixture::new("[[account]]\nname = \"x\"\nagent = \"variant\"\nconfig_dir = \"dirs/x\"\n");
    std::fs::copy(test_plugin_variant(feature), fx.plugin_dir().join("variant.wasm")).unwrap();
    let err = fx.fails(&["launch-env", "--account", "x"], 2);
    err.trim_end().rsplit("from the plugin dir): ").next().unwrap().to_owned()
}

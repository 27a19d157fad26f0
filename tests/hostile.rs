//! The hostile-plugin suite: each plugin is built from source and misbehaves
//! on purpose. Each case must end in a specific, clear error with empty
//! stdout and unchanged state, and the next call with a good plugin must work.

mod common;

use std::path::Path;

use common::*;

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

/// Run the hostile launch through the seat path, check the error and that
/// nothing changed, then check that a good plugin still works.
fn contained(case: &str, expected: &[&str]) -> String {
    let fx = fixture(case);
    let before = state_bytes(&fx);
    let err = fx.fails(&["launch-env", "--agent", "hostile", "--worker", "victim"], 1);
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
    let wasm = test_plugin("thirdparty");
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

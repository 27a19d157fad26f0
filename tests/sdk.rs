//! Contract 0.3.0 and the SDK, as a plugin author meets them: a plugin
//! scaffolded by `plugins new`, built out of tree, checked, installed and
//! launched; `plugins check` catching each kind of defect; the contract's
//! versions (0.1.0 still loads, an unknown one is refused); and the docs
//! and the SDK's copy of the WIT kept in step with the contract.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn sdk_dir() -> std::path::PathBuf {
    workspace().join("plugins/sdk")
}

#[test]
fn a_scaffolded_plugin_builds_out_of_tree_checks_installs_and_launches() {
    let fx = Fixture::new("");
    let dir = fx.path("demo-plugin");
    let out = fx.ok(&["plugins", "new", "demo", dir.to_str().unwrap()]);
    assert!(out.contains("cargo build --release --target wasm32-wasip2"), "{out}");
    for file in ["Cargo.toml", "src/lib.rs", "README.md", "sdk/Cargo.toml", "sdk/wit/account-auth.wit"] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains(".workspace"), "standalone");
    // The SDK by a relative path: the crate builds wherever it is copied.
    assert!(
        manifest.contains("accounts-plugin = { path = \"sdk\" }") && !manifest.contains(workspace().to_str().unwrap())
    );
    assert_eq!(
        std::fs::read(dir.join("sdk/src/lib.rs")).unwrap(),
        std::fs::read(sdk_dir().join("src/lib.rs")).unwrap()
    );

    // Built as its author would: plain cargo, in the crate's own dir.
    let target = plugin_target_dir();
    let build = Build { dir: &dir, target_dir: &target, profile: "release", packages: &[], features: &[] };
    build.run().unwrap_or_else(|e| panic!("{e}"));
    let wasm = build.wasm("demo-plugin");
    assert!(wasm.is_file());
    assert!(std::fs::metadata(&wasm).unwrap().len() < 150 * 1024, "a small component");
    // Its own unit test passes natively.
    let test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["test", "--quiet"])
        .env("CARGO_TARGET_DIR", target_dir().join("scaffold-native"))
        .status()
        .unwrap();
    assert!(test.success(), "the scaffold's unit test");

    // A wall without a reset is normal (the roster's cooldown applies).
    let samples = fx.write("walls.txt", "Usage limit reached. Try again at 3pm.\nUsage limit reached.\n");
    let report = fx.ok(&["plugins", "check", wasm.to_str().unwrap(), "--wall-sample", samples.to_str().unwrap()]);
    assert!(report.contains("all 15 checks passed"), "{report}");
    assert!(report.contains("no reset in it (the roster's wall_cooldown applies)"), "{report}");

    let installed = fx.ok(&["plugins", "install", wasm.to_str().unwrap()]);
    let block = installed.split("# To pin it in your roster:\n").nth(1).expect("the roster block");
    assert!(block.starts_with("[plugins.demo]\npath = ") && block.contains("sha256 = \""), "{installed}");
    assert!(fx.plugin_dir().join("demo.wasm").is_file());
    fx.write_roster(&format!(
        "{block}[[account]]\nname = \"d\"\nagent = \"demo\"\nconfig_dir = \"d\"\ntoken_file = \"t\"\n"
    ));
    fx.write("t", "demo-key-123");
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "d"]), &[]);
    assert_eq!(env["DEMO_HOME"], fx.path("d").to_str().unwrap());
    assert_eq!(env["DEMO_API_KEY"], "demo-key-123");
    let list = fx.ok(&["plugins", "list"]);
    assert!(list.lines().any(|l| l.starts_with("demo") && l.contains("0.3.0")), "{list}");

    fx.ok(&["plugins", "remove", "demo"]);
    assert!(!fx.plugin_dir().join("demo.wasm").exists());
    assert!(fx.fails(&["plugins", "remove", "claude"], 2).contains("built-in"));
    assert!(fx.fails(&["plugins", "new", "demo", dir.to_str().unwrap()], 2).contains("not empty"));
    assert!(fx.fails(&["plugins", "new", "Bad Kind"], 2).contains("not a valid kind"));
}

/// `plugins check` on the checkbad plugin built with `feature`: exit 1 and
/// the report. Returns the lines that failed.
fn check_fails(feature: &str) -> String {
    let fx = Fixture::new("");
    let wasm = test_plugin_with("checkbad", feature);
    let out = fx.run(&["plugins", "check", wasm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{feature}: {}", text(&out.stdout));
    let report = text(&out.stdout);
    assert!(report.contains("checks failed"), "{report}");
    report.lines().filter(|l| l.contains("FAIL")).collect::<Vec<_>>().join("\n")
}

#[test]
fn check_passes_a_plugin_without_defects() {
    let fx = Fixture::new("");
    let wasm = test_plugin_with("checkbad", "");
    let report = fx.ok(&["plugins", "check", wasm.to_str().unwrap()]);
    assert!(report.contains("all 13 checks passed"), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&fx.ok(&["plugins", "check", wasm.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!((json["kind"].as_str(), json["passed"].as_bool()), (Some("checkbad"), Some(true)));
}

#[test]
fn check_catches_an_undeclared_key() {
    let failed = check_fails("undeclared-key");
    assert!(failed.contains("returned BAD_EXTRA, which its spec does not declare"), "{failed}");
}

#[test]
fn check_catches_a_token_check_that_accepts_an_empty_token() {
    let failed = check_fails("accepts-empty");
    assert!(failed.contains("refuses the empty token: it accepted the empty token"), "{failed}");
    assert!(failed.contains("refuses the blank token: it accepted the blank token"), "{failed}");
}

#[test]
fn check_of_a_file_needs_no_roster_as_install_does() {
    let fx = Fixture::new("");
    let wasm = test_plugin_with("checkbad", "");
    let missing = fx.path("no-such-roster.toml");
    let report = fx.ok(&["--roster", missing.to_str().unwrap(), "plugins", "check", wasm.to_str().unwrap()]);
    assert!(report.contains("checks passed"), "{report}");
    // A kind is resolved through the roster, so that one must exist.
    assert!(
        fx.fails(&["--roster", missing.to_str().unwrap(), "plugins", "check", "claude"], 2)
            .contains("no-such-roster.toml")
    );
}

#[test]
fn check_catches_a_resume_that_sends_the_first_prompt_again() {
    let failed = check_fails("prompt-twice");
    assert!(failed.contains("resume-argv") && failed.contains("sends the first prompt again"), "{failed}");
}

#[test]
fn check_catches_a_wall_detector_that_fires_on_ordinary_output() {
    let failed = check_fails("eager-wall");
    assert!(failed.contains("took ordinary output for a wall"), "{failed}");
}

#[test]
fn check_and_install_refuse_a_denied_variable() {
    let fx = Fixture::new("");
    let wasm = test_plugin_with("checkbad", "denied-key");
    let err = fx.fails(&["plugins", "check", wasm.to_str().unwrap()], 2);
    assert!(err.contains("declares a forbidden env key: LD_PRELOAD is on the host's deny list"), "{err}");
    let err = fx.fails(&["plugins", "install", wasm.to_str().unwrap()], 2);
    assert!(err.contains("LD_PRELOAD"), "{err}");
    assert!(!fx.plugin_dir().join("checkbad.wasm").exists());
    // And install refuses a plugin that fails a check.
    let eager = test_plugin_with("checkbad", "eager-wall");
    let err = fx.fails(&["plugins", "install", eager.to_str().unwrap()], 2);
    assert!(err.contains("not installing plugin \"checkbad\"") && err.contains("ordinary output"), "{err}");
}

#[test]
fn a_0_1_0_plugin_still_loads_and_launches() {
    let fx = Fixture::new("[[account]]\nname = \"h\"\nagent = \"hostile\"\nconfig_dir = \"d/h\"\n");
    std::fs::copy(test_plugin("hostile"), fx.plugin_dir().join("hostile.wasm")).unwrap();
    let list: serde_json::Value = serde_json::from_str(&fx.ok(&["plugins", "list", "--json"])).unwrap();
    let hostile = list.as_array().unwrap().iter().find(|p| p["kind"] == "hostile").unwrap();
    assert_eq!(hostile["contract"], "0.1.0");
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "h"]), &[]);
    assert_eq!(env["HOSTILE_HOME"], fx.path("d/h").to_str().unwrap());
}

#[test]
fn a_0_2_0_plugin_still_loads_and_launches() {
    let fx = Fixture::new("[[account]]\nname = \"f\"\nagent = \"frozen020\"\nconfig_dir = \"d/f\"\n");
    std::fs::copy(test_plugin("frozen020"), fx.plugin_dir().join("frozen020.wasm")).unwrap();
    let list: serde_json::Value = serde_json::from_str(&fx.ok(&["plugins", "list", "--json"])).unwrap();
    let frozen = list.as_array().unwrap().iter().find(|p| p["kind"] == "frozen020").unwrap();
    assert_eq!(frozen["contract"], "0.2.0");
    let env = eval_env("dash", &fx.ok(&["launch-env", "--account", "f"]), &[]);
    assert_eq!(env["FROZEN_HOME"], fx.path("d/f").to_str().unwrap());
}

#[test]
fn a_plugin_of_an_unknown_contract_version_is_refused_naming_both() {
    let fx = Fixture::new("[[account]]\nname = \"f\"\nagent = \"future\"\nconfig_dir = \"d/f\"\n");
    std::fs::copy(test_plugin("future"), fx.plugin_dir().join("future.wasm")).unwrap();
    let err = fx.fails(&["launch-env", "--account", "f"], 2);
    assert!(
        err.contains(
            "exports accounts:auth/account-auth version 0.9.0, but this host accepts versions 0.1.0, 0.2.0 and 0.3.0"
        ),
        "{err}"
    );
}

#[test]
fn the_reference_example_is_short_and_has_no_copied_files() {
    let src = workspace().join("tests/plugins/thirdparty/src");
    let files: Vec<_> = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["lib.rs"]);
    let lines = std::fs::read_to_string(src.join("lib.rs")).unwrap().lines().count();
    assert!(lines <= 60, "{lines} lines");
    let manifest = std::fs::read_to_string(workspace().join("tests/plugins/thirdparty/Cargo.toml")).unwrap();
    assert!(!manifest.contains(".workspace = true") && manifest.contains("[workspace]"), "built out of tree");
}

#[test]
fn the_sdk_carries_the_contract_and_is_publish_ready() {
    let host = std::fs::read(workspace().join("wit/v0.3.0/account-auth.wit")).unwrap();
    let sdk = std::fs::read(sdk_dir().join("wit/account-auth.wit")).unwrap();
    assert_eq!(sdk, host, "plugins/sdk/wit/account-auth.wit must be wit/v0.3.0 byte for byte");
    let manifest = std::fs::read_to_string(sdk_dir().join("Cargo.toml")).unwrap();
    assert!(!manifest.contains(".workspace"), "no workspace inheritance");
    for key in ["version = ", "license = ", "description = ", "readme = "] {
        assert!(manifest.contains(key), "{key}");
    }
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace())
        .args(["package", "--no-verify", "--allow-dirty", "-p", "accounts-plugin", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo package: {}", text(&out.stderr));
    let listed = text(&out.stdout);
    for file in ["wit/account-auth.wit", "src/lib.rs", "README.md"] {
        assert!(listed.lines().any(|l| l == file), "{file} not packaged: {listed}");
    }
}

/// Every name in the contract (functions, record fields, enum cases) and
/// every denied variable appears in PLUGINS.md.
#[test]
fn the_authors_guide_covers_the_contract_and_the_deny_list() {
    let guide = std::fs::read_to_string(workspace().join("PLUGINS.md")).unwrap();
    let wit = std::fs::read_to_string(workspace().join("wit/v0.3.0/account-auth.wit")).unwrap();
    let mut missing = Vec::new();
    for line in wit.lines().map(str::trim).filter(|l| !l.starts_with("//") && !l.starts_with("package ")) {
        let name = if let Some((name, _)) = line.split_once(": func(") {
            name
        } else if let Some((name, _)) = line.split_once(':') {
            name
        } else if line.ends_with(',') && line.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c == ',') {
            line.trim_end_matches(',')
        } else {
            continue;
        };
        if !name.is_empty() && !guide.contains(&format!("`{name}`")) && !guide.contains(&format!("{name}(")) {
            missing.push(name.to_owned());
        }
    }
    assert!(missing.is_empty(), "PLUGINS.md does not describe: {missing:?}");
    let policy: serde_json::Value =
        serde_json::from_str(&Fixture::new("").ok(&["plugins", "policy", "--json"])).unwrap();
    for group in policy["denied"].as_array().unwrap() {
        for name in group["names"].as_array().unwrap() {
            assert!(guide.contains(&format!("`{}`", name.as_str().unwrap())), "{name} missing from PLUGINS.md");
        }
    }
    for prefix in policy["denied_prefixes"].as_array().unwrap() {
        assert!(guide.contains(&format!("`{}*`", prefix["prefix"].as_str().unwrap())), "{prefix}");
    }
    assert!(Path::new(&workspace().join("PLUGINS.md")).is_file());
}

#[test]
fn check_catches_a_token_that_shadows_a_live_login() {
    let fx = Fixture::new("");
    fx.write("login/login.json", "{}");
    let sample = fx.path("login");
    let check = |feature: &str| {
        let wasm = test_plugin_with("checkbad", feature);
        fx.run(&["plugins", "check", wasm.to_str().unwrap(), "--login-sample", sample.to_str().unwrap()])
    };
    let good = check("");
    assert!(good.status.success(), "{}", text(&good.stdout));
    assert!(text(&good.stdout).contains("ok   launch-env with a token and a live login: the login wins"));
    let bad = check("token-shadows-login");
    assert_eq!(bad.status.code(), Some(1));
    let report = text(&bad.stdout);
    assert!(
        report.contains("FAIL launch-env with a token and a live login: sets BAD_TOKEN, which shadows"),
        "{report}"
    );
    // A sample that holds no live login says so.
    let empty = fx.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let wasm = test_plugin_with("checkbad", "");
    let out = fx.run(&["plugins", "check", wasm.to_str().unwrap(), "--login-sample", empty.to_str().unwrap()]);
    assert!(
        text(&out.stdout).contains("FAIL credential-status on the login sample: says Missing"),
        "{}",
        text(&out.stdout)
    );
    let err = fx.fails(&["plugins", "check", wasm.to_str().unwrap(), "--login-sample", "/nonexistent"], 2);
    assert!(err.contains("--login-sample /nonexistent is not a directory"), "{err}");
}

/// A released contract never changes: a plugin built against it must keep
/// loading. A change is a new `wit/vX` folder, with its own digest here.
#[test]
fn released_contracts_are_frozen() {
    let frozen = [
        ("v0.1.0", "7aedfc521326c423b4138332aea9ee0163b05d793e746fcb100293bb58468c3d"),
        ("v0.2.0", "2beb9c4fd162324fd91132af6a55986096c2ce3b34e38fbb30636f7eef09dcda"),
        ("v0.3.0", "1cd49d5fc9e1d8a5f26c93a980f9bcde662dbc46006c958039d1d82ccfd1686e"),
    ];
    for (version, digest) in frozen {
        let dir = workspace().join("wit").join(version);
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, ["account-auth.wit"], "{version}");
        assert_eq!(sha256_file(&dir.join("account-auth.wit")), digest, "wit/{version} changed; it is frozen");
    }
}

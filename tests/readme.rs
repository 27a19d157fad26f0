//! The README's recipes, taken from the README itself and run as written
//! in real shells against the real binary (on `PATH` as `accounts`, as the
//! Install section leaves it), with a stand-in agent that prints what it got.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::*;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

/// The fenced block that follows `heading` in the README.
fn block_after(heading: &str) -> String {
    let readme = readme();
    let rest = &readme[readme.find(heading).unwrap_or_else(|| panic!("README has no {heading:?}"))..];
    let start = rest.find("```sh\n").unwrap() + "```sh\n".len();
    rest[start..start + rest[start..].find("```").unwrap()].to_owned()
}

/// The first inline `code` on a README line containing `marker`.
fn inline_code_with(marker: &str) -> String {
    let readme = readme();
    let mut codes = readme.lines().flat_map(|l| l.split('`').skip(1).step_by(2));
    codes.find(|code| code.contains(marker)).unwrap_or_else(|| panic!("README has no `...{marker}...`")).to_owned()
}

/// A claude account logged in, `accounts` and a stand-in `claude` on a
/// `PATH` of their own, and an inherited key the launch must clear.
fn scene() -> (Fixture, String) {
    let fx = Fixture::new("[[account]]\nname = \"work\"\nagent = \"claude\"\nconfig_dir = \"dirs/work\"\n");
    fx.write("dirs/work/.credentials.json", "{}");
    let bin = fx.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&*BIN, bin.join("accounts")).unwrap();
    let claude = fx.write(
        "bin/claude",
        "#!/bin/sh\necho \"claude $* on ${ACCOUNTS_ACCOUNT:-none} key=${ANTHROPIC_API_KEY:-unset}\"\n",
    );
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    (fx, path)
}

fn run(fx: &Fixture, path: &str, shell: &str, script: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(shell);
    cmd.arg("-c").arg(script);
    // sh takes the first argument after the script as $0; fish puts them
    // all in $argv, after a `--` that ends its own options.
    cmd.arg(if shell == "fish" { "--" } else { "wrapper" });
    cmd.args(args);
    fx.point_at_fixture(&mut cmd);
    let out = cmd
        .env("PATH", path)
        .env("LC_ALL", "C.UTF-8")
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-INHERITED")
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_wrapper_script_runs_the_agent_on_a_seat() {
    let (fx, path) = scene();
    let script = block_after("## Use in a wrapper script");
    assert!(script.contains("accounts launch-env") && script.contains("exec claude"), "{script}");
    let (code, out, err) = run(&fx, &path, "sh", &script, &["-p", "hi"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "claude -p hi on work key=unset\n", "the inherited key is cleared");
    // With no account free, the wrapper stops before the agent.
    let holder = Sleeper::new();
    fx.ok(&["launch-env", "--worker", "other", "--holder-pid", &holder.pid()]);
    let (code, out, _) = run(&fx, &path, "sh", &script, &["-p", "hi"]);
    assert_eq!((code, out.as_str()), (Some(75), ""), "no agent runs without a seat");
}

#[test]
fn the_one_account_recipe_launches_it() {
    let (fx, path) = scene();
    let recipe = inline_code_with("launch-env --account work");
    let (code, out, err) = run(&fx, &path, "sh", &recipe, &["-p", "hi"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "claude -p hi on work key=unset\n");
}

#[test]
fn the_fish_recipe_sets_and_clears_in_fish() {
    if Command::new("fish").arg("--version").output().is_err() {
        eprintln!("skipped: no fish (tests/run installs it)");
        return;
    }
    let (fx, path) = scene();
    let recipe = inline_code_with("--format fish | string collect");
    // The agent on the next line, as a wrapper runs it (`set -e` of a variable
    // that is not set leaves status 4: `; and` would not run it).
    let script = format!("{recipe}\nclaude $argv", recipe = recipe.replace("launch-env", "launch-env --account work"));
    let (code, out, err) = run(&fx, &path, "fish", &script, &["-p", "hi"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "claude -p hi on work key=unset\n", "set -gx and set -e both ran: {script}");
    // A failed launch stops the recipe: `or exit 1`.
    let (code, out, _) = run(&fx, &path, "fish", &script.replace("--account work", "--account nobody"), &[]);
    assert_eq!((code, out.as_str()), (Some(1), ""), "{script}");
}

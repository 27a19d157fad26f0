//! `plugins new KIND [DIR]`: a standalone plugin crate that builds with a
//! plain `cargo build --release --target wasm32-wasip2`, outside any
//! workspace: the SDK dependency, the small plugin profile, a plugin with a
//! unit test, and a README with the next commands.

use std::path::{Path, PathBuf};

use crate::cli::print;
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::plugin::registry;

/// The SDK's sources, as this binary was built with them. Until the SDK is
/// on crates.io a new plugin gets its own copy in `sdk/`, named by a
/// relative path, so the crate builds on any machine, offline. (`--sdk DIR`
/// names another copy instead.) `sdk_files_are_all_embedded` keeps the
/// list whole.
macro_rules! sdk_file {
    ($name:literal) => {
        ($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk/", $name)))
    };
}
const SDK_FILES: &[(&str, &str)] = &[
    sdk_file!("Cargo.toml"),
    sdk_file!("README.md"),
    sdk_file!("wit/account-auth.wit"),
    sdk_file!("src/argv.rs"),
    sdk_file!("src/civil.rs"),
    sdk_file!("src/clock.rs"),
    sdk_file!("src/conversation.rs"),
    sdk_file!("src/corpus.rs"),
    sdk_file!("src/json.rs"),
    sdk_file!("src/lib.rs"),
    sdk_file!("src/messages.rs"),
    sdk_file!("src/spec.rs"),
    sdk_file!("src/text.rs"),
    sdk_file!("src/zones.rs"),
];

pub fn run(kind: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> Result<ExitStatus> {
    if !registry::is_kind_name(kind) {
        return Err(usage(format!(
            "{kind:?} is not a valid kind: use lower-case letters, digits, - and _, starting with a letter"
        )));
    }
    if crate::plugin::builtin::BUILTINS.iter().any(|(k, _, _)| *k == kind) {
        return Err(usage(format!(
            "{kind:?} is a built-in kind: `plugins install` would refuse a plugin for it (the plugin dir never \
             shadows a built-in; only a roster's [plugins.{kind}] can). Pick a kind of your own"
        )));
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(format!("{kind}-plugin")));
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(usage(format!("{} exists and is not empty; pick another DIR", dir.display())));
    }
    let dependency = sdk_dependency(sdk.as_deref())?;
    let crate_name = format!("{kind}-plugin");
    let mut files = vec![
        ("Cargo.toml".to_owned(), cargo_toml(&crate_name, &dependency)),
        ("src/lib.rs".to_owned(), lib_rs(kind)),
        ("README.md".to_owned(), readme(kind, &crate_name)),
        (".gitignore".to_owned(), "/target\n".to_owned()),
    ];
    if sdk.is_none() {
        files.extend(SDK_FILES.iter().map(|(name, text)| (format!("sdk/{name}"), (*text).to_owned())));
    }
    for (name, text) in &files {
        let path = dir.join(name);
        let written =
            std::fs::create_dir_all(path.parent().expect("below dir")).and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| Error::Other(anyhow::anyhow!("cannot write {}: {e}", path.display())))?;
    }
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", crate_name.replace('-', "_"));
    print(&format!(
        "wrote a plugin for {kind:?} in {}\n\nNext:\n  cd {}\n  rustup target add wasm32-wasip2\n  \
         cargo build --release --target wasm32-wasip2\n  accounts plugins check {wasm}\n  \
         accounts plugins install {wasm}\n",
        dir.display(),
        dir.display()
    ))
}

/// The `accounts-plugin` line of the new crate's Cargo.toml.
fn sdk_dependency(sdk: Option<&Path>) -> Result<String> {
    let path = match sdk {
        Some(path) if path.join("Cargo.toml").is_file() => path,
        Some(path) => return Err(usage(format!("--sdk {}: no Cargo.toml there", path.display()))),
        None => {
            return Ok(format!(
                "# The SDK {}, copied beside the plugin until it is published\n\
                 # (then: accounts-plugin = \"{}\").\naccounts-plugin = {{ path = \"sdk\" }}",
                env!("CARGO_PKG_VERSION"),
                env!("CARGO_PKG_VERSION")
            ));
        }
    };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    Ok(format!(
        "# The SDK by path until it is published (then: accounts-plugin = \"0.2\").\naccounts-plugin = {{ path = {:?} }}",
        path.display().to_string()
    ))
}

fn cargo_toml(crate_name: &str, dependency: &str) -> String {
    format!(
        r#"[package]
name = "{crate_name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the component; rlib: so `cargo test` runs the unit tests natively.
crate-type = ["cdylib", "rlib"]

[dependencies]
{dependency}

# Small components: plugins load before every agent launch.
[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"

# A crate of its own, not part of an enclosing workspace.
[workspace]
"#
    )
}

fn lib_rs(kind: &str) -> String {
    let var = kind.to_ascii_uppercase().replace('-', "_");
    let label: String = kind
        .split(['-', '_'])
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or(String::new(), |c| c.to_ascii_uppercase().to_string() + chars.as_str())
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        r#"//! The accounts plugin for {label}: which variables select an account,
//! what a token looks like, and what its usage-limit message says.

use accounts_plugin::{{Agent, Spec, Wall, clock, text}};

struct Plugin;

impl Agent for Plugin {{
    fn spec() -> Spec {{
        Spec::new("{kind}", "{label}")
            .config_dir_env("{var}_HOME")
            .token_env("{var}_API_KEY")
            .token_prefixes(["{kind}-"])
            .login(["{kind}", "login"])
            .enroll_hint("run `accounts login <name>`, or enroll a {kind}- key with `accounts enroll`")
    }}

    // The agent's limit message, e.g. "Usage limit reached. Try again at 3pm."
    fn detect_wall(output: &str, now: i64, zone: &str) -> Option<Wall> {{
        let at = output.rfind("Usage limit reached")?;
        let line = text::line_at(output, at);
        Some(Wall::new(clock::reset_after(line, "try again", now, zone), line))
    }}
}}

accounts_plugin::export!(Plugin);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn walls_and_tokens() {{
        let now = 1_795_348_800; // 2026-11-22 12:00 UTC
        let wall = Plugin::detect_wall("working\nUsage limit reached. Try again at 3pm.", now, "UTC").unwrap();
        assert_eq!(wall.resets_at, Some(now + 3 * 3600));
        assert_eq!(Plugin::detect_wall("all good", now, "UTC"), None);
        assert!(Plugin::validate_token("{kind}-abc123").is_ok());
        assert!(Plugin::validate_token("").is_err());
    }}
}}
"#
    )
}

fn readme(kind: &str, crate_name: &str) -> String {
    let wasm = format!("target/wasm32-wasip2/release/{}.wasm", crate_name.replace('-', "_"));
    format!(
        r#"# {crate_name}

The `accounts` plugin for the `{kind}` agent, on the accounts-plugin SDK.
Edit `src/lib.rs` (its spec, its wall message), then:

```sh
rustup target add wasm32-wasip2                 # once
cargo test                                      # unit tests, natively
cargo build --release --target wasm32-wasip2
accounts plugins check {wasm}
accounts plugins install {wasm}
```

`install` prints the `[plugins.{kind}]` block that pins the plugin's sha256
in your roster.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::SDK_FILES;

    #[test]
    fn sdk_files_are_all_embedded() {
        let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
        let mut on_disk = vec!["Cargo.toml".to_owned(), "README.md".to_owned(), "wit/account-auth.wit".to_owned()];
        for entry in std::fs::read_dir(sdk.join("src")).unwrap() {
            on_disk.push(format!("src/{}", entry.unwrap().file_name().to_str().unwrap()));
        }
        on_disk.sort();
        let mut embedded: Vec<String> = SDK_FILES.iter().map(|(name, _)| (*name).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "a new SDK file needs its line in SDK_FILES");
    }
}

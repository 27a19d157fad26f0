//! Env output formats and shell quoting. Pure: strings in, one string out.
//!
//! Every format sets the launch env and clears the plugin's other declared
//! keys, so a variable inherited from another account (say an API key in the
//! parent shell) never leaks into this launch.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// What to print for one launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchEnv {
    pub account: String,
    pub agent: String,
    /// Variables to set, in order.
    pub env: Vec<(String, String)>,
    /// Declared variables this launch does not set, to clear.
    pub unset: Vec<String>,
    /// The account's config dir, for `docker` output's mount.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

/// The output formats of `launch-env`, `rotate` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// POSIX sh: `export K='v'` and `unset K` (bash, dash, zsh, ksh).
    Sh,
    /// fish: `set -gx K 'v'` and `set -e K`.
    Fish,
    /// One JSON object: account, agent, env, unset.
    Json,
    /// `K="v"` lines for env files, read back exactly by python-dotenv.
    Dotenv,
    /// `docker run` / `podman run` arguments, one per line: the config dir
    /// mounted, every other variable passed by name only.
    Docker,
}

pub fn render(launch: &LaunchEnv, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Sh => {
            for (k, v) in &launch.env {
                out += &format!("export {k}={}\n", sh_quote(v));
            }
            for k in &launch.unset {
                out += &format!("unset {k}\n");
            }
        }
        Format::Fish => {
            for (k, v) in &launch.env {
                out += &format!("set -gx {k} {}\n", fish_quote(v));
            }
            for k in &launch.unset {
                out += &format!("set -e {k}\n");
            }
        }
        Format::Dotenv => {
            for (k, v) in &launch.env {
                out += &format!("{k}={}\n", dotenv_quote(v));
            }
        }
        Format::Docker => out = docker_args(launch, &launch.config_dir),
        Format::Json => {
            let env: serde_json::Map<String, serde_json::Value> =
                launch.env.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
            let value = serde_json::json!({
                "account": launch.account,
                "agent": launch.agent,
                "env": env,
                "unset": launch.unset,
            });
            out = value.to_string();
            out.push('\n');
        }
    }
    out
}

/// Arguments for `docker run` (one per line, for `mapfile -t`): the config
/// dir mounted at `mount_at`, each variable whose value is a path in it as
/// `-e NAME=<that path in the container>`, and every other variable as
/// `-e NAME` with no value, so docker copies it from its own environment
/// (set by `accounts exec`): a token never appears in an argv. Variables to
/// unset need nothing: a container starts with an empty environment.
pub fn docker_args(launch: &LaunchEnv, mount_at: &Path) -> String {
    let host = launch.config_dir.to_string_lossy();
    let inside = mount_at.to_string_lossy();
    let mut out = format!("-v\n{host}:{inside}\n");
    for (name, value) in &launch.env {
        let moved = value
            .strip_prefix(host.as_ref())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .filter(|_| !value.contains(['\n', '\r']))
            .map(|rest| format!("{inside}{rest}"));
        out += &match moved {
            Some(path) => format!("-e\n{name}={path}\n"),
            None => format!("-e\n{name}\n"),
        };
    }
    out
}

/// POSIX single quotes: everything literal, a `'` becomes `'\''`. Never
/// `$'...'`, which dash does not know.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// fish single quotes: inside them fish still treats `\\` and `\'` as escapes,
/// so both are escaped (an unescaped trailing `\` would swallow the quote).
pub fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// A dotenv value that python-dotenv (1.x, `dotenv_values` / `load_dotenv`
/// with their default interpolation) reads back exactly, for every string.
/// Its parser decodes `\"`, `\n` and `\r` inside double quotes, then expands
/// `${NAME}` and `${NAME:-default}` everywhere. It has no escape for `$`, and
/// it takes the `\"` of a value ending in `\` as an escaped quote; so `$` and
/// `\` are written as `${:-$}` and `${:-\}`: a variable with an empty name,
/// which is never set, expanding to its one-character default.
pub fn dotenv_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out += "${:-\\}",
            '$' => out += "${:-$}",
            '"' => out += "\\\"",
            '\n' => out += r"\n",
            '\r' => out += r"\r",
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> LaunchEnv {
        LaunchEnv {
            account: "work".into(),
            agent: "kind".into(),
            env: vec![("DIR".into(), "/a b/it's".into()), ("TOKEN".into(), "x$y\\".into())],
            unset: vec!["OTHER".into()],
            config_dir: "/a b".into(),
        }
    }

    #[test]
    fn docker_output_mounts_the_dir_and_never_holds_a_value_that_is_not_a_path_in_it() {
        let mut l = launch();
        l.env = vec![
            ("DIR".into(), "/a b".into()),
            ("SUB".into(), "/a b/profiles".into()),
            ("NEAR".into(), "/a bc".into()),
            ("TOKEN".into(), "secret".into()),
        ];
        assert_eq!(
            docker_args(&l, Path::new("/home/agent/.k")),
            "-v\n/a b:/home/agent/.k\n-e\nDIR=/home/agent/.k\n-e\nSUB=/home/agent/.k/profiles\n-e\nNEAR\n-e\nTOKEN\n"
        );
        assert!(render(&l, Format::Docker).starts_with("-v\n/a b:/a b\n-e\nDIR=/a b\n"), "same path by default");
    }

    #[test]
    fn sh_output() {
        assert_eq!(render(&launch(), Format::Sh), "export DIR='/a b/it'\\''s'\nexport TOKEN='x$y\\'\nunset OTHER\n");
    }

    #[test]
    fn fish_output_escapes_trailing_backslash() {
        assert_eq!(
            render(&launch(), Format::Fish),
            "set -gx DIR '/a b/it\\'s'\nset -gx TOKEN 'x$y\\\\'\nset -e OTHER\n"
        );
    }

    #[test]
    fn json_output() {
        let v: serde_json::Value = serde_json::from_str(&render(&launch(), Format::Json)).unwrap();
        assert_eq!(v["account"], "work");
        assert_eq!(v["env"]["TOKEN"], "x$y\\");
        assert_eq!(v["unset"][0], "OTHER");
    }

    #[test]
    fn dotenv_output() {
        let mut l = launch();
        l.env.push(("ML".into(), "a\nb\"`".into()));
        assert_eq!(render(&l, Format::Dotenv), "DIR=\"/a b/it's\"\nTOKEN=\"x${:-$}y${:-\\}\"\nML=\"a\\nb\\\"`\"\n");
    }

    #[test]
    fn quoting_has_no_ansi_c_form() {
        for v in ["\n", "'", "\\", "\u{1}", "é"] {
            assert!(!sh_quote(v).starts_with("$'"));
        }
    }
}

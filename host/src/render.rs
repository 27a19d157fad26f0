//! Env output formats and shell quoting. Pure: strings in, one string out.
//!
//! Every format sets the launch env and clears the plugin's other declared
//! keys, so a variable inherited from another account (say an API key in the
//! parent shell) never leaks into this launch.

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
    /// `K="v"` lines for env files (see `dotenv_quote`).
    Dotenv,
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
        }
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

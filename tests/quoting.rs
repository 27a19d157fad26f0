//! Every env output format, checked by property: random values, and every
//! character whose UTF-8 encoding covers the bytes 1–255 that UTF-8 can hold,
//! round-trip exactly through `eval` in real dash and bash (and fish when it
//! is installed), through a JSON parser, and through the reader the dotenv
//! format is promised to: python-dotenv, from PyPI, reading a real file with
//! its default interpolation. Values are UTF-8 strings by contract (WIT
//! `string`), so the bytes 0xC0, 0xC1 and 0xF5–0xFF, which never occur in
//! UTF-8, cannot reach us.
//!
//! Longer run: `PROPTEST_CASES=20000 cargo test --test tests quoting::`.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::*;
use accounts::render::{Format, LaunchEnv, render};
use proptest::prelude::*;

/// Characters covering every byte 0x01–0x7F directly, the continuation bytes
/// 0x80–0xBF and every lead byte 0xC2–0xF4 through their UTF-8 encodings.
fn every_byte_value() -> String {
    let mut s: String = (1u32..=0xFF).filter_map(char::from_u32).collect();
    for lead in 0xC2u32..=0xDF {
        s.push(char::from_u32((lead - 0xC0) << 6 | 0x01).unwrap());
    }
    for lead in 0xE0u32..=0xEF {
        s.push(char::from_u32(((lead - 0xE0) << 12).max(0x800) | 0x101).unwrap_or('\u{FFFD}'));
    }
    for lead in 0xF0u32..=0xF4 {
        s.push(char::from_u32(((lead - 0xF0) << 18).max(0x10000) | 0x101).unwrap());
    }
    let bytes: std::collections::BTreeSet<u8> = s.bytes().collect();
    for b in (1u8..=0xBF).chain(0xC2..=0xF4) {
        assert!(bytes.contains(&b), "byte {b:#x} not covered");
    }
    s
}

fn launch(values: &[String]) -> LaunchEnv {
    LaunchEnv {
        account: "acct".into(),
        agent: "kind".into(),
        env: values.iter().enumerate().map(|(i, v)| (format!("V{i}"), v.clone())).collect(),
        unset: vec!["GONE".into()],
        config_dir: "/cfg".into(),
    }
}

/// Evaluate `output` in `shell_name` and return the V* variables and
/// whether GONE was unset.
fn eval_in(shell_name: &str, output: &str) -> (BTreeMap<String, String>, bool) {
    let script = match shell_name {
        "fish" => "eval (string collect -- $OUT); set -e OUT; env -0",
        _ => r#"eval "$OUT"; unset OUT; exec env -0"#,
    };
    let out = Command::new(shell_name)
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        // fish decodes its input by locale; in the C locale it mangles
        // non-ASCII. dash and bash are byte-transparent either way.
        .env("LC_ALL", "C.UTF-8")
        .env("GONE", "still here")
        .env("OUT", output)
        .output()
        .unwrap();
    assert!(out.status.success(), "{shell_name}: {}", text(&out.stderr));
    let env = parse_env0(&out.stdout);
    let gone = !env.contains_key("GONE");
    (env.into_iter().filter(|(k, _)| k.starts_with('V') && k[1..].parse::<u32>().is_ok()).collect(), gone)
}

fn shells() -> Vec<&'static str> {
    let mut shells = vec!["dash", "bash"];
    if Command::new("fish").arg("--version").output().is_ok() {
        shells.push("fish");
    }
    shells
}

fn check_round_trip(values: &[String]) {
    let launch = launch(values);
    let expected: BTreeMap<String, String> = launch.env.iter().cloned().collect();
    for shell_name in shells() {
        let format = if shell_name == "fish" { Format::Fish } else { Format::Sh };
        let (env, gone) = eval_in(shell_name, &render(&launch, format));
        assert_eq!(env, expected, "{shell_name}");
        assert!(gone, "{shell_name}: GONE was not unset");
    }
    let json: serde_json::Value = serde_json::from_str(&render(&launch, Format::Json)).unwrap();
    for (k, v) in &expected {
        assert_eq!(json["env"][k], v.as_str());
    }
    assert_eq!(dotenv_decode(&render(&launch, Format::Dotenv)), expected);
}

/// What python-dotenv's `dotenv_values` reads from `text` written to a
/// file, with `HOME` set so a `${HOME}` in a value would show if expanded.
fn dotenv_decode(output: &str) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(".env");
    std::fs::write(&file, output).unwrap();
    let out = Command::new(python_with_dotenv())
        .args(["-c", "import sys, json, dotenv; print(json.dumps(dotenv.dotenv_values(sys.argv[1])))"])
        .arg(&file)
        .env("HOME", "/home/expanded")
        .env("V0", "from-the-environment")
        .output()
        .unwrap();
    assert!(out.status.success(), "python-dotenv: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_byte_value_round_trips() {
    let all = every_byte_value();
    let ends_in_backslash = format!("{all}\\");
    let quotes = "'\"'\\''\\'".to_owned();
    check_round_trip(&[
        all,
        ends_in_backslash,
        quotes,
        String::new(),
        "\n".into(),
        "-e".into(),
        "$(touch /tmp/x)".into(),
        "${HOME} ${V0:-x} $HOME \\$ \\` ${:-$}".into(),
        "a\\\nb\\".into(),
    ]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn random_values_round_trip(values in prop::collection::vec("[^\u{0}]{0,40}", 1..24)) {
        check_round_trip(&values);
    }

    #[test]
    fn random_shell_metacharacters_round_trip(values in prop::collection::vec("[ -~\t\n\r\\\\'\"$`{}:-]{0,60}", 1..24)) {
        check_round_trip(&values);
    }
}

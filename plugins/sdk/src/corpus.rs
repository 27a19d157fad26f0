//! Wall-message corpora: the limit, quota and credit messages an agent
//! prints, as extracted from its own bundle or binary, each with the result
//! detection must give. A plugin's tests run every corpus file in its
//! `corpus/` dir (`check_dir`).
//!
//! A corpus file is TOML:
//! ```toml
//! agent = "claude-code"        # the npm package it was extracted from
//! version = "2.1.197"
//! now = "2026-11-22T12:00:00Z" # the `now` detection runs at
//! zone = "UTC"                 # the host zone detection is given
//!
//! [[line]]
//! text = "You've hit your weekly limit · resets 3pm (Europe/Paris)"
//! expect = "2026-11-22T14:00:00Z"  # the reset; or "cooldown" (a wall with
//!                                  # no reset), or "none" (not a wall)
//! from = "where in the agent the template is"
//! ```

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    agent: String,
    version: String,
    now: String,
    zone: String,
    #[serde(default)]
    note: Option<String>,
    line: Vec<Line>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    text: String,
    expect: String,
    #[serde(default)]
    from: Option<String>,
}

/// What detection should give for a line.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    NotAWall,
    Cooldown,
    Reset(i64),
}

fn expectation(value: &str) -> Expect {
    match value {
        "none" => Expect::NotAWall,
        "cooldown" => Expect::Cooldown,
        instant => Expect::Reset(
            instant.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("expect = {instant:?}: {e}")).as_second(),
        ),
    }
}

/// Run every `corpus/*.toml` under `manifest_dir` through `detect` (text,
/// now, zone → `None` for no wall, `Some(reset)` for a wall) and panic
/// listing every line whose result differs. Returns the number of lines.
pub fn check_dir(manifest_dir: &str, detect: impl Fn(&str, i64, &str) -> Option<Option<i64>>) -> usize {
    let dir = std::path::Path::new(manifest_dir).join("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    let mut failures = Vec::new();
    let mut lines = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let corpus: Corpus = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let _ = (&corpus.agent, &corpus.version, &corpus.note);
        let now = corpus.now.parse::<jiff::Timestamp>().expect("now is RFC 3339").as_second();
        for line in &corpus.line {
            lines += 1;
            let _ = &line.from;
            let expected = expectation(&line.expect);
            let got = match detect(&line.text, now, &corpus.zone) {
                None => Expect::NotAWall,
                Some(None) => Expect::Cooldown,
                Some(Some(at)) => Expect::Reset(at),
            };
            if got != expected {
                failures.push(format!(
                    "{} ({} {}): {:?}\n    expected {:?}, got {:?}",
                    file.file_name().unwrap().to_string_lossy(),
                    corpus.agent,
                    corpus.version,
                    line.text,
                    expected,
                    got
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {lines} corpus lines wrong:\n{}", failures.len(), failures.join("\n"));
    lines
}

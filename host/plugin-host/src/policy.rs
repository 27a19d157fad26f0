//! What a plugin may declare and return. Pure checks, no I/O.
//!
//! A plugin's env goes straight into an agent's process, so a hostile or buggy
//! plugin must not be able to hijack the process (loader and interpreter
//! hooks), the shell that `eval`s our output, or git's hooks and helpers, nor
//! impersonate the host's own `ACCOUNTS_*` variables.

use std::collections::BTreeSet;

/// Caps on what comes back from a plugin.
pub const MAX_ENV_ENTRIES: usize = 64;
pub const MAX_NAME_BYTES: usize = 128;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
pub const MAX_SPEC_STRING_BYTES: usize = 4 * 1024;

/// The longest wall a plugin's reset time can set: longer than any limit
/// window the built-in plugins know (weekly limits, daily quotas, monthly
/// spend limits of up to 31 days).
pub const MAX_WALL_SECS: i64 = 35 * 86_400;
/// Most files one conversation may name, and most arguments a resumed
/// command line may have: more is a plugin's mistake.
pub const MAX_CONVERSATION_FILES: usize = 4_096;
pub const MAX_RESUME_ARGS: usize = 4_096;
/// Most observations one look at output may give, and most readings one
/// config dir may hold (an agent has a handful of windows).
pub const MAX_OBSERVATIONS: usize = 32;

/// Names no plugin may set, even when it declares them, each group with
/// the reason (shown by `accounts plugins policy` and in PLUGINS.md).
pub const DENIED: &[(&[&str], &str)] = &[
    (
        &["PATH", "HOME", "SHELL", "USER", "LOGNAME", "TMPDIR"],
        "they redirect which programs run and where the agent, and everything it spawns, reads its dotfiles",
    ),
    (
        &["IFS", "ENV", "BASH_ENV", "PROMPT_COMMAND", "PS4", "ZDOTDIR"],
        "they run code or change parsing in the shell that evals the env, or that the agent spawns",
    ),
    (
        &[
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PYTHONHOME",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PERL5OPT",
            "PERL5LIB",
            "RUBYOPT",
            "RUBYLIB",
        ],
        "they load code into interpreters (the agents themselves run on Node)",
    ),
    (
        &[
            "GIT_EXEC_PATH",
            "GIT_SSH",
            "GIT_SSH_COMMAND",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "GIT_EDITOR",
            "GIT_PAGER",
            "GIT_PROXY_COMMAND",
            "GIT_EXTERNAL_DIFF",
            "GIT_TEMPLATE_DIR",
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG_SYSTEM",
            "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT",
        ],
        "they run programs or swap repositories and config when the agent uses git",
    ),
    (&["EDITOR", "VISUAL", "PAGER"], "they name programs the agent runs on the user's behalf"),
];

/// Prefixes no plugin may set, with the reason.
pub const DENIED_PREFIXES: &[(&str, &str)] = &[
    ("LD_", "the dynamic loader's hooks (LD_PRELOAD, LD_LIBRARY_PATH) load code into every program"),
    ("DYLD_", "the macOS loader's hooks (DYLD_INSERT_LIBRARIES) load code into every program"),
    ("GIT_CONFIG_KEY_", "git's numbered config overrides run programs through config"),
    ("GIT_CONFIG_VALUE_", "git's numbered config overrides run programs through config"),
    ("ACCOUNTS_", "the host's own variables; a plugin must not impersonate them"),
];

/// Why `name` is denied, if it is.
pub fn deny_reason(name: &str) -> Option<&'static str> {
    DENIED
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, reason)| *reason)
        .or_else(|| DENIED_PREFIXES.iter().find(|(p, _)| name.starts_with(p)).map(|(_, reason)| *reason))
}

/// Whether `name` is a portable environment variable name.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_NAME_BYTES
}

/// Why a plugin may not use `name`, if it may not.
pub fn name_problem(name: &str) -> Option<String> {
    if !is_valid_name(name) {
        let shown: String = name.chars().take(40).collect();
        return Some(format!(
            "{shown:?} is not a valid variable name (letters, digits and _, not starting with a digit, at most {MAX_NAME_BYTES} bytes)"
        ));
    }
    if let Some(reason) = deny_reason(name) {
        return Some(format!("{name} is on the host's deny list ({reason}); no plugin may set it"));
    }
    None
}

/// Check the declared keys of a spec. Returns them as a set.
pub fn check_declared(keys: &[String]) -> Result<BTreeSet<String>, String> {
    if keys.len() > MAX_ENV_ENTRIES {
        return Err(format!("declares {} env keys; at most {MAX_ENV_ENTRIES} are allowed", keys.len()));
    }
    for key in keys {
        if let Some(problem) = name_problem(key) {
            return Err(format!("declares a forbidden env key: {problem}"));
        }
    }
    Ok(keys.iter().cloned().collect())
}

/// Check a returned env against the declared keys.
pub fn check_env(env: &[(String, String)], declared: &BTreeSet<String>) -> Result<(), String> {
    if env.len() > MAX_ENV_ENTRIES {
        return Err(format!("returned {} env entries; at most {MAX_ENV_ENTRIES} are allowed", env.len()));
    }
    let mut seen = BTreeSet::new();
    for (name, value) in env {
        if let Some(problem) = name_problem(name) {
            return Err(format!("returned a forbidden variable: {problem}"));
        }
        if !declared.contains(name) {
            return Err(format!("returned {name}, which its spec does not declare in env-keys"));
        }
        if !seen.insert(name) {
            return Err(format!("returned {name} twice"));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "returned a {}-byte value for {name}; at most {MAX_VALUE_BYTES} bytes are allowed",
                value.len()
            ));
        }
        if value.contains('\0') {
            return Err(format!("returned a value for {name} containing a NUL byte, which no environment can hold"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("AGENT_CONFIG_DIR") && is_valid_name("_x1"));
        assert!(!is_valid_name("1X") && !is_valid_name("A-B") && !is_valid_name("") && !is_valid_name("A=B"));
        assert!(!is_valid_name(&"A".repeat(129)));
        for denied in ["PATH", "LD_PRELOAD", "DYLD_INSERT_LIBRARIES", "GIT_SSH_COMMAND", "ACCOUNTS_ACCOUNT", "BASH_ENV"]
        {
            assert!(name_problem(denied).unwrap().contains("deny list"), "{denied}");
        }
        assert!(name_problem("MY_TOKEN").is_none());
    }

    #[test]
    fn env_checks() {
        let declared: BTreeSet<String> = ["A".to_owned(), "B".to_owned()].into();
        let ok = vec![("A".to_owned(), "1".to_owned())];
        assert!(check_env(&ok, &declared).is_ok());
        let undeclared = vec![("C".to_owned(), "1".to_owned())];
        assert!(check_env(&undeclared, &declared).unwrap_err().contains("does not declare"));
        let nul = vec![("A".to_owned(), "a\0b".to_owned())];
        assert!(check_env(&nul, &declared).unwrap_err().contains("NUL"));
        let dup = vec![("A".to_owned(), "1".to_owned()), ("A".to_owned(), "2".to_owned())];
        assert!(check_env(&dup, &declared).unwrap_err().contains("twice"));
        let many: Vec<_> = (0..65).map(|i| (format!("K{i}"), String::new())).collect();
        assert!(check_env(&many, &declared).unwrap_err().contains("at most 64"));
        assert!(check_declared(&["PATH".to_owned()]).unwrap_err().contains("deny list"));
    }
}

//! Tokens in memory: a wrapper whose `Debug` and `Display` never show the
//! value, so a token cannot reach a log, an error or a panic message by
//! accident. The only way out is [`Secret::expose`], used where the env is
//! handed to the agent.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The raw token, for the agent's environment only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `prefix****`: the plugin's declared prefix when the token has it,
    /// otherwise nothing of the token at all.
    pub fn masked(&self, prefix: &str) -> String {
        mask(&self.0, prefix)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Show at most the public, declared prefix of a token.
pub fn mask(token: &str, prefix: &str) -> String {
    if !prefix.is_empty() && token.starts_with(prefix) { format!("{prefix}****") } else { "****".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_token() {
        let s = Secret::new("sk-ant-oat01-SECRET".into());
        assert_eq!(format!("{s:?} {s}"), "Secret(****) ****");
        assert_eq!(s.masked("sk-ant-oat01-"), "sk-ant-oat01-****");
        assert_eq!(s.masked("other-"), "****");
        assert_eq!(s.masked(""), "****");
    }
}

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

    /// `prefix****`: the longest of the plugin's declared prefixes that the
    /// token has, otherwise nothing of the token at all.
    pub fn masked<P: AsRef<str>>(&self, prefixes: &[P]) -> String {
        mask(&self.0, prefixes)
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

/// Show at most the public, declared prefix of a token: the longest of
/// `prefixes` it starts with.
pub fn mask<P: AsRef<str>>(token: &str, prefixes: &[P]) -> String {
    let prefix = prefixes
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| !p.is_empty() && token.len() > p.len() && token.starts_with(p))
        .max_by_key(|p| p.len());
    match prefix {
        Some(prefix) => format!("{prefix}****"),
        None => "****".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_token() {
        let s = Secret::new("sk-ant-oat01-SECRET".into());
        assert_eq!(format!("{s:?} {s}"), "Secret(****) ****");
        assert_eq!(s.masked(&["sk-ant-oat01-"]), "sk-ant-oat01-****");
        assert_eq!(s.masked(&["sk-", "sk-ant-oat01-"]), "sk-ant-oat01-****", "the longest prefix it has");
        assert_eq!(s.masked(&["other-"]), "****");
        assert_eq!(s.masked(&[""]), "****");
        assert_eq!(mask("sk-", &["sk-"]), "****", "a bare prefix shows nothing");
    }
}

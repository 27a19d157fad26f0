//! Vendor-neutral helpers for `accounts` auth plugins.
//!
//! Everything here is plain Rust with no WIT types, so it is unit-tested
//! natively and shared by every plugin, built-in or third-party. Vendor facts
//! (variable names, file names, message wording) stay in each plugin crate.

use std::path::Path;

pub mod clock;
#[cfg(feature = "corpus")]
pub mod corpus;
pub mod text;

/// Where the host mounts the account's config dir, read-only, during
/// `launch-env` (see the WIT contract).
pub const CONFIG_MOUNT: &str = "/config";

/// Longest wall text a plugin hands back; the host refuses longer ones.
pub const MAX_MATCHED_BYTES: usize = 4096;

/// Shape check shared by all plugins: not blank, no whitespace or line break
/// anywhere, and one of `prefixes` followed by at least one more character.
/// An empty prefix list accepts any such token.
pub fn token_has_shape(token: &str, prefixes: &[&str]) -> bool {
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        return false;
    }
    prefixes.is_empty() || prefixes.iter().any(|p| token.len() > p.len() && token.starts_with(p))
}

/// The generic environment: the config-dir variable, plus the token variable
/// only when both a token and a variable exist.
pub fn generic_env(
    config_dir_env: Option<&str>,
    config_dir: &str,
    token_env: Option<&str>,
    token: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(name) = config_dir_env {
        env.push((name.to_owned(), config_dir.to_owned()));
    }
    if let (Some(name), Some(token)) = (token_env, token) {
        env.push((name.to_owned(), token.to_owned()));
    }
    env
}

/// Read a JSON file below the read-only config mount. `None` when it is
/// missing, unreadable or not JSON: the caller treats all three the same way
/// (no live session).
pub fn read_config_json(relative: &str) -> Option<serde_json::Value> {
    let bytes = std::fs::read(Path::new(CONFIG_MOUNT).join(relative)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether a file exists below the read-only config mount.
pub fn config_file_exists(relative: &str) -> bool {
    std::fs::metadata(Path::new(CONFIG_MOUNT).join(relative)).is_ok_and(|m| m.is_file())
}

/// The integer at `path` in a JSON value, e.g. `["tokens", "expires"]`.
pub fn json_i64(value: &serde_json::Value, path: &[&str]) -> Option<i64> {
    let mut cur = value;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_i64().or_else(|| cur.as_f64().map(|f| f as i64))
}

/// The string at `path` in a JSON value.
pub fn json_str<'a>(value: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = value;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

/// The `exp` claim (seconds since the epoch) of a JWT, without verifying it:
/// the agent verifies its own tokens; we only need to know whether it is live.
pub fn jwt_expiry(jwt: &str) -> Option<i64> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json_i64(&claims, &["exp"])
}

/// Whether an expiry in epoch milliseconds lies after `now` (epoch seconds).
pub fn is_live_millis(expires_at_ms: i64, now: i64) -> bool {
    expires_at_ms > now.saturating_mul(1000)
}

/// Cut `text` to at most [`MAX_MATCHED_BYTES`] on a character boundary.
pub fn clip_matched(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_MATCHED_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_MATCHED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(token_has_shape("sk-abc", &["sk-"]));
        assert!(!token_has_shape("sk-", &["sk-"]), "prefix alone is not a token");
        assert!(!token_has_shape("", &[]));
        assert!(!token_has_shape("   ", &[]));
        assert!(!token_has_shape("sk-a\nsk-b", &["sk-"]));
        assert!(!token_has_shape("sk-a b", &["sk-"]));
        assert!(!token_has_shape("pk-abc", &["sk-"]));
        assert!(token_has_shape("anything", &[]));
        assert!(token_has_shape("b-1", &["a-", "b-"]));
    }

    #[test]
    fn generic_env_needs_both_token_and_variable() {
        assert_eq!(generic_env(Some("D"), "/x", None, Some("t")), vec![("D".into(), "/x".into())]);
        assert_eq!(generic_env(Some("D"), "/x", Some("T"), None).len(), 1);
        assert_eq!(generic_env(None, "/x", Some("T"), Some("t")), vec![("T".into(), "t".into())]);
    }

    #[test]
    fn jwt_expiry_reads_exp_claim() {
        use base64::Engine as _;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", enc(r#"{"alg":"none"}"#), enc(r#"{"exp":1750000000,"sub":"x"}"#));
        assert_eq!(jwt_expiry(&jwt), Some(1_750_000_000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry(&format!("a.{}.c", enc("{}"))), None);
    }

    #[test]
    fn clip_respects_char_boundaries() {
        let long = "é".repeat(3000);
        let clipped = clip_matched(&long);
        assert!(clipped.len() <= MAX_MATCHED_BYTES);
        assert!(clipped.chars().all(|c| c == 'é'));
    }

    #[test]
    fn live_millis() {
        assert!(is_live_millis(2_000_000, 1_000));
        assert!(!is_live_millis(1_000_000, 1_000));
    }
}

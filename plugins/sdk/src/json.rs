//! Reading an agent's credential files: JSON under the read-only config
//! mount, paths into it, JWT claims and expiry, millisecond expiries.
//!
//! The JSON reader is this crate's own, about a hundred lines: credential
//! files need objects, strings and integers, and serde_json would add some
//! 25 KB to every plugin (it is the largest part of a small one). A
//! property test checks it against serde_json.

use std::path::Path;

/// Where the host mounts the account's config dir, read-only, during
/// `launch-env` and `credential-status`.
pub const CONFIG_MOUNT: &str = "/config";

/// A parsed JSON value. Numbers keep their text: [`Value::as_i64`] reads
/// integers (and the integer part of a decimal), which is what credential
/// files hold (expiry times).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in file order; the last of a repeated key wins.
    Object(Vec<(String, Value)>),
}

static NULL: Value = Value::Null;

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer, or the integer part of a decimal; `None` with an
    /// exponent or out of range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(text) => text.split('.').next()?.parse().ok(),
            _ => None,
        }
    }

    /// A number as a float (`0.96`, `72.5`, `1e-3`); `None` for anything
    /// else, and for a number too large to be finite.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(text) => text.parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// `value["key"]`: the member, or `Null` when there is none.
impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

/// Parse JSON text; `None` when it is not one whole JSON value. Comments
/// (`//`, `/* */`) and trailing commas are taken as JSONC, which agents
/// allow in their settings files.
pub fn parse(text: &str) -> Option<Value> {
    let mut parser = Parser { bytes: text.as_bytes(), at: 0, depth: 0 };
    let value = parser.value()?;
    parser.skip_space();
    (parser.at == parser.bytes.len()).then_some(value)
}

/// Deepest nesting read; deeper input is refused, not overflowed.
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        loop {
            while self.bytes.get(self.at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                self.at += 1;
            }
            let rest = &self.bytes[self.at..];
            if rest.starts_with(b"//") {
                self.at += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            } else if rest.starts_with(b"/*") {
                // An unclosed comment runs to the end, which then fails to parse.
                self.at += rest.windows(2).skip(2).position(|w| w == b"*/").map_or(rest.len(), |i| i + 4);
            } else {
                return;
            }
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        self.bytes[self.at..].starts_with(word.as_bytes()).then(|| {
            self.at += word.len();
            value
        })
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_space();
        match *self.bytes.get(self.at)? {
            b'n' => self.literal("null", Value::Null),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'[' | b'{' if self.depth >= MAX_DEPTH => None,
            b'[' => {
                self.depth += 1;
                let items = self.sequence(b']', |p| p.value())?;
                self.depth -= 1;
                Some(Value::Array(items))
            }
            b'{' => {
                self.depth += 1;
                let members = self.sequence(b'}', |p| {
                    p.skip_space();
                    let key = p.string()?;
                    p.eat(b':')?;
                    Some((key, p.value()?))
                })?;
                self.depth -= 1;
                Some(Value::Object(members))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Items separated by commas up to `close`, after the opening bracket.
    fn sequence<T>(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.at += 1;
        let mut items = Vec::new();
        if self.eat(close).is_some() {
            return Some(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat(close).is_some() {
                return Some(items);
            }
            self.eat(b',')?;
            // A trailing comma (JSONC).
            if self.eat(close).is_some() {
                return Some(items);
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.bytes.get(p.at).is_some_and(u8::is_ascii_digit) {
                p.at += 1;
            }
            p.at > from
        };
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        // No leading zeros: "0" alone, or a digit 1-9 first.
        let leading_zero = self.bytes.get(self.at) == Some(&b'0');
        if !digits(self) || leading_zero && self.at - start > 1 + usize::from(self.bytes[start] == b'-') {
            return None;
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            digits(self).then_some(())?;
        }
        if self.bytes.get(self.at).is_some_and(|b| matches!(b, b'e' | b'E')) {
            self.at += 1;
            if self.bytes.get(self.at).is_some_and(|b| matches!(b, b'+' | b'-')) {
                self.at += 1;
            }
            digits(self).then_some(())?;
        }
        Some(Value::Number(std::str::from_utf8(&self.bytes[start..self.at]).ok()?.to_owned()))
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let run = self.bytes[self.at..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            out.push_str(std::str::from_utf8(&self.bytes[self.at..self.at + run]).ok()?);
            self.at += run;
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    let escape = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    });
                }
                _ => return None,
            }
        }
    }

    /// After `\u`: four hex digits, or a surrogate pair of two escapes.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first);
        }
        if !self.bytes[self.at..].starts_with(b"\\u") {
            return None;
        }
        self.at += 2;
        let second = self.hex4()?;
        (0xDC00..0xE000).contains(&second).then_some(())?;
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.bytes.get(self.at..self.at + 4)?).ok()?;
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

/// A JSON file below the config mount; `None` when it is missing,
/// unreadable or not JSON (all three mean "no usable login").
pub fn read_config_json(relative: &str) -> Option<Value> {
    let text = std::fs::read_to_string(config_path(relative)).ok()?;
    parse(&text)
}

/// Whether a regular file exists below the config mount.
pub fn config_file_exists(relative: &str) -> bool {
    std::fs::metadata(config_path(relative)).is_ok_and(|m| m.is_file())
}

/// `relative` below the config mount. In a native build (a plugin's own
/// unit tests) the mount is `ACCOUNTS_PLUGIN_CONFIG_ROOT` when set, so a
/// test can point the plugin at a fixture config dir; in the sandbox it is
/// always [`CONFIG_MOUNT`].
pub fn config_path(relative: &str) -> std::path::PathBuf {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(root) = std::env::var_os("ACCOUNTS_PLUGIN_CONFIG_ROOT") {
        return Path::new(&root).join(relative);
    }
    Path::new(CONFIG_MOUNT).join(relative)
}

/// The value at `path` in `value`, e.g. `["tokens", "expires"]`.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |cur, key| cur.get(key))
}

/// The integer at `path`.
pub fn int(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path)?.as_i64()
}

/// The string at `path`.
pub fn str<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path)?.as_str()
}

/// The non-empty string at `path`.
pub fn non_empty<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    str(value, path).filter(|s| !s.is_empty())
}

/// The claims of a JWT, without verifying it (the agent verifies its own
/// tokens; a plugin only reads when one expires and whose it is).
pub fn jwt_claims(jwt: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    parse(std::str::from_utf8(&bytes).ok()?)
}

/// The `exp` claim of a JWT: its expiry in seconds since the epoch.
pub fn jwt_expiry(jwt: &str) -> Option<i64> {
    int(&jwt_claims(jwt)?, &["exp"])
}

/// An expiry in epoch milliseconds as seconds.
pub fn millis_to_secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths() {
        let v = parse(r#"{"a": {"b": 7, "c": "x", "f": 2.9, "e": "", "t": true}}"#).unwrap();
        assert_eq!(int(&v, &["a", "b"]), Some(7));
        assert_eq!(int(&v, &["a", "f"]), Some(2));
        assert_eq!(str(&v, &["a", "c"]), Some("x"));
        assert_eq!(non_empty(&v, &["a", "e"]), None);
        assert_eq!(at(&v, &["a", "z"]), None);
        assert!(v["a"]["t"] == true && v["a"]["c"] == "x" && v["nope"]["deeper"] == Value::Null);
    }

    #[test]
    fn refuses_what_is_not_json() {
        for text in ["", "{", "{\"a\"}", "01x", "\"\\q\"", "nul", "{} {}", "\"\u{1}\"", "1.", "-", "\"\\ud800\""] {
            assert_eq!(parse(text), None, "{text:?}");
        }
        assert!(parse(&"[".repeat(200)).is_none(), "too deep, refused without overflow");
    }

    #[test]
    fn jwt_expiry_reads_exp_claim() {
        use base64::Engine as _;
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", enc(r#"{"alg":"none"}"#), enc(r#"{"exp":1750000000,"email":"a@b"}"#));
        assert_eq!(jwt_expiry(&jwt), Some(1_750_000_000));
        assert_eq!(str(&jwt_claims(&jwt).unwrap(), &["email"]), Some("a@b"));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry(&format!("a.{}.c", enc("{}"))), None);
        assert_eq!(millis_to_secs(1_750_000_000_999), 1_750_000_000);
    }

    /// The same tree, as serde_json and this reader each see it.
    fn same(ours: &Value, theirs: &serde_json::Value) -> bool {
        match (ours, theirs) {
            (Value::Null, serde_json::Value::Null) => true,
            (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (Value::Number(a), serde_json::Value::Number(b)) => b.as_i64().is_none_or(|b| a.parse::<i64>() == Ok(b)),
            (Value::String(a), serde_json::Value::String(b)) => a == b,
            (Value::Array(a), serde_json::Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Value::Object(a), serde_json::Value::Object(b)) => {
                // Repeated keys: both keep the last one.
                let keys: std::collections::BTreeSet<&String> = a.iter().map(|(k, _)| k).collect();
                keys.len() == b.len() && b.iter().all(|(k, w)| ours.get(k).is_some_and(|v| same(v, w)))
            }
            _ => false,
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| n.into()),
            "\\PC{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// `text` with each comma that only spaces separate from a closing
    /// bracket taken out (outside strings).
    fn without_trailing_commas(text: &str) -> String {
        let bytes = text.as_bytes();
        let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
        for (i, &b) in bytes.iter().enumerate() {
            if in_string {
                (escaped, in_string) = (!escaped && b == b'\\', in_string && (escaped || b != b'"'));
            } else if b == b'"' {
                in_string = true;
            } else if b == b',' {
                let next = bytes[i + 1..].iter().find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
                if matches!(next, Some(b']' | b'}')) {
                    continue;
                }
            }
            out.push(b as char);
        }
        out
    }

    #[test]
    fn commented_settings_files_are_read() {
        let text = "// settings\n{\n  /* the model */ \"model\": \"opus\", // trailing\n  \"list\": [1, 2,],\n}\n";
        let value = parse(text).unwrap();
        assert_eq!(str(&value, &["model"]), Some("opus"));
        assert!(matches!(&value["list"], Value::Array(items) if items.len() == 2));
        assert!(parse("{\"a\": 1 /* never closed").is_none());
        assert!(parse("[,]").is_none());
        assert_eq!(str(&parse("{\"url\": \"http://x//y\"}").unwrap(), &["url"]), Some("http://x//y"));
    }

    proptest! {
        /// Whatever serde_json writes (compact or pretty), this reader reads
        /// to the same tree.
        #[test]
        fn reads_what_serde_json_writes(value in json_value()) {
            let compact = parse(&value.to_string()).unwrap();
            prop_assert!(same(&compact, &value), "{value}");
            let pretty = parse(&serde_json::to_string_pretty(&value).unwrap()).unwrap();
            prop_assert!(same(&pretty, &value), "{value}");
        }

        /// And refuses what serde_json refuses, but for the trailing commas
        /// JSONC allows (taken out before serde_json reads it).
        #[test]
        fn refuses_what_serde_json_refuses(text in "[\\[\\]{}\":,0-9a-z\\\\ .-]{0,24}") {
            let theirs = serde_json::from_str::<serde_json::Value>(&without_trailing_commas(&text)).ok();
            let ours = parse(&text);
            prop_assert_eq!(ours.is_some(), theirs.is_some(), "{}", text);
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                prop_assert!(same(&ours, &theirs), "{}", text);
            }
        }
    }
}

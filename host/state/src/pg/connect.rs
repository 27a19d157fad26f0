//! Reaching the database: the URL (never with a password in it), where the
//! password comes from instead (as libpq: `PGPASSWORD`, then the passfile),
//! TLS, timeouts, and a name for the server that errors can show.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};

use super::session::{Failure, Session};
use crate::bounded;

/// Where libpq looks when neither the URL nor `PGHOST` names a host
/// (Debian's build; others use /tmp).
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// A passfile larger than this is not a passfile.
const PASSFILE_CAP: u64 = 64 * 1024;

/// A database to connect to, ready to dial.
pub(super) struct Target {
    config: Config,
    root_cert: Option<PathBuf>,
    /// For the whole dial: TCP, TLS, startup, authentication.
    pub connect_timeout: Duration,
    /// For each exchange after it: the server's own statement timeout and
    /// a second for its answer to arrive.
    exchange_timeout: Duration,
    /// `user@host:port/db`, for messages: never a password.
    pub server: String,
    /// The server's timeouts for each transaction, set in it (`SET LOCAL`).
    pub timeouts: Timeouts,
}

/// What each transaction sets for itself, in milliseconds. Set inside the
/// transaction, not as startup options: a pooler in transaction mode
/// (PgBouncer) refuses startup options, or with `ignore_startup_parameters`
/// drops them, and a session setting would stay on a pooled server
/// connection for the next client.
#[derive(Clone, Copy)]
pub(super) struct Timeouts {
    /// Longest a statement may run (a lock wait included).
    pub statement_ms: u64,
    /// Longest the transaction may sit idle: a host that stops inside it
    /// (frozen, cut off) gives up the namespace's lock after this.
    pub idle_in_transaction_ms: u64,
}

/// Refuse a state URL that cannot be used; the message says how to fix it.
/// Pure: reads no password, dials nothing.
pub fn check_state_url(url: &str) -> Result<(), String> {
    parse(url).map(|_| ())
}

fn parse(url: &str) -> Result<(Config, Option<PathBuf>), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("the state url must start with postgres:// (e.g. postgres://accounts@db.internal/accounts)".into());
    }
    let (url, root_cert) = take_query_param(url, "sslrootcert");
    // The parser's messages name the option, never the value.
    let config: Config = url.parse().map_err(|e| format!("the state url cannot be read: {e}"))?;
    if config.get_password().is_some() {
        return Err("the state url has a password in it; a roster or a command line is no place for one: \
                    take it out and set PGPASSWORD, or put it in ~/.pgpass (mode 0600), as for psql"
            .into());
    }
    Ok((config, root_cert.map(PathBuf::from)))
}

impl Target {
    pub(super) fn new(url: &str, connect_timeout: Duration, statement_timeout: Duration) -> Result<Target, String> {
        let (mut config, root_cert) = parse(url)?;
        if config.get_hosts().is_empty() {
            let host = std::env::var("PGHOST").unwrap_or_else(|_| DEFAULT_SOCKET_DIR.into());
            config.host(&host);
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).map_err(|_| {
                "the state url names no user and neither PGUSER nor USER is set; write postgres://USER@HOST/DB"
                    .to_owned()
            })?;
            config.user(&user);
        }
        let server = describe(&config);
        if let Some(password) = password(&config)? {
            config.password(password);
        }
        let ms = statement_timeout.as_millis() as u64;
        // No startup options (see `Timeouts`): PgBouncer refuses them.
        config
            .application_name("accounts")
            .connect_timeout(connect_timeout)
            .tcp_user_timeout(statement_timeout)
            .keepalives_idle(statement_timeout.max(Duration::from_secs(1)));
        let exchange_timeout = statement_timeout + Duration::from_secs(1);
        let timeouts = Timeouts { statement_ms: ms, idle_in_transaction_ms: ms * 2 };
        Ok(Target { config, root_cert, connect_timeout, exchange_timeout, server, timeouts })
    }

    /// Dial. TLS as `sslmode` says (libpq's default is `prefer`); a Unix
    /// socket never uses TLS, as with libpq.
    pub(super) fn connect(&self) -> Result<Session, Failure> {
        let only_sockets = self.config.get_hosts().iter().all(|h| matches!(h, Host::Unix(_)));
        let (dial, exchange) = (self.connect_timeout, self.exchange_timeout);
        if self.config.get_ssl_mode() == SslMode::Disable || only_sockets {
            Session::open(&self.config, NoTls, dial, exchange)
        } else {
            Session::open(&self.config, tls(self.root_cert.as_deref()).map_err(Failure::Setup)?, dial, exchange)
        }
    }
}

/// What went wrong, on one line: the server's own message for a database
/// error, else the error with its causes ("error connecting to server" alone
/// would not say that the connection was refused).
pub(super) fn explain(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text = format!("{text}: {e}");
        cause = e.source();
    }
    text
}

/// `user@host:port/db`.
fn describe(config: &Config) -> String {
    let user = config.get_user().unwrap_or("?");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => format!("{name}:{port}"),
        Some(Host::Unix(dir)) => format!("{} (socket, port {port})", dir.display()),
        None => "?".into(),
    };
    format!("{user}@{host}/{}", config.get_dbname().unwrap_or(user))
}

/// The server's certificate is always checked, against the Mozilla roots
/// (webpki-roots) and the URL's `sslrootcert` when given: stricter than
/// libpq's `require`, which encrypts without checking whom it talks to.
fn tls(root_cert: Option<&Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_cert {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = bounded::read(path, PASSFILE_CAP).map_err(|e| {
            format!("sslrootcert {}: {e}; give a PEM file of the CA that signed the server", path.display())
        })?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("sslrootcert {}: not a PEM certificate ({e})", path.display()))?;
            roots.add(cert).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The password libpq would use: `PGPASSWORD`, else the first matching line
/// of `PGPASSFILE` or `~/.pgpass` (`host:port:db:user:password`, `*`
/// matches anything), which must not be readable by others.
fn password(config: &Config) -> Result<Option<String>, String> {
    if let Ok(p) = std::env::var("PGPASSWORD") {
        return Ok(Some(p));
    }
    let file = match std::env::var_os("PGPASSFILE") {
        Some(f) => PathBuf::from(f),
        None => match directories::BaseDirs::new() {
            Some(d) => d.home_dir().join(".pgpass"),
            None => return Ok(None),
        },
    };
    let text = match bounded::read_text(&file, PASSFILE_CAP) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(format!("cannot read the passfile {}: {e}", file.display())),
    };
    if std::fs::metadata(&file).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        return Err(format!(
            "the passfile {} can be read by others; make it private: chmod 600 {}",
            file.display(),
            file.display()
        ));
    }
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user().unwrap_or_default();
    let db = config.get_dbname().unwrap_or(user);
    let hosts: Vec<String> = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => vec![name.clone()],
        Some(Host::Unix(dir)) => vec!["localhost".into(), dir.display().to_string()],
        None => vec![],
    };
    Ok(passfile_lookup(&text, &hosts, &port, db, user))
}

/// The password of the first line matching; pure.
fn passfile_lookup(text: &str, hosts: &[String], port: &str, db: &str, user: &str) -> Option<String> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let fields = split_passfile_line(line)?;
        let matches = |field: &str, value: &str| field == "*" || field == value;
        (hosts.iter().any(|h| matches(&fields[0], h))
            && matches(&fields[1], port)
            && matches(&fields[2], db)
            && matches(&fields[3], user))
        .then(|| fields[4].clone())
    })
}

/// Five fields split on `:`, with `\:` and `\\` escaped.
fn split_passfile_line(line: &str) -> Option<[String; 5]> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.push(chars.next()?),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    fields.try_into().ok()
}

/// The URL without `?...name=value...`, and the value (percent-decoded):
/// for query options the URL parser does not know.
fn take_query_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
            Some(v) => {
                value = Some(percent_decode(v));
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, value)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_password_are_refused_without_echoing_it() {
        for url in ["postgres://u:hunter2@db/x", "postgres://u@db/x?password=hunter2"] {
            let e = check_state_url(url).unwrap_err();
            assert!(e.contains("PGPASSWORD") && !e.contains("hunter2"), "{e}");
        }
        assert!(check_state_url("mysql://db/x").unwrap_err().contains("postgres://"));
        assert!(check_state_url("postgres://u@db:5432/x?sslmode=require").is_ok());
        assert!(check_state_url("postgres://u@db/x?sslmode=bogus").is_err());
    }

    #[test]
    fn sslrootcert_is_taken_out_of_the_url() {
        let (url, cert) =
            take_query_param("postgres://u@h/d?sslmode=require&sslrootcert=%2Fetc%2Fca.pem", "sslrootcert");
        assert_eq!((url.as_str(), cert.as_deref()), ("postgres://u@h/d?sslmode=require", Some("/etc/ca.pem")));
        let (url, cert) = take_query_param("postgres://u@h/d?sslrootcert=/ca.pem", "sslrootcert");
        assert_eq!((url.as_str(), cert.as_deref()), ("postgres://u@h/d", Some("/ca.pem")));
    }

    #[test]
    fn passfile_lines_match_like_libpq() {
        let text = "# comment\nother:5432:*:u:wrong\ndb\\:x:*:accounts:u:p\\:w\n*:*:*:*:fallback\n";
        let hosts = ["db:x".to_owned()];
        assert_eq!(passfile_lookup(text, &hosts, "5432", "accounts", "u").as_deref(), Some("p:w"));
        assert_eq!(passfile_lookup(text, &["z".into()], "1", "d", "v").as_deref(), Some("fallback"));
        assert_eq!(passfile_lookup("a:b:c\n", &["a".into()], "b", "c", "d"), None);
    }
}

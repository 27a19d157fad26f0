//! A throwaway PostgreSQL cluster for tests: `initdb` in a temp dir, the
//! server listening on a Unix socket in that dir only (TCP off), run as an
//! unprivileged user when the tests run as root (postgres refuses root),
//! stopped and removed when dropped, or when the test process dies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The uid and gid the server runs as when the tests run as root (nobody).
const UNPRIVILEGED: u32 = 65534;

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The loopback TCP port, for a cluster that takes TLS connections.
    tls_port: Option<u16>,
    /// More server options (`-c name=value ...`).
    extra_options: String,
}

impl Cluster {
    /// A new cluster, started; panics with the fix when PostgreSQL is missing.
    pub fn start() -> Cluster {
        Cluster::start_with("")
    }

    /// As `start`, with more server options (`-c name=value ...`).
    pub fn start_with(options: &str) -> Cluster {
        let mut cluster = Cluster::init();
        cluster.extra_options = options.to_owned();
        cluster.start_server();
        cluster
    }

    /// A cluster that also listens on loopback TCP and takes only TLS
    /// connections there, with a certificate for `localhost` signed by a CA
    /// of its own (`ca_cert()`); made with the openssl command.
    pub fn start_tls() -> Cluster {
        let mut cluster = Cluster::init();
        let data = cluster.data_dir();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&data)
                .output()
                .expect("openssl (tests/run installs it)");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=accounts test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(data.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        if is_root() {
            for file in ["server.key", "server.crt", "ca.crt"] {
                std::os::unix::fs::chown(data.join(file), Some(UNPRIVILEGED), Some(UNPRIVILEGED)).unwrap();
            }
        }
        let conf = "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
        let mut text = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        text.push_str(conf);
        std::fs::write(data.join("postgresql.conf"), text).unwrap();
        // TCP only with TLS; the socket as before.
        let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n";
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        cluster.tls_port = Some(port);
        cluster.start_server();
        cluster
    }

    /// The CA that signed a TLS cluster's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.data_dir().join("ca.crt")
    }

    /// The TCP URL of a TLS cluster, with `query` appended.
    pub fn tcp_url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.tls_port.expect("a TLS cluster"))
    }

    /// initdb, not started.
    fn init() -> Cluster {
        let bin = server_bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: run tests/run, which installs them"
            )
        });
        let dir = tempfile::Builder::new().prefix("accounts-pg-").tempdir().unwrap();
        if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(UNPRIVILEGED), Some(UNPRIVILEGED)).unwrap();
        }
        let cluster = Cluster { dir, bin, tls_port: None, extra_options: String::new() };
        std::fs::create_dir(cluster.socket_dir()).unwrap();
        if is_root() {
            std::os::unix::fs::chown(cluster.socket_dir(), Some(UNPRIVILEGED), Some(UNPRIVILEGED)).unwrap();
        }
        let data = cluster.data_dir();
        cluster.run_ok(
            "initdb",
            &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        );
        cluster.watch_for_our_death();
        cluster
    }

    /// The URL of the `postgres` database, as the `postgres` superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@/postgres?host={}", self.socket_dir().display())
    }

    /// Start the server (again).
    pub fn start_server(&self) {
        let listen = match self.tls_port {
            Some(port) => format!("-c listen_addresses=127.0.0.1 -p {port}"),
            None => "-c listen_addresses=".into(),
        };
        let options =
            format!("-k {} {listen} -F -c max_connections=200 {}", self.socket_dir().display(), self.extra_options);
        let (data, log) = (self.data_dir(), self.dir.path().join("server.log"));
        self.run_ok(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-o", &options, "start"],
        );
    }

    /// Stop the server the way a crash does: every session is cut mid-way
    /// (`immediate`: no checkpoint, recovery on the next start).
    pub fn crash_server(&self) {
        let data = self.data_dir();
        self.run_ok("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    /// Freeze the server (SIGSTOP of the postmaster): connections are still
    /// accepted by the kernel, and then nothing answers. `thaw` ends it.
    pub fn freeze(&self) {
        self.postmaster_signal("-STOP");
    }

    pub fn thaw(&self) {
        self.postmaster_signal("-CONT");
    }

    fn postmaster_signal(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().to_owned();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    /// The server's Unix socket, for a test's own relay.
    pub fn socket_path(&self) -> PathBuf {
        self.socket_dir().join(".s.PGSQL.5432")
    }

    /// Run SQL with psql; returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args(["-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The directory of the server's Unix socket (a client's `host=`).
    pub fn socket_dir_path(&self) -> PathBuf {
        self.socket_dir()
    }

    /// Run one of the server's programs as the unprivileged user.
    fn run_ok(&self, program: &str, args: &[&str]) {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            let id = UNPRIVILEGED.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        let out = cmd.args(args).env("HOME", self.dir.path()).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A test process that panics in a static, or is killed, never drops
    /// its cluster: a watcher stops the server and removes the dir then.
    fn watch_for_our_death(&self) {
        let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done
            pid=$(head -1 "$2/data/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null
            sleep 1; rm -rf "$2""#;
        // Never waited for: it outlives us on purpose.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", script, "watch", &std::process::id().to_string()])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid_file = self.data_dir().join("postmaster.pid");
        if let Some(pid) =
            std::fs::read_to_string(pid_file).ok().and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        {
            // SIGQUIT: immediate shutdown.
            let _ = Command::new("kill").args(["-QUIT", &pid.to_string()]).status();
            for _ in 0..50 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// Debian's PgBouncer in front of a cluster, pooling in transaction mode
/// (a server connection per transaction, as fleets run it), on a loopback
/// TCP port; run as the unprivileged user when the tests run as root (it
/// refuses root), stopped when dropped.
pub struct Bouncer {
    _dir: tempfile::TempDir,
    child: std::process::Child,
    pub port: u16,
}

impl Bouncer {
    pub fn start(cluster: &Cluster) -> Bouncer {
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("PgBouncer is not installed: run tests/run, which installs Debian's pgbouncer"));
        let dir = tempfile::Builder::new().prefix("accounts-pgbouncer-").tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let ini = format!(
            "[databases]\npostgres = host={} dbname=postgres user=postgres\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {dir}/users.txt\npool_mode = transaction\n\
             max_client_conn = 2000\ndefault_pool_size = 20\nlogfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
            cluster.socket_dir_path().display(),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).unwrap();
        std::fs::write(dir.path().join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let mut cmd = if is_root() {
            for entry in [dir.path().to_owned(), dir.path().join("pgbouncer.ini"), dir.path().join("users.txt")] {
                std::os::unix::fs::chown(entry, Some(UNPRIVILEGED), Some(UNPRIVILEGED)).unwrap();
            }
            let mut c = Command::new("setpriv");
            let id = UNPRIVILEGED.to_string();
            c.args(["--reuid", &id, "--regid", &id, "--clear-groups", program]);
            c
        } else {
            Command::new(program)
        };
        let child = cmd
            .arg(dir.path().join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "pgbouncer did not start: {}", {
                std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default()
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Bouncer { _dir: dir, child, port }
    }

    /// The URL through the pooler.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // setpriv execs pgbouncer: the child is pgbouncer itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One cluster shared by the tests of a process that only read and write
/// namespaces of their own.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(Cluster::start)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    unsafe { geteuid() == 0 }
}

/// Where `initdb` and `pg_ctl` are: `PG_BIN`, `PATH`, or Debian's
/// `/usr/lib/postgresql/<version>/bin` (the newest).
pub fn server_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(dir.into());
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        // Debian links some of them into /usr/local/bin; psql may be elsewhere.
        return Some(std::fs::canonicalize(dir.join("initdb")).ok()?.parent()?.to_owned());
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|d| d.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    versions.pop()
}

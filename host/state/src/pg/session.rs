//! One connection to the server, used synchronously, with a deadline on
//! every exchange.
//!
//! The `postgres` crate's blocking client bounds only the TCP connect: a
//! server that accepts and then never answers (a frozen host, backends
//! stopped with SIGSTOP, a listener that is not PostgreSQL) would hang the
//! startup, the authentication or any query for good. This is the same thin
//! wrapper it is (tokio-postgres on a current-thread runtime of its own,
//! driven only while we wait), with a deadline around each wait. After a
//! missed deadline the connection is in an unknown state: it is dropped,
//! which closes the socket, and the server rolls back what was open.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, SimpleQueryMessage, Socket};

/// Why an exchange failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server answered with an error, or the connection broke.
    Postgres(tokio_postgres::Error),
    /// No answer in time.
    TimedOut { waited: Duration, doing: &'static str },
    /// The runtime could not start (no thread, no file descriptor left).
    Local(std::io::Error),
    /// What we were given cannot be used (a CA file that is not one).
    Setup(String),
}

impl Failure {
    /// The server's SQLSTATE, for an error the server sent.
    pub(super) fn code(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            Failure::Postgres(e) => e.code(),
            _ => None,
        }
    }

    /// What went wrong, on one line.
    pub(super) fn explain(&self) -> String {
        match self {
            Failure::Postgres(e) => super::connect::explain(e),
            Failure::TimedOut { waited, doing } => {
                format!(
                    "no answer while {doing} for {} ms (a server that is frozen or not PostgreSQL)",
                    waited.as_millis()
                )
            }
            Failure::Local(e) => format!("cannot start the database client: {e}"),
            Failure::Setup(e) => e.clone(),
        }
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Postgres(e)
    }
}

/// A connection and the runtime that drives it.
pub(super) struct Session {
    // Dropped first: the client, then the runtime with the connection task.
    client: Client,
    runtime: Runtime,
    /// How long one exchange may take.
    deadline: Duration,
}

impl Session {
    /// Dial, negotiate TLS, start up and authenticate, all within
    /// `connect_deadline`. Each later exchange gets `deadline`.
    pub(super) fn open<T>(
        config: &Config,
        tls: T,
        connect_deadline: Duration,
        deadline: Duration,
    ) -> Result<Session, Failure>
    where
        T: MakeTlsConnect<Socket> + 'static + Send,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Failure::Local)?;
        let connected = runtime.block_on(async { tokio::time::timeout(connect_deadline, config.connect(tls)).await });
        let (client, connection) = match connected {
            Ok(result) => result?,
            Err(_) => return Err(Failure::TimedOut { waited: connect_deadline, doing: "connecting" }),
        };
        // Driven whenever we wait on the runtime; it ends with the socket.
        runtime.spawn(connection);
        Ok(Session { client, runtime, deadline })
    }

    /// Statements in one round trip (the simple query protocol), and what
    /// they returned.
    pub(super) fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Failure> {
        self.within("waiting for a query", self.client.simple_query(sql))
    }

    /// Statements in one round trip, their rows not wanted.
    pub(super) fn batch_execute(&self, sql: &str) -> Result<(), Failure> {
        self.within("waiting for a query", self.client.batch_execute(sql))
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn within<R>(
        &self,
        doing: &'static str,
        exchange: impl Future<Output = Result<R, tokio_postgres::Error>>,
    ) -> Result<R, Failure> {
        match self.runtime.block_on(async { tokio::time::timeout(self.deadline, exchange).await }) {
            Ok(result) => Ok(result?),
            Err(_) => Err(Failure::TimedOut { waited: self.deadline, doing }),
        }
    }
}

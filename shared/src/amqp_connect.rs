//! Why a connection to RabbitMQ failed, in words that name the setting to fix: shared by the
//! ingress's publisher, the processor's consumer and `xcs-processor check`, so each says the
//! same thing about the same failure.
//!
//! lapin reports a refused login as the broker's `ACCESS_REFUSED` text and a missing vhost as
//! `NOT_ALLOWED`; neither says which setting holds the user or the vhost, and the URI holding
//! them is a secret (it carries the password). [`AmqpTarget`] is the URI with the password
//! removed, [`ConnectFailure`] what went wrong and what to check, and [`ConnectLog`] how a
//! reconnect loop reports it: once at ERROR, then at most once a minute while the same failure
//! repeats, and once at INFO when connected again.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use lapin::uri::{AMQPScheme, AMQPUri};

/// Where the AMQP URI is set, as every message names it.
pub const SETTING: &str = "[amqp].uri or XCS_AMQP_URI";

/// How often a failure that keeps repeating is logged again.
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// The broker a URI points at, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpTarget {
    pub tls: bool,
    pub user: String,
    pub host: String,
    pub port: u16,
    pub vhost: String,
}

impl AmqpTarget {
    /// Reads `uri` as lapin does; `None` when lapin could not read it either (a connect then
    /// fails with lapin's own words, which name no part of it).
    pub fn parse(uri: &str) -> Option<Self> {
        let parsed: AMQPUri = uri.parse().ok()?;
        Some(AmqpTarget {
            tls: parsed.scheme == AMQPScheme::AMQPS,
            user: parsed.authority.userinfo.username,
            host: parsed.authority.host,
            port: parsed.authority.port,
            vhost: parsed.vhost,
        })
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for AmqpTarget {
    /// The URI as an operator wrote it, password left out: `amqp://user@host:port/vhost`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        // The default vhost `/` is written `%2f` in a URI; a bare `/` would read as no vhost.
        let vhost = self.vhost.replace('%', "%25").replace('/', "%2f");
        write!(
            f,
            "{scheme}://{}@{}:{}/{vhost}",
            self.user, self.host, self.port
        )
    }
}

/// What kind of failure a connection attempt met. Two attempts failing the same way are one
/// failure repeating, whatever the broker's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The broker refused the user or password (`ACCESS_REFUSED`, 403).
    LoginRefused,
    /// The broker closed the connection during the handshake without saying why: what older
    /// brokers do on a refused login, and what anything that is not RabbitMQ does.
    ClosedInHandshake,
    /// The vhost does not exist or the user may not use it (`NOT_ALLOWED`, 530).
    VhostRefused,
    /// Nothing answered at host:port: refused, unresolvable, unreachable, timed out.
    Unreachable,
    /// The TLS handshake failed.
    Tls,
    /// Anything else.
    Other,
}

/// One failed connection attempt, explained.
#[derive(Debug, Clone)]
pub struct ConnectFailure {
    pub kind: FailureKind,
    /// lapin's (and the broker's) words, which never hold the password.
    pub cause: String,
    /// What failed, where, and what to check: one sentence naming the setting.
    pub message: String,
}

impl ConnectFailure {
    /// Explains `err`, met connecting to `uri`.
    pub fn of(err: &lapin::Error, uri: &str) -> Self {
        let target = AmqpTarget::parse(uri);
        let kind = classify(err, target.as_ref().is_some_and(|t| t.tls));
        Self::new(kind, err.to_string(), target.as_ref())
    }

    /// A connection attempt that got no answer within `after`.
    pub fn timed_out(after: Duration, uri: &str) -> Self {
        Self::new(
            FailureKind::Unreachable,
            format!("no answer within {after:?}"),
            AmqpTarget::parse(uri).as_ref(),
        )
    }

    fn new(kind: FailureKind, cause: String, target: Option<&AmqpTarget>) -> Self {
        let Some(t) = target else {
            return ConnectFailure {
                kind,
                message: format!(
                    "cannot connect to RabbitMQ ({cause}): {SETTING} is not a URI lapin can \
                     read; write it as amqp://USER:PASSWORD@HOST:PORT/VHOST"
                ),
                cause,
            };
        };
        let address = t.address();
        let vhost = &t.vhost;
        let message = match kind {
            FailureKind::LoginRefused => format!(
                "RabbitMQ at {address} refused the login of user {user:?} (vhost {vhost:?}, \
                 {t}): check the user and password in {SETTING}",
                user = t.user
            ),
            FailureKind::ClosedInHandshake => format!(
                "RabbitMQ at {address} closed the connection during the handshake ({t}): \
                 check the user and password in {SETTING}, and that {address} is RabbitMQ's \
                 AMQP port{tls}",
                tls = if t.tls { " with TLS" } else { "" }
            ),
            FailureKind::VhostRefused => format!(
                "RabbitMQ at {address} does not let user {user:?} use vhost {vhost:?} ({t}): \
                 check the vhost in {SETTING}, that the vhost exists and the user may use it: \
                 `rabbitmqctl list_permissions -p {vhost}`",
                user = t.user
            ),
            FailureKind::Unreachable => format!(
                "cannot reach RabbitMQ at {address} ({t}): check that RabbitMQ is running and \
                 reachable at {address}, and the host and port in {SETTING}"
            ),
            FailureKind::Tls => format!(
                "the TLS handshake with RabbitMQ at {address} failed ({t}): check that \
                 {address} serves AMQP over TLS and that its certificate is trusted here and \
                 names {host}; or use amqp:// in {SETTING} if the broker has no TLS",
                host = t.host
            ),
            FailureKind::Other => format!(
                "cannot connect to RabbitMQ at {address} ({t}): check {SETTING} and the \
                 broker's log"
            ),
        };
        ConnectFailure {
            kind,
            cause,
            message,
        }
    }
}

fn classify(err: &lapin::Error, tls: bool) -> FailureKind {
    match err.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => match amqp.get_id() {
            403 => FailureKind::LoginRefused,
            530 => FailureKind::VhostRefused,
            _ => FailureKind::Other,
        },
        lapin::ErrorKind::AuthProviderError(_) => FailureKind::LoginRefused,
        lapin::ErrorKind::IOError(io) => classify_io(io, tls),
        _ => FailureKind::Other,
    }
}

fn classify_io(err: &io::Error, tls: bool) -> FailureKind {
    use io::ErrorKind as K;
    // rustls errors reach lapin as `InvalidData` with rustls's own words inside.
    let words = err.to_string().to_ascii_lowercase();
    if tls && (err.kind() == K::InvalidData || words.contains("certificate")) {
        return FailureKind::Tls;
    }
    match err.kind() {
        K::ConnectionAborted | K::UnexpectedEof => FailureKind::ClosedInHandshake,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::TimedOut
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::AddrNotAvailable
        | K::NotFound => FailureKind::Unreachable,
        // Name resolution fails as `Other` ("failed to lookup address information").
        _ if words.contains("lookup") || words.contains("resolve") => FailureKind::Unreachable,
        _ => FailureKind::Other,
    }
}

/// How a reconnect loop reports its attempts: the first failure at ERROR with its message;
/// while the same kind of failure repeats, a WARN at most every [`REPEAT_EVERY`] with the
/// attempts since; a failure of another kind at ERROR again; and one INFO when connected
/// again. A loop retrying every few seconds thus writes a line a minute, not a line an
/// attempt. For RabbitMQ ([`ConnectLog::failed`]) and for the processor's wait for
/// PostgreSQL ([`ConnectLog::record`]).
#[derive(Debug)]
pub struct ConnectLog {
    service: &'static str,
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    kind: String,
    since: Instant,
    logged: Instant,
    attempts: u64,
}

impl ConnectLog {
    /// A log of attempts to connect to `service` (`RabbitMQ`, `PostgreSQL`).
    pub fn new(service: &'static str) -> Self {
        ConnectLog {
            service,
            failing: None,
        }
    }

    /// Records a failed attempt to connect to RabbitMQ.
    pub fn failed(&mut self, failure: &ConnectFailure) {
        self.record(
            &format!("{:?}", failure.kind),
            &failure.cause,
            &failure.message,
        );
    }

    /// Records a failed attempt of `kind` (attempts of one kind are one failure repeating),
    /// logging it if it is news or [`REPEAT_EVERY`] has passed.
    pub fn record(&mut self, kind: &str, cause: &str, message: &str) {
        let now = Instant::now();
        let service = self.service;
        match &mut self.failing {
            Some(failing) if failing.kind == kind => {
                failing.attempts += 1;
                if now.duration_since(failing.logged) >= REPEAT_EVERY {
                    failing.logged = now;
                    let failing_for = now.duration_since(failing.since).as_secs();
                    tracing::warn!(
                        attempts = failing.attempts,
                        failing_for_secs = failing_for,
                        cause,
                        "still cannot connect to {service} after {} attempts over {failing_for} s, \
                         retrying: {message}",
                        failing.attempts
                    );
                }
            }
            _ => {
                tracing::error!(
                    cause,
                    "{message}; retrying (logged again once a minute while it lasts)"
                );
                self.failing = Some(Failing {
                    kind: kind.to_owned(),
                    since: now,
                    logged: now,
                    attempts: 1,
                });
            }
        }
    }

    /// Records a connection made; logs at INFO if attempts had failed before it. `at` is
    /// where, without secrets.
    pub fn connected(&mut self, at: Option<&str>) {
        if let Some(failing) = self.failing.take() {
            let service = self.service;
            let at = at.map_or_else(String::new, |at| format!(" at {at}"));
            let failing_for = failing.since.elapsed().as_secs();
            tracing::info!(
                failed_attempts = failing.attempts,
                failing_for_secs = failing_for,
                "connected to {service}{at} again, after {} failed attempts over {failing_for} s",
                failing.attempts
            );
        }
    }

    /// Whether the last attempt failed.
    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_leaves_the_password_out() {
        let target = AmqpTarget::parse("amqp://xcs:s3cret@mq.example:5673/%2f").unwrap();
        assert_eq!(target.address(), "mq.example:5673");
        assert_eq!(target.vhost, "/");
        assert_eq!(target.to_string(), "amqp://xcs@mq.example:5673/%2f");
        let target = AmqpTarget::parse("amqps://xcs:s3cret@mq.example/shop").unwrap();
        assert_eq!(target.to_string(), "amqps://xcs@mq.example:5671/shop");
    }

    #[test]
    fn each_failure_names_the_setting_and_never_the_password() {
        let uri = "amqp://xcs:s3cret@mq.example:5672/shop";
        let io = |kind| lapin::Error::from(io::Error::from(kind));
        let cases = [
            (
                io(io::ErrorKind::ConnectionRefused),
                FailureKind::Unreachable,
            ),
            (
                io(io::ErrorKind::ConnectionAborted),
                FailureKind::ClosedInHandshake,
            ),
            (
                lapin::Error::from(io::Error::other("failed to lookup address information")),
                FailureKind::Unreachable,
            ),
        ];
        for (err, kind) in cases {
            let failure = ConnectFailure::of(&err, uri);
            assert_eq!(failure.kind, kind, "{err}");
            assert!(failure.message.contains(SETTING), "{}", failure.message);
            assert!(
                failure.message.contains("mq.example:5672"),
                "{}",
                failure.message
            );
            assert!(!failure.message.contains("s3cret"), "{}", failure.message);
        }
        let timed_out = ConnectFailure::timed_out(Duration::from_secs(5), uri);
        assert!(timed_out.message.contains("RabbitMQ is running"));
    }
}

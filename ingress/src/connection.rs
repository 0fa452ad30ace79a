//! Deadlines for every request on a kept-alive connection, which actix-http does not keep.
//!
//! actix-http 3.19's h1 dispatcher arms its head timer (`client_request_timeout`) once per
//! connection and clears it when the first request's head is parsed ("head timer only applies
//! to first request on connection"). Its keep-alive timer is armed after a response and
//! cleared by the first byte read afterwards, and nothing is armed in its place. So after one
//! request a client could send the next head a byte every few seconds, or empty lines (which a
//! server skips before a request line), and hold the connection for ever.
//!
//! [`DeadlineStream`] wraps each accepted connection and closes it when a deadline of its own
//! passes; [`Handling`] marks, from the service side, when a request has reached the app and
//! when its response has been handed back. Between those two points nothing is enforced here:
//! the handler's own timeouts (body, broker confirm) bound a request. Outside them:
//! - after a response, the next request must begin within the keep-alive time;
//! - once it has begun (any byte), its head must be complete within the header timeout;
//! - the first request's head is left to actix-http, which answers a slow one with 408;
//!   this stream only backs that up a moment later.
//!
//! A connection past its deadline reads as closed by the client, which actix-http answers by
//! shutting the connection down without logging an error; a write past it fails, for a client
//! that stopped reading its response.

use std::cell::Cell;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::ServiceRequest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How much longer than actix-http's own first-head timer this stream waits, so that the 408
/// actix-http sends gets out first.
const FIRST_HEAD_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted, the first request not yet at the app.
    FirstHead,
    /// A response was handed back; nothing of the next request has arrived.
    Idle,
    /// Bytes of the next request have arrived, not yet a whole head.
    Head,
    /// A request is at the app.
    Handling,
}

/// One connection's phase and deadline, shared by its stream and the requests it carries (one
/// worker thread runs both).
#[derive(Debug)]
pub struct ConnectionClock {
    header_timeout: Duration,
    keep_alive: Duration,
    phase: Cell<Phase>,
    deadline: Cell<Option<Instant>>,
}

impl ConnectionClock {
    fn new(header_timeout: Duration, keep_alive: Duration) -> Self {
        ConnectionClock {
            header_timeout,
            keep_alive,
            phase: Cell::new(Phase::FirstHead),
            deadline: Cell::new(Some(Instant::now() + header_timeout + FIRST_HEAD_GRACE)),
        }
    }

    fn set(&self, phase: Phase, deadline: Option<Instant>) {
        self.phase.set(phase);
        self.deadline.set(deadline);
    }

    fn request_started(&self) {
        self.set(Phase::Handling, None);
    }

    fn response_ready(&self) {
        self.set(Phase::Idle, Some(Instant::now() + self.keep_alive));
    }

    fn bytes_arrived(&self) {
        if self.phase.get() == Phase::Idle {
            self.set(Phase::Head, Some(Instant::now() + self.header_timeout));
        }
    }
}

/// A connection's stream, closed when its [`ConnectionClock`]'s deadline passes.
pub struct DeadlineStream<S> {
    io: S,
    clock: Rc<ConnectionClock>,
    timer: Pin<Box<Sleep>>,
}

impl<S> DeadlineStream<S> {
    /// Wraps a just-accepted connection.
    pub fn new(io: S, header_timeout: Duration, keep_alive: Duration) -> Self {
        let clock = ConnectionClock::new(header_timeout, keep_alive);
        let first = clock
            .deadline
            .get()
            .expect("a new connection has a deadline");
        DeadlineStream {
            io,
            clock: Rc::new(clock),
            timer: Box::pin(tokio::time::sleep_until(first)),
        }
    }

    /// The clock, for the requests on this connection (see [`Handling`]).
    pub fn clock(&self) -> Rc<ConnectionClock> {
        Rc::clone(&self.clock)
    }

    /// Whether the deadline has passed; if not, the timer is armed to wake the connection's
    /// task when it does, so an idle connection is closed without any traffic.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.clock.deadline.get() else {
            return false;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn too_slow() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client did not read its response within the keep-alive time",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for DeadlineStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.bytes_arrived();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeadlineStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(too_slow()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(too_slow()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(too_slow()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request at the app: its connection has no deadline until this is dropped, when the
/// response has been handed back (or the request abandoned).
pub struct Handling(Option<Rc<ConnectionClock>>);

impl Handling {
    /// Marks `request`'s connection as handling it.
    pub fn start(request: &ServiceRequest) -> Self {
        let clock = request.conn_data::<Rc<ConnectionClock>>().cloned();
        if let Some(clock) = &clock {
            clock.request_started();
        }
        Handling(clock)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        if let Some(clock) = &self.0 {
            clock.response_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

    use super::*;

    const HEADER: Duration = Duration::from_secs(1);
    const KEEP_ALIVE: Duration = Duration::from_secs(5);

    /// A wrapped server end and the client end of an in-memory connection.
    fn connection() -> (DeadlineStream<DuplexStream>, DuplexStream) {
        let (server, client) = tokio::io::duplex(1024);
        (DeadlineStream::new(server, HEADER, KEEP_ALIVE), client)
    }

    /// Reads until the stream ends, returning when (paused time) that was.
    async fn read_to_end(stream: &mut DeadlineStream<DuplexStream>) -> Instant {
        let mut buf = [0u8; 64];
        while stream.read(&mut buf).await.expect("reads") > 0 {}
        Instant::now()
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_ends_after_keep_alive() {
        let (mut server, _client) = connection();
        server.clock.response_ready();
        let start = Instant::now();
        assert_eq!(read_to_end(&mut server).await - start, KEEP_ALIVE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_head_gets_the_header_timeout_from_its_first_byte() {
        let (mut server, mut client) = connection();
        server.clock.response_ready();
        tokio::time::sleep(Duration::from_secs(3)).await;
        client.write_all(b"G").await.unwrap();
        let first_byte = Instant::now();
        let mut buf = [0u8; 1];
        assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        // More bytes do not extend it.
        let dribble = tokio::spawn(async move {
            for byte in b"ET / HTTP/1.1" {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if client.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
            client
        });
        assert_eq!(read_to_end(&mut server).await - first_byte, HEADER);
        drop(dribble);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_handled_has_no_deadline_and_the_next_idle_spell_does() {
        let (mut server, mut client) = connection();
        server.clock.request_started();
        let write = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            client.write_all(b"body").await.unwrap();
            client
        });
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        let _client = write.await.unwrap();
        server.clock.response_ready();
        let idle = Instant::now();
        assert_eq!(read_to_end(&mut server).await - idle, KEEP_ALIVE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_not_reading_its_response_fails_the_write_after_keep_alive() {
        let (mut server, _client) = connection();
        server.clock.response_ready();
        // The duplex buffer (1 KiB) fills, and the write waits for a reader that never comes.
        let err = server.write_all(&[b'x'; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_head_is_left_to_actix_for_a_moment_longer() {
        let (mut server, _client) = connection();
        let start = Instant::now();
        assert_eq!(
            read_to_end(&mut server).await - start,
            HEADER + FIRST_HEAD_GRACE
        );
    }
}

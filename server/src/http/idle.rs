//! Idle connections: a connection with no request in flight for [`IDLE_TIMEOUT`] is shut
//! down gracefully by the accept loop (`serve.rs`), so connections that never send a
//! request, or stop sending them, cannot pile up.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// A connection with no request in flight for this long (before its first request,
/// between keep-alive requests, or an HTTP/2 connection without streams) is shut down
/// gracefully. Well above the longest long poll (20 s), which counts as in flight.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a connection is serving requests, and since when it has not been.
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    last_done: Mutex<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_done: Mutex::new(Instant::now()),
        }
    }

    /// When the connection will have been idle for [`IDLE_TIMEOUT`]; while a request is
    /// in flight, one timeout from now (to look again then).
    pub(crate) fn idle_deadline(&self) -> Instant {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Instant::now() + IDLE_TIMEOUT;
        }
        *self.last_done.lock().unwrap_or_else(|e| e.into_inner()) + IDLE_TIMEOUT
    }
}

/// One request in flight on a connection, from its head's arrival to its response.
pub(crate) struct Busy(Arc<Activity>);

impl Busy {
    pub(crate) fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last_done.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::IDLE_TIMEOUT;
    use crate::http::serve::{HEADER_READ_TIMEOUT, respond, serve};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::Instant;

    /// A plain server on loopback whose handler sleeps `delay` before answering 200.
    async fn server(delay: Duration) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handler = Arc::new(move |_req, _peer| async move {
            tokio::time::sleep(delay).await;
            respond(200, "text/plain", "ok")
        });
        tokio::spawn(serve(listener, None, handler));
        addr
    }

    /// Longest a test waits for the server to close (on the paused clock).
    const GIVE_UP: Duration = Duration::from_secs(600);

    /// Reads until the server closes the connection; returns what it sent.
    async fn read_to_close(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
        let mut out = Vec::new();
        let closed = tokio::time::timeout(GIVE_UP, stream.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "still open after {GIVE_UP:?}");
        out
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
        let mut stream = TcpStream::connect(server(Duration::ZERO).await)
            .await
            .expect("connect");
        let opened = Instant::now();
        assert!(read_to_close(&mut stream).await.is_empty());
        let lived = opened.elapsed();
        assert!(
            lived >= IDLE_TIMEOUT && lived < IDLE_TIMEOUT + Duration::from_secs(2),
            "closed after {lived:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_head_trickled_a_byte_a_second_is_cut_at_the_header_timeout() {
        let stream = TcpStream::connect(server(Duration::ZERO).await)
            .await
            .expect("connect");
        let opened = Instant::now();
        let (mut read, mut write) = stream.into_split();
        tokio::spawn(async move {
            for byte in b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" {
                if write.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let answer = read_to_close(&mut read).await;
        let lived = opened.elapsed();
        assert!(answer.is_empty(), "answered {answer:?}");
        assert!(
            lived >= HEADER_READ_TIMEOUT && lived < HEADER_READ_TIMEOUT + Duration::from_secs(3),
            "closed after {lived:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_longer_than_the_idle_timeout_is_answered() {
        let delay = IDLE_TIMEOUT * 2;
        let mut stream = TcpStream::connect(server(delay).await)
            .await
            .expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut answer = vec![0u8; 17];
        tokio::time::timeout(GIVE_UP, stream.read_exact(&mut answer))
            .await
            .expect("answered in time")
            .expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 200 OK\r\n");
    }
}

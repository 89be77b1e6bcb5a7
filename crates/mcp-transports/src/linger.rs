//! Lingering close, as nginx does it.
//!
//! A server that answers before it has read the whole request (413 for a body over the limit,
//! 401 before an unauthenticated body is read) and then closes the socket makes the kernel send
//! a reset while the client is still writing; the reset throws away the answer waiting in the
//! client's receive buffer, and a client that writes its whole body before reading sees
//! "connection reset" instead of the status. [`LingeringStream`] closes in two steps instead:
//! when hyper is done with a connection, our side is shut down (the client reads the answer and
//! then the end of the stream), and what the client still sends is read and thrown away, for a
//! bounded time and amount, before the socket is closed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long, in all, a closed connection is drained (nginx's `lingering_time` is 30 s).
const LINGER_TIME: Duration = Duration::from_secs(30);
/// How long to wait for more from the client before giving up (nginx's `lingering_timeout`).
const LINGER_IDLE: Duration = Duration::from_secs(5);
/// How much is read and discarded at most: a body well over any limit we set.
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// A TCP stream that lingers when dropped: see the module documentation.
#[derive(Debug)]
pub struct LingeringStream {
    /// `None` only once dropped.
    stream: Option<TcpStream>,
}

impl LingeringStream {
    pub fn new(stream: TcpStream) -> Self {
        Self { stream: Some(stream) }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream() {
            Ok(stream) => Pin::new(stream).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        let mut probe = [0u8; 1];
        match stream.try_read(&mut probe) {
            // The client has closed and nothing is unread: a plain close sends no reset.
            Ok(0) => return,
            // Already reset: there is no answer left to save.
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
            // Unread data, or a client that may still send: linger.
            _ => {}
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(linger(stream));
    }
}

/// Shuts our side down, then reads and discards until the client closes or the bounds are met.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut discard = vec![0u8; 64 * 1024];
    let mut read = 0usize;
    while read < LINGER_BYTES {
        let wait = deadline.saturating_duration_since(Instant::now()).min(LINGER_IDLE);
        match tokio::time::timeout(wait, stream.read(&mut discard)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => return,
        }
    }
}

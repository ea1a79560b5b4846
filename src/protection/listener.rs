//! The listener: a cap on open connections, and a lingering close.
//!
//! When a request is refused before its body has been read (413, 415, 403,
//! 401, 429…), hyper answers and then closes the connection with the rest
//! of the body still arriving. Closing a socket with unread data makes the
//! kernel send a reset, and a client still busy writing its body (Node's
//! `fetch`, mobile stacks, proxies) then sees `EPIPE` / `ECONNRESET`
//! instead of the answer it was sent. So a connection is never closed
//! outright: once hyper lets go of it, its write side is shut (the client
//! reads the answer, then end of stream) and whatever the client still
//! sends is read and thrown away, up to a byte and a time bound
//! ([`Linger`]), before the socket is closed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much a closing connection may still read and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    /// The largest body any route accepts, plus a margin.
    pub max_bytes: u64,
    pub timeout: Duration,
}

/// A listener that holds at most `max` connections open; past that it
/// stops accepting until one closes (the kernel queues the rest).
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    linger: Linger,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max: usize, linger: Linger) -> Self {
        LimitedListener {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
            linger,
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
                // The semaphore is never closed; wait for the next round.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            // Small frames (acks, events) should leave at once.
            let _ = stream.set_nodelay(true);
            return (
                LimitedStream {
                    stream: Some(stream),
                    permit: Some(permit),
                    linger: self.linger,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The peer address of a connection, for `ConnectInfo`.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, LimitedListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, LimitedListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// A connection and its place under the connection cap. Always `Some`
/// until dropped; the drop hands both to [`linger`].
pub struct LimitedStream {
    stream: Option<TcpStream>,
    permit: Option<OwnedSemaphorePermit>,
    linger: Linger,
}

impl LimitedStream {
    fn io(&mut self) -> std::io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

impl Drop for LimitedStream {
    fn drop(&mut self) {
        let (Some(stream), permit) = (self.stream.take(), self.permit.take()) else {
            return;
        };
        // Outside a runtime (it is shutting down) the socket just closes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(stream, permit, self.linger));
        }
    }
}

/// Shuts the write side, then reads and discards until the client closes
/// or a bound is reached; the connection keeps its place under the cap
/// meanwhile.
async fn linger(mut stream: TcpStream, _permit: Option<OwnedSemaphorePermit>, bounds: Linger) {
    let _ = stream.shutdown().await;
    let deadline = tokio::time::Instant::now() + bounds.timeout;
    let mut left = bounds.max_bytes;
    let mut buf = [0u8; 16 * 1024];
    while left > 0 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n as u64),
            _ => break,
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.io() {
            Ok(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(TcpStream::is_write_vectored)
    }
}

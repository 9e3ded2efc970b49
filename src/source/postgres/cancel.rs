//! PostgreSQL's cancel request, sent the way libpq sends it: on a connection of its own that
//! stays open until the other side closes it. A pooler passes the request on to the server
//! connection the query runs on, and pgbouncer drops a request whose connection closes before
//! it has done so ("client unexpected eof"); tokio-postgres closes as soon as it has written.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::CancelToken;
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::chain;

/// Where the session connected: the first host and port of its URL.
#[derive(Clone)]
pub(super) struct Address {
    /// The host (a name or address, or a Unix socket folder).
    pub host: Host,
    /// The port (5432 unless the URL says).
    pub port: u16,
}

/// Sends a cancel request for the query that `token`'s session runs, and waits until the
/// server or pooler closes the connection (the caller bounds the wait).
pub(super) async fn cancel(
    token: &CancelToken,
    tls: &MakeRustlsConnect,
    address: &Address,
) -> Result<(), String> {
    let mut tls = tls.clone();
    match &address.host {
        Host::Tcp(name) => {
            let stream = TcpStream::connect((name.as_str(), address.port))
                .await
                .map_err(|e| format!("connecting to {name}:{}: {e}", address.port))?;
            let connect = MakeTlsConnect::<Lingering<TcpStream>>::make_tls_connect(&mut tls, name)
                .map_err(|e| e.to_string())?;
            token
                .cancel_query_raw(Lingering::new(stream), connect)
                .await
                .map_err(|e| chain(&e))
        }
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", address.port));
            let stream = UnixStream::connect(&path)
                .await
                .map_err(|e| format!("connecting to {}: {e}", path.display()))?;
            let connect = MakeTlsConnect::<Lingering<UnixStream>>::make_tls_connect(&mut tls, "")
                .map_err(|e| e.to_string())?;
            token
                .cancel_query_raw(Lingering::new(stream), connect)
                .await
                .map_err(|e| chain(&e))
        }
    }
}

/// A stream whose shutdown waits, reading (and dropping) what comes, until the other side
/// closes, as libpq does after a cancel request. It does not close its own writing half first:
/// pgbouncer takes that for a client gone and drops the request.
struct Lingering<S> {
    inner: S,
}

impl<S> Lingering<S> {
    fn new(inner: S) -> Self {
        Lingering { inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 256];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf)) {
                Ok(()) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => continue,
                // A reset after the request went out: closed all the same.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Poll::Ready(Ok(()));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

//! A minimal HTTP/1.1 client on hyper's low-level connection API: one
//! keep-alive TCP connection per simulated client, requests sent one after
//! another on it (as client-go does with HTTP/1).

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Bytes read from the socket per `poll_read` at most.
const READ_CHUNK: usize = 64 * 1024;

/// Adapts a tokio `TcpStream` to hyper's I/O traits without `unsafe`: reads
/// land in a small buffer and are copied into hyper's (one extra memcpy).
struct Io {
    inner: TcpStream,
    scratch: Box<[u8]>,
}

impl hyper::rt::Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.scratch.len());
        let mut read = ReadBuf::new(&mut this.scratch[..n]);
        match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

/// One keep-alive HTTP/1.1 connection to the API server.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    driver: JoinHandle<()>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
        let io = Io { inner: tcp, scratch: vec![0; READ_CHUNK].into_boxed_slice() };
        let (sender, connection) = http1::handshake(io).await.context("HTTP/1.1 handshake")?;
        let driver = tokio::spawn(async move {
            // Ends when the connection closes; errors surface on the requests.
            let _ = connection.await;
        });
        Ok(Conn { sender, host: addr.to_string(), driver })
    }

    /// Send a request and return the response with its body still streaming.
    pub async fn start(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<Response<Incoming>> {
        self.sender.ready().await.context("the connection closed")?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, &self.host)
            .header(ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .with_context(|| format!("building {method} {path}"))?;
        self.sender.send_request(request).await.with_context(|| format!("{method} {path}"))
    }

    /// Send a request and read the whole response.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<(StatusCode, Bytes)> {
        let response = self.start(method.clone(), path, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the body of {method} {path}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// `call`, failing on a non-2xx status (with the start of the body).
    pub async fn call_ok(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<Bytes> {
        let (status, response) = self.call(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {}", excerpt(&response));
        }
        Ok(response)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One request on a fresh connection, bounded by `timeout`.
pub async fn once(addr: SocketAddr, method: Method, path: &str, timeout: Duration) -> anyhow::Result<(StatusCode, Bytes)> {
    tokio::time::timeout(timeout, async {
        let mut conn = Conn::connect(addr).await?;
        conn.call(method, path, None).await
    })
    .await
    .with_context(|| format!("{path} did not answer within {timeout:?}"))?
}

/// The first 160 characters of a response body, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(160).collect();
    if text.chars().count() > 160 {
        out.push('…');
    }
    out
}

/// The `metadata.resourceVersion` of a single-object response, found by a
/// substring search (the first occurrence is the object's own).
pub fn resource_version(body: &[u8]) -> Option<u64> {
    const MARK: &[u8] = b"\"resourceVersion\":\"";
    let at = find(body, MARK)? + MARK.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits]).ok()?.parse().ok()
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = haystack.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match haystack[i..=last_start].iter().position(|&b| b == first) {
            None => return None,
            Some(offset) => {
                let at = i + offset;
                if &haystack[at..at + needle.len()] == needle {
                    return Some(at);
                }
                i = at + 1;
            }
        }
    }
    None
}

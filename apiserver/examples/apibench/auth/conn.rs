//! One keep-alive HTTP/1.1 connection carrying a fixed credential: plain
//! TCP (the insecure port), or TLS with an optional client certificate and
//! an optional bearer token. Requests go one after another on it, as
//! client-go's HTTP/1 transport does; connection set-up (TCP, TLS
//! handshake) is outside every timed request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::client::excerpt;

/// How to reach the server and who to be.
#[derive(Clone)]
pub struct Credential {
    pub addr: SocketAddr,
    /// `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub bearer: Option<String>,
}

pub struct AuthConn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    driver: JoinHandle<()>,
}

impl AuthConn {
    pub async fn connect(cred: &Credential) -> anyhow::Result<AuthConn> {
        let addr = cred.addr;
        let tcp = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
        let (sender, driver) = match &cred.tls {
            None => {
                let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await.context("HTTP/1.1 handshake")?;
                (sender, tokio::spawn(async move { drop(connection.await) }))
            }
            Some(config) => {
                let name = ServerName::IpAddress(match addr.ip() {
                    IpAddr::V4(v4) => v4.into(),
                    IpAddr::V6(v6) => v6.into(),
                });
                let tls = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .with_context(|| format!("TLS handshake with {addr}"))?;
                let (sender, connection) = http1::handshake(TokioIo::new(tls)).await.context("HTTP/1.1 handshake")?;
                (sender, tokio::spawn(async move { drop(connection.await) }))
            }
        };
        let authorization = match &cred.bearer {
            Some(token) => Some(HeaderValue::from_str(&format!("Bearer {token}")).context("the bearer token is not a header value")?),
            None => None,
        };
        let host = HeaderValue::from_str(&addr.to_string()).context("the address is not a header value")?;
        Ok(AuthConn { sender, host, authorization, driver })
    }

    /// Send a request and read the whole response.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Bytes>) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await.context("the connection closed")?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, self.host.clone())
            .header(ACCEPT, "application/json");
        if let Some(a) = &self.authorization {
            request = request.header(AUTHORIZATION, a.clone());
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default())).with_context(|| format!("building {method} {path}"))?;
        let response = self.sender.send_request(request).await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.with_context(|| format!("reading the body of {method} {path}"))?.to_bytes();
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

impl Drop for AuthConn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

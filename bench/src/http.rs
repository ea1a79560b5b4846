//! A minimal HTTP/1.1 keep-alive client: one connection, one request at a
//! time, bodies by Content-Length (or chunked). Enough for the REST calls
//! the scenarios make, and cheap enough that the generator is not what a
//! history benchmark measures.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Http {
    stream: BufReader<TcpStream>,
    host: String,
    request: Vec<u8>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Http {
    pub async fn connect(addr: &str) -> io::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream: BufReader::with_capacity(64 * 1024, stream),
            host: addr.to_string(),
            request: Vec::new(),
        })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        json: Option<&str>,
    ) -> io::Result<Response> {
        use std::io::Write;
        self.request.clear();
        write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
            self.host
        )?;
        if let Some(token) = token {
            write!(self.request, "Authorization: Bearer {token}\r\n")?;
        }
        match json {
            Some(body) => write!(
                self.request,
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?,
            None => self.request.extend_from_slice(b"\r\n"),
        }
        self.stream.get_mut().write_all(&self.request).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(io::Error::other("connection closed in headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && value.eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(io::Error::other)?;
                let start = body.len();
                body.resize(start + size, 0);
                self.stream.read_exact(&mut body[start..]).await?;
                line.clear();
                self.stream.read_line(&mut line).await?;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok(Response { status, body })
    }
}

/// Registers `username` (or logs in if it exists) and returns (id, token).
pub async fn account(addr: &str, username: &str) -> io::Result<(i64, String)> {
    let mut http = Http::connect(addr).await?;
    let body = serde_json::json!({ "username": username, "password": "benchmark password" }).to_string();
    let mut response = http.request("POST", "/auth/register", None, Some(&body)).await?;
    if response.status == 409 {
        response = http.request("POST", "/auth/login", None, Some(&body)).await?;
    }
    let value = response.json();
    match (value["user"]["id"].as_i64(), value["token"].as_str()) {
        (Some(id), Some(token)) => Ok((id, token.to_string())),
        _ => Err(io::Error::other(format!(
            "register {username}: {} {value}",
            response.status
        ))),
    }
}

/// Creates many accounts, `parallel` at a time.
pub async fn accounts(addr: &str, prefix: &str, n: usize, parallel: usize) -> io::Result<Vec<(i64, String)>> {
    use futures::StreamExt;
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let results: Vec<io::Result<(i64, String)>> =
        futures::stream::iter(names.iter().map(|name| account(addr, name)))
            .buffered(parallel)
            .collect()
            .await;
    results.into_iter().collect()
}

//! A loopback HTTP proxy between stamp and the emulator that can rewrite responses: the way
//! tests make an endpoint answer for the wrong account (and, later, inject faults).
//!
//! One request per connection (`Connection: close` both ways), which the SDK handles by
//! reconnecting; bodies are read by Content-Length. Binds 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// Rewrites a response body given the request body (the AWS query/JSON payload).
pub type Rewrite = Arc<dyn Fn(&str, String) -> String + Send + Sync>;

pub struct Proxy {
    pub port: u16,
}

impl Proxy {
    /// Starts forwarding to `upstream` (`http://127.0.0.1:PORT`), rewriting with `rewrite`.
    pub fn start(upstream: &str, rewrite: Rewrite) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (upstream, rewrite) = (upstream.clone(), rewrite.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &rewrite);
                });
            }
        });
        Self { port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub(super) fn read_message(
    r: &mut BufReader<TcpStream>,
) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let len = head.iter().find_map(|h| {
        h.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
    });
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        // A response without a length ends when the server closes the connection.
        None if head.first().is_some_and(|l| l.starts_with("HTTP/")) => {
            r.read_to_end(&mut body)?;
        }
        None => {}
    }
    Ok((head, body))
}

pub(super) fn write_message(
    w: &mut TcpStream,
    head: &[String],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = String::new();
    for (i, h) in head.iter().enumerate() {
        let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
        if i > 0
            && (name == "content-length" || name == "connection" || name == "transfer-encoding")
        {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    w.write_all(out.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

fn serve(client: TcpStream, upstream: &str, rewrite: &Rewrite) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let (head, body) = read_message(&mut reader)?;
    let mut up = TcpStream::connect(upstream)?;
    write_message(&mut up, &head, &body)?;
    let mut up_reader = BufReader::new(up);
    let (rhead, rbody) = read_message(&mut up_reader)?;
    let new_body = rewrite(
        &String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&rbody).into_owned(),
    );
    let mut client = client;
    write_message(&mut client, &rhead, new_body.as_bytes())
}

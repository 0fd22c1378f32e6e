//! A small HTTPS client for what is not an AWS API (the console federation endpoint; webhook
//! notifications later): GET and a JSON POST, each with a timeout and a bounded body.
//!
//! It is built on the hyper 1 / rustls (aws-lc-rs, the system's root certificates) stack the AWS
//! SDK already compiles. It must never put a URL's query string into an error or a log line: a
//! query may carry credentials (the federation endpoint's `Session`), so errors name the method,
//! scheme, host and path only.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as Legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Responses larger than this are refused: every endpoint stamp talks to answers in kilobytes.
const MAX_BODY: usize = 1024 * 1024;

/// What an endpoint answered: the status and the body as text (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no response. `target` is `METHOD scheme://host/path`, never the query.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{0}` is not an http(s) URL")]
    BadUrl(String),
    #[error("{target}: no answer within {}s", timeout.as_secs_f64())]
    Timeout { target: String, timeout: Duration },
    #[error("{target}: {detail}")]
    Failed { target: String, detail: String },
}

/// One client: connections are pooled between requests, TLS is set up once.
#[derive(Clone)]
pub struct Client {
    inner: Legacy<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Client {
    /// A client whose every request (connect, send, whole response) must finish within
    /// `timeout`.
    pub fn new(timeout: Duration) -> std::io::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            inner: Legacy::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.send(Method::GET, url, None).await
    }

    /// `POST url` with `body` as `application/json`.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<Response, HttpError> {
        self.send(Method::POST, url, Some(body.to_string())).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        json: Option<String>,
    ) -> Result<Response, HttpError> {
        let uri: Uri = url
            .parse()
            .ok()
            .filter(|u: &Uri| matches!(u.scheme_str(), Some("http" | "https")))
            .ok_or_else(|| HttpError::BadUrl(redacted(url)))?;
        let target = format!("{method} {}", redacted(url));
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("user-agent", concat!("stamp/", env!("CARGO_PKG_VERSION")));
        if json.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(json.unwrap_or_default())))
            .map_err(|e| HttpError::Failed {
                target: target.clone(),
                detail: e.to_string(),
            })?;
        let exchange = async {
            let resp = self.inner.request(req).await.map_err(|e| innermost(&e))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the response: {e}"))?
                .to_bytes();
            Ok::<_, String>(Response {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(detail)) => Err(HttpError::Failed { target, detail }),
            Err(_) => Err(HttpError::Timeout {
                target,
                timeout: self.timeout,
            }),
        }
    }
}

/// `scheme://host[:port]/path`: the URL without its query or fragment, safe to show.
pub fn redacted(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_owned()
}

/// The most specific message of an error chain (hyper's own says only "client error").
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

/// Percent-encodes `s` for a URL query (RFC 3986: everything but unreserved characters).
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_a_query_string() {
        assert_eq!(
            redacted("https://signin.aws.amazon.com/federation?Session=%7Bsecret%7D"),
            "https://signin.aws.amazon.com/federation"
        );
        assert_eq!(
            redacted("http://127.0.0.1:9/x#frag"),
            "http://127.0.0.1:9/x"
        );
        let e = HttpError::Timeout {
            target: format!("GET {}", redacted("https://h/p?k=SECRET")),
            timeout: Duration::from_secs(10),
        };
        assert_eq!(e.to_string(), "GET https://h/p: no answer within 10s");
    }

    #[test]
    fn query_values_keep_only_unreserved_characters() {
        assert_eq!(
            encode_query_value(r#"{"a":"b/c+d="}"#),
            "%7B%22a%22%3A%22b%2Fc%2Bd%3D%22%7D"
        );
        assert_eq!(encode_query_value("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_query_value("é"), "%C3%A9");
    }

    /// Against a loopback listener that accepts and never answers: the timeout, not a hang.
    #[tokio::test]
    async fn a_silent_endpoint_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/hook?token=SECRET",
            listener.local_addr().expect("addr")
        );
        let client = Client::new(Duration::from_millis(200)).expect("client");
        let err = client.get(&url).await.expect_err("times out");
        assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");
        drop(listener);
    }

    /// One request on a loopback listener: returns what arrived (head and body), answers 201.
    fn answer_once() -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let seen = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let (mut head, mut len) = (String::new(), 0);
            loop {
                let mut line = String::new();
                r.read_line(&mut line).expect("read");
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().expect("length");
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).expect("body");
            let mut w = conn;
            w.write_all(
                b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            )
            .expect("write");
            format!("{head}\n{}", String::from_utf8_lossy(&body))
        });
        (url, seen)
    }

    #[tokio::test]
    async fn post_json_sends_the_document_and_returns_status_and_body() {
        let (url, seen) = answer_once();
        let client = Client::new(Duration::from_secs(5)).expect("client");
        let resp = client
            .post_json(&url, &serde_json::json!({"text": "deployed"}))
            .await
            .expect("answer");
        assert_eq!(
            resp,
            Response {
                status: 201,
                body: "ok".into()
            }
        );
        assert!(resp.is_success());
        let seen = seen.join().expect("server");
        assert!(seen.starts_with("POST /hook HTTP/1.1"), "{seen}");
        assert!(seen.contains("content-type: application/json"), "{seen}");
        assert!(seen.ends_with("\n{\"text\":\"deployed\"}"), "{seen}");
    }

    #[tokio::test]
    async fn a_bad_url_is_refused_before_any_connection() {
        let client = Client::new(Duration::from_secs(1)).expect("client");
        let err = client.get("ftp://x/y?k=SECRET").await.expect_err("refused");
        assert_eq!(err.to_string(), "`ftp://x/y` is not an http(s) URL");
    }
}

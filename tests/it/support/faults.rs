//! A fault-injecting loopback proxy between stamp and the emulator: throttling exactly as AWS
//! answers it, HTTP 500 and 503, connections reset before the request is forwarded or after the
//! emulator processed it, and responses held past the client's attempt timeout. Driven by a
//! seed: the n-th request through the proxy gets the fault `splitmix64(seed, n)` picks, so a
//! seed gives the same sequence of decisions on every run (with one tenant at a time the same
//! requests get them; with several, which tenant draws which fault depends on scheduling, the
//! rate and mix do not). It counts every request and every fault, by kind and by operation.
//!
//! One request per connection (`Connection: close` both ways), as in `proxy.rs`; the service
//! and operation come from the request itself: `X-Amz-Target` for the JSON protocols (SSM,
//! ECS), `Action=` in the form body for the query protocols (STS, CloudFormation), and the
//! SigV4 credential scope names the service. Binds 127.0.0.1 only. Never sees a secret value:
//! stamp reads SecureStrings without decryption, and the proxy keeps no bodies.

use super::proxy::{read_message, write_message};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 400 with the service's throttling error (not forwarded).
    Throttle,
    /// HTTP 500 with the service's internal-error body (not forwarded).
    Http500,
    /// HTTP 503 service unavailable (not forwarded).
    Http503,
    /// The connection is reset once the request is read, before it is forwarded.
    ResetBefore,
    /// Forwarded and answered by the emulator, then the connection is reset instead of the
    /// response being sent: the request took effect, the client cannot know.
    ResetAfter,
    /// Forwarded and answered, the response held for `Config::delay` (past the client's attempt
    /// timeout) before it is sent: again the request took effect.
    Delay,
    /// Held for `Config::delay` and never forwarded, then the connection is reset: a request
    /// that goes nowhere (a kill test stops stamp while it waits).
    Blackhole,
}

impl Fault {
    /// The kinds a fault rate draws from by default (`Blackhole` only when asked for).
    pub const MIX: [Fault; 6] = [
        Fault::Throttle,
        Fault::Http500,
        Fault::Http503,
        Fault::ResetBefore,
        Fault::ResetAfter,
        Fault::Delay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Throttle => "throttled",
            Fault::Http500 => "http-500",
            Fault::Http503 => "http-503",
            Fault::ResetBefore => "reset-before",
            Fault::ResetAfter => "reset-after",
            Fault::Delay => "delayed",
            Fault::Blackhole => "blackholed",
        }
    }
}

/// What to inject.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Share of requests faulted, 0.0 to 1.0.
    pub rate: f64,
    /// The kinds drawn from, evenly.
    pub kinds: Vec<Fault>,
    /// How long `Delay` and `Blackhole` hold a request: more than the client's attempt timeout.
    pub delay: Duration,
    /// The first N requests pass untouched (the base identity call, when a test needs the run to
    /// start and its tenants to fail).
    pub spare_first: u64,
    /// Only requests of these operations (`"ecs:UpdateService"`) may be faulted; empty = all.
    pub only: Vec<String>,
    /// At most this many faults per operation (`None`: no limit): with 1 and rate 1.0, the
    /// first request of each operation is faulted and its retry goes through.
    pub per_op_limit: Option<u64>,
}

impl Config {
    /// `rate` of all requests, every kind of [`Fault::MIX`].
    pub fn mix(seed: u64, rate: f64, delay: Duration) -> Self {
        Self {
            seed,
            rate,
            kinds: Fault::MIX.to_vec(),
            delay,
            spare_first: 0,
            only: Vec::new(),
            per_op_limit: None,
        }
    }
}

/// What went through the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Requests received (HTTP attempts, retries included).
    pub calls: u64,
    /// `"ecs:DescribeServices" -> n`
    pub calls_by_op: BTreeMap<String, u64>,
    /// `"throttled" -> n`
    pub faults: BTreeMap<&'static str, u64>,
    /// `"ecs:RegisterTaskDefinition reset-after" -> n`
    pub faults_by_op: BTreeMap<String, u64>,
}

impl Report {
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Faults injected into requests of `op` (`"ecs:RegisterTaskDefinition"`).
    pub fn faults_on(&self, op: &str) -> u64 {
        self.faults_by_op
            .iter()
            .filter(|(k, _)| k.split(' ').next() == Some(op))
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Default)]
struct Stats {
    next: AtomicU64,
    report: Mutex<Report>,
}

pub struct FaultProxy {
    pub port: u16,
    stats: Arc<Stats>,
}

impl FaultProxy {
    /// Starts forwarding to `upstream` (`http://127.0.0.1:PORT`) with `config`'s faults.
    pub fn start(upstream: &str, config: Config) -> Self {
        assert!(
            (0.0..=1.0).contains(&config.rate),
            "fault rate {} is not in 0..=1",
            config.rate
        );
        assert!(!config.kinds.is_empty(), "no fault kinds to draw from");
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let port = listener.local_addr().expect("addr").port();
        let stats = Arc::new(Stats::default());
        let config = Arc::new(config);
        let s = stats.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (upstream, config, stats) = (upstream.clone(), config.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &config, &stats);
                });
            }
        });
        Self { port, stats }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn report(&self) -> Report {
        self.stats
            .report
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

/// splitmix64: a tiny, well-mixed generator; `seed + n·γ` is its state after n steps.
pub fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fault request `n` gets, if any.
fn decide(config: &Config, n: u64, op: &str) -> Option<Fault> {
    if n < config.spare_first {
        return None;
    }
    if !config.only.is_empty() && !config.only.iter().any(|o| o == op) {
        return None;
    }
    let r = splitmix64(config.seed, n);
    // 53 bits: an f64 in [0, 1) without bias.
    let x = (r >> 11) as f64 / (1u64 << 53) as f64;
    if x >= config.rate {
        return None;
    }
    let pick = splitmix64(r, 0) % config.kinds.len() as u64;
    Some(config.kinds[pick as usize])
}

/// The AWS protocol a service speaks, which decides how its errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_1: SSM, ECS.
    Json,
    /// awsQuery: STS, CloudFormation.
    Query,
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
    /// `ssm`, `ecs`, `sts`, `cloudformation`
    service: String,
    /// `GetParameters`, `AssumeRole`…
    operation: String,
    protocol: Protocol,
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|h| {
        h.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

/// Service and operation from the request: `X-Amz-Target: AmazonSSM.GetParameters` (JSON),
/// `Action=AssumeRole&…` (query); the service from the SigV4 scope
/// (`Credential=AKID/20260101/us-east-1/sts/aws4_request`), else from the target's prefix.
fn identify(head: Vec<String>, body: Vec<u8>) -> Request {
    let scope_service = header(&head, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .and_then(|c| c.split('/').nth(3))
        .map(str::to_owned);
    let (protocol, operation, target_service) = match header(&head, "x-amz-target") {
        Some(target) => {
            let (prefix, op) = target.split_once('.').unwrap_or(("", target));
            let service = if prefix.starts_with("AmazonSSM") {
                "ssm"
            } else if prefix.starts_with("AmazonEC2ContainerService") {
                "ecs"
            } else {
                "unknown"
            };
            (Protocol::Json, op.to_owned(), service.to_owned())
        }
        None => {
            let text = String::from_utf8_lossy(&body);
            let action = text
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or("unknown")
                .to_owned();
            (Protocol::Query, action, "unknown".to_owned())
        }
    };
    Request {
        head,
        body,
        service: scope_service.unwrap_or(target_service),
        operation,
        protocol,
    }
}

/// Closes with RST rather than FIN: SO_LINGER 0, then close.
fn reset(conn: TcpStream) {
    let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
    drop(conn);
}

fn forward(req: &Request, upstream: &str) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream)?;
    write_message(&mut up, &req.head, &req.body)?;
    let mut r = BufReader::new(up);
    read_message(&mut r)
}

/// A request id in AWS's format, made from the seed so runs compare byte for byte.
fn request_id(seed: u64, n: u64) -> String {
    let a = splitmix64(seed ^ 0x5EED, n);
    let b = splitmix64(a, n);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The error response AWS gives for `fault` in `req`'s protocol (status line, headers, body).
fn error_response(req: &Request, fault: Fault, id: &str) -> (Vec<String>, Vec<u8>) {
    let (status, sender, json_type, query_code, message) = match fault {
        Fault::Throttle => (
            "400 Bad Request",
            true,
            "ThrottlingException",
            "Throttling",
            "Rate exceeded",
        ),
        Fault::Http500 => (
            "500 Internal Server Error",
            false,
            // What ECS and SSM name it; both are modelled 5xx errors of their APIs.
            if req.service == "ecs" {
                "ServerException"
            } else {
                "InternalServerError"
            },
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
        _ => (
            "503 Service Unavailable",
            false,
            "ServiceUnavailableException",
            "ServiceUnavailable",
            "Service Unavailable",
        ),
    };
    let (content_type, body) = match req.protocol {
        Protocol::Json => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": json_type, "message": message }).to_string(),
        ),
        Protocol::Query => {
            let xmlns = match req.service.as_str() {
                "cloudformation" => "http://cloudformation.amazonaws.com/doc/2010-05-15/",
                _ => "https://sts.amazonaws.com/doc/2011-06-15/",
            };
            (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{}</Type><Code>{query_code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>",
                    if sender { "Sender" } else { "Receiver" }
                ),
            )
        }
    };
    (
        vec![
            format!("HTTP/1.1 {status}"),
            format!("x-amzn-RequestId: {id}"),
            format!("Content-Type: {content_type}"),
        ],
        body.into_bytes(),
    )
}

fn serve(client: TcpStream, upstream: &str, config: &Config, stats: &Stats) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let (head, body) = read_message(&mut reader)?;
    if head.is_empty() {
        return Ok(()); // a connection opened and closed without a request
    }
    let req = identify(head, body);
    let op = format!("{}:{}", req.service, req.operation);
    let n = stats.next.fetch_add(1, Ordering::SeqCst);
    let mut fault = decide(config, n, &op);
    if let Ok(mut r) = stats.report.lock() {
        if config
            .per_op_limit
            .is_some_and(|max| r.faults_on(&op) >= max)
        {
            fault = None;
        }
        r.calls += 1;
        *r.calls_by_op.entry(op.clone()).or_insert(0) += 1;
        if let Some(f) = fault {
            *r.faults.entry(f.name()).or_insert(0) += 1;
            *r.faults_by_op
                .entry(format!("{op} {}", f.name()))
                .or_insert(0) += 1;
        }
    }
    let mut client = client;
    match fault {
        None => {
            let (rhead, rbody) = forward(&req, upstream)?;
            write_message(&mut client, &rhead, &rbody)
        }
        Some(f @ (Fault::Throttle | Fault::Http500 | Fault::Http503)) => {
            let (rhead, rbody) = error_response(&req, f, &request_id(config.seed, n));
            write_message(&mut client, &rhead, &rbody)
        }
        Some(Fault::ResetBefore) => {
            reset(client);
            Ok(())
        }
        Some(Fault::ResetAfter) => {
            let _ = forward(&req, upstream)?;
            reset(client);
            Ok(())
        }
        Some(Fault::Delay) => {
            let (rhead, rbody) = forward(&req, upstream)?;
            std::thread::sleep(config.delay);
            // The client gave up long ago; whatever happens to this write is fine.
            let _ = write_message(&mut client, &rhead, &rbody);
            let _ = client.shutdown(Shutdown::Both);
            Ok(())
        }
        Some(Fault::Blackhole) => {
            std::thread::sleep(config.delay);
            reset(client);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_decisions_and_the_rate_holds() {
        let c = Config::mix(7, 0.1, Duration::from_secs(1));
        let a: Vec<Option<Fault>> = (0..10_000).map(|n| decide(&c, n, "ecs:X")).collect();
        let b: Vec<Option<Fault>> = (0..10_000).map(|n| decide(&c, n, "ecs:X")).collect();
        assert_eq!(a, b);
        let faulted = a.iter().filter(|f| f.is_some()).count();
        assert!((900..1100).contains(&faulted), "{faulted} of 10000");
        for kind in Fault::MIX {
            let k = a.iter().filter(|f| **f == Some(kind)).count();
            assert!(k > 100, "{kind:?}: {k}");
        }
        let other = Config::mix(8, 0.1, Duration::from_secs(1));
        let c2: Vec<Option<Fault>> = (0..10_000).map(|n| decide(&other, n, "ecs:X")).collect();
        assert_ne!(a, c2, "another seed, other decisions");
    }

    #[test]
    fn spared_and_filtered_requests_pass() {
        let mut c = Config::mix(1, 1.0, Duration::from_secs(1));
        c.spare_first = 3;
        c.only = vec!["ecs:UpdateService".into()];
        assert_eq!(decide(&c, 0, "ecs:UpdateService"), None);
        assert!(decide(&c, 3, "ecs:UpdateService").is_some());
        assert_eq!(decide(&c, 4, "ssm:GetParameters"), None);
    }

    #[test]
    fn requests_are_identified_by_target_action_and_scope() {
        let json = identify(
            vec![
                "POST / HTTP/1.1".into(),
                "X-Amz-Target: AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition".into(),
                "authorization: AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=x".into(),
            ],
            b"{}".to_vec(),
        );
        assert_eq!(
            (json.service.as_str(), json.operation.as_str()),
            ("ecs", "RegisterTaskDefinition")
        );
        assert_eq!(json.protocol, Protocol::Json);
        let query = identify(
            vec![
                "POST / HTTP/1.1".into(),
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=x".into(),
            ],
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=x".to_vec(),
        );
        assert_eq!(
            (query.service.as_str(), query.operation.as_str()),
            ("sts", "AssumeRole")
        );
        assert_eq!(query.protocol, Protocol::Query);
    }

    #[test]
    fn throttling_looks_as_aws_sends_it() {
        let ssm = identify(
            vec![
                "POST / HTTP/1.1".into(),
                "X-Amz-Target: AmazonSSM.GetParameters".into(),
            ],
            Vec::new(),
        );
        let (head, body) = error_response(&ssm, Fault::Throttle, "id");
        assert_eq!(head[0], "HTTP/1.1 400 Bad Request");
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        );
        let cfn = identify(
            vec![
                "POST / HTTP/1.1".into(),
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/cloudformation/aws4_request".into(),
            ],
            b"Action=DescribeStacks".to_vec(),
        );
        let (head, body) = error_response(&cfn, Fault::Throttle, "rid");
        assert_eq!(head[0], "HTTP/1.1 400 Bad Request");
        let body = String::from_utf8(body).expect("utf-8");
        assert!(
            body.contains("<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>rid</RequestId>"),
            "{body}"
        );
    }
}

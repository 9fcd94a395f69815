//! The bad-input matrix (issue 18, item 8): one table of hostile or broken requests sent
//! to a real 3-node cluster over raw TCP — oversized heads and bodies, slow and stalled
//! clients, invalid UTF-8, deep JSON nesting, huge lists, thousands of idle connections —
//! each with the answer real SQS gives (AWS error code, status and text where AWS defines
//! them) or the closed connection it ends in. Never a 5xx, a panic or unbounded memory:
//! after the table every node is healthy and no node log holds a panic.
//!
//! The table is recorded in `docs/reliability.md` ("Bad-input matrix").

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};
use sqsraft_e2e::cluster::{Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
// The server's limits this matrix probes.
use sqsraft_server::http::edge::{BODY_READ_TIMEOUT, MAX_BODY};
use sqsraft_server::http::serve::HEADER_READ_TIMEOUT;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime};

/// How much later than its timeout a cut connection may close (a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(5);
/// Idle connections held open at once by the many-connections case.
const IDLE_CONNECTIONS: usize = 2_000;
/// Most a node's resident memory may grow while holding them (a few KiB each, plus
/// allocator slack); unbounded per-connection buffers would show far above.
const IDLE_RSS_GROWTH_MAX: u64 = 96 << 20;
/// Most a node's resident memory may be after the whole matrix.
const RSS_AFTER_MAX: u64 = 768 << 20;
/// How long a client waits for an answer it expects.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// What one case sends.
enum Send {
    /// A signed AWS JSON 1.0 request of `action` with this exact body.
    Json(&'static str, Vec<u8>),
    /// A signed form-encoded Query request with this exact body.
    Query(Vec<u8>),
    /// Raw bytes, written at once.
    Raw(Vec<u8>),
    /// Raw bytes, one a second (slowloris); a health probe on another connection
    /// midway must still be answered.
    Trickle(Vec<u8>),
    /// A signed JSON request whose body stops short of its Content-Length; the client
    /// then `stalls` (keeps the connection open) or closes its sending side.
    Truncated { stall: bool },
    /// Many idle connections held open while a new client is served.
    IdleConnections,
}

/// What the case must get back.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// An answer with this status, AWS error code (Query code, or JSON `__type` name)
    /// and message (`None`: AWS's text is not recorded, so not compared).
    Answer {
        status: u16,
        code: Option<&'static str>,
        message: Option<String>,
    },
    /// No answer; the server closes the connection within this window.
    Closed { after: Duration, before: Duration },
    /// This status, or a connection closed before the answer could be read (both are
    /// what AWS's front end may do while the client is still sending).
    AnswerOrClosed(u16),
    /// The idle connections stay open while a new client gets 200, and the node's RSS
    /// grows by less than [`IDLE_RSS_GROWTH_MAX`].
    ServedBesideIdle,
}

struct Case {
    name: &'static str,
    send: Send,
    expect: Expect,
}

/// What came back.
#[derive(Debug)]
enum Observed {
    Answer {
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    Closed(Duration),
    NoAnswer,
    Served {
        rss_growth: u64,
    },
    Failed(String),
}

fn answer(status: u16, code: &'static str, message: impl Into<String>) -> Expect {
    Expect::Answer {
        status,
        code: Some(code),
        message: Some(message.into()),
    }
}

fn the_matrix(queue_url: &str) -> Vec<Case> {
    let too_long = "x".repeat(262_145);
    let many_entries: Vec<Value> = (0..100_000)
        .map(|n| json!({"Id": format!("e{n}"), "MessageBody": "b"}))
        .collect();
    let mut query_entries =
        format!("Action=SendMessageBatch&Version=2012-11-05&QueueUrl={queue_url}");
    for n in 1..=100_000 {
        query_entries.push_str(&format!("&SendMessageBatchRequestEntry.{n}.Id=e{n}"));
    }
    let names: Vec<String> = (0..100_000).map(|n| format!("Name{n}")).collect();
    let mut invalid_utf8_json =
        format!(r#"{{"QueueUrl":"{queue_url}","MessageBody":""#).into_bytes();
    invalid_utf8_json.extend_from_slice(b"\xff\xfe\"}");
    let invalid_utf8_form =
        format!("Action=SendMessage&Version=2012-11-05&QueueUrl={queue_url}&MessageBody=%FF%FE");
    let mut big_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    big_head.extend(std::iter::repeat_n(b'a', 100 << 10));
    big_head.extend_from_slice(b"\r\n\r\n");
    let mut many_headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for n in 0..200 {
        many_headers.extend_from_slice(format!("X-H{n}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    let mut chunked = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..(MAX_BODY / (1 << 20) + 1) {
        chunked.extend_from_slice(b"100000\r\n");
        chunked.extend(std::iter::repeat_n(b' ', 1 << 20));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let serialization = Expect::Answer {
        status: 400,
        code: Some("SerializationException"),
        message: None,
    };
    vec![
        Case {
            name: "request head over 64 KiB (one 100 KiB header)",
            send: Send::Raw(big_head),
            expect: Expect::AnswerOrClosed(431),
        },
        Case {
            name: "more than 100 header fields",
            send: Send::Raw(many_headers),
            expect: Expect::AnswerOrClosed(431),
        },
        Case {
            name: "message over the queue's MaximumMessageSize (262,145 bytes)",
            send: Send::Json(
                "SendMessage",
                json!({"QueueUrl": queue_url, "MessageBody": too_long})
                    .to_string()
                    .into_bytes(),
            ),
            expect: answer(
                400,
                "InvalidParameterValueException",
                "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
            ),
        },
        Case {
            name: "Content-Length over the 8 MiB body limit",
            send: Send::Raw(
                format!(
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: {}\r\n\r\n",
                    MAX_BODY + 1
                )
                .into_bytes(),
            ),
            expect: answer(
                413,
                "",
                format!("HTTP content length exceeded {MAX_BODY} bytes."),
            ),
        },
        Case {
            name: "chunked body over the 8 MiB body limit",
            send: Send::Raw(chunked),
            expect: Expect::AnswerOrClosed(413),
        },
        Case {
            name: "slowloris: request head at one byte a second",
            send: Send::Trickle(
                b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".to_vec(),
            ),
            expect: Expect::Closed {
                after: HEADER_READ_TIMEOUT - Duration::from_secs(1),
                before: HEADER_READ_TIMEOUT + SLACK,
            },
        },
        Case {
            name: "body shorter than Content-Length, then a stall",
            send: Send::Truncated { stall: true },
            expect: answer(408, "", "The request body did not arrive in time."),
        },
        Case {
            name: "body shorter than Content-Length, then the client stops sending",
            send: Send::Truncated { stall: false },
            expect: Expect::AnswerOrClosed(400),
        },
        Case {
            name: "invalid UTF-8 in a JSON string",
            send: Send::Json("SendMessage", invalid_utf8_json),
            expect: serialization.clone(),
        },
        Case {
            name: "invalid UTF-8 in a Query form value (%FF%FE)",
            send: Send::Query(invalid_utf8_form.into_bytes()),
            expect: answer(
                400,
                "MalformedQueryString",
                "The request contains a parameter that is not valid UTF-8.",
            ),
        },
        Case {
            name: "JSON nested 100,000 deep",
            send: Send::Json("ListQueues", "[".repeat(100_000).into_bytes()),
            expect: serialization.clone(),
        },
        Case {
            name: "JSON member nested 100,000 deep",
            send: Send::Json(
                "SendMessageBatch",
                format!(r#"{{"QueueUrl":"{queue_url}","Entries":{}"#, "[".repeat(100_000))
                    .into_bytes(),
            ),
            expect: serialization,
        },
        Case {
            name: "SendMessageBatch with 100,000 entries (JSON)",
            send: Send::Json(
                "SendMessageBatch",
                json!({"QueueUrl": queue_url, "Entries": many_entries})
                    .to_string()
                    .into_bytes(),
            ),
            expect: answer(
                400,
                "TooManyEntriesInBatchRequest",
                "Maximum number of entries per request are 10. You have sent 100000.",
            ),
        },
        Case {
            name: "SendMessageBatch with 100,000 entries (Query)",
            send: Send::Query(query_entries.into_bytes()),
            expect: answer(
                400,
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "Maximum number of entries per request are 10. You have sent 100000.",
            ),
        },
        Case {
            name: "ReceiveMessage with 100,000 distinct AttributeNames",
            send: Send::Json(
                "ReceiveMessage",
                json!({"QueueUrl": queue_url, "AttributeNames": names, "WaitTimeSeconds": 0})
                    .to_string()
                    .into_bytes(),
            ),
            expect: Expect::Answer {
                status: 200,
                code: None,
                message: None,
            },
        },
        Case {
            name: "ReceiveMessage with 100,000 MessageAttributeNames",
            send: Send::Json(
                "ReceiveMessage",
                json!({"QueueUrl": queue_url, "MessageAttributeNames": names, "WaitTimeSeconds": 0})
                    .to_string()
                    .into_bytes(),
            ),
            expect: Expect::Answer {
                status: 200,
                code: None,
                message: None,
            },
        },
        Case {
            name: "2,000 idle connections while a new client is served",
            send: Send::IdleConnections,
            expect: Expect::ServedBesideIdle,
        },
    ]
}

/// A raw HTTP/1.1 request, SigV4-signed over exactly `body` for `us-east-1`.
fn signed_request(host: &str, content_type: &str, target: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut headers = vec![
        ("host", host.to_string()),
        ("content-type", content_type.into()),
    ];
    if let Some(action) = target {
        headers.push(("x-amz-target", format!("AmazonSQS.{action}")));
    }
    let identity = Credentials::new(DEV_ACCESS_KEY, DEV_SECRET_KEY, None, None, "bad-input").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sqs")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let url = format!("http://{host}/");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut out = String::from("POST / HTTP/1.1\r\n");
    for (name, value) in headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(instructions.headers())
    {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut request = out.into_bytes();
    request.extend_from_slice(body);
    request
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(ANSWER_WAIT))
        .expect("read timeout");
    stream
}

/// Reads one HTTP response; `None` when the connection closes (or resets) before a whole
/// one arrived, or nothing comes within [`ANSWER_WAIT`].
fn read_response(stream: &mut TcpStream) -> Option<(u16, String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while data.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let content_type = header("content-type").unwrap_or_default();
    Some((
        status,
        content_type,
        data[head_end..head_end + length].to_vec(),
    ))
}

/// The AWS error code and message of an answer, in whichever form it came.
fn error_of(content_type: &str, body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body).to_string();
    if content_type.starts_with("application/x-amz-json") {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let code = v["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
        return (code, v["message"].as_str().map(str::to_string));
    }
    if content_type.starts_with("text/xml") {
        let tag = |t: &str| {
            let start = text.find(&format!("<{t}>"))? + t.len() + 2;
            let end = text[start..].find(&format!("</{t}>"))? + start;
            Some(text[start..end].to_string())
        };
        return (tag("Code"), tag("Message"));
    }
    (Some(String::new()), Some(text))
}

/// A read that ended without an answer: the server closed the connection, or (after
/// [`ANSWER_WAIT`]) it neither answered nor closed.
fn ended_without_answer(since: Instant) -> Observed {
    match since.elapsed() {
        waited if waited < ANSWER_WAIT => Observed::Closed(waited),
        _ => Observed::NoAnswer,
    }
}

/// Writes `request` (from another thread, so a server that answers early is read while
/// the rest is still being sent), then reads the answer.
fn exchange(port: u16, request: Vec<u8>) -> Observed {
    let mut stream = connect(port);
    let mut writer = stream.try_clone().expect("clone stream");
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let started = Instant::now();
    let observed = match read_response(&mut stream) {
        Some((status, content_type, body)) => {
            let (code, message) = if status == 200 {
                (None, None)
            } else {
                error_of(&content_type, &body)
            };
            Observed::Answer {
                status,
                code,
                message,
            }
        }
        None => ended_without_answer(started),
    };
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sending.join();
    observed
}

/// Waits for the server to close `stream`; the time from `since`, or `None` when it
/// sent something instead or stayed open past `limit`.
fn closed_within(stream: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    stream
        .set_read_timeout(Some(
            limit
                .saturating_sub(since.elapsed())
                .max(Duration::from_millis(1)),
        ))
        .ok()?;
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Some(since.elapsed()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Some(since.elapsed()),
        _ => None,
    }
}

fn healthz(port: u16) -> bool {
    let mut stream = connect(port);
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    matches!(read_response(&mut stream), Some((200, _, _)))
}

fn trickle(port: u16, bytes: &[u8]) -> Observed {
    let mut stream = connect(port);
    let opened = Instant::now();
    let mut writer = stream.try_clone().expect("clone stream");
    let bytes = bytes.to_vec();
    let sending = std::thread::spawn(move || {
        let mut probed = None;
        for (n, byte) in bytes.iter().enumerate() {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            if n == 5 {
                probed = Some(healthz(port));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        probed
    });
    let closed = closed_within(&mut stream, opened, HEADER_READ_TIMEOUT + SLACK * 2);
    let _ = stream.shutdown(Shutdown::Both);
    match (closed, sending.join()) {
        (_, Ok(Some(false)) | Err(_)) => {
            Observed::Failed("another client was not served during the trickle".into())
        }
        (Some(after), _) => Observed::Closed(after),
        (None, _) => Observed::NoAnswer,
    }
}

fn truncated(port: u16, stall: bool) -> Observed {
    let body = br#"{"QueueNamePrefix":"bad-input-truncated"}"#;
    let mut request = signed_request(
        &format!("127.0.0.1:{port}"),
        "application/x-amz-json-1.0",
        Some("ListQueues"),
        body,
    );
    request.truncate(request.len() - body.len() / 2);
    let mut stream = connect(port);
    stream.write_all(&request).expect("send");
    let sent = Instant::now();
    if !stall {
        let _ = stream.shutdown(Shutdown::Write);
    }
    match read_response(&mut stream) {
        Some((status, content_type, body)) => {
            let waited = sent.elapsed();
            let (code, message) = error_of(&content_type, &body);
            if stall
                && !(waited >= BODY_READ_TIMEOUT - Duration::from_secs(1)
                    && waited < BODY_READ_TIMEOUT + SLACK)
            {
                return Observed::Failed(format!("answered {status} after {waited:?}"));
            }
            if closed_within(&mut stream, Instant::now(), SLACK).is_none() {
                return Observed::Failed(format!("answered {status} but kept the connection"));
            }
            Observed::Answer {
                status,
                code,
                message,
            }
        }
        None => ended_without_answer(sent),
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Whether the server still holds `stream` open (nothing to read, no end of stream).
fn is_open(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).is_ok()
        && matches!(stream.read(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

fn idle_connections(port: u16, pid: u32) -> Observed {
    let before = rss(pid);
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => idle.push(s),
            Err(e) => return Observed::Failed(format!("connection {} refused: {e}", idle.len())),
        }
    }
    // Let the server accept them all before it is measured.
    std::thread::sleep(Duration::from_secs(2));
    let host = format!("127.0.0.1:{port}");
    let served = exchange(
        port,
        signed_request(
            &host,
            "application/x-amz-json-1.0",
            Some("ListQueues"),
            b"{}",
        ),
    );
    let during = rss(pid);
    let still_open = idle.iter().filter(|s| is_open(s)).count();
    drop(idle);
    match served {
        Observed::Answer { status: 200, .. } if still_open == IDLE_CONNECTIONS => {
            Observed::Served {
                rss_growth: during.saturating_sub(before),
            }
        }
        other => Observed::Failed(format!(
            "new client got {other:?} with {still_open} of {IDLE_CONNECTIONS} idle connections open"
        )),
    }
}

fn run(case: &Case, port: u16, pid: u32) -> Observed {
    let host = format!("127.0.0.1:{port}");
    match &case.send {
        Send::Json(action, body) => exchange(
            port,
            signed_request(&host, "application/x-amz-json-1.0", Some(action), body),
        ),
        Send::Query(body) => exchange(
            port,
            signed_request(&host, "application/x-www-form-urlencoded", None, body),
        ),
        Send::Raw(bytes) => exchange(port, bytes.clone()),
        Send::Trickle(bytes) => trickle(port, bytes),
        Send::Truncated { stall } => truncated(port, *stall),
        Send::IdleConnections => idle_connections(port, pid),
    }
}

fn meets(expect: &Expect, observed: &Observed) -> bool {
    match (expect, observed) {
        (
            Expect::Answer {
                status,
                code,
                message,
            },
            Observed::Answer {
                status: s,
                code: c,
                message: m,
            },
        ) => {
            s == status
                && code.is_none_or(|code| c.as_deref() == Some(code))
                && message
                    .as_ref()
                    .is_none_or(|message| m.as_ref() == Some(message))
        }
        (Expect::Closed { after, before }, Observed::Closed(t)) => t >= after && t < before,
        (Expect::AnswerOrClosed(status), Observed::Answer { status: s, .. }) => s == status,
        (Expect::AnswerOrClosed(_), Observed::Closed(_)) => true,
        (Expect::ServedBesideIdle, Observed::Served { rss_growth }) => {
            *rss_growth < IDLE_RSS_GROWTH_MAX
        }
        _ => false,
    }
}

fn create_queue(port: u16) -> String {
    let host = format!("127.0.0.1:{port}");
    let body = json!({"QueueName": "bad-input", "Attributes": {"MaximumMessageSize": "262144"}})
        .to_string();
    let mut stream = connect(port);
    stream
        .write_all(&signed_request(
            &host,
            "application/x-amz-json-1.0",
            Some("CreateQueue"),
            body.as_bytes(),
        ))
        .expect("send CreateQueue");
    let (status, _, body) = read_response(&mut stream).expect("CreateQueue answer");
    assert_eq!(
        status,
        200,
        "CreateQueue: {}",
        String::from_utf8_lossy(&body)
    );
    let v: Value = serde_json::from_slice(&body).expect("CreateQueue JSON");
    v["QueueUrl"].as_str().expect("QueueUrl").to_string()
}

#[test]
fn every_bad_input_gets_the_aws_answer_and_the_cluster_stays_healthy() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    // Cases enter through node 2, a follower or the leader: either must answer alike.
    let node = cluster.node(2).expect("node 2");
    let (port, pid) = (node.sqs_port, node.pid().expect("pid"));
    let queue_url = create_queue(port);
    let cases = the_matrix(&queue_url);
    // The idle-connections case measures memory, so it runs alone, first; the rest run
    // at once (the slow ones take their timeouts).
    let (alone, together): (Vec<&Case>, Vec<&Case>) = cases
        .iter()
        .partition(|c| matches!(c.send, Send::IdleConnections));
    let mut observed: Vec<(&Case, Observed)> = alone
        .iter()
        .map(|case| (*case, run(case, port, pid)))
        .collect();
    std::thread::scope(|scope| {
        let running: Vec<_> = together
            .iter()
            .map(|case| (*case, scope.spawn(move || run(case, port, pid))))
            .collect();
        for (case, r) in running {
            let seen = r
                .join()
                .unwrap_or_else(|_| Observed::Failed("case panicked".into()));
            observed.push((case, seen));
        }
    });
    let mut failures = Vec::new();
    println!("| case | expected | observed |\n|---|---|---|");
    for (case, seen) in &observed {
        println!("| {} | {:?} | {seen:?} |", case.name, case.expect);
        if let Observed::Answer { status, .. } = seen
            && *status >= 500
        {
            failures.push(format!("{}: a {status}", case.name));
        }
        if let Observed::Failed(why) = seen {
            failures.push(format!("{}: {why}", case.name));
        } else if !meets(&case.expect, seen) {
            failures.push(format!(
                "{}: expected {:?}, got {seen:?}",
                case.name, case.expect
            ));
        }
    }
    for node in &cluster.nodes {
        if !healthz(node.sqs_port) {
            failures.push(format!("node {} is not healthy after the matrix", node.id));
        }
        let log = std::fs::read_to_string(node.data_dir.with_extension("log")).unwrap_or_default();
        if log.contains("panicked") {
            failures.push(format!("node {} logged a panic", node.id));
        }
        let resident = rss(node.pid().expect("pid"));
        if resident > RSS_AFTER_MAX {
            failures.push(format!(
                "node {} holds {} MiB after the matrix",
                node.id,
                resident >> 20
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

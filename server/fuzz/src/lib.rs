//! The bodies of the fuzz targets under `fuzz_targets/`, one function per target, so a
//! crashing input can be replayed by a plain `#[test]` as well as by the fuzzer.
//!
//! Every function takes arbitrary bytes and must return without panicking; where it is
//! cheap it also asserts a property (a decoded value re-encodes to bytes that decode to
//! the same encoding; a parsed form re-serializes to the same parameters; a snapshot that
//! reads back is rewritten to one that reads back the same).

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqsraft_server::api::{self, Protocol, query};
use sqsraft_server::auth::{CredentialStore, SignedRequest, Verifier};
use sqsraft_server::codec::{decode, encode};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

pub mod postcard_types;

/// The host of the SQS endpoint in the request targets.
const HOST: &str = "localhost:9324";

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Renders a decode error in `protocol`, as the edge would answer it.
fn render_error(protocol: Protocol, decoded: &api::Decoded) {
    if let Err(e) = &decoded.request {
        let response = api::render(protocol, &Err(e.clone()), "fuzz-request");
        assert!(
            response.status().is_client_error(),
            "a decode error answered {}: {e:?}",
            response.status()
        );
    }
}

/// AWS JSON 1.0: the first line is the `X-Amz-Target` value, the rest the body, posted to
/// a queue URL path (so the path-derived QueueUrl is exercised too).
pub fn json_request(data: &[u8]) {
    let (target, body) = split_line(data);
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    headers.insert("host", HeaderValue::from_static(HOST));
    if let Ok(v) = HeaderValue::from_bytes(target) {
        headers.insert("x-amz-target", v);
    }
    let decoded = api::decode(&Method::POST, &headers, "/000000000000/q1", None, body);
    assert_eq!(decoded.protocol, Protocol::Json);
    render_error(Protocol::Json, &decoded);
}

/// The Query protocol: the first line is the query string, the rest a form body.
///
/// Property: the parameters [`query::parse_form`] reads re-serialize (with
/// `form_urlencoded`, as the SDKs encode) to a form that parses to the same parameters.
pub fn query_request(data: &[u8]) {
    let (query_string, body) = split_line(data);
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    headers.insert("host", HeaderValue::from_static(HOST));
    let query_text = std::str::from_utf8(query_string).ok();
    let decoded = api::decode(
        &Method::POST,
        &headers,
        "/000000000000/q1",
        query_text,
        body,
    );
    assert_eq!(decoded.protocol, Protocol::Query);
    render_error(Protocol::Query, &decoded);

    let mut params = query::Params::new();
    if query::parse_form(body, &mut params).is_ok() {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let mut again = query::Params::new();
        query::parse_form(form.as_bytes(), &mut again).expect("a serialized form parses");
        assert_eq!(params, again, "form {form:?}");
    }
}

/// The signing time of the SigV4 test vectors in `server/tests/fixtures/sigv4`.
const SIGNED_AT: Duration = Duration::from_secs(1_440_938_160);

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let store = CredentialStore::from_pairs([(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )]);
        Verifier::new(store, "us-east-1", "service")
    })
}

/// A request in HTTP/1.1 shape, as the SigV4 vectors write them: a request line
/// `METHOD target HTTP/1.1`, `Name:value` header lines, an empty line, the body. Header
/// lines that are not valid HTTP are dropped, as a server would refuse them.
struct WireRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn parse_wire_request(data: &[u8]) -> Option<WireRequest> {
    let (request_line, mut rest) = split_line(data);
    let request_line = std::str::from_utf8(request_line).ok()?;
    let mut words = request_line.split(' ');
    let method = words.next()?.to_string();
    let target = words.next()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut headers = HeaderMap::new();
    loop {
        let (line, after) = split_line(rest);
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(&line[colon + 1..]),
        ) {
            headers.append(name, value);
        }
    }
    Some(WireRequest {
        method,
        path,
        query,
        headers,
        body: rest.to_vec(),
    })
}

/// SigV4: the `Authorization` header and presigned-query forms, verified at the vectors'
/// signing time against their key. Property: a request that verifies was signed by the
/// only key there is.
pub fn sigv4(data: &[u8]) {
    let Some(req) = parse_wire_request(data) else {
        return;
    };
    let signed = SignedRequest {
        method: &req.method,
        path: &req.path,
        query: req.query.as_deref(),
        headers: &req.headers,
        authority: Some("example.amazonaws.com"),
        body: &req.body,
    };
    if let Ok(principal) = verifier().verify(&signed, UNIX_EPOCH + SIGNED_AT) {
        assert_eq!(principal.access_key_id, "AKIDEXAMPLE");
    }
}

/// Decodes `data` as `T`; a value that decodes must encode, and its encoding must decode
/// and encode to the same bytes.
pub fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) {
    let Ok(value) = decode::<T>(data) else {
        return;
    };
    let once = encode(&value).expect("a decoded value encodes");
    let again: T = decode(&once).expect("an encoding decodes");
    let twice = encode(&again).expect("a decoded value encodes");
    assert_eq!(once, twice, "re-encoding changed the bytes");
}

/// The postcard bodies of the internal port: the first byte picks the type (see
/// [`postcard_types::WIRE`]), the rest is decoded as it.
pub fn wire_messages(data: &[u8]) {
    postcard_types::dispatch(postcard_types::WIRE, data);
}

/// Raft log entries, commands and the records the state machine stores: the first byte
/// picks the type (see [`postcard_types::STORED`]).
pub fn log_entries(data: &[u8]) {
    postcard_types::dispatch(postcard_types::STORED, data);
}

/// A file for [`snapshot`] to write its input to: on tmpfs when there is one (the reader
/// opens a path), one per process so parallel jobs do not share it.
fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("sqsraft-fuzz-snapshot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

/// Every record of the snapshot at `path`, or the first error.
fn read_snapshot(
    path: &std::path::Path,
) -> std::io::Result<(sqsraft_server::raft::SnapshotMeta, Vec<(Vec<u8>, Vec<u8>)>)> {
    use sqsraft_server::raft::snapshot::SnapshotReader;
    let mut reader = SnapshotReader::open(path)?;
    let mut records = Vec::new();
    while let Some(record) = reader.next_record()? {
        records.push(record);
    }
    Ok((reader.meta().clone(), records))
}

/// The snapshot reader on arbitrary file contents. Properties: `verify` accepts exactly
/// the files that read to the end; a file that reads is rewritten by `SnapshotWriter` to
/// one that reads back to the same metadata and records.
pub fn snapshot(data: &[u8]) {
    use sqsraft_server::raft::snapshot::{SnapshotWriter, verify};
    let dir = scratch_dir();
    let input = dir.join("input");
    std::fs::write(&input, data).expect("write the input file");
    let read = read_snapshot(&input);
    let verified = verify(&input);
    assert_eq!(
        read.is_ok(),
        verified.is_ok(),
        "read {read:?} verify {verified:?}"
    );
    let Ok((meta, records)) = read else {
        return;
    };
    let mut writer = SnapshotWriter::create(dir, &meta).expect("start a snapshot");
    for (key, value) in &records {
        writer.record(key, value).expect("write a record");
    }
    let rewritten = dir.join("rewritten");
    writer.finish(&rewritten).expect("finish a snapshot");
    let (meta_again, records_again) =
        read_snapshot(&rewritten).expect("a rewritten snapshot reads");
    assert_eq!(meta, meta_again);
    assert_eq!(records, records_again);
}

/// Replays every file under `dir` through `target` (the regression tests' driver).
pub fn replay_dir(dir: &std::path::Path, target: fn(&[u8])) -> usize {
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        target(&data);
        count += 1;
    }
    count
}

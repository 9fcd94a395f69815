//! sqsraft's SigV4 canonicalisation and verifier against AWS's published SigV4 test suite
//! (the cases under `tests/fixtures/sigv4/`, see its README).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_encode};
use sqsraft_server::auth::canonical::{
    PathEncoding, canonical_request, sha256_hex, string_to_sign,
};
use sqsraft_server::auth::{CredentialStore, Principal, SignedRequest, Verifier};
use sqsraft_server::error::ErrorCode;

const CASES: &[&str] = &[
    "get-vanilla",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-header-value-trim",
    "get-header-key-duplicate",
    "post-x-www-form-urlencoded",
    "post-vanilla-empty-query-value",
    "get-space-normalized",
    "get-utf8",
    "get-slash-dot-slash-normalized",
    "get-relative-relative-normalized",
];

/// Bytes a client must percent-encode in a request target (non-ASCII is always encoded).
const UNSAFE_IN_URI: &AsciiSet = &CONTROLS.add(b' ');

/// 2015-08-30T12:36:00Z, the signing time of every case.
const SIGNED_AT_SECS: u64 = 1_440_938_160;

struct Context {
    access_key_id: String,
    secret: String,
    region: String,
    service: String,
}

/// A request as it would arrive over HTTP/1.1.
struct WireRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl WireRequest {
    fn signed(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            authority: None,
            body: &self.body,
        }
    }
}

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sigv4")
        .join(case)
}

fn read(case: &str, file: &str) -> String {
    let path = case_dir(case).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn context(case: &str) -> Context {
    let json: serde_json::Value = serde_json::from_str(&read(case, "context.json")).unwrap();
    assert_eq!(json["timestamp"], "2015-08-30T12:36:00Z", "{case}");
    let text = |pointer: &str| json.pointer(pointer).unwrap().as_str().unwrap().to_owned();
    Context {
        access_key_id: text("/credentials/access_key_id"),
        secret: text("/credentials/secret_access_key"),
        region: text("/region"),
        service: text("/service"),
    }
}

/// Parses a `*-signed-request.txt` file. Paths and queries in the suite are written
/// unencoded (spaces, UTF-8); an HTTP client would percent-encode those bytes, so they are.
fn parse_request(text: &str) -> WireRequest {
    let (head, body) = match text.split_once("\n\n") {
        Some((head, body)) => (head, body),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, target) = request_line
        .strip_suffix(" HTTP/1.1")
        .and_then(|line| line.split_once(' '))
        .unwrap();
    let target = percent_encode(target.as_bytes(), UNSAFE_IN_URI).to_string();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        assert!(
            !name.starts_with([' ', '\t']),
            "folded header lines are not HTTP/1.1"
        );
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            // An HTTP parser strips optional whitespace around the value.
            HeaderValue::from_str(value.trim_matches([' ', '\t'])).unwrap(),
        );
    }
    WireRequest {
        method: method.to_owned(),
        path,
        query,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// The value of `name=` inside a comma- or ampersand-separated list.
fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.split([',', '&', ' '])
        .find_map(|part| part.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

fn signed_headers(encoded: &str) -> Vec<String> {
    encoded
        .replace("%3B", ";")
        .split(';')
        .map(str::to_owned)
        .collect()
}

fn signed_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SIGNED_AT_SECS)
}

/// Checks one form (`header` or `query`) of one case.
fn check_form(case: &str, form: &str) {
    let ctx = context(case);
    let request = parse_request(&read(case, &format!("{form}-signed-request.txt")));
    let req = request.signed();
    let (presigned, names, signature) = if form == "header" {
        let auth = request.headers["authorization"].to_str().unwrap();
        (
            false,
            signed_headers(field(auth, "SignedHeaders=")),
            field(auth, "Signature="),
        )
    } else {
        let query = req.query.unwrap();
        (
            true,
            signed_headers(field(query, "X-Amz-SignedHeaders=")),
            field(query, "X-Amz-Signature="),
        )
    };
    let label = format!("{case} ({form})");

    let canonical = canonical_request(
        &req,
        PathEncoding::Decoded,
        presigned,
        &names,
        &sha256_hex(&request.body),
    );
    assert_eq!(
        String::from_utf8(canonical.clone()).unwrap(),
        read(case, &format!("{form}-canonical-request.txt")),
        "canonical request of {label}"
    );
    let scope = format!("20150830/{}/{}/aws4_request", ctx.region, ctx.service);
    let to_sign = string_to_sign("20150830T123600Z", &scope, &canonical);
    assert_eq!(
        to_sign,
        read(case, &format!("{form}-string-to-sign.txt")),
        "string to sign of {label}"
    );
    let key = generate_signing_key(&ctx.secret, signed_at(), &ctx.region, &ctx.service);
    let expected_signature = read(case, &format!("{form}-signature.txt"));
    assert_eq!(
        calculate_signature(&key, to_sign.as_bytes()),
        expected_signature,
        "signature of {label}"
    );
    assert_eq!(signature, expected_signature, "{label}");

    let store = CredentialStore::from_pairs([(ctx.access_key_id.clone(), ctx.secret.clone())]);
    let verifier = Verifier::new(store, ctx.region.clone(), ctx.service.clone());
    assert_eq!(
        verifier.verify(&req, signed_at()),
        Ok(Principal {
            access_key_id: ctx.access_key_id.clone(),
            region: ctx.region.clone(),
        }),
        "verifying {label}"
    );

    // Any other signature, or the same request signed for another service, is refused.
    let mut tampered = read(case, &format!("{form}-signed-request.txt"));
    let flipped = if signature.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{flipped}", &signature[..signature.len() - 1]);
    tampered = tampered.replace(signature, &forged);
    let tampered = parse_request(&tampered);
    let error = verifier
        .verify(&tampered.signed(), signed_at())
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::SignatureDoesNotMatch, "{label}");
    let sqs = Verifier::new(
        CredentialStore::from_pairs([(ctx.access_key_id, ctx.secret)]),
        ctx.region,
        "sqs",
    );
    let error = sqs.verify(&req, signed_at()).unwrap_err();
    assert_eq!(error.code, ErrorCode::SignatureDoesNotMatch, "{label}");
}

#[test]
fn header_form_vectors() {
    for case in CASES {
        check_form(case, "header");
    }
}

#[test]
fn presigned_form_vectors() {
    for case in CASES {
        check_form(case, "query");
    }
}

#[test]
fn presigned_vector_expires_after_its_lifetime() {
    let ctx = context("get-vanilla");
    let request = parse_request(&read("get-vanilla", "query-signed-request.txt"));
    let verifier = Verifier::new(
        CredentialStore::from_pairs([(ctx.access_key_id, ctx.secret)]),
        ctx.region,
        ctx.service,
    );
    // X-Amz-Expires=3600: valid through the last second of the hour, not after.
    let last_valid = signed_at() + Duration::from_secs(3600);
    assert!(verifier.verify(&request.signed(), last_valid).is_ok());
    let error = verifier
        .verify(&request.signed(), last_valid + Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::RequestExpired);
    assert!(error.message.contains("expired"), "{}", error.message);
}

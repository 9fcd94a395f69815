//! Requests signed by `aws-sigv4`'s own signer (what the Rust SDK uses), then verified.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, sign,
};
use aws_sigv4::sign::v4;

use super::*;
use crate::config::Regions;
use crate::error::{ErrorCode, SqsError};

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "eu-central-1";
const ENDPOINT: &str = "http://sqs.local:9324";

/// How the test client signs.
struct Client {
    key: &'static str,
    secret: &'static str,
    region: &'static str,
    service: &'static str,
    /// Sign at this offset from the verifier's clock (negative: in the past).
    skew_secs: i64,
    /// Presign with this lifetime instead of signing the `Authorization` header.
    presign: Option<Duration>,
    unsigned_payload: bool,
    content_sha256_header: bool,
    percent_encoding: PercentEncodingMode,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            key: KEY,
            secret: SECRET,
            region: REGION,
            service: "sqs",
            skew_secs: 0,
            presign: None,
            unsigned_payload: false,
            content_sha256_header: false,
            percent_encoding: PercentEncodingMode::Double,
        }
    }
}

/// The verifier's clock in these tests.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_760_000_000)
}

fn shift(time: SystemTime, secs: i64) -> SystemTime {
    let offset = Duration::from_secs(secs.unsigned_abs());
    if secs < 0 {
        time - offset
    } else {
        time + offset
    }
}

impl Client {
    fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> http::Request<Vec<u8>> {
        let uri = format!("{ENDPOINT}{path_and_query}");
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&uri)
            .header("host", "sqs.local:9324");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder.body(body.as_bytes().to_vec()).unwrap();

        let identity = Credentials::new(self.key, self.secret, None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = self.percent_encoding;
        if self.content_sha256_header {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        if let Some(expires_in) = self.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expires_in);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(shift(now(), self.skew_secs))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let header_pairs: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        let body = if self.unsigned_payload {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(request.body())
        };
        let signable =
            SignableRequest::new(method, uri.as_str(), header_pairs.into_iter(), body).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut request);
        request
    }
}

fn verifier() -> Verifier {
    Verifier::new(CredentialStore::from_pairs([(KEY, SECRET)]), REGION, "sqs")
}

fn verify_with(
    verifier: &Verifier,
    request: &http::Request<Vec<u8>>,
    at: SystemTime,
) -> Result<Principal, SqsError> {
    let signed = SignedRequest {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query(),
        headers: request.headers(),
        authority: request
            .uri()
            .authority()
            .map(|authority| authority.as_str()),
        body: request.body(),
    };
    verifier.verify(&signed, at)
}

fn verify(request: &http::Request<Vec<u8>>) -> Result<Principal, SqsError> {
    verify_with(&verifier(), request, now())
}

fn principal(key: &str) -> Result<Principal, SqsError> {
    Ok(Principal {
        access_key_id: key.to_owned(),
        region: REGION.to_owned(),
    })
}

fn assert_error(result: Result<Principal, SqsError>, code: ErrorCode, message_part: &str) {
    let error = result.unwrap_err();
    assert_eq!(error.code, code, "{error}");
    assert!(error.message.contains(message_part), "{error}");
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const QUERY_BODY: &str = "Action=SendMessage&QueueUrl=http%3A%2F%2Fsqs.local%3A9324%2F000000000000%2Fq&MessageBody=hi+there";

#[test]
fn accepts_query_protocol_post() {
    let request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    assert_eq!(verify(&request), principal(KEY));
}

#[test]
fn accepts_json_protocol_post() {
    let request = Client::default().sign(
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.ReceiveMessage"),
            ("x-amzn-query-mode", "true"),
        ],
        r#"{"QueueUrl":"http://sqs.local:9324/000000000000/q","WaitTimeSeconds":20}"#,
    );
    assert_eq!(verify(&request), principal(KEY));
}

#[test]
fn accepts_queries_paths_and_padded_headers() {
    let client = Client::default();
    for path_and_query in [
        "/?Action=ListQueues&QueueNamePrefix=a%20b%2Bc%2F~&Version=2012-11-05&Empty=",
        "/000000000000/orders.fifo?Action=GetQueueAttributes&AttributeName.1=All",
        "/000000000000/a%20queue/",
        "/000000000000/./q/../q",
    ] {
        let request = client.sign("GET", path_and_query, &[("x-custom", "  a   b  ")], "");
        assert_eq!(verify(&request), principal(KEY), "{path_and_query}");
    }
    // A client that does not re-encode the path (S3 style) is accepted too.
    let single = Client {
        percent_encoding: PercentEncodingMode::Single,
        ..Client::default()
    };
    let request = single.sign("GET", "/000000000000/a%20queue", &[], "");
    assert_eq!(verify(&request), principal(KEY));
}

#[test]
fn accepts_http2_style_authority_without_host_header() {
    let mut request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    request.headers_mut().remove("host");
    assert_eq!(verify(&request), principal(KEY));
}

#[test]
fn wrong_secret_or_tampering_is_signature_does_not_match() {
    let wrong_secret = Client {
        secret: "not-the-secret",
        ..Client::default()
    };
    let request = wrong_secret.sign("POST", "/", &[FORM], QUERY_BODY);
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "signature we calculated",
    );

    let mut request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    *request.body_mut() = QUERY_BODY.replace("hi", "ho").into_bytes();
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "signature we calculated",
    );

    let mut request = Client::default().sign("POST", "/?Action=ListQueues", &[FORM], "");
    *request.uri_mut() = format!("{ENDPOINT}/?Action=DeleteQueue").parse().unwrap();
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "signature we calculated",
    );

    let mut request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    request
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "signature we calculated",
    );
}

#[test]
fn unknown_key_is_invalid_client_token_id() {
    let stranger = Client {
        key: "AKIASTRANGER",
        ..Client::default()
    };
    let request = stranger.sign("POST", "/", &[FORM], QUERY_BODY);
    assert_error(verify(&request), ErrorCode::InvalidClientTokenId, "token");
}

#[test]
fn missing_authentication_token() {
    let request = http::Request::post(format!("{ENDPOINT}/"))
        .header("host", "sqs.local:9324")
        .body(QUERY_BODY.as_bytes().to_vec())
        .unwrap();
    assert_error(
        verify(&request),
        ErrorCode::MissingAuthenticationToken,
        "missing Authentication Token",
    );
}

#[test]
fn clock_skew_of_fifteen_minutes_is_tolerated_and_no_more() {
    for (skew_secs, accepted) in [
        (-14 * 60, true),
        (14 * 60, true),
        (-15 * 60, true),
        (15 * 60, true),
        (-15 * 60 - 1, false),
        (15 * 60 + 1, false),
        (-24 * 3600, false),
    ] {
        let client = Client {
            skew_secs,
            ..Client::default()
        };
        let result = verify(&client.sign("POST", "/", &[FORM], QUERY_BODY));
        if accepted {
            assert_eq!(result, principal(KEY), "skew {skew_secs}");
        } else {
            let message = if skew_secs < 0 {
                "Signature expired"
            } else {
                "not yet current"
            };
            assert_error(result, ErrorCode::RequestExpired, message);
        }
    }
}

#[test]
fn accepted_regions_verify_with_their_own_signing_key_and_name_the_region() {
    let listed = Verifier::new(
        CredentialStore::from_pairs([(KEY, SECRET)]),
        Regions::Listed {
            home: REGION.into(),
            also: vec!["us-west-2".into()],
        },
        "sqs",
    );
    let any = Verifier::new(
        CredentialStore::from_pairs([(KEY, SECRET)]),
        Regions::Any,
        "sqs",
    );
    for region in [REGION, "us-west-2"] {
        let request = Client {
            region,
            ..Client::default()
        }
        .sign("POST", "/", &[FORM], QUERY_BODY);
        for verifier in [&listed, &any] {
            let principal = verify_with(verifier, &request, now()).unwrap();
            assert_eq!(principal.region, region);
        }
    }
    let unlisted = Client {
        region: "ap-south-1",
        ..Client::default()
    }
    .sign("POST", "/", &[FORM], QUERY_BODY);
    assert_error(
        verify_with(&listed, &unlisted, now()),
        ErrorCode::SignatureDoesNotMatch,
        "valid region, not 'ap-south-1'",
    );
    assert_eq!(
        verify_with(&any, &unlisted, now()).unwrap().region,
        "ap-south-1"
    );
}

#[test]
fn wrong_scope_is_refused() {
    let elsewhere = Client {
        region: "us-west-2",
        ..Client::default()
    };
    let request = elsewhere.sign("POST", "/", &[FORM], QUERY_BODY);
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "valid region, not 'us-west-2'",
    );

    let other_service = Client {
        service: "sns",
        ..Client::default()
    };
    let request = other_service.sign("POST", "/", &[FORM], QUERY_BODY);
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "correct service: 'sqs'",
    );

    // The scope date must be the day of X-Amz-Date.
    let mut request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    let auth = request.headers()["authorization"].to_str().unwrap();
    let yesterday = auth.replace("/20251009/", "/20251008/");
    assert_ne!(auth, yesterday, "the test clock is 2025-10-09");
    request
        .headers_mut()
        .insert("authorization", yesterday.parse().unwrap());
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "Date in Credential scope",
    );
}

#[test]
fn host_and_date_headers_must_be_signed() {
    let request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    let auth = request.headers()["authorization"].to_str().unwrap();
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-amz-date,"),
        "{auth}"
    );
    for (signed, expected) in [
        ("content-type;x-amz-date", "'Host' or ':authority'"),
        (
            "content-type;host",
            "'x-amz-date' header carries the request date",
        ),
    ] {
        let mut request = request.clone();
        let edited = auth.replace("content-type;host;x-amz-date", signed);
        request
            .headers_mut()
            .insert("authorization", edited.parse().unwrap());
        assert_error(verify(&request), ErrorCode::IncompleteSignature, expected);
    }
}

#[test]
fn content_sha256_header_must_match_the_body() {
    let client = Client {
        content_sha256_header: true,
        ..Client::default()
    };
    let request = client.sign("POST", "/", &[FORM], QUERY_BODY);
    assert!(request.headers().contains_key("x-amz-content-sha256"));
    assert_eq!(verify(&request), principal(KEY));

    let mut tampered = request.clone();
    *tampered.body_mut() = b"Action=PurgeQueue".to_vec();
    assert_error(
        verify(&tampered),
        ErrorCode::SignatureDoesNotMatch,
        "'x-amz-content-sha256' header does not match",
    );

    let unsigned = Client {
        content_sha256_header: true,
        unsigned_payload: true,
        ..Client::default()
    };
    let request = unsigned.sign("POST", "/", &[FORM], QUERY_BODY);
    assert_eq!(
        request.headers()["x-amz-content-sha256"],
        "UNSIGNED-PAYLOAD"
    );
    assert_error(
        verify(&request),
        ErrorCode::SignatureDoesNotMatch,
        "only accepted for presigned URLs",
    );
}

#[test]
fn presigned_urls_are_verified_and_expire() {
    let presigner = Client {
        presign: Some(Duration::from_secs(300)),
        ..Client::default()
    };
    let request = presigner.sign("GET", "/000000000000/q?Action=ReceiveMessage", &[], "");
    assert!(!request.headers().contains_key("authorization"));
    assert!(request.uri().query().unwrap().contains("X-Amz-Signature="));
    let verifier = verifier();
    assert_eq!(verify_with(&verifier, &request, now()), principal(KEY));
    // Valid for its whole lifetime, well past the 15-minute skew window if it were longer.
    let last_second = shift(now(), 300);
    assert_eq!(
        verify_with(&verifier, &request, last_second),
        principal(KEY)
    );
    assert_error(
        verify_with(&verifier, &request, shift(now(), 301)),
        ErrorCode::RequestExpired,
        "Request has expired",
    );
    // Not before its date, beyond the skew allowance.
    assert_error(
        verify_with(&verifier, &request, shift(now(), -15 * 60 - 1)),
        ErrorCode::RequestExpired,
        "not yet current",
    );

    let week = Client {
        presign: Some(Duration::from_secs(7 * 24 * 3600)),
        skew_secs: -6 * 24 * 3600,
        ..Client::default()
    };
    let request = week.sign("GET", "/?Action=ListQueues", &[], "");
    assert_eq!(verify(&request), principal(KEY));

    let mut tampered = presigner.sign("GET", "/000000000000/q?Action=ReceiveMessage", &[], "");
    let query = tampered
        .uri()
        .query()
        .unwrap()
        .replace("ReceiveMessage", "PurgeQueue");
    *tampered.uri_mut() = format!("{ENDPOINT}/000000000000/q?{query}")
        .parse()
        .unwrap();
    assert_error(
        verify(&tampered),
        ErrorCode::SignatureDoesNotMatch,
        "signature we calculated",
    );
}

#[test]
fn presigned_urls_may_sign_the_body_or_unsigned_payload() {
    for unsigned_payload in [false, true] {
        let presigner = Client {
            presign: Some(Duration::from_secs(60)),
            unsigned_payload,
            ..Client::default()
        };
        let request = presigner.sign("POST", "/", &[FORM], QUERY_BODY);
        assert_eq!(
            verify(&request),
            principal(KEY),
            "unsigned {unsigned_payload}"
        );
        let mut tampered = request.clone();
        *tampered.body_mut() = b"Action=PurgeQueue".to_vec();
        let result = verify(&tampered);
        if unsigned_payload {
            assert_eq!(result, principal(KEY), "an unsigned payload is not covered");
        } else {
            assert_error(
                result,
                ErrorCode::SignatureDoesNotMatch,
                "signature we calculated",
            );
        }
    }
}

#[test]
fn rotated_credentials_file_applies_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let write = |key: &str, secret: &str| {
        let json = format!(
            r#"{{"credentials":[{{"accessKeyId":"{key}","secretAccessKey":"{secret}"}},
                                {{"accessKeyId":"AKIASTABLE","secretAccessKey":"stable"}}]}}"#
        );
        std::fs::write(&path, json).unwrap();
    };
    write(KEY, SECRET);
    let verifier = Verifier::new(CredentialStore::load(&path).unwrap(), REGION, "sqs");
    let old = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    let stable = Client {
        key: "AKIASTABLE",
        secret: "stable",
        ..Client::default()
    }
    .sign("POST", "/", &[FORM], QUERY_BODY);
    let new = Client {
        key: "AKIANEWKEY",
        secret: "new-secret",
        ..Client::default()
    }
    .sign("POST", "/", &[FORM], QUERY_BODY);
    assert_eq!(verify_with(&verifier, &old, now()), principal(KEY));
    assert_error(
        verify_with(&verifier, &new, now()),
        ErrorCode::InvalidClientTokenId,
        "token",
    );

    write("AKIANEWKEY", "new-secret");
    std::thread::sleep(RELOAD_INTERVAL + Duration::from_millis(100));
    assert_eq!(verify_with(&verifier, &new, now()), principal("AKIANEWKEY"));
    assert_eq!(
        verify_with(&verifier, &stable, now()),
        principal("AKIASTABLE")
    );
    assert_error(
        verify_with(&verifier, &old, now()),
        ErrorCode::InvalidClientTokenId,
        "token",
    );
}

#[test]
fn mangled_authorization_headers_are_refused_without_panicking() {
    let request = Client::default().sign("POST", "/", &[FORM], QUERY_BODY);
    let auth = request.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let signature_at = auth.find("Signature=").unwrap() + "Signature=".len();
    let verifier = verifier();
    for index in 0..auth.len() {
        for replacement in [" ", ",", "=", "/", ";", "A", "0", "\t", ""] {
            let mut mangled = auth.clone();
            mangled.replace_range(index..=index, replacement);
            let mut request = request.clone();
            match mangled.parse() {
                Ok(value) => request.headers_mut().insert("authorization", value),
                Err(_) => continue,
            };
            let result = verify_with(&verifier, &request, now());
            // Inside the signature, any change is refused (as a mismatch, or as malformed
            // when it breaks the header's syntax).
            if index >= signature_at && mangled != auth {
                let code = result.unwrap_err().code;
                assert!(
                    matches!(
                        code,
                        ErrorCode::SignatureDoesNotMatch | ErrorCode::IncompleteSignature
                    ),
                    "{mangled}: {code}"
                );
            }
        }
        // Truncations never verify.
        let mut request = request.clone();
        request
            .headers_mut()
            .insert("authorization", auth[..index].parse().unwrap());
        assert!(
            verify_with(&verifier, &request, now()).is_err(),
            "{}",
            &auth[..index]
        );
    }
}

//! The SigV4 canonical request and string to sign, built per AWS's rules:
//!
//! ```text
//! METHOD \n CANONICAL-URI \n CANONICAL-QUERY \n CANONICAL-HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
//! ```
//!
//! * URI: dot segments and empty segments removed, each segment URI-encoded (see
//!   [`PathEncoding`]).
//! * Query: every parameter decoded, re-encoded with AWS's unreserved set
//!   (`A-Z a-z 0-9 - _ . ~`), sorted by encoded name, then encoded value.
//! * Headers: lowercase names in sorted order, each value trimmed with runs of spaces
//!   collapsed, repeated headers joined with `,`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};
use sha2::{Digest, Sha256};

use super::SignedRequest;

/// The only algorithm sqsraft accepts.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The query parameter holding a presigned URL's signature; never part of what is signed.
pub(crate) const SIGNATURE_PARAM: &str = "X-Amz-Signature";

/// Everything but AWS's unreserved characters gets percent-encoded (uppercase hex).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How the request path, as received (already percent-encoded), becomes the canonical URI.
///
/// The two readings differ only for paths containing `%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEncoding {
    /// Encode each segment as received, so `%20` becomes `%2520`. The AWS SDKs (botocore,
    /// smithy-rs) sign this way for every service but S3: AWS's "encode twice" rule applied
    /// to a path that went on the wire encoded once.
    AsSent,
    /// Percent-decode each segment, then encode it once: how AWS's published SigV4 test
    /// suite reads its request paths (`/example%20space/` stays `/example%20space/`).
    Decoded,
}

/// The canonical URI of a raw request path.
fn canonical_uri(path: &str, encoding: PathEncoding) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/') {
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            segment => {
                segments.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut uri = String::with_capacity(path.len() + 1);
    for segment in &segments {
        uri.push('/');
        match encoding {
            PathEncoding::AsSent => uri.extend(percent_encode(segment.as_bytes(), ENCODE)),
            PathEncoding::Decoded => {
                uri.extend(percent_encode(&percent_decode(segment, false), ENCODE))
            }
        }
    }
    if segments.is_empty() || trailing_slash {
        uri.push('/');
    }
    uri
}

/// The canonical query string of a raw query. With `presigned`, the `X-Amz-Signature`
/// parameter is left out.
fn canonical_query(query: Option<&str>, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query.unwrap_or_default())
        .filter(|(name, _)| !(presigned && name == SIGNATURE_PARAM.as_bytes()))
        .map(|(name, value)| (encode(&name), encode(&value)))
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The full canonical request.
///
/// `signed_headers` are the lowercase header names the client signed, sorted. A signed
/// `host` missing from the headers falls back to [`SignedRequest::authority`]; any other
/// missing signed header contributes an empty value (and the signature will not match).
pub fn canonical_request(
    req: &SignedRequest<'_>,
    path_encoding: PathEncoding,
    presigned: bool,
    signed_headers: &[impl AsRef<str>],
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + req.path.len() + req.query.map_or(0, str::len));
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(req.path, path_encoding).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(req.query, presigned).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        let name = name.as_ref();
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = req.headers.get_all(name).iter().peekable();
        if values.peek().is_none() && name == "host" {
            out.extend_from_slice(req.authority.unwrap_or_default().as_bytes());
        }
        for (index, value) in values.enumerate() {
            if index > 0 {
                out.push(b',');
            }
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (index, name) in signed_headers.iter().enumerate() {
        if index > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_ref().as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// The string to sign: algorithm, timestamp (`YYYYMMDDTHHMMSSZ`), credential scope
/// (`date/region/service/aws4_request`) and the hex SHA-256 of the canonical request.
pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// Lowercase hex SHA-256, the form SigV4 uses for payload and canonical-request hashes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Decoded `(name, value)` pairs of a raw query string; `+` means space, a pair without
/// `=` has an empty value, empty pairs (`a&&b`) are skipped.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name, true), percent_decode(value, true))
        })
}

fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, ENCODE).to_string()
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays literal.
fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| Some((hex_value(hex[0])? << 4) | hex_value(hex[1])?));
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                index += 3;
            }
            None => {
                out.push(if plus_is_space && byte == b'+' {
                    b' '
                } else {
                    byte
                });
                index += 1;
            }
        }
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// Appends a header value with leading and trailing whitespace removed and every run of
/// spaces inside collapsed to one.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let is_blank = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = value
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(start, |i| i + 1);
    let mut previous_space = false;
    for &byte in &value[start..end] {
        let space = byte == b' ';
        if !(space && previous_space) {
            out.push(byte);
        }
        previous_space = space;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_normalization() {
        for (raw, expected) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/../../x", "/x"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/example/.", "/example/"),
            ("/123456789012/orders.fifo", "/123456789012/orders.fifo"),
            ("/a b/~c", "/a%20b/~c"),
            ("/\u{1234}", "/%E1%88%B4"),
            ("/@:+", "/%40%3A%2B"),
        ] {
            assert_eq!(
                canonical_uri(raw, PathEncoding::AsSent),
                expected,
                "{raw:?}"
            );
            assert_eq!(
                canonical_uri(raw, PathEncoding::Decoded),
                expected,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn uri_encodings_differ_only_on_percent() {
        let raw = "/test/@connections/JBDvjfGEIAMCERw%3D";
        assert_eq!(
            canonical_uri(raw, PathEncoding::AsSent),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        assert_eq!(
            canonical_uri(raw, PathEncoding::Decoded),
            "/test/%40connections/JBDvjfGEIAMCERw%3D"
        );
        // An encoded slash stays inside its segment; a stray `%` stays literal.
        assert_eq!(
            canonical_uri("/a%2Fb/%zz%4", PathEncoding::Decoded),
            "/a%2Fb/%25zz%254"
        );
    }

    #[test]
    fn query_sorting_and_encoding() {
        assert_eq!(canonical_query(None, false), "");
        assert_eq!(canonical_query(Some(""), false), "");
        assert_eq!(
            canonical_query(Some("Param2=value2&Param1=value1"), false),
            "Param1=value1&Param2=value2"
        );
        // Sorted by encoded name, then value; duplicates kept.
        assert_eq!(
            canonical_query(Some("b=2&a=z&a=y&A=x"), false),
            "A=x&a=y&a=z&b=2"
        );
        assert_eq!(
            canonical_query(Some("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"), false),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        // Bare names and empty pairs; `+` and `%20` both mean space; `%2B` is a plus.
        assert_eq!(
            canonical_query(Some("flag&&k=&q=a+b%20c%2Bd&u=%7e%2d"), false),
            "flag=&k=&q=a%20b%20c%2Bd&u=~-"
        );
        // Raw bytes that are not UTF-8 survive decoding unchanged.
        assert_eq!(canonical_query(Some("x=%FF%fe"), false), "x=%FF%FE");
    }

    #[test]
    fn presigned_query_drops_only_the_signature() {
        let query = "X-Amz-Signature=abc&X-Amz-Date=20150830T123600Z&x-amz-signature=keep";
        assert_eq!(
            canonical_query(Some(query), true),
            "X-Amz-Date=20150830T123600Z&x-amz-signature=keep"
        );
        assert!(
            canonical_query(Some(query), false)
                .starts_with("X-Amz-Date=20150830T123600Z&X-Amz-Signature=abc")
        );
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        for (raw, expected) in [
            ("value1", "value1"),
            ("  \"a   b   c\" \t", "\"a b c\""),
            ("a\t\tb", "a\t\tb"),
            ("   ", ""),
            ("", ""),
        ] {
            let mut out = Vec::new();
            push_trimmed(&mut out, raw.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{raw:?}");
        }
    }

    #[test]
    fn canonical_request_joins_repeated_headers_and_uses_authority_for_host() {
        let mut headers = http::HeaderMap::new();
        headers.append("my-header1", "value2".parse().unwrap());
        headers.append("my-header1", " value1 ".parse().unwrap());
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: None,
            headers: &headers,
            authority: Some("example.amazonaws.com"),
            body: b"",
        };
        let creq = canonical_request(
            &req,
            PathEncoding::AsSent,
            false,
            &["host", "missing", "my-header1"],
            "UNSIGNED-PAYLOAD",
        );
        assert_eq!(
            String::from_utf8(creq).unwrap(),
            "GET\n/\n\nhost:example.amazonaws.com\nmissing:\nmy-header1:value2,value1\n\n\
             host;missing;my-header1\nUNSIGNED-PAYLOAD"
        );
    }
}

//! Extracts the SigV4 parameters from a request: the `Authorization` header or the
//! presigned-URL query parameters, plus the request timestamp. Syntax only; the verifier
//! judges the values.

use std::time::SystemTime;

use http::HeaderMap;

use super::SignedRequest;
use super::amz_date;
use super::canonical::{ALGORITHM, SIGNATURE_PARAM, query_pairs};
use crate::error::{ErrorCode, SqsError};

/// Longest accepted `X-Amz-Expires`: seven days, as AWS allows.
pub(crate) const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// The SigV4 parameters of one request.
#[derive(Debug)]
pub(crate) struct AuthParams {
    /// From presigned-URL query parameters rather than the `Authorization` header.
    pub presigned: bool,
    pub credential: Credential,
    /// Lowercase header names, sorted, without duplicates.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// The timestamp as signed (`YYYYMMDDTHHMMSSZ`) and as a time.
    pub timestamp: String,
    pub time: SystemTime,
    /// Which header carried the timestamp (header form only).
    pub date_header: Option<&'static str>,
    /// `X-Amz-Expires` in seconds (presigned form only).
    pub expires_secs: Option<u64>,
}

/// `<access key id>/<date>/<region>/<service>/<terminator>`.
#[derive(Debug)]
pub(crate) struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub terminator: String,
}

impl Credential {
    /// The credential scope: everything after the access key id.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

const PRESIGN_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    SIGNATURE_PARAM,
];

fn incomplete(message: impl Into<String>) -> SqsError {
    SqsError::new(ErrorCode::IncompleteSignature, message)
}

/// Reads the SigV4 parameters of `req`, rejecting requests without any
/// (`MissingAuthenticationToken`) or with malformed ones (`IncompleteSignature`).
pub(crate) fn extract(req: &SignedRequest<'_>) -> Result<AuthParams, SqsError> {
    let header = single_header(req.headers, "authorization")?;
    let query = presign_params(req.query.unwrap_or_default())?;
    match (header, query.iter().any(Option::is_some)) {
        (Some(_), true) => Err(incomplete(
            "Found both an Authorization header and presigned-URL query parameters; \
             use only one authentication mechanism.",
        )),
        (Some(header), false) => from_header(header, req.headers),
        (None, true) => from_query(query),
        (None, false) => Err(SqsError::new(
            ErrorCode::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        )),
    }
}

/// The value of a header that must appear at most once, as text.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, SqsError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(incomplete(format!(
            "The request has more than one '{name}' header."
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| incomplete(format!("The '{name}' header is not printable ASCII.")))
}

/// The values of [`PRESIGN_PARAMS`] in the query, in that order.
fn presign_params(query: &str) -> Result<[Option<String>; 6], SqsError> {
    let mut found: [Option<String>; 6] = Default::default();
    for (name, value) in query_pairs(query) {
        let Some(slot) = PRESIGN_PARAMS.iter().position(|p| p.as_bytes() == name) else {
            continue;
        };
        if found[slot].is_some() {
            return Err(incomplete(format!(
                "The query parameter '{}' appears more than once.",
                PRESIGN_PARAMS[slot]
            )));
        }
        let value = String::from_utf8(value).map_err(|_| {
            incomplete(format!(
                "The query parameter '{}' is not valid UTF-8.",
                PRESIGN_PARAMS[slot]
            ))
        })?;
        found[slot] = Some(value);
    }
    Ok(found)
}

fn from_header(header: &str, headers: &HeaderMap) -> Result<AuthParams, SqsError> {
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    check_algorithm(algorithm)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        if component.is_empty() {
            continue;
        }
        let Some((key, value)) = component.split_once('=') else {
            return Err(incomplete(format!(
                "'{component}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(incomplete(format!(
                "Authorization header has more than one '{key}' parameter."
            )));
        }
    }
    let missing: Vec<String> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(name, _)| format!("Authorization header requires '{name}' parameter."))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(format!(
            "{} Authorization={header}",
            missing.join(" ")
        )));
    };

    let (date_header, timestamp, time) = if let Some(value) = single_header(headers, "x-amz-date")?
    {
        let time = amz_date::parse(value).ok_or_else(|| {
            incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })?;
        ("x-amz-date", value.to_owned(), time)
    } else if let Some(value) = single_header(headers, "date")? {
        let time = httpdate::parse_http_date(value)
            .map_err(|_| incomplete(format!("The 'Date' header '{value}' is not an HTTP date.")))?;
        ("date", amz_date::format(time), time)
    } else {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };

    Ok(AuthParams {
        presigned: false,
        credential: parse_credential(credential)?,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: signature.to_owned(),
        timestamp,
        time,
        date_header: Some(date_header),
        expires_secs: None,
    })
}

fn from_query(params: [Option<String>; 6]) -> Result<AuthParams, SqsError> {
    let [
        Some(algorithm),
        Some(credential),
        Some(timestamp),
        Some(expires),
        Some(signed_headers),
        Some(signature),
    ] = params
    else {
        return Err(incomplete(format!(
            "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
            PRESIGN_PARAMS.map(|name| format!("'{name}'")).join(", ")
        )));
    };
    check_algorithm(&algorithm)?;
    let time = amz_date::parse(&timestamp).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\". Got '{timestamp}'."
        ))
    })?;
    let expires_secs = expires
        .parse::<u64>()
        .ok()
        .filter(|secs| (1..=MAX_EXPIRES_SECS).contains(secs))
        .ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Expires must be a whole number of seconds from 1 to {MAX_EXPIRES_SECS}. Got '{expires}'."
            ))
        })?;
    Ok(AuthParams {
        presigned: true,
        credential: parse_credential(&credential)?,
        signed_headers: parse_signed_headers(&signed_headers)?,
        signature,
        timestamp,
        time,
        date_header: None,
        expires_secs: Some(expires_secs),
    })
}

fn check_algorithm(algorithm: &str) -> Result<(), SqsError> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only {ALGORITHM} is supported."
        )))
    }
}

fn parse_credential(text: &str) -> Result<Credential, SqsError> {
    let parts: Vec<&str> = text.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{text}'."
        )));
    };
    if access_key_id.is_empty() {
        return Err(incomplete(format!(
            "Credential has an empty access key id: '{text}'."
        )));
    }
    Ok(Credential {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        terminator: terminator.to_owned(),
    })
}

fn parse_signed_headers(text: &str) -> Result<Vec<String>, SqsError> {
    let mut names = Vec::new();
    for name in text.split(';') {
        let name = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(incomplete(format!(
                "SignedHeaders '{text}' contains an invalid header name '{name}'."
            )));
        }
        names.push(name);
    }
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> SignedRequest<'a> {
        SignedRequest {
            method: "POST",
            path: "/",
            query,
            headers,
            authority: None,
            body: b"",
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sqs/aws4_request, \
                        SignedHeaders=x-amz-date;Host;host, Signature=abcd";

    #[test]
    fn parses_the_header_form() {
        let map = headers(&[("authorization", AUTH), ("x-amz-date", "20150830T123600Z")]);
        let params = extract(&request(&map, Some("Action=ListQueues"))).unwrap();
        assert!(!params.presigned);
        assert_eq!(params.credential.access_key_id, "AKID");
        assert_eq!(
            params.credential.scope(),
            "20150830/us-east-1/sqs/aws4_request"
        );
        assert_eq!(params.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(params.signature, "abcd");
        assert_eq!(params.timestamp, "20150830T123600Z");
        assert_eq!(params.date_header, Some("x-amz-date"));
    }

    #[test]
    fn falls_back_to_the_date_header() {
        let map = headers(&[
            ("authorization", AUTH),
            ("date", "Sun, 30 Aug 2015 12:36:00 GMT"),
        ]);
        let params = extract(&request(&map, None)).unwrap();
        assert_eq!(params.timestamp, "20150830T123600Z");
        assert_eq!(params.date_header, Some("date"));
    }

    #[test]
    fn parses_the_presigned_form() {
        let map = HeaderMap::new();
        let query = "Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                     &X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsqs%2Faws4_request\
                     &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60\
                     &X-Amz-SignedHeaders=host&X-Amz-Signature=abcd";
        let params = extract(&request(&map, Some(query))).unwrap();
        assert!(params.presigned);
        assert_eq!(params.credential.region, "us-east-1");
        assert_eq!(params.expires_secs, Some(60));
        assert_eq!(params.signed_headers, ["host"]);
    }

    fn error_of(pairs: &[(&str, &str)], query: Option<&str>) -> SqsError {
        let map = headers(pairs);
        extract(&request(&map, query)).unwrap_err()
    }

    #[test]
    fn missing_authentication() {
        let error = error_of(
            &[("x-amz-date", "20150830T123600Z")],
            Some("Action=ListQueues"),
        );
        assert_eq!(error.code, ErrorCode::MissingAuthenticationToken);
    }

    #[test]
    fn malformed_header_forms_are_incomplete_signatures() {
        let date = ("x-amz-date", "20150830T123600Z");
        for (auth, expected) in [
            ("", "Unsupported AWS 'algorithm'"),
            ("AWS AKID:sig", "Unsupported AWS 'algorithm'"),
            ("AWS4-HMAC-SHA256", "requires 'Credential'"),
            (
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sqs/aws4_request, Signature=x",
                "requires 'SignedHeaders'",
            ),
            ("AWS4-HMAC-SHA256 Credential", "missing equal-sign"),
            (
                "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=x",
                "exactly 5 slash-delimited",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=/a/b/c/d, SignedHeaders=host, Signature=x",
                "empty access key id",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=ho st, Signature=x",
                "invalid header name",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=x",
                "invalid header name",
            ),
            (
                "AWS4-HMAC-SHA256 Signature=x, Signature=y",
                "more than one 'Signature'",
            ),
        ] {
            let error = error_of(&[("authorization", auth), date], None);
            assert_eq!(error.code, ErrorCode::IncompleteSignature, "{auth}");
            assert!(
                error.message.contains(expected),
                "{auth}: {}",
                error.message
            );
        }
    }

    #[test]
    fn bad_or_missing_dates_are_incomplete_signatures() {
        for (date_headers, expected) in [
            (vec![], "either a 'X-Amz-Date' or a 'Date'"),
            (vec![("x-amz-date", "2015-08-30T12:36:00Z")], "ISO-8601"),
            (vec![("date", "yesterday")], "not an HTTP date"),
            (
                vec![
                    ("x-amz-date", "20150830T123600Z"),
                    ("x-amz-date", "20150830T123600Z"),
                ],
                "more than one 'x-amz-date'",
            ),
        ] {
            let mut pairs = vec![("authorization", AUTH)];
            pairs.extend(date_headers);
            let error = error_of(&pairs, None);
            assert_eq!(error.code, ErrorCode::IncompleteSignature);
            assert!(error.message.contains(expected), "{}", error.message);
        }
    }

    #[test]
    fn malformed_presigned_forms_are_incomplete_signatures() {
        let full = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2Fd%2Fr%2Fs%2Ft\
                    &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                    &X-Amz-Signature=x";
        assert!(extract(&request(&HeaderMap::new(), Some(full))).is_ok());
        let cases = [
            (full.replace("&X-Amz-Expires=60", ""), "must include"),
            (
                full.replace("Expires=60", "Expires=0"),
                "X-Amz-Expires must be",
            ),
            (
                full.replace("Expires=60", "Expires=604801"),
                "X-Amz-Expires must be",
            ),
            (
                full.replace("Expires=60", "Expires=-1"),
                "X-Amz-Expires must be",
            ),
            (
                full.replace("Date=20150830T123600Z", "Date=today"),
                "ISO8601",
            ),
            (full.replace("HMAC-SHA256", "HMAC-SHA1"), "Unsupported"),
            (format!("{full}&X-Amz-Signature=y"), "more than once"),
            (
                full.replace("Signature=x", "Signature=%FF"),
                "not valid UTF-8",
            ),
        ];
        for (query, expected) in cases {
            let error = extract(&request(&HeaderMap::new(), Some(&query))).unwrap_err();
            assert_eq!(error.code, ErrorCode::IncompleteSignature, "{query}");
            assert!(
                error.message.contains(expected),
                "{query}: {}",
                error.message
            );
        }
        let both = error_of(&[("authorization", AUTH)], Some(full));
        assert!(both.message.contains("only one authentication mechanism"));
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "",
            " ",
            ",",
            "=",
            "AWS4-HMAC-SHA256 ,,,",
            "AWS4-HMAC-SHA256 =,=,=",
            "AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;;, Signature=",
            "AWS4-HMAC-SHA256 Credential=\u{7f}",
            "AWS4-HMAC-SHA256  Credential==a==",
        ];
        for auth in samples {
            for date in ["", "x", "20150830T123600Z", "99999999T999999Z"] {
                if let (Ok(auth), Ok(date)) = (auth.parse(), date.parse()) {
                    let mut map = HeaderMap::new();
                    map.insert("authorization", auth);
                    map.insert("x-amz-date", date);
                    assert!(extract(&request(&map, Some("%%%&&=&X-Amz-Date=%"))).is_err());
                }
            }
        }
        for (query, code) in [
            ("X-Amz-Signature", ErrorCode::IncompleteSignature),
            ("X-Amz-Algorithm=&&&", ErrorCode::IncompleteSignature),
            ("X-Amz-Credential=%2", ErrorCode::IncompleteSignature),
            ("%", ErrorCode::MissingAuthenticationToken),
            ("=&=", ErrorCode::MissingAuthenticationToken),
        ] {
            let error = extract(&request(&HeaderMap::new(), Some(query))).unwrap_err();
            assert_eq!(error.code, code, "{query}");
        }
    }
}

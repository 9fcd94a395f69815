//! Checks a request's SigV4 signature against the accepted regions, the service and keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use subtle::{Choice, ConstantTimeEq};

use super::authorization::{self, AuthParams};
use super::canonical::{PathEncoding, canonical_request, sha256_hex, string_to_sign};
use super::{CredentialStore, Principal, SignedRequest, amz_date};
use crate::config::Regions;
use crate::error::{ErrorCode, SqsError};

/// How far a request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The payload hash presigned URLs may sign instead of the body's.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const TERMINATOR: &str = "aws4_request";

/// Verifies SigV4 signatures (header and presigned-URL forms) for the accepted regions
/// and one service.
#[derive(Debug, Clone)]
pub struct Verifier {
    store: Arc<CredentialStore>,
    regions: Regions,
    service: String,
}

impl Verifier {
    /// A verifier accepting credentials scoped to one of `regions` (a `&str` for just one)
    /// and `service` (`sqs` in production).
    pub fn new(
        store: Arc<CredentialStore>,
        regions: impl Into<Regions>,
        service: impl Into<String>,
    ) -> Self {
        Verifier {
            store,
            regions: regions.into(),
            service: service.into(),
        }
    }

    /// Checks the signature of `req` at server time `now` and returns who signed it.
    ///
    /// Errors: `MissingAuthenticationToken` without any SigV4 parameters,
    /// `IncompleteSignature` when they are malformed, `RequestExpired` outside the
    /// ±15-minute window or past a presigned URL's expiry, `InvalidClientTokenId` for an
    /// unknown access key, `SignatureDoesNotMatch` for a wrong scope, body hash or signature.
    pub fn verify(&self, req: &SignedRequest<'_>, now: SystemTime) -> Result<Principal, SqsError> {
        let auth = authorization::extract(req)?;
        check_signed_headers(&auth)?;
        self.check_scope(&auth)?;
        check_time(&auth, now)?;
        let credential = &auth.credential;
        let secret = self
            .store
            .secret(&credential.access_key_id)
            .ok_or_else(|| {
                SqsError::new(
                    ErrorCode::InvalidClientTokenId,
                    "The security token included in the request is invalid.",
                )
            })?;
        let payload_hashes = payload_hashes(req, auth.presigned)?;
        let signing_key =
            generate_signing_key(&secret, auth.time, &credential.region, &self.service);
        let scope = credential.scope();
        let provided = auth.signature.as_bytes();

        // Paths without `%` read the same either way; otherwise accept both readings.
        let path_encodings: &[PathEncoding] = if req.path.contains('%') {
            &[PathEncoding::AsSent, PathEncoding::Decoded]
        } else {
            &[PathEncoding::AsSent]
        };
        let mut matched = Choice::from(0);
        for &encoding in path_encodings {
            for payload_hash in &payload_hashes {
                let canonical = canonical_request(
                    req,
                    encoding,
                    auth.presigned,
                    &auth.signed_headers,
                    payload_hash,
                );
                let to_sign = string_to_sign(&auth.timestamp, &scope, &canonical);
                let expected = calculate_signature(&signing_key, to_sign.as_bytes());
                matched |= expected.as_bytes().ct_eq(provided);
            }
        }
        if bool::from(matched) {
            return Ok(Principal {
                access_key_id: credential.access_key_id.clone(),
                region: credential.region.clone(),
            });
        }
        if tracing::enabled!(tracing::Level::DEBUG) {
            let canonical = canonical_request(
                req,
                path_encodings[0],
                auth.presigned,
                &auth.signed_headers,
                payload_hashes.first().map_or("", String::as_str),
            );
            tracing::debug!(
                access_key_id = %credential.access_key_id,
                canonical_request = %String::from_utf8_lossy(&canonical),
                string_to_sign = %string_to_sign(&auth.timestamp, &scope, &canonical),
                "SigV4 signature mismatch"
            );
        }
        Err(signature_mismatch(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ))
    }

    fn check_scope(&self, auth: &AuthParams) -> Result<(), SqsError> {
        let credential = &auth.credential;
        if credential.terminator != TERMINATOR {
            return Err(signature_mismatch(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
                credential.terminator
            )));
        }
        if credential.service != self.service {
            return Err(signature_mismatch(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.service
            )));
        }
        if !self.regions.accepts(&credential.region) {
            return Err(signature_mismatch(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                credential.region
            )));
        }
        let day = auth.timestamp.get(..8).unwrap_or_default();
        if credential.date != day {
            return Err(signature_mismatch(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{day}', from '{}'.",
                credential.date, auth.timestamp
            )));
        }
        Ok(())
    }
}

fn signature_mismatch(message: impl Into<String>) -> SqsError {
    SqsError::new(ErrorCode::SignatureDoesNotMatch, message)
}

/// `host` must be signed, and so must the header that carried the timestamp.
fn check_signed_headers(auth: &AuthParams) -> Result<(), SqsError> {
    let signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
    let message = if !signed("host") {
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned()
    } else if let Some(date) = auth.date_header
        && !signed(date)
    {
        format!("The '{date}' header carries the request date and must be a 'SignedHeader'.")
    } else {
        return Ok(());
    };
    Err(SqsError::new(ErrorCode::IncompleteSignature, message))
}

fn check_time(auth: &AuthParams, now: SystemTime) -> Result<(), SqsError> {
    let expired = |message: String| Err(SqsError::new(ErrorCode::RequestExpired, message));
    let signed = &auth.timestamp;
    let latest = now.checked_add(MAX_CLOCK_SKEW).unwrap_or(now);
    if auth.time > latest {
        let limit = amz_date::format(latest);
        let now = amz_date::format(now);
        return expired(format!(
            "Signature not yet current: {signed} is still later than {limit} ({now} + 15 min.)"
        ));
    }
    match auth.expires_secs {
        Some(expires_secs) => {
            let valid_until = auth
                .time
                .checked_add(Duration::from_secs(expires_secs))
                .unwrap_or(auth.time);
            if now > valid_until {
                let (valid_until, now) = (amz_date::format(valid_until), amz_date::format(now));
                return expired(format!(
                    "Request has expired: signed at {signed} for {expires_secs} seconds, valid \
                     until {valid_until}, now {now}."
                ));
            }
        }
        None => {
            let earliest = now.checked_sub(MAX_CLOCK_SKEW).unwrap_or(now);
            if auth.time < earliest {
                let limit = amz_date::format(earliest);
                let now = amz_date::format(now);
                return expired(format!(
                    "Signature expired: {signed} is now earlier than {limit} ({now} - 15 min.)"
                ));
            }
        }
    }
    Ok(())
}

/// The payload hashes the canonical request may carry.
///
/// The body's SHA-256, always; a presigned URL may also have signed `UNSIGNED-PAYLOAD`. An
/// `x-amz-content-sha256` header must match the body (or be `UNSIGNED-PAYLOAD` on a
/// presigned URL) and then decides.
fn payload_hashes(req: &SignedRequest<'_>, presigned: bool) -> Result<Vec<String>, SqsError> {
    let body_hash = sha256_hex(req.body);
    let mut declared = req.headers.get_all("x-amz-content-sha256").iter();
    let Some(value) = declared.next() else {
        return Ok(if presigned {
            vec![body_hash, UNSIGNED_PAYLOAD.to_owned()]
        } else {
            vec![body_hash]
        });
    };
    if declared.next().is_some() {
        return Err(SqsError::new(
            ErrorCode::IncompleteSignature,
            "The request has more than one 'x-amz-content-sha256' header.",
        ));
    }
    let value = value.as_bytes();
    if value == body_hash.as_bytes() {
        Ok(vec![body_hash])
    } else if value == UNSIGNED_PAYLOAD.as_bytes() {
        if presigned {
            Ok(vec![UNSIGNED_PAYLOAD.to_owned()])
        } else {
            Err(signature_mismatch(
                "UNSIGNED-PAYLOAD is only accepted for presigned URLs; sign the body's SHA-256.",
            ))
        }
    } else {
        Err(signature_mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ))
    }
}

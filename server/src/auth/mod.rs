//! SigV4 authentication of SQS requests.
//!
//! [`CredentialStore`] holds the access keys (hot-reloaded from a JSON file);
//! [`Verifier::verify`] checks a request's `Authorization: AWS4-HMAC-SHA256 …` header or
//! presigned-URL query parameters against them and returns the [`Principal`], or the
//! [`SqsError`](crate::error::SqsError) AWS would answer with. [`canonical`] builds the
//! canonical request and string to sign; key derivation and the HMAC come from `aws-sigv4`.
//!
//! ```no_run
//! # use sqsraft_server::auth::{CredentialStore, SignedRequest, Verifier};
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> anyhow::Result<()> {
//! let store = CredentialStore::load("/etc/sqsraft/credentials.json".as_ref())?;
//! let verifier = Verifier::new(store, "us-east-1", "sqs");
//! let request = SignedRequest {
//!     method: "POST",
//!     path: "/",
//!     query: None,
//!     headers,
//!     authority: None,
//!     body,
//! };
//! let principal = verifier.verify(&request, std::time::SystemTime::now())?;
//! # let _ = principal; Ok(()) }
//! ```

mod amz_date;
mod authorization;
pub mod canonical;
mod credentials;
mod verify;

#[cfg(test)]
mod tests;

pub use credentials::{CredentialStore, RELOAD_INTERVAL};
pub use verify::{MAX_CLOCK_SKEW, Verifier};

/// The parts of a received HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub path: &'a str,
    /// The query string as received (without `?`), still percent-encoded.
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    /// The request URI's authority, used as the `host` value when there is no `Host`
    /// header (HTTP/2 carries it in `:authority`).
    pub authority: Option<&'a str>,
    /// The complete request body.
    pub body: &'a [u8],
}

/// Who signed an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub access_key_id: String,
    /// The region of the signature's scope (one of the accepted regions).
    pub region: String,
}

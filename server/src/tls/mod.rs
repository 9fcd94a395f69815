//! TLS material read from PEM files and kept current: [`reload`] re-reads a file set when
//! it changes (both ports' certificates use it), [`pem`] turns PEM into rustls types, and
//! [`server_cert`] is the SQS port's HTTPS identity (a server certificate, no client
//! certificate asked for). The internal port's mutual TLS builds on the same parts in
//! `peer::tls`.

pub mod pem;
pub mod reload;
pub mod server_cert;

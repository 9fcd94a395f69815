//! The operator's client identity towards each cluster's internal port, as a rustls
//! configuration: a short-lived certificate signed by the cluster CA (or the user's
//! certificate), kept until it nears its end or what it was made from changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::tls::AdminTrust;
use crate::error::Error;
use crate::membership::admin::mutual_tls_config;
use crate::pki::{Authority, Profile};

/// Validity of the operator's certificates; never written anywhere, re-issued freely.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// A certificate is replaced once it has less than this left.
const REFRESH_BEFORE: Duration = Duration::from_secs(12 * 3600);

struct Cached {
    trust: AdminTrust,
    refresh_at: SystemTime,
    config: Arc<rustls::ClientConfig>,
}

/// Client configurations per cluster (namespace, name).
#[derive(Default)]
pub struct Identities {
    cache: Mutex<HashMap<(String, String), Cached>>,
}

impl Identities {
    /// The configuration for cluster `key` under `trust`, issued anew when none is
    /// cached, `trust` changed (a CA rotation step, the user's new certificate) or the
    /// cached certificate nears its end.
    pub fn config(
        &self,
        key: (String, String),
        trust: &AdminTrust,
        now: SystemTime,
    ) -> Result<Arc<rustls::ClientConfig>, Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.get(&key)
            && cached.trust == *trust
            && now < cached.refresh_at
        {
            return Ok(cached.config.clone());
        }
        let (bundle, cert_pem, key_pem, refresh_at) = match trust {
            AdminTrust::Issue { bundle, signer } => {
                let profile = Profile {
                    common_name: "sqsraft-operator".into(),
                    sans: Vec::new(),
                    server: false,
                };
                let issued = Authority::load(&signer.cert_pem, &signer.key_pem)?
                    .issue(&profile, now, LIFETIME)?;
                let refresh_at = now + LIFETIME - REFRESH_BEFORE;
                (bundle, issued.cert_pem, issued.key_pem, refresh_at)
            }
            AdminTrust::Present {
                bundle,
                cert_pem,
                key_pem,
            } => (
                bundle,
                cert_pem.clone(),
                key_pem.clone(),
                now + REFRESH_BEFORE,
            ),
        };
        let config =
            mutual_tls_config(bundle, &cert_pem, &key_pem).map_err(|message| Error::Missing {
                reason: "InternalTlsUnusable",
                message: format!("the internal port's certificates cannot be used: {message}"),
            })?;
        let config = Arc::new(config);
        cache.insert(
            key,
            Cached {
                trust: trust.clone(),
                refresh_at,
                config: config.clone(),
            },
        );
        Ok(config)
    }

    /// Forgets a deleted cluster.
    pub fn forget(&self, key: &(String, String)) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

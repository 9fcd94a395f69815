//! The pure middle of a QueueCluster reconcile: validate what was fetched, then build
//! the objects to apply. No I/O; the randomness of new Secrets is passed in.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::fetch::Fetched;
use crate::build::{self, Cluster, ClusterToken, CredentialsSource, KeyPair};
use crate::error::Error;

/// Checks what the spec cannot: no object the operator would apply belongs to someone
/// else (a forced server-side apply would silently take it over, and the garbage
/// collector would later delete it with the QueueCluster), and the user-supplied
/// credentials Secret is usable.
pub fn validate(c: &Cluster<'_>, fetched: &Fetched) -> Result<(), Error> {
    for existing in &fetched.applied {
        let ours = existing
            .owners
            .iter()
            .any(|o| o.controller == Some(true) && o.uid == c.owner.uid);
        if !ours {
            let owner = existing
                .owners
                .iter()
                .find(|o| o.controller == Some(true))
                .map_or("no controller".to_string(), |o| {
                    format!("{} {}", o.kind, o.name)
                });
            return Err(Error::Conflict {
                reason: "ForeignObject",
                message: format!(
                    "{} already exists and is not controlled by this QueueCluster ({owner}); \
                     the operator never takes over an object it did not create: delete or \
                     rename it",
                    existing.what
                ),
            });
        }
    }
    let CredentialsSource::UserSupplied(name) = build::credentials_source(c) else {
        return Ok(());
    };
    let usable = fetched
        .credentials_secret
        .as_ref()
        .is_some_and(|s| build::secret_value(s, build::CREDENTIALS_KEY).is_some());
    if usable {
        return Ok(());
    }
    Err(Error::Missing {
        reason: "CredentialsSecretMissing",
        message: format!(
            "Secret {name:?} (spec.credentials.secretName) does not exist or has no key {:?}",
            build::CREDENTIALS_KEY
        ),
    })
}

/// Fresh key material for the generated Secrets that do not exist yet.
#[derive(Debug, Default)]
pub struct Entropy {
    pub token: Option<ClusterToken>,
    pub keys: Option<KeyPair>,
}

impl Entropy {
    /// Draws randomness for exactly the generated Secrets missing from `fetched`.
    pub fn for_missing(c: &Cluster<'_>, fetched: &Fetched) -> Result<Self, Error> {
        let random = |what| move |cause| Error::Random { what, cause };
        let token = match fetched.token_secret {
            None => Some(ClusterToken::generate().map_err(random("the cluster token"))?),
            Some(_) => None,
        };
        let generated = matches!(
            build::credentials_source(c),
            CredentialsSource::Generated(_)
        );
        let keys = match fetched.credentials_secret {
            None if generated => Some(KeyPair::generate().map_err(random("the credentials"))?),
            _ => None,
        };
        Ok(Self { token, keys })
    }
}

/// The objects of one cluster as they should be.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Generated Secrets that do not exist yet: created once, never updated.
    pub new_secrets: Vec<Secret>,
    /// The headless, client and leader Services.
    pub services: Vec<Service>,
    pub pdb: PodDisruptionBudget,
    /// `None` when `spec.networkPolicy.enabled` is false (an existing one is deleted).
    pub network_policy: Option<NetworkPolicy>,
    /// The StatefulSet at the size it has now (`None` before the planner creates it):
    /// the pod template follows the spec, the size follows the membership planner, the
    /// volume claim template keeps the size it was created with.
    pub statefulset: Option<StatefulSet>,
}

/// Builds the desired objects of `c`.
pub fn build(c: &Cluster<'_>, fetched: &Fetched, entropy: &Entropy) -> Desired {
    let token = entropy
        .token
        .as_ref()
        .map(|t| build::cluster_token_secret(c, t));
    let credentials = entropy
        .keys
        .as_ref()
        .and_then(|k| build::credentials_secret(c, k));
    Desired {
        new_secrets: token.into_iter().chain(credentials).collect(),
        services: vec![
            build::headless_service(c),
            build::client_service(c),
            build::leader_service(c),
        ],
        pdb: build::pod_disruption_budget(c),
        network_policy: build::network_policy(c),
        statefulset: fetched.statefulset_replicas().map(|replicas| {
            let claim_size = build::claim_template_size(c, fetched.statefulset.as_ref());
            build::stateful_set(c, replicas, &claim_size)
        }),
    }
}

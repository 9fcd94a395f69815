//! The read step of a QueueCluster reconcile: what exists of the cluster's objects, read
//! before anything is changed.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde::de::DeserializeOwned;

use super::workloads::selector;
use crate::build::{self, Cluster, LABEL_ROLE};
use crate::error::{Error, KubeContext};

/// What exists of one cluster's objects.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// The Secret holding the admin API token.
    pub token_secret: Option<Secret>,
    /// The Secret holding the SigV4 credentials (generated or the user's).
    pub credentials_secret: Option<Secret>,
    /// The generated CA Secret (absent with a user-supplied internal TLS Secret).
    pub ca_secret: Option<Secret>,
    /// The Secret the pods mount for the internal port (generated or the user's).
    pub internal_tls_secret: Option<Secret>,
    pub statefulset: Option<StatefulSet>,
    pub pods: Vec<Pod>,
    /// The Services, PodDisruptionBudget and StatefulSet the operator applies, as far
    /// as they exist, with their owners (checked before any apply takes them over).
    pub applied: Vec<Existing>,
}

/// An existing object with the name of one the operator applies.
#[derive(Debug, Clone)]
pub struct Existing {
    /// `Service orders-headless`.
    pub what: String,
    pub owners: Vec<OwnerReference>,
}

impl Fetched {
    /// The admin API token stored in the cluster-token Secret.
    pub fn token(&self) -> Option<String> {
        build::secret_value(self.token_secret.as_ref()?, build::TOKEN_KEY)
    }

    /// `spec.replicas` of the StatefulSet, when it exists.
    pub fn statefulset_replicas(&self) -> Option<i32> {
        statefulset_replicas(self.statefulset.as_ref())
    }
}

/// `spec.replicas` of a StatefulSet (1 when unset, as the API server defaults it).
pub fn statefulset_replicas(sts: Option<&StatefulSet>) -> Option<i32> {
    sts.map(|s| s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
}

/// Reads the Secrets, the StatefulSet and the server pods of `c`.
pub async fn fetch(c: &Cluster<'_>, client: &Client) -> Result<Fetched, Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &c.namespace);
    let get_secret = |name: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .get_opt(&name)
                .await
                .context(|| format!("reading Secret {name}"))
        }
    };
    let token_secret = get_secret(c.cluster_token_secret_name()).await?;
    let credentials_secret = get_secret(c.credentials_secret_name()).await?;
    let ca_secret = match build::internal_tls_source(c) {
        build::InternalTlsSource::Generated { ca, .. } => get_secret(ca).await?,
        build::InternalTlsSource::UserSupplied(_) => None,
    };
    let internal_tls_secret = get_secret(build::internal_tls_secret_name(c)).await?;
    let (statefulset, pods) = workloads(c, client).await?;
    let mut applied = Vec::new();
    for name in [
        c.names.headless_service(),
        c.client_service_name(),
        c.leader_service_name(),
    ] {
        applied.extend(existing::<Service>(c, client, &name).await?);
    }
    applied.extend(existing::<PodDisruptionBudget>(c, client, &c.pdb_name()).await?);
    applied.extend(existing::<NetworkPolicy>(c, client, &c.network_policy_name()).await?);
    // Generated Secrets are only ever written by the operator: a foreign one of the same
    // name would otherwise become the cluster's CA.
    if let build::InternalTlsSource::Generated { .. } = build::internal_tls_source(c) {
        for secret in ca_secret.iter().chain(&internal_tls_secret) {
            applied.push(Existing {
                what: format!("Secret {}", secret.name_any()),
                owners: secret.metadata.owner_references.clone().unwrap_or_default(),
            });
        }
    }
    if let Some(sts) = &statefulset {
        applied.push(Existing {
            what: format!("StatefulSet {}", c.names.statefulset()),
            owners: sts.metadata.owner_references.clone().unwrap_or_default(),
        });
    }
    Ok(Fetched {
        token_secret,
        credentials_secret,
        ca_secret,
        internal_tls_secret,
        statefulset,
        pods,
        applied,
    })
}

async fn existing<K>(
    c: &Cluster<'_>,
    client: &Client,
    name: &str,
) -> Result<Option<Existing>, Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let what = format!("{} {name}", K::kind(&()));
    let found = Api::<K>::namespaced(client.clone(), &c.namespace)
        .get_opt(name)
        .await
        .context(|| format!("reading {what}"))?;
    Ok(found.map(|obj| Existing {
        what,
        owners: obj.meta().owner_references.clone().unwrap_or_default(),
    }))
}

/// Reads the StatefulSet and the server pods of `c`.
pub async fn workloads(
    c: &Cluster<'_>,
    client: &Client,
) -> Result<(Option<StatefulSet>, Vec<Pod>), Error> {
    let name = c.names.statefulset();
    let statefulset = Api::<StatefulSet>::namespaced(client.clone(), &c.namespace)
        .get_opt(&name)
        .await
        .context(|| format!("reading StatefulSet {name}"))?;
    let pods = Api::<Pod>::namespaced(client.clone(), &c.namespace)
        .list(&ListParams::default().labels(&selector(&c.name)))
        .await
        .context(|| format!("listing the pods of {}", c.name))?
        .items;
    Ok((statefulset, pods))
}

/// Pods passing their readiness probe.
pub fn ready_pods(pods: &[Pod]) -> i32 {
    let ready = pods.iter().filter(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    });
    i32::try_from(ready.count()).unwrap_or(i32::MAX)
}

/// (pod name, ordinal, current role label) of every server pod.
pub fn pod_roles<'p>(
    c: &Cluster<'_>,
    pods: &'p [Pod],
) -> impl Iterator<Item = (String, u32, Option<&'p String>)> {
    let names = c.names.clone();
    pods.iter().filter_map(move |p| {
        let name = p.name_any();
        let ordinal = names.pod_ordinal(&name)?;
        Some((name, ordinal, p.labels().get(LABEL_ROLE)))
    })
}

//! The write step of a QueueCluster reconcile: missing Secrets created once, the other
//! built objects server-side applied, and the pods' role labels.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::desired::Desired;
use super::fetch::{Fetched, pod_roles};
use super::tls::TlsPass;
use crate::build::{self, Cluster, FIELD_MANAGER, LABEL_ROLE, ROLE_FOLLOWER, ROLE_LEADER};
use crate::error::{Error, KubeContext};
use crate::membership::ClusterHealth;

/// Server-side applies `obj` as the operator's field manager.
async fn server_side_apply<K>(api: &Api<K>, obj: &K) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .context(|| format!("applying {} {name}", K::kind(&())))
}

/// Creates `secret` unless it exists; never updates it. Returns the stored Secret.
async fn create_once(api: &Api<Secret>, secret: &Secret) -> Result<Secret, Error> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let context = || format!("creating Secret {name}");
    match api.create(&PostParams::default(), secret).await {
        Ok(s) => Ok(s),
        // Another operator replica or the user was faster: keep theirs.
        Err(kube::Error::Api(s)) if s.code == 409 => api.get(&name).await.context(context),
        Err(e) => Err(e).context(context),
    }
}

/// Deletes `name` if it exists and this cluster owns it (a user's object of that name
/// is left alone).
async fn delete_owned<K>(api: &Api<K>, c: &Cluster<'_>, name: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let context = || format!("deleting {} {name}", K::kind(&()));
    let Some(existing) = api.get_opt(name).await.context(context)? else {
        return Ok(());
    };
    let owned = existing
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == c.owner.uid);
    if owned {
        match api.delete(name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e).context(context),
        }
    }
    Ok(())
}

/// Applies `desired`; returns the admin API token as stored.
pub async fn objects(
    c: &Cluster<'_>,
    client: &Client,
    fetched: &Fetched,
    desired: &Desired,
) -> Result<String, Error> {
    let ns = &c.namespace;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut token = fetched.token();
    for secret in &desired.new_secrets {
        let stored = create_once(&secrets, secret).await?;
        if secret.metadata.name.as_deref() == Some(c.cluster_token_secret_name().as_str()) {
            token = build::secret_value(&stored, build::TOKEN_KEY);
        }
    }
    let token = token.ok_or_else(|| Error::Missing {
        reason: "ClusterTokenUnusable",
        message: format!(
            "Secret {} has no key {:?}; delete it to have a new token generated",
            c.cluster_token_secret_name(),
            build::TOKEN_KEY
        ),
    })?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    for service in &desired.services {
        server_side_apply(&services, service).await?;
    }
    server_side_apply(
        &Api::<PodDisruptionBudget>::namespaced(client.clone(), ns),
        &desired.pdb,
    )
    .await?;
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), ns);
    match &desired.network_policy {
        Some(policy) => {
            server_side_apply(&policies, policy).await?;
        }
        None => delete_owned(&policies, c, &c.network_policy_name()).await?,
    }
    if let Some(sts) = &desired.statefulset {
        server_side_apply(&Api::<StatefulSet>::namespaced(client.clone(), ns), sts).await?;
    }
    Ok(token)
}

/// Writes the internal port's Secrets of `pass`: the CA first (a new one created once;
/// when another writer was faster its CA wins and this pass stops, to issue from that
/// one next time), then the member Secret.
pub async fn tls_secrets(c: &Cluster<'_>, client: &Client, pass: &TlsPass) -> Result<(), Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &c.namespace);
    if let Some((secret, new)) = &pass.ca_secret {
        if *new {
            let stored = create_once(&secrets, secret).await?;
            if build::read_ca(&stored) != build::read_ca(secret) {
                return Err(Error::Conflict {
                    reason: "CaCreatedConcurrently",
                    message: format!(
                        "Secret {} was created by another writer meanwhile; issuing from it on the next pass",
                        stored.metadata.name.clone().unwrap_or_default()
                    ),
                });
            }
        } else {
            server_side_apply(&secrets, secret).await?;
        }
    }
    if let Some(secret) = &pass.member_secret {
        server_side_apply(&secrets, secret).await?;
    }
    Ok(())
}

/// Labels the leader's pod `leader` and every other pod `follower`, so the
/// `<name>-leader` Service follows the leader. Without a known leader nothing changes.
pub async fn role_labels(
    c: &Cluster<'_>,
    client: &Client,
    pods: &[Pod],
    health: Option<&ClusterHealth>,
) -> Result<(), Error> {
    let Some(h) = health else { return Ok(()) };
    let api: Api<Pod> = Api::namespaced(client.clone(), &c.namespace);
    for (pod, ordinal, current) in pod_roles(c, pods) {
        let want = if ordinal == h.leader {
            ROLE_LEADER
        } else {
            ROLE_FOLLOWER
        };
        if current.map(String::as_str) != Some(want) {
            let patch = serde_json::json!({"metadata": {"labels": {LABEL_ROLE: want}}});
            match api
                .patch(&pod, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                // Deleted since it was listed (a restart): its replacement is labelled
                // on the next pass.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                other => {
                    other.context(|| format!("labelling pod {pod} {LABEL_ROLE}={want}"))?;
                }
            }
        }
    }
    Ok(())
}

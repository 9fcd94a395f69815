//! Leader election through a `coordination.k8s.io/v1` Lease, so two operator replicas
//! never reconcile at the same time.
//!
//! The holder renews the Lease every `renew_every`; another replica takes it over only
//! after `duration` without a renewal. Updates carry the Lease's `resourceVersion`, so of
//! two replicas racing for an expired Lease exactly one wins (the other gets a conflict).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

/// Leader election settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews (and others check).
    pub renew_every: Duration,
}

/// What to do with the Lease as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create it holding it.
    Create,
    /// Held by us: renew it.
    Renew,
    /// Free or expired: take it over (a new transition).
    TakeOver,
    /// Held by someone else whose lease is still valid.
    Wait { holder: String },
}

/// Decides from the current Lease (pure).
pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let renewed = spec
        .renew_time
        .or(spec.acquire_time)
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    if renewed + duration < now {
        Decision::TakeOver
    } else {
        Decision::Wait { holder }
    }
}

/// The Lease after acting on `decision` (pure); `None` when waiting.
pub fn next_lease(
    current: Option<&Lease>,
    decision: &Decision,
    config: &LeaseConfig,
    now: Timestamp,
) -> Option<Lease> {
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    let mut spec = lease.spec.take().unwrap_or_default();
    match decision {
        Decision::Wait { .. } => return None,
        Decision::Renew => {}
        Decision::Create | Decision::TakeOver => {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(
                spec.lease_transitions.unwrap_or(0) + i32::from(*decision == Decision::TakeOver),
            );
        }
    }
    spec.holder_identity = Some(config.identity.clone());
    spec.lease_duration_seconds = Some(i32::try_from(config.duration.as_secs()).unwrap_or(15));
    spec.renew_time = Some(MicroTime(now));
    lease.spec = Some(spec);
    Some(lease)
}

/// One round: read, decide, write. Returns whether we hold the Lease afterwards.
pub async fn round(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let current = api.get_opt(&config.name).await?;
    let now = Timestamp::now();
    let decision = decide(current.as_ref(), &config.identity, now);
    let Some(next) = next_lease(current.as_ref(), &decision, config, now) else {
        return Ok(false);
    };
    let result = if current.is_some() {
        api.replace(&config.name, &PostParams::default(), &next)
            .await
    } else {
        api.create(&PostParams::default(), &next).await
    };
    match result {
        Ok(_) => {
            if decision != Decision::Renew {
                tracing::info!(identity = %config.identity, ?decision, "acquired the leader Lease");
            }
            Ok(true)
        }
        // Someone else wrote first.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keeps trying to hold the Lease; publishes whether we hold it. Stops when the receiver
/// side is dropped.
pub async fn run(api: Api<Lease>, config: LeaseConfig, leading: watch::Sender<bool>) {
    loop {
        let held = match round(&api, &config).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "leader election round failed");
                // Keep leading only while the last renewal is still valid; the next
                // successful round decides. A failed round counts as not renewed.
                false
            }
        };
        if leading.send(held).is_err() {
            return;
        }
        tokio::time::sleep(config.renew_every).await;
    }
}

/// Gives the Lease up (clears the holder) so another replica takes over at once.
pub async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<(), kube::Error> {
    if let Some(mut lease) = api.get_opt(&config.name).await?
        && decide(Some(&lease), &config.identity, Timestamp::now()) == Decision::Renew
    {
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
        }
        api.replace(&config.name, &PostParams::default(), &lease)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(identity: &str) -> LeaseConfig {
        LeaseConfig {
            name: "sqsraft-operator".into(),
            namespace: "ops".into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn first_replica_creates_and_holds() {
        assert_eq!(decide(None, "a", t(0)), Decision::Create);
        let lease = next_lease(None, &Decision::Create, &config("a"), t(0)).unwrap();
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(decide(Some(&lease), "a", t(5)), Decision::Renew);
    }

    #[test]
    fn second_replica_waits_until_expiry_then_takes_over() {
        let lease = next_lease(None, &Decision::Create, &config("a"), t(0)).unwrap();
        assert_eq!(
            decide(Some(&lease), "b", t(10)),
            Decision::Wait { holder: "a".into() }
        );
        assert_eq!(
            decide(Some(&lease), "b", t(15)),
            Decision::Wait { holder: "a".into() }
        );
        assert_eq!(decide(Some(&lease), "b", t(16)), Decision::TakeOver);
        let taken = next_lease(Some(&lease), &Decision::TakeOver, &config("b"), t(16)).unwrap();
        let spec = taken.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("b"));
        assert_eq!(spec.lease_transitions, Some(1));
        // The old holder now sees a valid Lease of b and steps back.
        assert_eq!(
            decide(Some(&taken), "a", t(17)),
            Decision::Wait { holder: "b".into() }
        );
    }

    #[test]
    fn renewal_keeps_others_out() {
        let lease = next_lease(None, &Decision::Create, &config("a"), t(0)).unwrap();
        let renewed = next_lease(Some(&lease), &Decision::Renew, &config("a"), t(12)).unwrap();
        assert_eq!(
            decide(Some(&renewed), "b", t(20)),
            Decision::Wait { holder: "a".into() }
        );
        assert_eq!(renewed.spec.unwrap().lease_transitions, Some(0));
    }

    #[test]
    fn released_lease_is_free() {
        let mut lease = next_lease(None, &Decision::Create, &config("a"), t(0)).unwrap();
        lease.spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(decide(Some(&lease), "b", t(1)), Decision::TakeOver);
    }
}

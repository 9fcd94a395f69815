//! Leader election rounds against the in-memory API server: one holder at a time,
//! takeover only after expiry, conflicts lose, release hands over at once.

mod common;

use std::time::Duration;

use common::fake_api::FakeApi;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::PostParams;
use sqsraft_operator::lease::{LeaseConfig, release, round};

fn config(identity: &str, duration: Duration) -> LeaseConfig {
    LeaseConfig {
        name: "sqsraft-operator".into(),
        namespace: "ops".into(),
        identity: identity.into(),
        duration,
        renew_every: Duration::from_millis(100),
    }
}

fn holder(fake: &FakeApi) -> Option<String> {
    let store = fake.store.lock().unwrap();
    let lease = store.get(
        "coordination.k8s.io/v1",
        "leases",
        "ops",
        "sqsraft-operator",
    )?;
    lease["spec"]["holderIdentity"].as_str().map(String::from)
}

#[tokio::test]
async fn one_holder_takeover_after_expiry_and_release() {
    let fake = FakeApi::default();
    let api: Api<Lease> = Api::namespaced(fake.client(), "ops");
    let a = config("operator-a", Duration::from_secs(1));
    let b = config("operator-b", Duration::from_secs(1));

    assert!(round(&api, &a).await.unwrap(), "a creates the Lease");
    assert!(
        !round(&api, &b).await.unwrap(),
        "b waits while a's Lease is valid"
    );
    assert!(round(&api, &a).await.unwrap(), "a renews");
    assert_eq!(holder(&fake).as_deref(), Some("operator-a"));

    // a stops renewing: after the lease duration b takes over, and a steps back.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        round(&api, &b).await.unwrap(),
        "b takes over the expired Lease"
    );
    assert_eq!(holder(&fake).as_deref(), Some("operator-b"));
    assert!(!round(&api, &a).await.unwrap(), "a does not steal it back");
    let lease = api.get("sqsraft-operator").await.unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));

    // b releases on shutdown: a gets it without waiting for expiry.
    release(&api, &b).await.unwrap();
    assert_eq!(holder(&fake), None);
    assert!(round(&api, &a).await.unwrap());
    assert_eq!(holder(&fake).as_deref(), Some("operator-a"));
}

#[tokio::test]
async fn a_stale_write_loses() {
    let fake = FakeApi::default();
    let api: Api<Lease> = Api::namespaced(fake.client(), "ops");
    let a = config("operator-a", Duration::from_secs(1));
    assert!(round(&api, &a).await.unwrap());
    let stale = api.get("sqsraft-operator").await.unwrap();
    assert!(
        round(&api, &a).await.unwrap(),
        "renewal bumps the resourceVersion"
    );
    // A replica that read before the renewal and writes now gets a conflict.
    let err = api
        .replace("sqsraft-operator", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    assert_eq!(holder(&fake).as_deref(), Some("operator-a"));
}

//! Attacks on a real 3-node cluster's internal port (mutual TLS) and SQS port (SigV4):
//! strangers without a certificate, with one from another CA, with an expired one from the
//! cluster's own CA, or speaking cleartext are refused on every internal path before any
//! request is read, and their well-formed forged commands, votes and snapshots change
//! nothing; the certificate files are re-read on rotation without dropping the cluster.

use aws_sdk_sqs::types::QueueAttributeName;
use openraft::impls::leader_id_adv::LeaderId;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use sqsraft_e2e::cluster::{CLIENT_IDENTITY, Cluster, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use sqsraft_e2e::pki::{self, Ca, TlsDir};
use sqsraft_e2e::sdk;
use sqsraft_server::admin_types::{ClusterStatus, InitRequest, Member, RemoveNodeRequest};
use sqsraft_server::codec::encode;
use sqsraft_server::node::now_ms;
use sqsraft_server::raft::rpc::{
    APPEND, PRE_VOTE, SNAPSHOT, SnapshotHeader, TRANSFER_LEADER, VOTE, encode_snapshot_header,
};
use sqsraft_server::raft::{LogId, SnapshotMeta, TypeConfig, Vote};
use sqsraft_server::sm::command::{Command, Op, ReadOp};
use sqsraft_server::wire::{
    CLOCK, FORWARD_READ, FORWARD_RECEIVE, FORWARD_WRITE, FORWARD_WRITES, ReceiveCall,
};
use std::collections::BTreeMap;
use std::time::Duration;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn command(request_id: &str, op: Op) -> Command {
    Command {
        request_id: request_id.into(),
        time_ms: now_ms(),
        op,
    }
}

/// Every internal path with a well-formed, harmful body: (path, body).
fn forged_requests(status: &ClusterStatus) -> Vec<(&'static str, Vec<u8>)> {
    let term = status.term + 1_000;
    let vote = VoteRequest::<TypeConfig>::new(Vote::new(term, 99), None);
    let leader_vote = Vote::new_committed(term, 99);
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: leader_vote,
        prev_log_id: None,
        leader_commit: None,
        entries: Vec::new(),
    };
    let snapshot = encode_snapshot_header(&SnapshotHeader {
        vote: leader_vote,
        meta: SnapshotMeta {
            last_log_id: Some(LogId::new(LeaderId { term, node_id: 99 }, 1_000_000)),
            last_membership: Default::default(),
        },
    })
    .expect("snapshot header")
    .to_vec();
    let create = command(
        "stranger:create",
        Op::CreateQueue {
            name: "forged".into(),
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
        },
    );
    let delete = command(
        "stranger:delete",
        Op::DeleteQueue {
            name: "kept".into(),
        },
    );
    let read = ReadOp::ListQueues {
        prefix: None,
        max_results: None,
        next_token: None,
    };
    let receive = ReceiveCall {
        request_id: "stranger:receive".into(),
        queue: "kept".into(),
        max: 10,
        visibility_timeout: Some(600),
        attempt_id: None,
        wait_ms: 0,
    };
    let init = InitRequest {
        members: vec![Member {
            node_id: 99,
            addr: "127.0.0.1:1".into(),
        }],
    };
    vec![
        (FORWARD_WRITE, encode(&create).unwrap()),
        (FORWARD_WRITES, encode(&vec![delete]).unwrap()),
        (FORWARD_READ, encode(&read).unwrap()),
        (FORWARD_RECEIVE, encode(&receive).unwrap()),
        (VOTE, encode(&vote).unwrap()),
        (PRE_VOTE, encode(&vote).unwrap()),
        (APPEND, encode(&append).unwrap()),
        (SNAPSHOT, snapshot),
        (
            TRANSFER_LEADER,
            encode(&TransferLeaderRequest::<TypeConfig>::new(
                leader_vote,
                99,
                None,
            ))
            .unwrap(),
        ),
        (CLOCK, Vec::new()),
        ("/admin/init", serde_json::to_vec(&init).unwrap()),
        (
            "/admin/remove",
            serde_json::to_vec(&RemoveNodeRequest { node_id: 2 }).unwrap(),
        ),
        ("/admin/transfer-leader", b"{}".to_vec()),
    ]
}

/// A stranger: who, its agent, the URL scheme it speaks, and the reason of the refusal
/// its client reports.
type Stranger = (&'static str, ureq::Agent, &'static str, &'static str);

/// The strangers. All trust the cluster CA, so a failure is the server refusing them,
/// not them refusing the server.
fn strangers(tls: &TlsDir) -> Vec<Stranger> {
    let ca = std::fs::read(tls.ca_file()).expect("CA file");
    let other = Ca::generate("another cluster's CA").expect("other CA");
    let foreign = other.issue("intruder", false).expect("foreign certificate");
    let expired = tls
        .ca()
        .expect("cluster CA")
        .issue("expired", true)
        .expect("expired certificate");
    let cleartext = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    vec![
        (
            "no certificate",
            pki::agent(&ca, None).expect("agent"),
            "https",
            "CertificateRequired",
        ),
        (
            "another CA's certificate",
            pki::agent(&ca, Some(&foreign)).expect("agent"),
            "https",
            "UnknownCA",
        ),
        (
            "expired certificate of the cluster CA",
            pki::agent(&ca, Some(&expired)).expect("agent"),
            "https",
            "CertificateExpired",
        ),
        // The server answers cleartext with a TLS alert, which is no HTTP response.
        ("cleartext HTTP", cleartext, "http", "http parse fail"),
    ]
}

async fn queue_names(cluster: &Cluster, id: u64) -> Vec<String> {
    let mut names: Vec<String> = cluster
        .sdk_client(id)
        .list_queues()
        .send()
        .await
        .expect("list queues")
        .queue_urls()
        .iter()
        .filter_map(|u| u.rsplit('/').next().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_are_refused_on_every_internal_path_and_change_nothing() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    let client = cluster.sdk_client(leader);
    let url = client
        .create_queue()
        .queue_name("kept")
        .send()
        .await
        .expect("create")
        .queue_url
        .unwrap_or_default();
    client
        .send_message()
        .queue_url(&url)
        .message_body("still here")
        .send()
        .await
        .expect("send");
    let before = blocking(|| cluster.status(leader)).expect("status");
    let tls = cluster.tls.clone().expect("the harness runs TLS");
    let token = std::fs::read_to_string(&cluster.token_file).expect("token");
    let auth = format!("Bearer {}", token.trim());

    let requests = forged_requests(&before);
    let mut refused = 0;
    for (stranger, agent, scheme, reason) in strangers(&tls) {
        for node in &cluster.nodes {
            for (path, body) in &requests {
                let url = format!("{scheme}://{}{path}", node.internal_addr());
                // Even with the stolen admin token: no certificate, no HTTP.
                let answer = blocking(|| {
                    agent
                        .post(&url)
                        .header("authorization", &auth)
                        .send(&body[..])
                });
                match answer {
                    Err(e) => {
                        // The alert may lose the race with the request's write.
                        let e = e.to_string();
                        assert!(
                            [reason, "Broken pipe", "Connection reset"]
                                .iter()
                                .any(|r| e.contains(r)),
                            "{stranger} at {url}: expected {reason}, got {e}"
                        );
                        refused += 1;
                    }
                    Ok(response) => panic!(
                        "{stranger} got an HTTP answer from {url}: {}",
                        response.status()
                    ),
                }
            }
            let status_url = format!("{scheme}://{}/admin/status", node.internal_addr());
            assert!(
                blocking(|| agent.get(&status_url).header("authorization", &auth).call()).is_err(),
                "{stranger} read {status_url}"
            );
        }
    }
    assert_eq!(refused, 4 * 3 * requests.len());
    // The servers saw and refused each TLS stranger's handshake (3 strangers × every
    // request and the status read, per node).
    for node in &cluster.nodes {
        let log = std::fs::read_to_string(node.data_dir.with_extension("log")).expect("log");
        let logged = log.matches("TLS handshake refused").count();
        assert!(
            logged >= 3 * (requests.len() + 1),
            "node {}: {logged} refusals logged",
            node.id
        );
    }

    // Nothing changed: same term and leader everywhere, no queue created or deleted, the
    // message neither received nor gone.
    for node in &cluster.nodes {
        let after = blocking(|| cluster.status(node.id)).expect("status");
        assert_eq!(after.term, before.term, "node {}: term moved", node.id);
        assert_eq!(after.leader_id, Some(leader), "node {}: leader", node.id);
    }
    assert_eq!(queue_names(&cluster, leader).await, vec!["kept"]);
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("attributes");
    assert_eq!(
        attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .map(String::as_str),
        Some("1"),
        "the message is visible, not received by a stranger"
    );

    // The same forged command from a holder of a cluster certificate takes effect: only
    // the certificate check stood in the strangers' way.
    let member_made = command(
        "member:create",
        Op::CreateQueue {
            name: "forged".into(),
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
        },
    );
    blocking(|| cluster.forward(leader, &member_made)).expect("member forward");
    assert_eq!(queue_names(&cluster, leader).await, vec!["forged", "kept"]);

    // With a certificate the admin token still applies on top.
    let member = tls.agent(CLIENT_IDENTITY).expect("member agent");
    let status_url = cluster.internal_url(leader, "/admin/status").expect("url");
    let without_token = blocking(|| member.get(&status_url).call()).expect("answer");
    assert_eq!(without_token.status(), 401);
    let with_token = blocking(|| {
        member
            .get(&status_url)
            .header("authorization", &auth)
            .call()
    })
    .expect("answer");
    assert_eq!(with_token.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sqs_port_refuses_unsigned_and_mis_signed_requests() {
    let (_dir, cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    for node in &cluster.nodes {
        let endpoint = node.endpoint();
        let unsigned = blocking(|| {
            ureq::post(&endpoint)
                .config()
                .http_status_as_error(false)
                .build()
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", "AmazonSQS.CreateQueue")
                .send(r#"{"QueueName":"unsigned"}"#)
        })
        .expect("answer");
        assert_eq!(unsigned.status(), 403, "{endpoint}");
        let mut unsigned = unsigned;
        let body = unsigned.body_mut().read_to_string().expect("body");
        assert!(body.contains("MissingAuthenticationToken"), "{body}");

        let wrong_secret = sdk::client(&endpoint, DEV_ACCESS_KEY, "not-the-secret");
        let err = wrong_secret
            .create_queue()
            .queue_name("mis-signed")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(err.meta().code(), Some("SignatureDoesNotMatch"));
        let unknown = sdk::client(&endpoint, "AKIDUNKNOWN", DEV_SECRET_KEY);
        let err = unknown
            .create_queue()
            .queue_name("mis-signed")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(err.meta().code(), Some("InvalidClientTokenId"));
    }
    let leader = blocking(|| cluster.wait_for_leader(Duration::from_secs(20))).expect("leader");
    assert!(queue_names(&cluster, leader).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotated_certificates_are_re_read_without_dropping_the_cluster() {
    let (_dir, mut cluster) = Cluster::start_in_temp(3, &[]).expect("start cluster");
    let tls = cluster.tls.clone().expect("the harness runs TLS");
    let token = std::fs::read_to_string(&cluster.token_file).expect("token");
    let auth = format!("Bearer {}", token.trim());
    let old_ca = std::fs::read_to_string(tls.ca_file()).expect("CA");
    let new_ca = Ca::generate("rotated CA").expect("new CA");
    let newcomer = new_ca.issue("newcomer", false).expect("certificate");
    let status_of = |agent: &ureq::Agent, id: u64| {
        let url = cluster.internal_url(id, "/admin/status").expect("url");
        blocking(|| agent.get(&url).header("authorization", &auth).call()).map(|r| r.status())
    };
    let both = format!("{old_ca}{}", new_ca.cert_pem());
    let newcomer_agent = pki::agent(both.as_bytes(), Some(&newcomer)).expect("agent");
    assert!(
        status_of(&newcomer_agent, 1).is_err(),
        "the new CA is not trusted yet"
    );

    // Step 1: every member trusts old and new CA (the shared CA file of the harness).
    std::fs::write(tls.ca_file(), &both).expect("write CA bundle");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for node in &cluster.nodes {
        assert_eq!(
            status_of(&newcomer_agent, node.id).expect("newcomer admitted"),
            200
        );
    }

    // Step 2: node 1 gets a certificate of the new CA. A client trusting only the new CA
    // now verifies node 1, and not yet node 2.
    let node1 = sqsraft_e2e::cluster::member_identity(1);
    tls.write(&node1, &new_ca.issue(&node1, false).expect("certificate"))
        .expect("rotate node 1");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let only_new = pki::agent(new_ca.cert_pem().as_bytes(), Some(&newcomer)).expect("agent");
    assert_eq!(
        status_of(&only_new, 1).expect("node 1 presents the new certificate"),
        200
    );
    assert!(
        status_of(&only_new, 2).is_err(),
        "node 2 still has the old one"
    );

    // The cluster kept going, and a restarted peer handshakes with node 1's new
    // certificate (fresh connections both ways).
    let leader = blocking(|| cluster.wait_for_members(Duration::from_secs(20))).expect("members");
    let other = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|&id| id != 1 && id != leader)
        .unwrap_or(2);
    blocking(|| cluster.kill(other)).expect("kill");
    blocking(|| cluster.restart(other)).expect("restart");
    blocking(|| cluster.wait_for_members(Duration::from_secs(30))).expect("cluster re-formed");
    let client = cluster.sdk_client(1);
    let url = client
        .create_queue()
        .queue_name("after-rotation")
        .send()
        .await
        .expect("create through node 1")
        .queue_url
        .unwrap_or_default();
    client
        .send_message()
        .queue_url(&url)
        .message_body("m")
        .send()
        .await
        .expect("send");
    let got = cluster
        .sdk_client(other)
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .expect("receive through the restarted node");
    assert_eq!(got.messages().len(), 1);
}

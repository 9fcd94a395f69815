//! Requests a follower sends to the leader's internal port (paths and bodies: `wire.rs`).
//!
//! Writes are batched: the commands a follower's clients issued while its earlier
//! forwards were in flight travel to the leader in one request ([`FORWARD_WRITES`]),
//! where they join the leader's group commit and come back answered one by one. A leader
//! that predates batched forwarding answers 404; the batch is then sent one command per
//! request ([`FORWARD_WRITE`]), so mixed versions work during a rolling upgrade.

use crate::batcher::{Batcher, Limits};
use crate::codec::{decode, encode};
use crate::peer::client::{CallError, InternalClient};
use crate::sm::command::Command;
use crate::wire::{FORWARD_WRITE, FORWARD_WRITES, ForwardReply};
use bytes::Bytes;
use futures::future::join_all;
use http::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How forwarded writes are batched: 4 requests in flight per leader address, up to 256
/// commands or about 4 MiB of message bodies each.
const LIMITS: Limits = Limits {
    in_flight: 4,
    max_items: 256,
    max_weight: 4 << 20,
};

/// Why a forward got no usable answer; the caller retries until its deadline.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("forward rejected with {0}")]
    Rejected(StatusCode),
    #[error("bad forward reply: {0}")]
    BadReply(String),
}

type Answer = Result<ForwardReply, ForwardError>;

/// Writes bound for one leader, each with how long its caller waits.
type LeaderBatcher = Batcher<(Command, Duration), Answer>;

/// Batches this node's forwarded writes, one batcher per leader address, so requests
/// stuck on a leader that stopped answering never hold up those for its successor.
pub struct Forwarder {
    client: InternalClient,
    by_leader: Mutex<HashMap<String, Arc<LeaderBatcher>>>,
}

impl Forwarder {
    pub fn new(client: InternalClient) -> Self {
        Forwarder {
            client,
            by_leader: Mutex::default(),
        }
    }

    /// Forwards `command` to the leader at `addr`, waiting at most `timeout`.
    pub async fn write(&self, addr: &str, command: Command, timeout: Duration) -> Answer {
        let batcher = self.batcher(addr);
        match tokio::time::timeout(timeout, batcher.submit((command, timeout))).await {
            Ok(Some(answer)) => answer,
            Ok(None) => Err(ForwardError::BadReply("the forwarding task stopped".into())),
            Err(_) => Err(ForwardError::Call(CallError::Timeout {
                addr: addr.to_string(),
                timeout,
            })),
        }
    }

    fn batcher(&self, addr: &str) -> Arc<LeaderBatcher> {
        let mut by_leader = self.by_leader.lock().unwrap_or_else(|p| p.into_inner());
        by_leader
            .entry(addr.to_string())
            .or_insert_with(|| {
                let (client, addr) = (self.client.clone(), addr.to_string());
                let weight = |(c, _): &(Command, Duration)| c.op.payload_bytes();
                Arc::new(Batcher::start(LIMITS, weight, move |pending| {
                    let (client, addr) = (client.clone(), addr.clone());
                    async move {
                        let timeout = pending.iter().map(|(_, t)| *t).max().unwrap_or_default();
                        let commands = pending.into_iter().map(|(c, _)| c).collect();
                        send(&client, &addr, commands, timeout).await
                    }
                }))
            })
            .clone()
    }
}

/// Forwards `commands` to one leader in one request.
async fn send(
    client: &InternalClient,
    addr: &str,
    commands: Vec<Command>,
    timeout: Duration,
) -> Vec<Answer> {
    let count = commands.len();
    let all = |e: ForwardError| vec![Err(e); count];
    let body = match encode(&commands) {
        Ok(b) => Bytes::from(b),
        Err(e) => return all(ForwardError::BadReply(e.to_string())),
    };
    match client.post(addr, FORWARD_WRITES, &[], body, timeout).await {
        Ok((status, bytes)) if status.is_success() => match decode::<Vec<ForwardReply>>(&bytes) {
            Ok(replies) if replies.len() == count => replies.into_iter().map(Ok).collect(),
            Ok(replies) => all(ForwardError::BadReply(format!(
                "{} answers to {count} commands",
                replies.len()
            ))),
            Err(e) => all(ForwardError::BadReply(e.to_string())),
        },
        Ok((StatusCode::NOT_FOUND, _)) => {
            join_all(commands.into_iter().map(|command| async move {
                let body = Bytes::from(
                    encode(&command).map_err(|e| ForwardError::BadReply(e.to_string()))?,
                );
                forward_one(client, addr, FORWARD_WRITE, body, timeout).await
            }))
            .await
        }
        Ok((status, _)) => all(ForwardError::Rejected(status)),
        Err(e) => all(e.into()),
    }
}

/// Forwards one encoded request (`FORWARD_READ`, `FORWARD_WRITE` or `FORWARD_RECEIVE`)
/// to `addr`.
pub async fn forward_one(
    client: &InternalClient,
    addr: &str,
    path: &str,
    body: Bytes,
    timeout: Duration,
) -> Answer {
    match client.post(addr, path, &[], body, timeout).await? {
        (status, bytes) if status.is_success() => {
            decode(&bytes).map_err(|e| ForwardError::BadReply(e.to_string()))
        }
        (status, _) => Err(ForwardError::Rejected(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::serve::{respond, serve};
    use crate::sm::command::{Op, Output};
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn command(id: &str) -> Command {
        Command {
            request_id: id.into(),
            time_ms: 0,
            op: Op::PurgeQueue { queue: "q".into() },
        }
    }

    /// Answers each command with its own request id as a queue name.
    fn echo(command: Command) -> ForwardReply {
        ForwardReply::Done(Ok(Output::Queue {
            name: command.request_id,
        }))
    }

    /// A leader on loopback; `batched` says whether it knows FORWARD_WRITES. Returns its
    /// address and how many requests it served.
    async fn leader(batched: bool) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(serve(
            listener,
            None,
            Arc::new(move |req: http::Request<hyper::body::Incoming>, _| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let path = req.uri().path().to_string();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let reply = match path.as_str() {
                        FORWARD_WRITES if batched => {
                            let commands: Vec<Command> = decode(&body).unwrap();
                            encode(&commands.into_iter().map(echo).collect::<Vec<_>>())
                        }
                        FORWARD_WRITE => encode(&echo(decode(&body).unwrap())),
                        _ => return respond(404, "text/plain", "unknown path"),
                    };
                    respond(200, "application/octet-stream", reply.unwrap())
                }
            }),
        ));
        (addr, served)
    }

    async fn write_concurrently(forwarder: Arc<Forwarder>, addr: &str, n: usize) {
        let writes = (0..n).map(|i| {
            let (forwarder, addr) = (forwarder.clone(), addr.to_string());
            async move {
                let id = format!("req-{i}");
                let answer = forwarder
                    .write(&addr, command(&id), Duration::from_secs(5))
                    .await;
                match answer {
                    Ok(ForwardReply::Done(Ok(Output::Queue { name }))) => assert_eq!(name, id),
                    other => panic!("{id}: {other:?}"),
                }
            }
        });
        join_all(writes).await;
    }

    #[tokio::test]
    async fn concurrent_writes_share_requests_and_each_gets_its_own_answer() {
        let (addr, served) = leader(true).await;
        let forwarder = Arc::new(Forwarder::new(InternalClient::new(None)));
        write_concurrently(forwarder, &addr, 50).await;
        let served = served.load(Ordering::SeqCst);
        assert!(served < 50, "50 writes took {served} requests");
    }

    #[tokio::test]
    async fn a_leader_without_batched_forwarding_gets_one_request_per_write() {
        let (addr, served) = leader(false).await;
        let forwarder = Arc::new(Forwarder::new(InternalClient::new(None)));
        write_concurrently(forwarder, &addr, 20).await;
        assert!(
            served.load(Ordering::SeqCst) > 20,
            "404s, then one per write"
        );
    }
}

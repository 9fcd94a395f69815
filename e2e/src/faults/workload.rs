//! Concurrent producers and consumers on one standard and one FIFO queue, each worker
//! starting on a different node and moving to the next node after an error. Every
//! outcome is recorded in a [`History`].

use super::history::{Body, Deleted, Delivery, History, QueueKind, Send, StaleProbe};
use anyhow::{Context, Result};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Visibility timeout of both queues, in seconds.
pub const VISIBILITY_SECS: u64 = 10;
/// A delete acknowledged this long before the visibility timeout of its receive could
/// have run out certainly used the current handle.
const DELETE_MARGIN: Duration = Duration::from_secs(2);

/// How much load the workload puts on the cluster.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub standard_producers: usize,
    pub fifo_producers: usize,
    /// FIFO message groups, spread over the FIFO producers (one producer per group).
    pub fifo_groups: u32,
    /// Consumers per queue.
    pub consumers: usize,
    /// Pause of every worker between two operations.
    pub op_interval: Duration,
}

/// Clients for every node plus the two queue URLs.
#[derive(Clone)]
pub struct Target {
    pub clients: Vec<Client>,
    pub standard_url: String,
    pub fifo_url: String,
}

impl Target {
    fn url(&self, queue: QueueKind) -> &str {
        match queue {
            QueueKind::Standard => &self.standard_url,
            QueueKind::Fifo => &self.fifo_url,
        }
    }
}

/// Creates the run's two queues through the first client.
pub async fn create_queues(clients: Vec<Client>, prefix: &str) -> Result<Target> {
    let client = &clients[0];
    let visibility = VISIBILITY_SECS.to_string();
    let standard_url = client
        .create_queue()
        .queue_name(format!("{prefix}-standard"))
        .attributes(QueueAttributeName::VisibilityTimeout, &visibility)
        .send()
        .await
        .context("create standard queue")?
        .queue_url
        .context("standard queue url")?;
    let fifo_url = client
        .create_queue()
        .queue_name(format!("{prefix}-ordered.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, &visibility)
        .send()
        .await
        .context("create FIFO queue")?
        .queue_url
        .context("FIFO queue url")?;
    Ok(Target {
        clients,
        standard_url,
        fifo_url,
    })
}

/// A worker's view: its clients, the node it currently talks to, and its randomness.
struct Worker {
    target: Target,
    node: usize,
    rng: StdRng,
    history: Arc<History>,
}

impl Worker {
    fn new(target: &Target, index: usize, seed: u64, history: &Arc<History>) -> Worker {
        Worker {
            node: index % target.clients.len(),
            target: target.clone(),
            rng: StdRng::seed_from_u64(seed),
            history: history.clone(),
        }
    }

    fn client(&self) -> &Client {
        &self.target.clients[self.node]
    }

    /// Moves to the next node after an error.
    fn failed(&mut self) {
        self.node = (self.node + 1) % self.target.clients.len();
    }
}

/// Starts every producer and consumer; they run until `stop` is set.
pub fn spawn(
    config: &WorkloadConfig,
    target: &Target,
    seed: u64,
    history: &Arc<History>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let mut index = 0;
    let mut next = || {
        index += 1;
        (
            index,
            seed.wrapping_mul(1_000_003).wrapping_add(index as u64),
        )
    };
    for p in 0..config.standard_producers {
        let (i, s) = next();
        let worker = Worker::new(target, i, s, history);
        tasks.push(tokio::spawn(produce_standard(
            worker,
            p,
            config.op_interval,
            stop.clone(),
        )));
    }
    for p in 0..config.fifo_producers {
        let (i, s) = next();
        let worker = Worker::new(target, i, s, history);
        let groups: Vec<u32> = (0..config.fifo_groups)
            .filter(|g| *g as usize % config.fifo_producers == p)
            .collect();
        tasks.push(tokio::spawn(produce_fifo(
            worker,
            groups,
            config.op_interval,
            stop.clone(),
        )));
    }
    for queue in [QueueKind::Standard, QueueKind::Fifo] {
        for _ in 0..config.consumers {
            let (i, s) = next();
            let worker = Worker::new(target, i, s, history);
            tasks.push(tokio::spawn(consume(
                worker,
                queue,
                config.op_interval,
                stop.clone(),
            )));
        }
    }
    tasks
}

async fn produce_standard(
    mut w: Worker,
    producer: usize,
    interval: Duration,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let count = if w.rng.random_bool(0.4) {
            w.rng.random_range(2..=10)
        } else {
            1
        };
        let bodies: Vec<Body> = (0..count)
            .map(|_| {
                n += 1;
                Body {
                    uid: format!("s{producer}-{n}"),
                    group: None,
                    counter: None,
                }
            })
            .collect();
        send(&mut w, QueueKind::Standard, bodies).await;
        tokio::time::sleep(interval).await;
    }
}

async fn produce_fifo(mut w: Worker, groups: Vec<u32>, interval: Duration, stop: Arc<AtomicBool>) {
    if groups.is_empty() {
        return;
    }
    let mut counters = vec![0u64; groups.len()];
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        // One group, or two interleaved, each with consecutive counters.
        let picks = if groups.len() > 1 && w.rng.random_bool(0.3) {
            vec![turn % groups.len(), (turn + 1) % groups.len()]
        } else {
            vec![turn % groups.len()]
        };
        turn += 1;
        let mut bodies = Vec::new();
        for pick in picks {
            let count = if w.rng.random_bool(0.4) {
                w.rng.random_range(2..=5)
            } else {
                1
            };
            for _ in 0..count {
                let (g, c) = (groups[pick], counters[pick]);
                counters[pick] += 1;
                bodies.push(Body {
                    uid: format!("f{g}-{c}"),
                    group: Some(g),
                    counter: Some(c),
                });
            }
        }
        send(&mut w, QueueKind::Fifo, bodies).await;
        tokio::time::sleep(interval).await;
    }
}

/// Sends `bodies` (one SendMessage, or a batch) and records each entry's outcome.
async fn send(w: &mut Worker, queue: QueueKind, bodies: Vec<Body>) {
    let url = w.target.url(queue).to_string();
    let record = |body: Body, acked: Option<(String, Option<&str>)>| Send {
        queue,
        body,
        sequence: acked
            .as_ref()
            .and_then(|(_, s)| s.and_then(|s| s.parse().ok())),
        acked_id: acked.map(|(id, _)| id),
    };
    if let [body] = &bodies[..] {
        let mut request = w
            .client()
            .send_message()
            .queue_url(&url)
            .message_body(body.encode());
        if let Some(g) = body.group {
            request = request
                .message_group_id(format!("g{g}"))
                .message_deduplication_id(&body.uid);
        }
        let result = request.send().await;
        let acked = match &result {
            Ok(out) => out
                .message_id()
                .map(|id| (id.to_string(), out.sequence_number())),
            Err(_) => None,
        };
        if result.is_err() {
            w.failed();
        }
        w.history.sent([record(body.clone(), acked)]);
        return;
    }
    let entries: Vec<SendMessageBatchRequestEntry> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body.encode());
            if let Some(g) = body.group {
                entry = entry
                    .message_group_id(format!("g{g}"))
                    .message_deduplication_id(&body.uid);
            }
            entry.build().expect("batch entry")
        })
        .collect();
    let result = w
        .client()
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await;
    let sends: Vec<Send> = match &result {
        Ok(out) => bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let ok = out.successful().iter().find(|e| e.id() == i.to_string());
                record(
                    body,
                    ok.map(|e| (e.message_id().to_string(), e.sequence_number())),
                )
            })
            .collect(),
        Err(_) => bodies.into_iter().map(|b| record(b, None)).collect(),
    };
    if result.is_err() {
        w.failed();
    }
    w.history.sent(sends);
}

/// What a consumer does with one received message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Delete,
    /// Visibility 0: redelivered soon, its old handle kept for a stale-handle probe.
    Release,
    /// Longer visibility, then delete.
    Extend,
    /// Nothing: redelivered when the visibility timeout runs out.
    Abandon,
}

/// A received message with what the consumer knows about it.
struct Held {
    body: Body,
    handle: String,
    requested: Instant,
}

async fn consume(mut w: Worker, queue: QueueKind, interval: Duration, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Some(held) = receive(&mut w, queue, 1).await else {
            tokio::time::sleep(interval).await;
            continue;
        };
        let mut deletes = Vec::new();
        let mut releases = Vec::new();
        for m in held {
            if let Some(stale) = w.history.take_stale_handle(queue, &m.body.uid, &m.handle) {
                probe_stale_handle(&mut w, queue, &m, &stale).await;
                continue;
            }
            let roll = w.rng.random_range(0..100);
            let action = match roll {
                0..70 => Action::Delete,
                70..82 => Action::Release,
                82..90 => Action::Extend,
                _ => Action::Abandon,
            };
            match action {
                Action::Delete => deletes.push(m),
                Action::Release => releases.push(m),
                Action::Extend => {
                    let url = w.target.url(queue).to_string();
                    let extended = w
                        .client()
                        .change_message_visibility()
                        .queue_url(&url)
                        .receipt_handle(&m.handle)
                        .visibility_timeout(2 * VISIBILITY_SECS as i32)
                        .send()
                        .await;
                    if extended.is_err() {
                        w.failed();
                    }
                    deletes.push(m);
                }
                Action::Abandon => {}
            }
        }
        release(&mut w, queue, releases).await;
        delete(&mut w, queue, deletes).await;
    }
}

/// One ReceiveMessage; records and returns what it delivered (`None` on error or empty).
async fn receive(w: &mut Worker, queue: QueueKind, wait_secs: i32) -> Option<Vec<Held>> {
    let url = w.target.url(queue).to_string();
    let receive = w.history.next_receive();
    let requested = Instant::now();
    let result = w
        .client()
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await;
    let recorded = Instant::now();
    let out = match result {
        Ok(out) => out,
        Err(_) => {
            w.failed();
            return None;
        }
    };
    let messages: Vec<(Body, &Message)> = out
        .messages()
        .iter()
        .filter_map(|m| Some((Body::decode(m.body()?)?, m)))
        .collect();
    if messages.is_empty() {
        return None;
    }
    w.history.delivered(
        messages
            .iter()
            .enumerate()
            .map(|(position, (body, m))| Delivery {
                queue,
                body: body.clone(),
                message_id: m.message_id().unwrap_or_default().to_string(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_string(),
                requested,
                recorded,
                receive,
                position,
            }),
    );
    Some(
        messages
            .into_iter()
            .map(|(body, m)| Held {
                body,
                handle: m.receipt_handle().unwrap_or_default().to_string(),
                requested,
            })
            .collect(),
    )
}

/// Tries to delete `m` with the handle it had before its last rotation, then makes it
/// visible again; the checker expects it to be delivered once more.
async fn probe_stale_handle(w: &mut Worker, queue: QueueKind, m: &Held, stale: &str) {
    let url = w.target.url(queue).to_string();
    let result = w
        .client()
        .delete_message()
        .queue_url(&url)
        .receipt_handle(stale)
        .send()
        .await;
    w.history.stale_probe(StaleProbe {
        queue,
        uid: m.body.uid.clone(),
        answered: Instant::now(),
    });
    if result.is_err() {
        w.failed();
    }
    let released = w
        .client()
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&m.handle)
        .visibility_timeout(0)
        .send()
        .await;
    if released.is_err() {
        w.failed();
    }
}

/// Makes messages visible again (ChangeMessageVisibility or its batch form).
async fn release(w: &mut Worker, queue: QueueKind, held: Vec<Held>) {
    if held.is_empty() {
        return;
    }
    let url = w.target.url(queue).to_string();
    for m in &held {
        w.history.released(queue, &m.body.uid, &m.handle);
    }
    let failed = if held.len() == 1 || w.rng.random_bool(0.5) {
        let mut failed = false;
        for m in &held {
            failed |= w
                .client()
                .change_message_visibility()
                .queue_url(&url)
                .receipt_handle(&m.handle)
                .visibility_timeout(0)
                .send()
                .await
                .is_err();
        }
        failed
    } else {
        let entries = held.iter().enumerate().map(|(i, m)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&m.handle)
                .visibility_timeout(0)
                .build()
                .expect("visibility entry")
        });
        w.client()
            .change_message_visibility_batch()
            .queue_url(&url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .is_err()
    };
    if failed {
        w.failed();
    }
}

/// Deletes messages (DeleteMessage or its batch form) and records the deletes that
/// certainly used a current handle.
async fn delete(w: &mut Worker, queue: QueueKind, held: Vec<Held>) {
    if held.is_empty() {
        return;
    }
    let url = w.target.url(queue).to_string();
    let visibility = Duration::from_secs(VISIBILITY_SECS);
    let definite = |m: &Held, acknowledged: Instant| {
        (acknowledged + DELETE_MARGIN < m.requested + visibility).then(|| Deleted {
            queue,
            uid: m.body.uid.clone(),
            acknowledged,
        })
    };
    if held.len() == 1 || w.rng.random_bool(0.5) {
        for m in &held {
            let result = w
                .client()
                .delete_message()
                .queue_url(&url)
                .receipt_handle(&m.handle)
                .send()
                .await;
            match result {
                Ok(_) => {
                    if let Some(d) = definite(m, Instant::now()) {
                        w.history.deleted(d);
                    }
                }
                Err(_) => w.failed(),
            }
        }
        return;
    }
    let entries = held.iter().enumerate().map(|(i, m)| {
        DeleteMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .receipt_handle(&m.handle)
            .build()
            .expect("delete entry")
    });
    let result = w
        .client()
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries.collect()))
        .send()
        .await;
    let acknowledged = Instant::now();
    match result {
        Ok(out) => {
            for entry in out.successful() {
                if let Some(d) = entry
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| held.get(i))
                    .and_then(|m| definite(m, acknowledged))
                {
                    w.history.deleted(d);
                }
            }
        }
        Err(_) => w.failed(),
    }
}

/// Drainers per queue after the faults.
const DRAINERS: usize = 4;

/// After the faults: receives and deletes with several workers until `queue` stayed
/// empty for longer than a visibility timeout (so abandoned messages came back).
/// Returns false if `timeout` ran out first.
pub async fn drain(
    target: &Target,
    queue: QueueKind,
    seed: u64,
    history: &Arc<History>,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    let last_seen = Arc::new(std::sync::Mutex::new(Instant::now()));
    let quiet = Duration::from_secs(VISIBILITY_SECS + 3);
    let drainers: Vec<_> = (0..DRAINERS)
        .map(|i| {
            let mut w = Worker::new(target, i, seed.wrapping_add(i as u64), history);
            let last_seen = last_seen.clone();
            tokio::spawn(async move {
                let quiet_now = || last_seen.lock().expect("last seen").elapsed() >= quiet;
                while Instant::now() < deadline && !quiet_now() {
                    match receive(&mut w, queue, 2).await {
                        Some(held) => {
                            *last_seen.lock().expect("last seen") = Instant::now();
                            // Stale-handle probes still get their redelivery.
                            let mut deletes = Vec::new();
                            for m in held {
                                match w.history.take_stale_handle(queue, &m.body.uid, &m.handle) {
                                    Some(stale) => {
                                        probe_stale_handle(&mut w, queue, &m, &stale).await
                                    }
                                    None => deletes.push(m),
                                }
                            }
                            delete(&mut w, queue, deletes).await;
                        }
                        None => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        })
        .collect();
    for drainer in drainers {
        let _ = drainer.await;
    }
    last_seen.lock().expect("last seen").elapsed() >= quiet
}

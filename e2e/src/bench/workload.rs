//! The client loops: producers, consumers and long-poll producer/consumer pairs. Each
//! loop owns a [`Recorder`] and returns it when the run's window closes.

use super::api::{FifoIds, SqsApi};
use super::requests::{Step, timed};
use super::stats::Recorder;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant, sleep, timeout_at};

/// Wait between a long-poll consumer re-issuing its receive and the next send, so the
/// receive is parked on the server when the message arrives.
const REPOLL_PAUSE: Duration = Duration::from_millis(10);

/// A client bound to one queue.
#[derive(Clone)]
pub struct Target {
    /// The client (one per endpoint, shared by the loops using that endpoint).
    pub client: SqsApi,
    /// The queue this loop uses.
    pub queue_url: String,
}

/// A sending loop.
pub struct Producer {
    /// Where to send.
    pub target: Target,
    /// `None`: SendMessage; `Some(n)`: SendMessageBatch with `n` entries.
    pub batch: Option<usize>,
    /// FIFO queues: messages cycle over this many message groups.
    pub fifo_groups: Option<usize>,
    /// Distinguishes this producer's deduplication ids from the others'.
    pub id: usize,
    /// The message body.
    pub body: Arc<String>,
}

impl Producer {
    /// Sends until the window closes.
    pub async fn run(self, mut rec: Recorder) -> Recorder {
        let mut seq = 0usize;
        while rec.window().running() {
            let keep_going = match self.batch {
                None => {
                    let fifo = self.fifo_ids(&mut seq);
                    let request =
                        self.target
                            .client
                            .send_message(&self.target.queue_url, &self.body, fifo);
                    match timed(&mut rec, "SendMessage", request).await {
                        Step::Done(..) => {
                            rec.sent(1);
                            true
                        }
                        Step::Failed => true,
                        Step::Stop => false,
                    }
                }
                Some(n) => {
                    let entries = (0..n).map(|_| self.fifo_ids(&mut seq)).collect();
                    let request = self.target.client.send_message_batch(
                        &self.target.queue_url,
                        &self.body,
                        entries,
                    );
                    match timed(&mut rec, "SendMessageBatch", request).await {
                        Step::Done(out, _) => {
                            rec.sent(out.successful);
                            for code in &out.failed {
                                rec.entry_error(code);
                            }
                            true
                        }
                        Step::Failed => true,
                        Step::Stop => false,
                    }
                }
            };
            if !keep_going {
                break;
            }
        }
        rec
    }

    /// The next (group id, deduplication id) on FIFO queues.
    fn fifo_ids(&self, seq: &mut usize) -> Option<FifoIds> {
        let groups = self.fifo_groups?;
        *seq += 1;
        Some((
            format!("g{}", (self.id + *seq) % groups),
            format!("{}-{}", self.id, *seq),
        ))
    }
}

/// A receive-and-delete loop.
pub struct Consumer {
    /// Where to receive from.
    pub target: Target,
    /// MaxNumberOfMessages per receive.
    pub max_messages: usize,
    /// WaitTimeSeconds per receive (a short wait keeps idle consumers from spinning).
    pub wait_seconds: u32,
}

impl Consumer {
    /// Receives and deletes until the window closes.
    pub async fn run(self, mut rec: Recorder) -> Recorder {
        while rec.window().running() {
            let request = self.target.client.receive_message(
                &self.target.queue_url,
                self.max_messages,
                self.wait_seconds,
            );
            let handles = match timed(&mut rec, "ReceiveMessage", request).await {
                Step::Done(handles, _) => {
                    rec.received(handles.len());
                    handles
                }
                Step::Failed => continue,
                Step::Stop => break,
            };
            if !handles.is_empty() && !delete(&self.target, &handles, &mut rec).await {
                break;
            }
        }
        rec
    }
}

/// Deletes received messages by receipt handle (one DeleteMessage, or a
/// DeleteMessageBatch); false when the client must stop.
async fn delete(target: &Target, handles: &[String], rec: &mut Recorder) -> bool {
    let (client, url) = (&target.client, &target.queue_url);
    if let [handle] = handles {
        return match timed(rec, "DeleteMessage", client.delete_message(url, handle)).await {
            Step::Done(..) => {
                rec.deleted(1);
                true
            }
            Step::Failed => true,
            Step::Stop => false,
        };
    }
    let request = client.delete_message_batch(url, handles);
    match timed(rec, "DeleteMessageBatch", request).await {
        Step::Done(out, _) => {
            rec.deleted(out.successful);
            for code in &out.failed {
                rec.entry_error(code);
            }
            true
        }
        Step::Failed => true,
        Step::Stop => false,
    }
}

/// What a long-poll consumer tells its producer.
enum PollEvent {
    /// A receive is about to be issued.
    Polling,
    /// A receive returned a message at this instant.
    Returned(Instant),
}

/// A producer and a consumer on one queue: the consumer long-polls with
/// WaitTimeSeconds=20, the producer sends one message whenever the consumer is waiting.
/// `Wake` is the latency from the send's acknowledgement to the receive's return (clamped
/// at 1 µs when the receive returns first); `SendToReceive` starts at the send request.
pub struct LongPollPair {
    /// Sends the messages.
    pub producer: Target,
    /// Waits for them (another endpoint than the producer's when there are several).
    pub consumer: Target,
    /// The message body.
    pub body: Arc<String>,
}

impl LongPollPair {
    /// Ping-pongs until the window closes; returns the producer's and consumer's
    /// measurements merged.
    pub async fn run(self, mut rec: Recorder) -> Recorder {
        let (events_tx, mut events) = mpsc::channel(4);
        let consumer = tokio::spawn(long_poll_consumer(
            self.consumer,
            events_tx,
            Recorder::new(rec.window()),
        ));
        let patience = rec.window().end + super::requests::GRACE;
        'pairs: while rec.window().running() {
            // Wait until the consumer is (about to be) parked in its long poll.
            loop {
                match timeout_at(patience, events.recv()).await {
                    Ok(Some(PollEvent::Polling)) => break,
                    Ok(Some(PollEvent::Returned(_))) => continue,
                    Ok(None) | Err(_) => break 'pairs,
                }
            }
            sleep(REPOLL_PAUSE).await;
            let request =
                self.producer
                    .client
                    .send_message(&self.producer.queue_url, &self.body, None);
            let started = match timed(&mut rec, "SendMessage", request).await {
                Step::Done(_, started) => started,
                Step::Failed => continue,
                Step::Stop => break,
            };
            let acked = Instant::now();
            rec.sent(1);
            match timeout_at(patience, events.recv()).await {
                Ok(Some(PollEvent::Returned(at))) => {
                    rec.latency("Wake", acked, at);
                    rec.latency("SendToReceive", started, at);
                }
                Ok(Some(PollEvent::Polling)) => rec.failure("Wake", "NotWoken"),
                Ok(None) => break,
                Err(_) => {
                    rec.failure("Wake", "NotWoken");
                    break;
                }
            }
        }
        drop(events);
        if let Ok(consumed) = consumer.await {
            rec.merge(consumed);
        }
        rec
    }
}

/// Long-polls `target` until the producer hangs up, reporting each return.
async fn long_poll_consumer(
    target: Target,
    events: mpsc::Sender<PollEvent>,
    mut rec: Recorder,
) -> Recorder {
    loop {
        if events.send(PollEvent::Polling).await.is_err() {
            break;
        }
        let request = target.client.receive_message(&target.queue_url, 1, 20);
        let step = tokio::select! {
            step = timed(&mut rec, "ReceiveMessage", request) => step,
            _ = events.closed() => break,
        };
        let handles = match step {
            Step::Done(handles, _) => {
                let at = Instant::now();
                rec.received(handles.len());
                if !handles.is_empty() && events.send(PollEvent::Returned(at)).await.is_err() {
                    break;
                }
                handles
            }
            Step::Failed => continue,
            Step::Stop => break,
        };
        if !handles.is_empty() && !delete(&target, &handles, &mut rec).await {
            break;
        }
    }
    rec
}

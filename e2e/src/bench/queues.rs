//! The run's own queues: created under a unique prefix, prefilled for receive
//! scenarios, deleted at the end.

use super::requests::error_code;
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Creates `count` queues named `<prefix>-<i>` (FIFO queues end in `.fifo`); returns
/// their URLs.
pub async fn create(
    client: &Client,
    prefix: &str,
    count: usize,
    fifo: bool,
) -> Result<Vec<String>> {
    let mut urls = Vec::with_capacity(count);
    for i in 0..count {
        let name = if fifo {
            format!("{prefix}-{i}.fifo")
        } else {
            format!("{prefix}-{i}")
        };
        let mut request = client.create_queue().queue_name(&name);
        if fifo {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let out = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateQueue {name}: {}", error_code(&e)))?;
        urls.push(
            out.queue_url
                .with_context(|| format!("CreateQueue {name} returned no URL"))?,
        );
    }
    Ok(urls)
}

/// Deletes the queues; reports the first failure after trying all of them.
pub async fn delete(client: &Client, urls: &[String]) -> Result<()> {
    let mut first_error = None;
    for url in urls {
        if let Err(e) = client.delete_queue().queue_url(url).send().await {
            first_error.get_or_insert_with(|| format!("DeleteQueue {url}: {}", error_code(&e)));
        }
    }
    match first_error {
        Some(e) => bail!(e),
        None => Ok(()),
    }
}

/// Stores `total` messages of `body` round-robin over `urls` with SendMessageBatch of 10,
/// using `tasks` concurrent clients, stopping at `deadline`. Returns how many were stored.
pub async fn prefill(
    clients: &[Client],
    urls: &[String],
    total: usize,
    body: Arc<String>,
    tasks: usize,
    deadline: Instant,
) -> Result<u64> {
    let batches = total.div_ceil(10);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for t in 0..tasks.clamp(1, batches.max(1)) {
        let client = clients[t % clients.len()].clone();
        let urls = urls.to_vec();
        let body = body.clone();
        let next = next.clone();
        set.spawn(async move {
            let (mut stored, mut last_error) = (0u64, None);
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= batches || Instant::now() >= deadline {
                    break;
                }
                let size = (total - 10 * k).min(10);
                let entries = (0..size)
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body.as_str())
                            .build()
                            .expect("id and body are set")
                    })
                    .collect();
                let sent = client
                    .send_message_batch()
                    .queue_url(&urls[k % urls.len()])
                    .set_entries(Some(entries))
                    .send()
                    .await;
                match sent {
                    Ok(out) => stored += out.successful().len() as u64,
                    Err(e) => last_error = Some(error_code(&e)),
                }
            }
            (stored, last_error)
        });
    }
    let (mut stored, mut last_error) = (0, None);
    while let Some(done) = set.join_next().await {
        let (n, err) = done?;
        stored += n;
        last_error = last_error.or(err);
    }
    if stored == 0 && total > 0 {
        bail!(
            "prefill stored no message (last error: {})",
            last_error.as_deref().unwrap_or("none")
        );
    }
    Ok(stored)
}

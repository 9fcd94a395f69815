//! The run's own queues: created under a unique prefix, prefilled for receive
//! scenarios, deleted at the end.

use super::api::SqsApi;
use anyhow::{Result, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Creates `count` queues named `<prefix>-<i>` (FIFO queues end in `.fifo`); returns
/// their URLs.
pub async fn create(
    client: &SqsApi,
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
        let url = client
            .create_queue(&name, fifo)
            .await
            .map_err(|code| anyhow::anyhow!("CreateQueue {name}: {code}"))?;
        urls.push(url);
    }
    Ok(urls)
}

/// Deletes the queues; reports the first failure after trying all of them.
pub async fn delete(client: &SqsApi, urls: &[String]) -> Result<()> {
    let mut first_error = None;
    for url in urls {
        if let Err(code) = client.delete_queue(url).await {
            first_error.get_or_insert_with(|| format!("DeleteQueue {url}: {code}"));
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
    clients: &[SqsApi],
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
                let sent = client
                    .send_message_batch(&urls[k % urls.len()], &body, vec![None; size])
                    .await;
                match sent {
                    Ok(out) => stored += out.successful as u64,
                    Err(code) => last_error = Some(code),
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

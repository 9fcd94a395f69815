//! Merging concurrent requests into batches: callers submit items and wait for their own
//! result; a task hands everything queued to a flush function whenever one of a bounded
//! number of flushes is free. An idle batcher flushes a lone item at once; under load
//! items accumulate while flushes are busy, so batches grow with the load.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Items waiting for a flush; further callers wait for room.
const QUEUE: usize = 4096;

/// How large batches may grow and how many flushes may run at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Flushes running at once.
    pub in_flight: usize,
    /// Most items in one batch.
    pub max_items: usize,
    /// A batch stops taking items once their weights reach this.
    pub max_weight: u64,
}

/// The submitting side of a batcher of `T`s answered with `R`s.
pub struct Batcher<T, R> {
    tx: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the batching task. `flush` gets a batch and returns one result per item, in
    /// order; `weight` measures an item against [`Limits::max_weight`].
    pub fn start<F, Fut>(limits: Limits, weight: fn(&T) -> u64, flush: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(limits, weight, flush, rx));
        Batcher { tx }
    }

    /// Submits `item` and waits for its result; `None` if the batcher stopped or its
    /// flush returned too few results.
    pub async fn submit(&self, item: T) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((item, reply)).await.ok()?;
        answer.await.ok()
    }
}

async fn run<T, R, F, Fut>(
    limits: Limits,
    weight: fn(&T) -> u64,
    flush: F,
    mut rx: mpsc::Receiver<(T, oneshot::Sender<R>)>,
) where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<R>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut total = weight(&first.0);
        let mut batch = vec![first];
        while batch.len() < limits.max_items && total < limits.max_weight {
            let Ok(next) = rx.try_recv() else { break };
            total += weight(&next.0);
            batch.push(next);
        }
        let (items, replies): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
        let flushing = flush(items);
        tokio::spawn(async move {
            let results = flushing.await;
            for (reply, result) in replies.into_iter().zip(results) {
                // A caller that gave up (client gone) is not an error.
                let _ = reply.send(result);
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test]
    async fn items_queued_behind_a_busy_flush_share_the_next_batch() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let limits = Limits {
            in_flight: 1,
            max_items: 5,
            max_weight: u64::MAX,
        };
        let batcher = Arc::new(Batcher::start(
            limits,
            |_| 1,
            move |items: Vec<u32>| {
                seen.lock().unwrap().push(items.len());
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    items.into_iter().map(|i| i * 10).collect::<Vec<_>>()
                }
            },
        ));
        let calls: Vec<_> = (0..12u32)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.submit(i).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Some(i as u32 * 10));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 12);
        assert!(sizes.iter().all(|&n| n <= 5), "{sizes:?}");
        assert!(sizes.len() < 12, "nothing was merged: {sizes:?}");
    }

    #[tokio::test]
    async fn a_batch_stops_at_the_weight_limit_and_a_short_flush_answers_none() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let limits = Limits {
            in_flight: 1,
            max_items: 100,
            max_weight: 10,
        };
        let batcher = Arc::new(Batcher::start(
            limits,
            |w: &u64| *w,
            move |items: Vec<u64>| {
                seen.lock().unwrap().push(items.clone());
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    // Weight 0 marks an item the flush forgets to answer.
                    items
                        .iter()
                        .take_while(|&&w| w > 0)
                        .copied()
                        .collect::<Vec<_>>()
                }
            },
        ));
        let mut calls = Vec::new();
        for w in [1u64, 6, 6, 6] {
            let b = batcher.clone();
            calls.push(tokio::spawn(async move { b.submit(w).await }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for (call, w) in calls.into_iter().zip([1u64, 6, 6, 6]) {
            assert_eq!(call.await.unwrap(), Some(w));
        }
        // The first item flushes alone; the three queued behind it weigh 18, and a batch
        // closes once it reaches 10.
        assert_eq!(*sizes.lock().unwrap(), vec![vec![1], vec![6, 6], vec![6]]);
        assert_eq!(batcher.submit(0).await, None);
    }
}

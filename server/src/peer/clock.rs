//! The cluster clock: the time a leader stamps on the entries it proposes.
//!
//! Apply time is the proposer's time made monotonic (never below the last applied
//! entry's), so a proposer whose wall clock jumps ahead would drag every replica's "now"
//! with it, and keep it there after the clock is fixed. The proposer therefore does not
//! use its own wall clock alone: every node reads every other voter's wall clock once a
//! second over the internal port ([`CLOCK`]), pins the reading to the midpoint of the
//! round trip and carries it forward on its own monotonic clock. Its cluster time is the
//! median of its own wall clock and every reading younger than [`FRESH`] (the lower
//! median when there is an even number). Of 2f+1 voters, f clocks wrong by any amount —
//! stepped, drifting, on the leader or on followers — cannot move the median outside the
//! span of the correct clocks (plus half a round trip). A proposal waits (up to
//! [`MAJORITY_WAIT`], in practice the first ~100 ms after a start) until a majority of
//! the voters' clocks vote; past that wait the votes it has decide. A peer that answers
//! [`CLOCK`] with 404 (a version from before the cluster clock, during a rolling
//! upgrade) has no clock to vote with: the majority is counted among the voters that do,
//! so an upgraded leader never waits for clocks that cannot come. See
//! `docs/architecture.md`.

use super::client::InternalClient;
use crate::wire::CLOCK;
use bytes::Bytes;
use http::StatusCode;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often each peer's clock is read while a majority votes...
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// ...and while one does not (after a start, or a peer's return).
const SAMPLE_RETRY: Duration = Duration::from_millis(100);
/// Longest a proposal waits for a majority of voters' clocks.
const MAJORITY_WAIT: Duration = Duration::from_secs(2);
/// A reading older than this no longer votes (its peer is down or cut off).
pub const FRESH: Duration = Duration::from_secs(5);
/// A read slower than this round trip is dropped: its midpoint would be too uncertain.
const MAX_ROUND_TRIP: Duration = Duration::from_millis(500);
/// Own clock this far from the cluster time is logged as a warning.
const WARN_SKEW_MS: u64 = 1_000;

/// This process's wall clock in Unix milliseconds.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A peer's wall clock as read at one local monotonic instant.
#[derive(Debug, Clone, Copy)]
struct Reading {
    wall_ms: u64,
    at: Instant,
}

/// The median of this node's and its peers' wall clocks.
#[derive(Debug, Default)]
pub struct ClusterClock {
    readings: Mutex<BTreeMap<u64, Reading>>,
    /// Peers whose last answer was a 404: they run a version without [`CLOCK`].
    without_clock: Mutex<BTreeSet<u64>>,
    /// Signalled on every new reading, and when a peer turns out to have no clock.
    recorded: tokio::sync::Notify,
}

impl ClusterClock {
    /// The best estimate of the cluster time now, in Unix milliseconds, however few
    /// votes it has (for what is not replicated: SigV4 checks, Date headers, waits).
    pub fn now_ms(&self) -> u64 {
        self.at(wall_ms(), Instant::now()).0
    }

    /// The time to stamp on a proposal among `voters` voters: the cluster time once a
    /// majority of the voters with a clock vote, or after [`MAJORITY_WAIT`] whatever
    /// votes there are.
    pub async fn proposal_ms(&self, voters: usize) -> u64 {
        let deadline = Instant::now() + MAJORITY_WAIT;
        loop {
            let notified = self.recorded.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let (time, votes) = self.at(wall_ms(), Instant::now());
            let left = deadline.saturating_duration_since(Instant::now());
            if votes > self.with_clock(voters) / 2 || left.is_zero() {
                return time;
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// How many of `voters` voters (this node included) have a clock to vote with.
    fn with_clock(&self, voters: usize) -> usize {
        let without = self.without_clock.lock().unwrap_or_else(|e| e.into_inner());
        voters.saturating_sub(without.len()).max(1)
    }

    /// Notes whether `peer` answers [`CLOCK`] at all; wakes waiting proposals when a
    /// peer turns out not to.
    fn mark_clock(&self, peer: u64, has_clock: bool) {
        let mut without = self.without_clock.lock().unwrap_or_else(|e| e.into_inner());
        let changed = if has_clock {
            without.remove(&peer)
        } else {
            without.insert(peer)
        };
        drop(without);
        if changed && !has_clock {
            self.recorded.notify_waiters();
        }
    }

    /// How many clocks vote now (this node's included).
    fn votes(&self) -> usize {
        self.at(wall_ms(), Instant::now()).1
    }

    /// The cluster time at monotonic `now`, when this node's wall clock reads `own_ms`,
    /// and how many clocks voted.
    fn at(&self, own_ms: u64, now: Instant) -> (u64, usize) {
        let readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        let mut votes: Vec<u64> = readings
            .values()
            .filter_map(|r| {
                let age = now.checked_duration_since(r.at)?;
                (age < FRESH).then(|| r.wall_ms.saturating_add(age.as_millis() as u64))
            })
            .collect();
        votes.push(own_ms);
        votes.sort_unstable();
        (votes[(votes.len() - 1) / 2], votes.len())
    }

    /// Records that `peer`'s wall clock read `wall_ms` when asked at `sent` and answered
    /// by `received` (both local monotonic instants).
    fn record(&self, peer: u64, wall_ms: u64, sent: Instant, received: Instant) {
        let at = sent + received.saturating_duration_since(sent) / 2;
        let mut readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        readings.insert(peer, Reading { wall_ms, at });
        drop(readings);
        self.mark_clock(peer, true);
        self.recorded.notify_waiters();
    }

    /// Reads every peer's clock once a second (every 100 ms while fewer than a majority
    /// vote), forever. `peers` lists the other voters as (node id, internal address) at
    /// the time of each round.
    pub async fn sample_loop(
        &self,
        client: InternalClient,
        peers: impl Fn() -> Vec<(u64, String)>,
    ) {
        loop {
            let peers = peers();
            let voters = peers.len() + 1;
            let reads = peers.into_iter().map(|(id, addr)| {
                let client = client.clone();
                async move { (id, read_peer(&client, &addr).await) }
            });
            for (id, read) in futures::future::join_all(reads).await {
                match read {
                    Ok(Read::Clock(wall_ms, sent, received)) => {
                        self.record(id, wall_ms, sent, received)
                    }
                    Ok(Read::NoClock) => self.mark_clock(id, false),
                    Err(e) => tracing::debug!(peer = id, error = %e, "clock read failed"),
                }
            }
            let (own, cluster) = (wall_ms(), self.now_ms());
            if own.abs_diff(cluster) > WARN_SKEW_MS {
                tracing::warn!(
                    own_ms = own,
                    cluster_ms = cluster,
                    "this node's wall clock disagrees with the median of its peers'; \
                     entries it proposes carry the median"
                );
            }
            let majority = voters > 1 && self.votes() > self.with_clock(voters) / 2;
            tokio::time::sleep(if majority {
                SAMPLE_INTERVAL
            } else {
                SAMPLE_RETRY
            })
            .await;
        }
    }
}

/// What a peer answered to [`CLOCK`].
enum Read {
    /// Its wall clock, and when it was asked and answered.
    Clock(u64, Instant, Instant),
    /// 404: a version without the cluster clock.
    NoClock,
}

/// One read of a peer's wall clock.
async fn read_peer(client: &InternalClient, addr: &str) -> Result<Read, String> {
    let sent = Instant::now();
    let (status, body) = client
        .post(addr, CLOCK, &[], Bytes::new(), MAX_ROUND_TRIP)
        .await
        .map_err(|e| e.to_string())?;
    let received = Instant::now();
    if status == StatusCode::NOT_FOUND {
        return Ok(Read::NoClock);
    }
    if !status.is_success() {
        return Err(format!("status {status}"));
    }
    let wall_ms = crate::codec::decode::<u64>(&body).map_err(|e| e.to_string())?;
    Ok(Read::Clock(wall_ms, sent, received))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn clock(readings: &[(u64, u64, Instant)]) -> ClusterClock {
        let clock = ClusterClock::default();
        for &(id, wall_ms, at) in readings {
            clock.record(id, wall_ms, at, at);
        }
        clock
    }

    #[test]
    fn alone_the_own_clock_is_the_cluster_time() {
        let now = Instant::now();
        assert_eq!(clock(&[]).at(1_000, now).0, 1_000);
    }

    #[test]
    fn one_wrong_clock_of_three_never_moves_the_median() {
        let now = Instant::now();
        let t = 1_700_000_000_000;
        // This node (the leader, say) an hour ahead or behind: its peers outvote it.
        let peers = clock(&[(2, t, now), (3, t + 3, now)]);
        assert_eq!(peers.at(t + HOUR, now).0, t + 3);
        assert_eq!(peers.at(t - HOUR, now).0, t);
        // One peer an hour ahead: this node and the other peer outvote it.
        let skewed_peer = clock(&[(2, t + HOUR, now), (3, t + 2, now)]);
        assert_eq!(skewed_peer.at(t, now).0, t + 2);
    }

    #[test]
    fn a_reading_is_carried_forward_on_the_monotonic_clock_and_expires() {
        let then = Instant::now();
        let t = 1_700_000_000_000;
        let c = clock(&[(2, t, then), (3, t, then)]);
        // Two seconds later both peers read t + 2 s, whatever this node's clock says.
        assert_eq!(c.at(t + HOUR, then + Duration::from_secs(2)).0, t + 2_000);
        // Stale readings no longer vote: the own clock is all that is left.
        assert_eq!(c.at(t + HOUR, then + FRESH).0, t + HOUR);
    }

    #[tokio::test]
    async fn a_proposal_waits_for_a_majority_of_clocks_then_goes_on_without() {
        let c = std::sync::Arc::new(ClusterClock::default());
        let t = 1_700_000_000_000;
        // Alone, this node is a majority of one.
        assert!(c.proposal_ms(1).await > 0);
        // One of three: the proposal waits for a peer's reading, which outvotes an own
        // clock an hour ahead.
        let waiting = tokio::spawn({
            let c = c.clone();
            async move { c.proposal_ms(3).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "proposed with one vote of three");
        let now = Instant::now();
        c.record(2, t, now, now);
        let stamped = waiting.await.expect("proposal");
        assert!(
            stamped <= wall_ms(),
            "stamped {stamped}, after the peer's reading"
        );
        // Two of five never make a majority: after the wait, the votes there are decide.
        let started = Instant::now();
        c.proposal_ms(5).await;
        assert!(started.elapsed() >= MAJORITY_WAIT);
    }

    #[tokio::test]
    async fn peers_without_a_clock_do_not_count_towards_the_majority() {
        let c = std::sync::Arc::new(ClusterClock::default());
        // Three voters, both peers on a version without /clock (a rolling upgrade whose
        // first upgraded node leads): once they answer 404 the own clock decides at once.
        let waiting = tokio::spawn({
            let c = c.clone();
            async move { c.proposal_ms(3).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "proposed before the peers answered");
        let started = Instant::now();
        c.mark_clock(2, false);
        c.mark_clock(3, false);
        waiting.await.expect("proposal");
        assert!(
            started.elapsed() < MAJORITY_WAIT / 4,
            "waited for absent clocks"
        );
        // One peer upgraded: its reading and the own clock make the majority of two.
        let now = Instant::now();
        c.record(2, 1_700_000_000_000, now, now);
        assert_eq!(c.with_clock(3), 2);
        let started = Instant::now();
        c.proposal_ms(3).await;
        assert!(started.elapsed() < MAJORITY_WAIT / 4);
    }

    #[test]
    fn with_two_votes_the_earlier_clock_wins() {
        let now = Instant::now();
        let c = clock(&[(2, 5_000, now)]);
        assert_eq!(c.at(9_000, now).0, 5_000);
        assert_eq!(c.at(1_000, now).0, 1_000);
    }

    #[test]
    fn a_reading_is_pinned_to_the_middle_of_its_round_trip() {
        let sent = Instant::now();
        let c = ClusterClock::default();
        c.record(2, 10_000, sent, sent + Duration::from_millis(100));
        c.record(3, 10_000, sent, sent + Duration::from_millis(100));
        // At `sent + 100 ms` the readings are 50 ms old.
        assert_eq!(c.at(0, sent + Duration::from_millis(100)).0, 10_050);
    }
}

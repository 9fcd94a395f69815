//! Exponential backoff with jitter while a cluster cannot be reached, so many Queues of
//! one unreachable cluster do not retry in lockstep.

use std::time::Duration;

/// First retry delay (before jitter).
const BASE: Duration = Duration::from_secs(2);
/// Longest delay (before jitter).
const CAP: Duration = Duration::from_secs(300);

/// Delay after `failures` consecutive failures (1 = the first), given a uniformly
/// random `jitter`: the base doubles per failure up to five minutes, and the delay is
/// drawn from its upper half ("equal jitter"), so it never collapses to zero.
pub fn delay(failures: u32, jitter: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let base = BASE.saturating_mul(1 << exp).min(CAP);
    let half = base / 2;
    let extra = half.mul_f64(f64::from(jitter) / f64::from(u32::MAX));
    half + extra
}

/// A random jitter value for [`delay`] (zero if the OS has no randomness to give).
pub fn random_jitter() -> u32 {
    getrandom::u32().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_stays_in_the_upper_half() {
        assert_eq!(delay(1, 0), Duration::from_secs(1));
        assert_eq!(delay(1, u32::MAX), Duration::from_secs(2));
        assert_eq!(delay(4, u32::MAX), Duration::from_secs(16));
        assert_eq!(delay(30, u32::MAX), CAP);
        assert_eq!(delay(30, 0), CAP / 2);
        let mid = delay(3, u32::MAX / 2);
        assert!(mid > Duration::from_secs(5) && mid < Duration::from_secs(7));
    }
}

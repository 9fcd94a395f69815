//! The benchmark process's own CPU use (getrusage), to show whether the client side is
//! the bottleneck.

use serde::Serialize;
use std::time::Duration;

/// User and system CPU time consumed by this process so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTime {
    /// Time spent in user mode.
    pub user: Duration,
    /// Time spent in the kernel on behalf of this process.
    pub system: Duration,
}

impl CpuTime {
    /// Reads this process's CPU time (all threads).
    pub fn now() -> CpuTime {
        // SAFETY: getrusage only writes into the zeroed struct we pass.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let to_duration = |tv: libc::timeval| {
            Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
        };
        CpuTime {
            user: to_duration(usage.ru_utime),
            system: to_duration(usage.ru_stime),
        }
    }

    /// CPU used between `earlier` and `self`, over `wall` seconds of wall-clock time.
    pub fn usage_since(&self, earlier: CpuTime, wall: Duration) -> CpuUsage {
        let user = self.user.saturating_sub(earlier.user).as_secs_f64();
        let system = self.system.saturating_sub(earlier.system).as_secs_f64();
        let wall = wall.as_secs_f64();
        CpuUsage {
            user_secs: user,
            sys_secs: system,
            percent_of_one_core: if wall > 0.0 {
                100.0 * (user + system) / wall
            } else {
                0.0
            },
        }
    }
}

/// CPU used over the measured window.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuUsage {
    /// User-mode seconds.
    pub user_secs: f64,
    /// Kernel seconds.
    pub sys_secs: f64,
    /// (user + sys) / wall time, in percent of one core (200 = two cores busy).
    pub percent_of_one_core: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_as_cpu_time() {
        let before = CpuTime::now();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let usage = CpuTime::now().usage_since(before, started.elapsed());
        assert!(usage.user_secs + usage.sys_secs > 0.0);
        assert!(usage.percent_of_one_core > 0.0);
    }
}

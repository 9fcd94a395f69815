//! CPU time of processes, and what it costs per message: the benchmark's own (getrusage)
//! and any other process's (utime + stime of `/proc/<pid>/stat`), which is how the bench
//! tool measures the servers and `sqsraft-backlog` its cluster.

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// User and system CPU time consumed by a process so far (all its threads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time spent in user mode.
    pub user: Duration,
    /// Time spent in the kernel on behalf of the process.
    pub system: Duration,
}

impl CpuTime {
    /// Reads this process's CPU time.
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

    /// Reads process `pid`'s CPU time from `/proc/<pid>/stat` (clock-tick resolution,
    /// usually 10 ms; terminated children it has not reaped are not included).
    pub fn of_process(pid: u32) -> Result<CpuTime> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("read /proc/{pid}/stat"))?;
        let (user, system) = parse_stat_ticks(&stat)?;
        Ok(CpuTime {
            user: ticks_to_duration(user, clock_ticks_per_second()),
            system: ticks_to_duration(system, clock_ticks_per_second()),
        })
    }

    /// User + system.
    pub fn total(&self) -> Duration {
        self.user + self.system
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
            micros_per_message: None,
        }
    }
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
}

/// CPU used over the measured window.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct CpuUsage {
    /// User-mode seconds.
    pub user_secs: f64,
    /// Kernel seconds.
    pub sys_secs: f64,
    /// (user + sys) / wall time, in percent of one core (200 = two cores busy).
    pub percent_of_one_core: f64,
    /// (user + sys) in µs divided by the scenario's headline message count; `None` when
    /// no message was counted.
    pub micros_per_message: Option<f64>,
}

impl CpuUsage {
    /// This usage with `micros_per_message` set for `messages` messages.
    pub fn per_message(self, messages: u64) -> CpuUsage {
        CpuUsage {
            micros_per_message: (messages > 0)
                .then(|| (self.user_secs + self.sys_secs) * 1e6 / messages as f64),
            ..self
        }
    }
}

/// CPU time of a fixed set of processes, sampled at the start and the end of a window.
#[derive(Debug, Clone, Default)]
pub struct ProcessSample(BTreeMap<u32, CpuTime>);

impl ProcessSample {
    /// Reads every pid's CPU time; a pid that is gone is left out of the sample.
    pub fn take(pids: &[u32]) -> ProcessSample {
        ProcessSample(
            pids.iter()
                .filter_map(|&pid| Some((pid, CpuTime::of_process(pid).ok()?)))
                .collect(),
        )
    }

    /// What `pids` used together between `earlier` and `self`: only a pid read in both
    /// samples counts; the others are listed as missing.
    pub fn since(&self, earlier: &ProcessSample, pids: &[u32]) -> WindowCpu {
        let mut window = WindowCpu::default();
        for pid in pids {
            match (earlier.0.get(pid), self.0.get(pid)) {
                (Some(before), Some(after)) => {
                    window.used = window.used
                        + CpuTime {
                            user: after.user.saturating_sub(before.user),
                            system: after.system.saturating_sub(before.system),
                        };
                    window.measured.push(*pid);
                }
                _ => window.missing.push(*pid),
            }
        }
        window
    }
}

/// CPU of a set of processes over a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowCpu {
    /// Their CPU time together.
    pub used: CpuTime,
    /// The pids running for the whole window (the ones counted).
    pub measured: Vec<u32>,
    /// The pids not running at its start or end.
    pub missing: Vec<u32>,
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_secs(ticks / per_second)
        + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second)
}

/// utime and stime (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat` line. The
/// command name in field 2 may hold spaces and parentheses, so fields are counted from
/// its last closing parenthesis.
pub fn parse_stat_ticks(stat: &str) -> Result<(u64, u64)> {
    let (_, rest) = stat
        .rsplit_once(')')
        .context("malformed /proc/<pid>/stat: no ')' after the command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        // `rest` starts at field 3.
        let text = fields.get(n - 3).context("short /proc/<pid>/stat")?;
        text.parse()
            .with_context(|| format!("field {n} of /proc/<pid>/stat: {text:?}"))
    };
    Ok((field(14)?, field(15)?))
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

    #[test]
    fn stat_ticks_are_user_and_system_time_after_the_command_name() {
        // A command name with a space and a parenthesis, as /proc shows it.
        let stat = "4242 (sqs (raft) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    1234 56 0 0 20 0 11 0 100 123456 789 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat).unwrap(), (1234, 56));
        assert!(parse_stat_ticks("4242 (truncated) S 1 2").is_err());
        assert!(parse_stat_ticks("no parenthesis at all").is_err());
        let garbled = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 12a 3 0";
        assert!(parse_stat_ticks(garbled).is_err());
    }

    #[test]
    fn ticks_convert_exactly_at_any_tick_rate() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(1, 300), Duration::from_nanos(3_333_333));
        assert_eq!(ticks_to_duration(0, 100), Duration::ZERO);
    }

    #[test]
    fn a_running_process_reads_its_own_stat() {
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let mine = CpuTime::of_process(std::process::id()).unwrap();
        assert!(mine.total() > Duration::ZERO);
        assert!(CpuTime::of_process(u32::MAX).is_err());
    }

    #[test]
    fn per_message_divides_user_plus_system_by_messages() {
        let before = CpuTime {
            user: Duration::from_millis(500),
            system: Duration::from_millis(100),
        };
        let after = CpuTime {
            user: Duration::from_millis(2500),
            system: Duration::from_millis(600),
        };
        let usage = after.usage_since(before, Duration::from_secs(5));
        assert_eq!(usage.percent_of_one_core, 50.0);
        // 2.5 s of CPU for 10,000 messages: 250 µs each.
        let per = usage.per_message(10_000).micros_per_message.unwrap();
        assert!((per - 250.0).abs() < 1e-9, "{per}");
        assert_eq!(usage.per_message(0).micros_per_message, None);
    }

    #[test]
    fn a_window_counts_only_pids_present_at_both_ends() {
        let at = |user_ms, sys_ms| CpuTime {
            user: Duration::from_millis(user_ms),
            system: Duration::from_millis(sys_ms),
        };
        // 1 and 4 run throughout, 2 exits, 3 starts late, 5 never ran.
        let before = ProcessSample(BTreeMap::from([
            (1, at(100, 10)),
            (2, at(50, 5)),
            (4, at(0, 0)),
        ]));
        let after = ProcessSample(BTreeMap::from([
            (1, at(400, 30)),
            (3, at(9000, 900)),
            (4, at(70, 7)),
        ]));
        let window = after.since(&before, &[1, 2, 3, 4, 5]);
        assert_eq!(window.used, at(370, 27));
        assert_eq!(window.measured, vec![1, 4]);
        assert_eq!(window.missing, vec![2, 3, 5]);
        assert!(after.since(&before, &[]).measured.is_empty());
    }

    #[test]
    fn a_live_process_is_sampled_and_a_missing_one_is_not() {
        let pids = [std::process::id(), u32::MAX];
        let before = ProcessSample::take(&pids);
        let window = ProcessSample::take(&pids).since(&before, &pids);
        assert_eq!(window.measured, vec![std::process::id()]);
        assert_eq!(window.missing, vec![u32::MAX]);
    }
}

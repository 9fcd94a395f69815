//! Ports for the servers test suites start: free now, and below the kernel's ephemeral
//! range. A port inside that range is unsafe for a server that is stopped and started
//! again on the same port: while it is down, any outgoing connection on the machine may
//! be given that port as its local end, and the restarted server fails to bind.

use std::net::TcpListener;

/// The lowest port handed out.
const LOWEST: u16 = 10_000;

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A base port `b`, a multiple of 10, such that `b + o` is free on 127.0.0.1 for every
/// offset `o` in `offsets`, all below the ephemeral range. Random, so suites running in
/// parallel rarely probe the same ports.
pub fn free_base(offsets: &[u16]) -> Result<u16, String> {
    let span = offsets.iter().copied().max().unwrap_or(0) + 1;
    let start = ephemeral_start();
    let slots = start.saturating_sub(LOWEST.saturating_add(span)) / 10;
    if slots < 100 {
        return Err(format!(
            "the ephemeral port range starts at {start}: too few ports below it for test servers"
        ));
    }
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().rotate_left(16);
    for _ in 0..200 {
        // xorshift: enough to spread parallel suites over the range.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let base = LOWEST + 10 * (seed % u32::from(slots)) as u16;
        if offsets
            .iter()
            .all(|o| TcpListener::bind(("127.0.0.1", base + o)).is_ok())
        {
            return Ok(base);
        }
    }
    Err(format!("no free ports below {start} after 200 tries"))
}

/// One free port below the ephemeral range.
pub fn free_port() -> u16 {
    free_base(&[0]).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_and_below_the_ephemeral_range() {
        let base = free_base(&[0, 1, 10, 11]).expect("ports");
        assert!(base + 11 < ephemeral_start());
        assert_eq!(base % 10, 0);
        for o in [0, 1, 10, 11] {
            TcpListener::bind(("127.0.0.1", base + o)).expect("still free");
        }
    }
}

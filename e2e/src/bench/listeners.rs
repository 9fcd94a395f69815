//! Finds the processes serving an endpoint on this machine, so the bench tool can measure
//! the servers' CPU without being told their pids: the endpoint's TCP port → the inode of
//! the socket listening on it (`/proc/net/tcp` and `/proc/net/tcp6`) → every process
//! holding that socket open (`/proc/<pid>/fd/* -> socket:[inode]`).
//!
//! This sees the process that owns the listener, not helpers it spawned that do not hold
//! the socket; `--server-pids` names processes explicitly for such servers.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// TCP state LISTEN as `/proc/net/tcp` writes it.
const TCP_LISTEN: &str = "0A";

/// The pids listening on the ports of `endpoints` (all must be loopback URLs), sorted.
pub fn server_pids(endpoints: &[String]) -> Result<Vec<u32>> {
    let mut ports = BTreeSet::new();
    for endpoint in endpoints {
        ports.insert(loopback_port(endpoint).with_context(|| {
            format!(
                "cannot find the server process of {endpoint}: not a loopback URL \
                 (pass --server-pids)"
            )
        })?);
    }
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // tcp6 is absent when IPv6 is disabled.
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, &ports));
        }
    }
    if inodes.is_empty() {
        bail!("no socket listens on port(s) {ports:?} of this machine");
    }
    let pids = pids_holding(&inodes)?;
    if pids.is_empty() {
        bail!(
            "no process visible here holds the socket listening on port(s) {ports:?} \
             (another user's? pass --server-pids)"
        );
    }
    Ok(pids)
}

/// The port of a URL whose host is a loopback address or `localhost`, e.g.
/// `http://127.0.0.1:9324` → 9324 (80/443 when the URL names none).
pub fn loopback_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return None;
    }
    match port {
        Some(port) => port.parse().ok(),
        None if scheme.eq_ignore_ascii_case("https") => Some(443),
        None => Some(80),
    }
}

/// Inodes of the sockets in LISTEN state on any of `ports` in a `/proc/net/tcp{,6}` table
/// (`sl local_address rem_address st … uid timeout inode`, ports in hex).
pub fn listening_inodes(table: &str, ports: &BTreeSet<u16>) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, port) = fields.get(1)?.rsplit_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let listening = *fields.get(3)? == TCP_LISTEN;
            let inode: u64 = fields.get(9)?.parse().ok()?;
            (listening && ports.contains(&port) && inode != 0).then_some(inode)
        })
        .collect()
}

/// The socket inode of an fd link target such as `socket:[12345]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Every process (that this user may inspect) with one of `inodes` open, sorted.
fn pids_holding(inodes: &BTreeSet<u64>) -> Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").context("read /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes that exit meanwhile or belong to others are skipped.
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|target| socket_inode(target.to_str()?))
                .is_some_and(|inode| inodes.contains(&inode))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn loopback_urls_give_their_port_and_others_none() {
        assert_eq!(loopback_port("http://127.0.0.1:9324"), Some(9324));
        assert_eq!(loopback_port("http://localhost:9324/queue/x"), Some(9324));
        assert_eq!(loopback_port("http://[::1]:4566"), Some(4566));
        assert_eq!(loopback_port("http://127.0.0.2"), Some(80));
        assert_eq!(loopback_port("https://localhost"), Some(443));
        assert_eq!(loopback_port("https://sqs.us-east-1.amazonaws.com"), None);
        assert_eq!(loopback_port("http://10.0.0.1:9324"), None);
        assert_eq!(loopback_port("127.0.0.1:9324"), None);
        assert_eq!(loopback_port("http://127.0.0.1:notaport"), None);
    }

    #[test]
    fn listening_sockets_are_picked_by_port_and_state() {
        // Port 0x2474 = 9332 listening, 0x2475 = 9333 listening, one established
        // connection from 9332, and a time-wait entry with inode 0.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2474 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2475 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:2474 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:2474 0100007F:D432 06 00000000:00000000 03:00000A3B 00000000     0        0 0 3 0000000000000000
";
        assert_eq!(listening_inodes(table, &BTreeSet::from([9332])), vec![111]);
        assert_eq!(
            listening_inodes(table, &BTreeSet::from([9332, 9333])),
            vec![111, 222]
        );
        assert!(listening_inodes(table, &BTreeSet::from([80])).is_empty());
        assert!(listening_inodes("header only\n", &BTreeSet::from([9332])).is_empty());
    }

    #[test]
    fn fd_links_name_socket_inodes() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn a_listener_of_this_process_is_found_by_its_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pids = server_pids(&[format!("http://127.0.0.1:{port}")]).unwrap();
        // `contains`, not equality: a process that another test forks at that moment
        // holds a copy of the socket until it execs.
        assert!(pids.contains(&std::process::id()), "{pids:?}");
        drop(listener);
        assert!(server_pids(&[format!("http://127.0.0.1:{port}")]).is_err());
        assert!(server_pids(&["https://sqs.us-east-1.amazonaws.com".into()]).is_err());
    }
}

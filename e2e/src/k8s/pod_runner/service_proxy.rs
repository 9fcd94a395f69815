//! A userspace kube-proxy for ClusterIP Services. The test control plane allocates
//! ClusterIPs from a loopback range (127.96.0.0/16), which is local in every network
//! namespace. In the root namespace (the tests) the proxy listens on `ClusterIP:port`
//! itself; in each pod's namespace it listens on an ephemeral `127.0.0.1` port and an
//! iptables `REDIRECT` rule sends `ClusterIP:port` there, so that a pod's own server on
//! `0.0.0.0:<same port>` never collides with it. Each TCP stream goes to a ready
//! endpoint from the Service's EndpointSlices, picked round-robin at connect time.
//! `default/kubernetes` forwards to the API server's loopback port (and is not bound in
//! the root namespace, where clients use the API server directly and another control
//! plane's runner may hold the same address).

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tokio::net::{TcpListener, TcpStream};

use super::{AbortOnDrop, Shared};

/// One listener: which Service port it serves.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Frontend {
    namespace: String,
    service: String,
    port_name: Option<String>,
    ip: String,
    port: u16,
}

fn frontends(services: &[Service]) -> Vec<Frontend> {
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
        else {
            continue;
        };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        for ServicePort {
            name,
            port,
            protocol,
            ..
        } in spec.ports.as_deref().unwrap_or_default()
        {
            if protocol.as_deref().unwrap_or("TCP") != "TCP" {
                continue;
            }
            out.push(Frontend {
                namespace: svc.metadata.namespace.clone().unwrap_or_default(),
                service: svc.metadata.name.clone().unwrap_or_default(),
                port_name: name.clone(),
                ip: ip.to_owned(),
                port: *port as u16,
            });
        }
    }
    out
}

/// Ready endpoint addresses of `f`'s port, from the Service's slices.
fn backends(f: &Frontend, slices: &[EndpointSlice]) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for slice in slices {
        let labels = slice.metadata.labels.as_ref();
        let of_service = slice.metadata.namespace.as_deref() == Some(f.namespace.as_str())
            && labels.and_then(|l| l.get("kubernetes.io/service-name")) == Some(&f.service);
        if !of_service {
            continue;
        }
        let Some(port) = slice
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|p| {
                p.name.as_deref().unwrap_or_default() == f.port_name.as_deref().unwrap_or_default()
            })
            .and_then(|p| p.port)
        else {
            continue;
        };
        for e in &slice.endpoints {
            let conditions = e.conditions.clone().unwrap_or_default();
            if conditions.ready == Some(false) || conditions.terminating == Some(true) {
                continue;
            }
            for a in &e.addresses {
                if let Ok(ip) = a.parse() {
                    out.push(SocketAddr::new(ip, port as u16));
                }
            }
        }
    }
    out
}

async fn forward(shared: Arc<Shared>, f: Frontend, listener: TcpListener) {
    let next = AtomicUsize::new(0);
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let target = if f.namespace == "default" && f.service == "kubernetes" {
            Some(SocketAddr::from(([127, 0, 0, 1], shared.api_port)))
        } else {
            let all = backends(&f, &shared.slices());
            (!all.is_empty()).then(|| all[next.fetch_add(1, Ordering::Relaxed) % all.len()])
        };
        // No ready endpoint: the connection is refused, as kube-proxy's REJECT does.
        let Some(target) = target else { continue };
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// Binds `addr` inside network namespace `netns` (the root namespace for `None`): a
/// short-lived thread enters the namespace, binds, and exits; the socket stays there.
fn bind_in(netns: Option<&str>, addr: SocketAddr) -> Result<TcpListener> {
    let listener = match netns {
        None => std::net::TcpListener::bind(addr).with_context(|| format!("bind {addr}"))?,
        Some(name) => std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<std::net::TcpListener> {
                    let ns = File::open(format!("/run/netns/{name}"))
                        .with_context(|| format!("open network namespace {name}"))?;
                    // SAFETY: setns on this thread only, which ends right after binding.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(std::io::Error::last_os_error()).context("setns");
                    }
                    std::net::TcpListener::bind(addr)
                        .with_context(|| format!("bind {addr} in {name}"))
                })
                .join()
                .map_err(|_| anyhow::anyhow!("bind thread panicked"))?
        })?,
    };
    listener.set_nonblocking(true)?;
    Ok(TcpListener::from_std(listener)?)
}

/// The NAT rule that sends `f`'s address to `port` in a pod's namespace.
fn redirect(netns: &str, action: &str, f: &Frontend, port: u16) -> Result<()> {
    let out = std::process::Command::new("ip")
        .args([
            "netns", "exec", netns, "iptables", "-w", "-t", "nat", action, "OUTPUT",
        ])
        .args([
            "-d",
            &format!("{}/32", f.ip),
            "-p",
            "tcp",
            "--dport",
            &f.port.to_string(),
        ])
        .args(["-j", "REDIRECT", "--to-ports", &port.to_string()])
        .output()
        .context("run iptables")?;
    anyhow::ensure!(
        out.status.success(),
        "iptables {action} in {netns}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// A listener and, in a pod's namespace, the port its REDIRECT rule points to.
struct Listener {
    _task: AbortOnDrop,
    redirect_port: Option<u16>,
}

async fn listen(shared: &Arc<Shared>, netns: Option<&str>, f: &Frontend) -> Result<Listener> {
    let (listener, redirect_port) = match netns {
        Some(ns) => {
            let listener = bind_in(Some(ns), SocketAddr::from(([127, 0, 0, 1], 0)))?;
            let port = listener.local_addr()?.port();
            redirect(ns, "-A", f, port)?;
            (listener, Some(port))
        }
        None => {
            let ip: std::net::IpAddr = f.ip.parse().context("ClusterIP")?;
            (bind_in(None, SocketAddr::new(ip, f.port))?, None)
        }
    };
    let task = tokio::spawn(forward(shared.clone(), f.clone(), listener));
    Ok(Listener {
        _task: AbortOnDrop(task),
        redirect_port,
    })
}

/// Keeps one listener per Service port and namespace, adding and removing them as
/// Services and pods come and go.
pub async fn run(shared: Arc<Shared>) {
    let mut listeners: HashMap<(Option<String>, Frontend), Listener> = HashMap::new();
    loop {
        let frontends = frontends(&shared.services());
        let pods = shared.pod_netns();
        let mut wanted: Vec<(Option<String>, Frontend)> = Vec::new();
        for f in &frontends {
            if !(f.namespace == "default" && f.service == "kubernetes") {
                wanted.push((None, f.clone()));
            }
            for ns in &pods {
                wanted.push((Some(ns.clone()), f.clone()));
            }
        }
        listeners.retain(|(netns, f), listener| {
            let keep = wanted.iter().any(|(n, w)| n == netns && w == f);
            // A pod namespace that is gone took its rules with it.
            if !keep
                && let (Some(ns), Some(port)) = (netns, listener.redirect_port)
                && pods.contains(ns)
                && let Err(e) = redirect(ns, "-D", f, port)
            {
                eprintln!("pod-runner: {e:#}");
            }
            keep
        });
        for key in wanted {
            if listeners.contains_key(&key) {
                continue;
            }
            let (netns, f) = &key;
            match listen(&shared, netns.as_deref(), f).await {
                Ok(listener) => {
                    listeners.insert(key, listener);
                }
                // A pod namespace may vanish between listing and binding; retried next pass.
                Err(_)
                    if netns.is_some()
                        && !shared
                            .pod_netns()
                            .contains(netns.as_ref().unwrap_or(&String::new())) => {}
                Err(e) => eprintln!("pod-runner: service {}/{}: {e:#}", f.namespace, f.service),
            }
        }
        let ready = pods.iter().filter(|ns| {
            frontends
                .iter()
                .all(|f| listeners.contains_key(&(Some((*ns).clone()), f.clone())))
        });
        shared.set_proxied(ready.cloned().collect());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

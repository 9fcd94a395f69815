//! Probes as kubelet runs them: httpGet and tcpSocket from the node (the root
//! namespace) to the pod's IP, exec inside the pod's namespaces; each with its timeout.
//! [`ProbeState`] applies the period, initial delay and success/failure thresholds.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::image::{ImageBinary, lookup, translate};
use super::sandbox::Sandbox;

/// A port number, or a container port looked up by name.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).context("port out of range"),
        IntOrString::String(name) => container
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port as u16)
            .with_context(|| format!("container has no port named {name}")),
    }
}

async fn http_get(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> Result<()> {
    let mut stream = TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connect {host}:{port}"))?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.34\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let read = stream.read(&mut head[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP response: {line:?}"))?;
    if !(200..400).contains(&code) {
        bail!("HTTP probe failed with statuscode: {code}");
    }
    Ok(())
}

/// Runs `probe` once.
pub async fn check(
    probe: &Probe,
    container: &Container,
    pod_ip: &str,
    sandbox: &Sandbox,
    env: &[(String, String)],
    images: &[ImageBinary],
) -> Result<()> {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    let attempt = async {
        if let Some(h) = &probe.http_get {
            if h.scheme.as_deref().is_some_and(|s| s != "HTTP") {
                bail!("only HTTP probes are supported by the pod runner");
            }
            let port = resolve_port(&h.port, container)?;
            let host = h.host.as_deref().unwrap_or(pod_ip);
            let headers: Vec<(String, String)> = h
                .http_headers
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|hh| (hh.name.clone(), hh.value.clone()))
                .collect();
            http_get(host, port, h.path.as_deref().unwrap_or("/"), &headers).await
        } else if let Some(t) = &probe.tcp_socket {
            let port = resolve_port(&t.port, container)?;
            let host = t.host.as_deref().unwrap_or(pod_ip);
            TcpStream::connect((host, port))
                .await
                .with_context(|| format!("dial {host}:{port}"))?;
            Ok(())
        } else if let Some(e) = &probe.exec {
            let mut argv = e.command.clone().unwrap_or_default();
            let own = container
                .image
                .as_deref()
                .and_then(|i| lookup(images, i).ok());
            translate(images, own, &mut argv);
            exec(sandbox, &argv, env).await
        } else {
            bail!("probe type not supported by the pod runner (grpc)")
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| bail!("probe timed out after {timeout:?}"))
}

/// Runs `argv` in the pod to completion: exit 0 is success.
pub async fn exec(sandbox: &Sandbox, argv: &[String], env: &[(String, String)]) -> Result<()> {
    let out = sandbox
        .command(argv, env, None)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("exec {argv:?}"))?;
    if !out.status.success() {
        bail!(
            "exec {argv:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One probe's schedule and thresholds.
pub struct ProbeState {
    pub probe: Probe,
    next: Instant,
    successes: i32,
    failures: i32,
    /// The probe's current verdict (starts failed, as kubelet's readiness does).
    pub passing: bool,
}

/// What one due run changed.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Unchanged,
    Passed,
    Failed(String),
}

impl ProbeState {
    pub fn new(probe: Probe, started: Instant) -> Self {
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        Self {
            probe,
            next: started + delay,
            successes: 0,
            failures: 0,
            passing: false,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Records one result; the verdict flips only at the thresholds.
    pub fn record(&mut self, now: Instant, result: Result<()>) -> Verdict {
        let period = Duration::from_secs(self.probe.period_seconds.unwrap_or(10).max(1) as u64);
        self.next = now + period;
        match result {
            Ok(()) => {
                self.failures = 0;
                self.successes += 1;
                if !self.passing
                    && self.successes >= self.probe.success_threshold.unwrap_or(1).max(1)
                {
                    self.passing = true;
                    return Verdict::Passed;
                }
            }
            Err(e) => {
                self.successes = 0;
                self.failures += 1;
                let threshold = self.probe.failure_threshold.unwrap_or(3).max(1);
                if self.failures >= threshold && (self.passing || self.failures == threshold) {
                    self.passing = false;
                    return Verdict::Failed(format!("{e:#}"));
                }
            }
        }
        Verdict::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_flips() {
        let probe = Probe {
            failure_threshold: Some(2),
            success_threshold: Some(1),
            period_seconds: Some(1),
            ..Probe::default()
        };
        let t0 = Instant::now();
        let mut s = ProbeState::new(probe, t0);
        assert!(s.due(t0));
        assert_eq!(s.record(t0, Ok(())), Verdict::Passed);
        assert!(!s.due(t0));
        assert_eq!(s.record(t0, Err(anyhow::anyhow!("x"))), Verdict::Unchanged);
        assert!(matches!(
            s.record(t0, Err(anyhow::anyhow!("x"))),
            Verdict::Failed(_)
        ));
        assert!(!s.passing);
        assert_eq!(s.record(t0, Ok(())), Verdict::Passed);
    }
}

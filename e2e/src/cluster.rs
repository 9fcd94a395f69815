//! A real multi-process sqsraft cluster on 127.0.0.1: start, initialize, inspect, and
//! inject faults (kill -9, SIGSTOP/SIGCONT, restart on the same data dir, and a shifted
//! wall clock under the clock shim of `faults::clock`). The internal port runs mutual TLS
//! with a development PKI in `<data dir>/tls` (see [`crate::pki`]); the harness calls it
//! (admin API, forwards) as identity `client`. The SQS port speaks plain HTTP unless the
//! spec asks for HTTPS, served with a certificate of the same development CA.

use crate::bench::cpu::CpuTime;
use crate::pki::TlsDir;
use anyhow::{Context, Result, anyhow, bail};
use sqsraft_server::admin_types::{ClusterStatus, InitRequest, Member};
use sqsraft_server::codec;
use sqsraft_server::sm::command::Command as SqsCommand;
use sqsraft_server::wire::{FORWARD_WRITE, ForwardReply};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The harness's and tools' identity on the internal port.
pub const CLIENT_IDENTITY: &str = "client";

/// The certificate identity of member `id`.
pub fn member_identity(id: u64) -> String {
    format!("node-{id}")
}

/// The identity of node `id`'s SQS port certificate.
pub fn sqs_identity(id: u64) -> String {
    format!("sqs-node-{id}")
}

/// Access key of the generated development credentials.
pub const DEV_ACCESS_KEY: &str = "AKIDSQSRAFTLOCAL";
/// Secret key of the generated development credentials.
pub const DEV_SECRET_KEY: &str = "sqsraft-local-secret-key";

/// How a cluster is laid out.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub nodes: u64,
    /// Node i (1-based) gets SQS port `base_port + 10·(i−1)` and internal port one above.
    pub base_port: u16,
    pub data_dir: PathBuf,
    /// Credentials file; `None` generates the development file in the data dir.
    pub credentials_file: Option<PathBuf>,
    /// Extra flags passed to every server.
    pub extra_args: Vec<String>,
    /// Mutual TLS on the internal port (the default everywhere); `false` runs it in
    /// cleartext with `--internal-insecure`, to measure what TLS costs.
    pub internal_tls: bool,
    /// HTTPS on the SQS port, each node with its own certificate of the development CA
    /// (`sqs-node-N`); `false` serves plain HTTP.
    pub sqs_tls: bool,
}

/// One server process (or the place it will run again after a kill).
pub struct NodeProc {
    pub id: u64,
    pub sqs_port: u16,
    pub internal_port: u16,
    pub data_dir: PathBuf,
    /// Whether the SQS port speaks HTTPS.
    pub https: bool,
    /// The harness's client of the SQS port's health endpoints (trusting the CA under HTTPS).
    sqs_agent: ureq::Agent,
    child: Option<Child>,
}

impl NodeProc {
    /// The file a node started under the clock shim reads its wall-clock shift from
    /// (`faults::clock`).
    pub fn clock_file(&self) -> PathBuf {
        self.data_dir.with_extension("clock")
    }

    /// The value of the unlabelled or fully labelled series `series` on this node's
    /// `/metrics` (`None` when absent).
    pub fn metric(&self, series: &str) -> Option<u64> {
        let text = self
            .sqs_agent
            .get(&format!("{}/metrics", self.endpoint()))
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    }

    /// `http://127.0.0.1:<sqs port>`, or `https://` under HTTPS.
    pub fn endpoint(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.sqs_port)
    }

    /// `127.0.0.1:<internal port>`.
    pub fn internal_addr(&self) -> String {
        format!("127.0.0.1:{}", self.internal_port)
    }

    /// OS process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// CPU time (user + system) the running process has used, from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Result<Duration> {
        let pid = self.pid().context("node is not running")?;
        Ok(CpuTime::of_process(pid)?.total())
    }
}

/// A running cluster; dropping it kills every process it started.
pub struct Cluster {
    pub spec: ClusterSpec,
    pub nodes: Vec<NodeProc>,
    pub credentials_file: PathBuf,
    pub token_file: PathBuf,
    /// The development PKI, when the internal port runs TLS.
    pub tls: Option<TlsDir>,
    /// The development PKI (the same directory), when the SQS port runs HTTPS.
    pub sqs_tls: Option<TlsDir>,
    /// The harness's client of the SQS ports.
    sqs_agent: ureq::Agent,
    /// The harness's client of the internal port (identity `client` under TLS).
    internal: ureq::Agent,
    server_bin: PathBuf,
    /// The LD_PRELOAD library every node runs under, if any (`faults::clock`).
    clock_shim: Option<PathBuf>,
}

/// Finds the `sqsraft-server` binary: `$SQSRAFT_SERVER_BIN`, or next to the running
/// executable's target directory (build it with `cargo build -p sqsraft-server`).
pub fn server_binary() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("SQSRAFT_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("locate current executable")?;
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("sqsraft-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "sqsraft-server binary not found next to {}; run `cargo build -p sqsraft-server` or set SQSRAFT_SERVER_BIN",
        exe.display()
    )
}

fn write_if_missing(path: &Path, contents: impl FnOnce() -> String) -> Result<()> {
    if !path.exists() {
        fs::write(path, contents()).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

impl Cluster {
    /// Starts `nodes` nodes with the development credentials on free ports, in a fresh
    /// temporary directory that lives as long as the returned guard (for tests).
    pub fn start_in_temp(nodes: u64, extra_args: &[&str]) -> Result<(tempfile::TempDir, Cluster)> {
        Cluster::start_in_temp_with(nodes, extra_args, false)
    }

    /// [`Cluster::start_in_temp`] with HTTPS on the SQS ports (see [`Cluster::sqs_ca_file`]).
    pub fn start_https_in_temp(
        nodes: u64,
        extra_args: &[&str],
    ) -> Result<(tempfile::TempDir, Cluster)> {
        Cluster::start_in_temp_with(nodes, extra_args, true)
    }

    fn start_in_temp_with(
        nodes: u64,
        extra_args: &[&str],
        sqs_tls: bool,
    ) -> Result<(tempfile::TempDir, Cluster)> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let cluster = Cluster::start(ClusterSpec {
            nodes,
            base_port: free_base_port(u16::try_from(nodes).context("node count")? + 3)?,
            data_dir: dir.path().to_path_buf(),
            credentials_file: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            internal_tls: true,
            sqs_tls,
        })?;
        Ok((dir, cluster))
    }

    /// Starts every node of `spec` and initializes the cluster (a no-op on a data dir that
    /// already holds one). Returns once a leader exists and every node is a member.
    pub fn start(spec: ClusterSpec) -> Result<Cluster> {
        Cluster::start_with(spec, None)
    }

    /// [`Cluster::start`], every node (also after a restart) running under the
    /// LD_PRELOAD clock shim `clock_shim`, which shifts its wall clock by what its
    /// [`NodeProc::clock_file`] says (see `faults::clock`).
    pub fn start_with(spec: ClusterSpec, clock_shim: Option<PathBuf>) -> Result<Cluster> {
        let cluster = Cluster::launch_with(spec, clock_shim)?;
        cluster.initialize()?;
        cluster.wait_for_members(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Starts the processes without initializing.
    pub fn launch(spec: ClusterSpec) -> Result<Cluster> {
        Cluster::launch_with(spec, None)
    }

    fn launch_with(spec: ClusterSpec, clock_shim: Option<PathBuf>) -> Result<Cluster> {
        fs::create_dir_all(&spec.data_dir)
            .with_context(|| format!("create {}", spec.data_dir.display()))?;
        let credentials_file = match &spec.credentials_file {
            Some(f) => f.clone(),
            None => {
                let f = spec.data_dir.join("credentials.json");
                write_if_missing(&f, || {
                    serde_json::json!({"credentials": [{"accessKeyId": DEV_ACCESS_KEY, "secretAccessKey": DEV_SECRET_KEY}]})
                        .to_string()
                })?;
                f
            }
        };
        let token_file = spec.data_dir.join("cluster-token");
        write_if_missing(&token_file, || format!("{:032x}", rand::random::<u128>()))?;
        let pki = || TlsDir::create(&spec.data_dir.join("tls"));
        let (tls, internal) = if spec.internal_tls {
            let tls = pki()?;
            tls.ensure(CLIENT_IDENTITY)?;
            let agent = tls.agent(CLIENT_IDENTITY)?;
            (Some(tls), agent)
        } else {
            (None, plain_agent())
        };
        let (sqs_tls, sqs_agent) = if spec.sqs_tls {
            let tls = pki()?;
            let agent = tls.sqs_agent()?;
            (Some(tls), agent)
        } else {
            (None, plain_agent())
        };
        let mut cluster = Cluster {
            nodes: Vec::new(),
            spec,
            credentials_file,
            token_file,
            tls,
            sqs_tls,
            sqs_agent,
            internal,
            server_bin: server_binary()?,
            clock_shim,
        };
        cluster.nodes = (1..=cluster.spec.nodes)
            .map(|id| cluster.node_proc(id))
            .collect::<Result<_>>()?;
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i)?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_healthy(i, Duration::from_secs(30))?;
        }
        Ok(cluster)
    }

    /// CPU time used so far by every running node together.
    pub fn cpu_time(&self) -> Result<Duration> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(NodeProc::cpu_time)
            .sum()
    }

    /// Node `id`.
    pub fn node(&self, id: u64) -> Result<&NodeProc> {
        Ok(&self.nodes[self.index(id)?])
    }

    fn index(&self, id: u64) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| anyhow!("no node {id}"))
    }

    /// Adds a node process (not yet a member) with the next id and ports.
    pub fn add_node(&mut self) -> Result<u64> {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        let node = self.node_proc(id)?;
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.spawn(i)?;
        self.wait_healthy(i, Duration::from_secs(30))?;
        Ok(id)
    }

    /// Node `id`'s place (ports, data dir), not yet running.
    fn node_proc(&self, id: u64) -> Result<NodeProc> {
        let offset = u16::try_from(10 * (id - 1)).context("port offset")?;
        Ok(NodeProc {
            id,
            sqs_port: self.spec.base_port + offset,
            internal_port: self.spec.base_port + offset + 1,
            data_dir: self.spec.data_dir.join(format!("node-{id}")),
            https: self.sqs_tls.is_some(),
            sqs_agent: self.sqs_agent.clone(),
            child: None,
        })
    }

    /// The flags that serve node `id`'s SQS port over HTTPS (issuing its certificate when
    /// it has none yet), or none for plain HTTP.
    pub fn sqs_tls_args(&self, id: u64) -> Result<Vec<String>> {
        let Some(tls) = &self.sqs_tls else {
            return Ok(Vec::new());
        };
        let name = sqs_identity(id);
        tls.ensure_server(&name, &["127.0.0.1".to_string()])?;
        Ok(tls.sqs_server_args(&name))
    }

    /// The CA bundle clients of the SQS ports must trust, under HTTPS.
    pub fn sqs_ca_file(&self) -> Option<PathBuf> {
        self.sqs_tls.as_ref().map(TlsDir::ca_file)
    }

    /// The flags that set node `id`'s internal-port TLS (issuing its certificate when it
    /// has none yet), or `--internal-insecure`.
    pub fn internal_tls_args(&self, id: u64) -> Result<Vec<String>> {
        Ok(match &self.tls {
            Some(tls) => {
                let name = member_identity(id);
                tls.ensure(&name)?;
                tls.server_args(&name)
            }
            None => vec!["--internal-insecure".into()],
        })
    }

    /// `https://` (or `http://` without TLS) URL of `path` on node `id`'s internal port.
    pub fn internal_url(&self, id: u64, path: &str) -> Result<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!(
            "{scheme}://{}{path}",
            self.nodes[self.index(id)?].internal_addr()
        ))
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let mut tls_args = self.internal_tls_args(self.nodes[i].id)?;
        tls_args.extend(self.sqs_tls_args(self.nodes[i].id)?);
        let node = &self.nodes[i];
        fs::create_dir_all(&node.data_dir)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.data_dir.with_extension("log"))
            .context("open node log")?;
        let mut command = Command::new(&self.server_bin);
        if let Some(shim) = &self.clock_shim {
            write_if_missing(&node.clock_file(), || "0 0\n".to_string())?;
            command
                .env("LD_PRELOAD", shim)
                .env("SQSRAFT_CLOCK_FILE", node.clock_file());
        }
        let child = command
            .arg("--node-id")
            .arg(node.id.to_string())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--sqs-listen")
            .arg(format!("127.0.0.1:{}", node.sqs_port))
            .arg("--internal-listen")
            .arg(node.internal_addr())
            .arg("--credentials-file")
            .arg(&self.credentials_file)
            .arg("--cluster-token-file")
            .arg(&self.token_file)
            .args(&tls_args)
            .args(&self.spec.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.server_bin.display()))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    fn wait_healthy(&mut self, i: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/healthz", self.nodes[i].endpoint());
        while Instant::now() < deadline {
            if let Some(child) = self.nodes[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.nodes[i].child = None;
                bail!(
                    "node {} exited during start-up ({status}); see {}.log",
                    self.nodes[i].id,
                    self.nodes[i].data_dir.display()
                );
            }
            if self
                .sqs_agent
                .get(&url)
                .call()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("node {} not healthy within {timeout:?}", self.nodes[i].id)
    }

    /// The members of the configured cluster.
    pub fn members(&self) -> Vec<Member> {
        self.nodes
            .iter()
            .map(|n| Member {
                node_id: n.id,
                addr: n.internal_addr(),
            })
            .collect()
    }

    /// Calls `POST /admin/init` on the first node (repeatable).
    pub fn initialize(&self) -> Result<ClusterStatus> {
        let first = self.nodes.first().ok_or_else(|| anyhow!("empty cluster"))?;
        self.admin_post(
            first.id,
            "/admin/init",
            &InitRequest {
                members: self.members(),
            },
        )
    }

    fn token(&self) -> Result<String> {
        Ok(fs::read_to_string(&self.token_file)?.trim().to_string())
    }

    /// POSTs a JSON admin call to node `id` and decodes the `ClusterStatus` reply.
    pub fn admin_post<T: serde::Serialize>(
        &self,
        id: u64,
        path: &str,
        body: &T,
    ) -> Result<ClusterStatus> {
        let url = self.internal_url(id, path)?;
        let mut response = self
            .internal
            .post(&url)
            .header("authorization", format!("Bearer {}", self.token()?))
            .send_json(body)
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let text = response.body_mut().read_to_string()?;
        if !status.is_success() {
            bail!("POST {url} -> {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("decode reply of {url}"))
    }

    /// `GET /cluster` of node `id`.
    pub fn status(&self, id: u64) -> Result<ClusterStatus> {
        let node = &self.nodes[self.index(id)?];
        let url = format!("{}/cluster", node.endpoint());
        let text = self
            .sqs_agent
            .get(&url)
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()?
            .body_mut()
            .read_to_string()?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Waits until some running node reports itself leader; returns its id.
    pub fn wait_for_leader(&self, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                if let Ok(s) = self.status(node.id)
                    && s.leader_id == Some(s.node_id)
                {
                    return Ok(s.node_id);
                }
            }
            if Instant::now() >= deadline {
                bail!("no leader within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until a leader exists and every running node reports the same leader and is
    /// a member of the cluster.
    pub fn wait_for_members(&self, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(leader) =
                self.wait_for_leader(deadline.saturating_duration_since(Instant::now()))
            {
                let agreed = self.nodes.iter().filter(|n| n.is_running()).all(|n| {
                    self.status(n.id).is_ok_and(|s| {
                        s.leader_id == Some(leader)
                            && s.voters
                                .iter()
                                .chain(&s.learners)
                                .any(|m| m.node_id == n.id)
                    })
                });
                if agreed {
                    return Ok(leader);
                }
            }
            if Instant::now() >= deadline {
                bail!("members did not agree on a leader within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A real `aws-sdk-sqs` client of node `id`, signing with the development keys (and
    /// trusting the development CA under HTTPS).
    pub fn sdk_client(&self, id: u64) -> aws_sdk_sqs::Client {
        let node = &self.nodes[self.index(id).expect("node")];
        match self.sqs_ca_file() {
            Some(ca) => {
                let ca = fs::read(&ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
                crate::sdk::https_client(&node.endpoint(), &ca, DEV_ACCESS_KEY, DEV_SECRET_KEY)
                    .expect("an SDK client trusting the development CA")
            }
            None => crate::sdk::client(&node.endpoint(), DEV_ACCESS_KEY, DEV_SECRET_KEY),
        }
    }

    /// Sends a command straight to node `id`'s internal forward endpoint, exactly as a
    /// follower's retry would re-send it.
    pub fn forward(&self, id: u64, command: &SqsCommand) -> Result<ForwardReply> {
        let reply = self.internal_post(id, FORWARD_WRITE, &codec::encode(command)?)?;
        Ok(codec::decode(&reply)?)
    }

    /// POSTs `body` to `path` on node `id`'s internal port as the harness's identity;
    /// returns the body of a 2xx answer.
    pub fn internal_post(&self, id: u64, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let url = self.internal_url(id, path)?;
        let mut response = self
            .internal
            .post(&url)
            .send(body)
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let bytes = response.body_mut().read_to_vec()?;
        if !status.is_success() {
            bail!(
                "POST {url} -> {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes)
    }

    /// Sends `signal` to node `id`'s process.
    pub fn signal(&self, id: u64, signal: i32) -> Result<()> {
        let node = &self.nodes[self.index(id)?];
        let pid = node
            .pid()
            .ok_or_else(|| anyhow!("node {id} is not running"))?;
        // SAFETY: kill(2) on a pid this harness spawned and has not yet reaped.
        if unsafe { libc::kill(pid as i32, signal) } != 0 {
            bail!(
                "kill({pid}, {signal}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// kill -9 of node `id`; its data dir stays for a restart.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGKILL)?;
        let i = self.index(id)?;
        if let Some(mut child) = self.nodes[i].child.take() {
            child.wait()?;
        }
        Ok(())
    }

    /// SIGSTOP: the process freezes with its sockets open.
    pub fn pause(&self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGSTOP)
    }

    /// SIGCONT after [`Cluster::pause`].
    pub fn resume(&self, id: u64) -> Result<()> {
        self.signal(id, libc::SIGCONT)
    }

    /// Starts node `id` again on its data dir.
    pub fn restart(&mut self, id: u64) -> Result<()> {
        let i = self.index(id)?;
        if self.nodes[i].is_running() {
            bail!("node {id} is still running");
        }
        self.spawn(i)?;
        self.wait_healthy(i, Duration::from_secs(30))
    }

    /// Sends SIGTERM to every node and waits for them to exit.
    pub fn stop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // SAFETY: kill(2) on our own child process.
                unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cleartext HTTP agent; HTTP status codes are returned, not turned into errors.
fn plain_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// Finds a base port whose SQS and internal ports are free for `nodes` nodes, so test
/// clusters running in parallel do not collide (below the ephemeral range, see
/// [`sqsraft_server::test_ports`]).
pub fn free_base_port(nodes: u16) -> Result<u16> {
    let offsets: Vec<u16> = (0..nodes).flat_map(|i| [10 * i, 10 * i + 1]).collect();
    sqsraft_server::test_ports::free_base(&offsets).map_err(anyhow::Error::msg)
}

//! A real Kubernetes control plane on loopback: etcd, kube-apiserver and
//! kube-controller-manager, built from the pinned sources in `e2e/controlplane/` and
//! started as child processes with their data in a temp dir.
//!
//! The API server authorizes with Node and RBAC, runs the default admission plugins
//! (ValidatingAdmissionPolicy and CEL validation of CRDs included) plus NodeRestriction,
//! and issues ServiceAccount tokens. The controller manager runs its default controllers
//! (StatefulSet, Deployment/ReplicaSet, garbage collector, PVC/PV protection, PV binder,
//! endpoints and EndpointSlices, ServiceAccount and token, namespace, disruption, node
//! lifecycle, root CA publisher, ...) each with its own ServiceAccount credentials. There
//! is no kubelet, scheduler or kube-proxy: see `pod_runner` for what stands in for them.

use super::pki::{Pki, path_str};
use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ClusterIP range of Services. Loopback, so that no test traffic to a ClusterIP can
/// leave the machine; the `kubernetes` Service gets its first address.
pub const SERVICE_CIDR: &str = "127.96.0.0/16";
/// The `kubernetes` Service's ClusterIP (the first address of [`SERVICE_CIDR`]).
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(127, 96, 0, 1);
/// The issuer (`iss`) and audience of ServiceAccount tokens.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How long [`ControlPlane::start`] waits for each component before it gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a component gets between SIGTERM and SIGKILL when the control plane stops.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Log lines of each component quoted in an error.
const LOG_TAIL_LINES: usize = 40;

/// The binaries of `e2e/controlplane/build.sh` the suites use (Helm is checked where it is used).
const BINARIES: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kubectl",
];

/// A running control plane. Dropping it stops the three processes (by pid) and deletes
/// its data directory.
pub struct ControlPlane {
    // Declared first so the processes stop before the directory is removed.
    procs: Vec<Component>,
    api_server: SocketAddr,
    admin_kubeconfig: PathBuf,
    pki: Pki,
    dir: tempfile::TempDir,
}

/// One child process and the file its output goes to.
struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// The directory holding the control-plane binaries: `$SQSRAFT_CONTROLPLANE_BIN`, or
/// `target/controlplane/bin` where `e2e/controlplane/build.sh` puts them.
pub fn binaries_dir() -> PathBuf {
    match std::env::var_os("SQSRAFT_CONTROLPLANE_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/controlplane/bin"),
    }
}

/// Why a control plane cannot start here, if it cannot: a binary (or `openssl`) is
/// missing. Tests pass it to `sqsraft_server::prerequisite::unavailable`.
pub fn unavailable_reason() -> Option<String> {
    let dir = binaries_dir();
    if let Some(missing) = BINARIES.iter().find(|b| !dir.join(b).is_file()) {
        return Some(format!(
            "{missing} is not in {} (build the control plane with e2e/controlplane/build.sh)",
            dir.display()
        ));
    }
    if Command::new("openssl").arg("version").output().is_err() {
        return Some(
            "the openssl CLI is not on PATH (it makes the control plane's certificates)".into(),
        );
    }
    None
}

impl ControlPlane {
    /// Starts etcd, then the API server, then the controller manager, each on free
    /// 127.0.0.1 ports, and returns once the API server is ready (`/readyz`) and the
    /// controller manager has done its first work (the `default` ServiceAccount and the
    /// `kube-root-ca.crt` ConfigMap exist in namespace `default`). Fails after a bounded
    /// wait with the reason and the tail of each component's log.
    ///
    /// The ports are picked free and released before the components bind them, so another
    /// process can take one in between: a start that fails with "address already in use"
    /// is retried (three attempts in all) on new ports.
    pub async fn start() -> Result<ControlPlane> {
        if let Some(reason) = unavailable_reason() {
            bail!("cannot start the control plane: {reason}");
        }
        let mut attempt = 1;
        loop {
            match Self::start_once().await {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    eprintln!(
                        "control plane start {attempt} lost a port race, retrying on new ports"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once() -> Result<ControlPlane> {
        let bin = binaries_dir();
        let dir = tempfile::Builder::new()
            .prefix("sqsraft-controlplane-")
            .tempdir()
            .context("create the control plane's temp dir")?;
        let pki = Pki::create(&dir.path().join("pki"), KUBERNETES_SERVICE_IP.into())?;
        let [etcd_client, etcd_peer, api_port, kcm_port] = free_ports()?;
        let api_server = SocketAddr::from((Ipv4Addr::LOCALHOST, api_port));
        let admin_kubeconfig = dir.path().join("admin.kubeconfig");
        write_kubeconfig(
            &admin_kubeconfig,
            api_server,
            &pki.ca.cert,
            Credential::Cert(&pki.admin),
        )?;
        let kcm_kubeconfig = dir.path().join("controller-manager.kubeconfig");
        write_kubeconfig(
            &kcm_kubeconfig,
            api_server,
            &pki.ca.cert,
            Credential::Cert(&pki.controller_manager),
        )?;

        let mut plane = ControlPlane {
            procs: Vec::new(),
            api_server,
            admin_kubeconfig,
            pki,
            dir,
        };
        let started = Instant::now();

        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        let etcd_data = plane.dir.path().join("etcd");
        plane.spawn(
            "etcd",
            &bin,
            &[
                "--name=sqsraft-e2e".into(),
                format!("--data-dir={}", etcd_data.display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=sqsraft-e2e={peer_url}"),
                // Test data need not survive a power cut; fsync would dominate start time.
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
        )?;
        plane
            .wait_until("etcd", || {
                let url = etcd_url.clone();
                async move { Ok(tokio::task::spawn_blocking(move || etcd_healthy(&url)).await?) }
            })
            .await?;

        let pki = plane.pki.clone();
        plane.spawn(
            "kube-apiserver",
            &bin,
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                // The `kubernetes` Service gets no Endpoints: they may not hold a loopback
                // address. The pod runner forwards its ClusterIP to the API server.
                "--endpoint-reconciler-type=none".into(),
                format!("--secure-port={api_port}"),
                format!("--tls-cert-file={}", pki.apiserver.cert.display()),
                format!("--tls-private-key-file={}", pki.apiserver.key.display()),
                format!("--client-ca-file={}", pki.ca.cert.display()),
                "--authorization-mode=Node,RBAC".into(),
                "--enable-admission-plugins=NodeRestriction".into(),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
                format!(
                    "--service-account-key-file={}",
                    pki.service_account_pub.display()
                ),
                format!(
                    "--service-account-signing-key-file={}",
                    pki.service_account_key.display()
                ),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
                format!(
                    "--cert-dir={}",
                    plane.dir.path().join("apiserver-certs").display()
                ),
            ],
        )?;
        let admin = plane.client().await?;
        plane
            .wait_until("kube-apiserver /readyz", || {
                let admin = admin.clone();
                async move {
                    let request = http::Request::get("/readyz").body(Vec::new())?;
                    Ok(admin.request_text(request).await?.trim() == "ok")
                }
            })
            .await?;

        plane.spawn(
            "kube-controller-manager",
            &bin,
            &[
                format!("--kubeconfig={}", kcm_kubeconfig.display()),
                format!("--authentication-kubeconfig={}", kcm_kubeconfig.display()),
                format!("--authorization-kubeconfig={}", kcm_kubeconfig.display()),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={kcm_port}"),
                format!(
                    "--cert-dir={}",
                    plane.dir.path().join("controller-manager-certs").display()
                ),
                format!("--root-ca-file={}", pki.ca.cert.display()),
                format!(
                    "--service-account-private-key-file={}",
                    pki.service_account_key.display()
                ),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                "--use-service-account-credentials=true".into(),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
            ],
        )?;
        let service_accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
        let config_maps: Api<ConfigMap> = Api::namespaced(admin, "default");
        plane
            .wait_until(
                "kube-controller-manager (default ServiceAccount, kube-root-ca.crt)",
                || {
                    let (service_accounts, config_maps) =
                        (service_accounts.clone(), config_maps.clone());
                    async move {
                        Ok(service_accounts.get_opt("default").await?.is_some()
                            && config_maps.get_opt("kube-root-ca.crt").await?.is_some())
                    }
                },
            )
            .await?;
        eprintln!(
            "control plane ready on {} in {:.1} s (data in {})",
            plane.api_server,
            started.elapsed().as_secs_f64(),
            plane.dir.path().display()
        );
        Ok(plane)
    }

    /// The API server's address (127.0.0.1 and a free port).
    pub fn api_server(&self) -> SocketAddr {
        self.api_server
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.api_server)
    }

    /// A kubeconfig for a `system:masters` client certificate (file paths inside).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The CA certificate (PEM file) that signed the API server's serving certificate and
    /// that the API server trusts for client certificates. Also in every namespace's
    /// `kube-root-ca.crt` ConfigMap.
    pub fn ca_cert(&self) -> &Path {
        &self.pki.ca.cert
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> Result<String> {
        std::fs::read_to_string(&self.pki.ca.cert)
            .context("read the control plane's CA certificate")
    }

    /// The Services' ClusterIP range ([`SERVICE_CIDR`]).
    pub fn service_cidr(&self) -> &'static str {
        SERVICE_CIDR
    }

    /// A directory inside the control plane's temp dir that lives as long as it does.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// An admin client (`system:masters`).
    pub async fn client(&self) -> Result<Client> {
        client_from(&self.admin_kubeconfig).await
    }

    /// A token of ServiceAccount `namespace/name`, minted with the TokenRequest API for
    /// the API server's audience, valid for `ttl`.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<String> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client().await?, namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![SERVICE_ACCOUNT_ISSUER.to_string()],
                expiration_seconds: Some(i64::try_from(ttl.as_secs()).context("token ttl")?),
                ..Default::default()
            },
            ..Default::default()
        };
        let minted = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .with_context(|| format!("TokenRequest for ServiceAccount {namespace}/{name}"))?;
        minted
            .status
            .map(|s| s.token)
            .ok_or_else(|| anyhow!("TokenRequest for {namespace}/{name} returned no status"))
    }

    /// Writes a kubeconfig that authenticates as ServiceAccount `namespace/name` with a
    /// token valid for 24 hours, so a process (the operator) runs with exactly that
    /// account's RBAC. Returns its path (inside [`Self::data_dir`]).
    pub async fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        let token = self
            .service_account_token(namespace, name, Duration::from_secs(24 * 3600))
            .await?;
        let path = self
            .dir
            .path()
            .join(format!("sa-{namespace}-{name}.kubeconfig"));
        write_kubeconfig(
            &path,
            self.api_server,
            &self.pki.ca.cert,
            Credential::Token(&token),
        )?;
        Ok(path)
    }

    /// A client authenticating as ServiceAccount `namespace/name`.
    pub async fn service_account_client(&self, namespace: &str, name: &str) -> Result<Client> {
        client_from(&self.service_account_kubeconfig(namespace, name).await?).await
    }

    /// The last lines of every component's log, for error messages.
    pub fn log_tails(&self) -> String {
        self.procs
            .iter()
            .map(|p| {
                format!(
                    "--- {} ({}):\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log, LOG_TAIL_LINES)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn spawn(&mut self, name: &'static str, bin: &Path, args: &[String]) -> Result<()> {
        let log = self.dir.path().join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = Command::new(bin.join(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("start {}", bin.join(name).display()))?;
        self.procs.push(Component { name, child, log });
        Ok(())
    }

    /// Polls `ready` until it returns true, failing early when a component exits and after
    /// [`START_TIMEOUT`]; errors quote every component's log tail.
    async fn wait_until<F, Fut>(&mut self, what: &str, mut ready: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_error = None;
        loop {
            for p in &mut self.procs {
                if let Some(status) = p.child.try_wait()? {
                    let name = p.name;
                    bail!(
                        "{name} exited ({status}) while waiting for {what}\n{}",
                        self.log_tails()
                    );
                }
            }
            match ready().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last_error = Some(format!("{e:#}")),
            }
            if Instant::now() > deadline {
                bail!(
                    "{what} not ready after {} s (last error: {})\n{}",
                    START_TIMEOUT.as_secs(),
                    last_error.as_deref().unwrap_or("none"),
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for ControlPlane {
    /// Stops the controller manager, the API server and etcd, in that order: SIGTERM,
    /// then SIGKILL after [`STOP_GRACE`].
    fn drop(&mut self) {
        for p in self.procs.iter_mut().rev() {
            let Ok(pid) = i32::try_from(p.child.id()) else {
                continue;
            };
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(p.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(p.child.try_wait(), Ok(None)) {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
    }
}

/// How a kubeconfig authenticates.
enum Credential<'a> {
    Cert(&'a super::pki::CertPair),
    Token(&'a str),
}

fn write_kubeconfig(
    path: &Path,
    server: SocketAddr,
    ca: &Path,
    credential: Credential<'_>,
) -> Result<()> {
    let user = match credential {
        Credential::Cert(pair) => serde_json::json!({
            "client-certificate": path_str(&pair.cert)?,
            "client-key": path_str(&pair.key)?,
        }),
        Credential::Token(token) => serde_json::json!({ "token": token }),
    };
    // JSON is YAML: every kubeconfig reader (kube-rs, client-go, Helm) accepts it.
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "sqsraft-e2e", "cluster": {
            "server": format!("https://{server}"),
            "certificate-authority": path_str(ca)?,
        }}],
        "users": [{ "name": "user", "user": user }],
        "contexts": [{ "name": "sqsraft-e2e", "context": { "cluster": "sqsraft-e2e", "user": "user" }}],
        "current-context": "sqsraft-e2e",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("write {}", path.display()))
}

async fn client_from(kubeconfig: &Path) -> Result<Client> {
    let file = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("read {}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("load {}", kubeconfig.display()))?;
    Client::try_from(config).context("build a kube client")
}

fn etcd_healthy(url: &str) -> bool {
    ureq::get(format!("{url}/health"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .is_some_and(|body| body.contains("\"health\":\"true\""))
}

/// Free ports on 127.0.0.1, all bound at once so they differ, then released.
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("bind 127.0.0.1:0")?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?;
    ports.try_into().map_err(|_| anyhow!("port count"))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

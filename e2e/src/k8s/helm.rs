//! Installs the chart `charts/sqsraft-operator` into a [`ControlPlane`] the way a user
//! does: `helm install` of the Helm binary built by `e2e/controlplane/build.sh` (Helm
//! v4, the same Kubernetes client release as the control plane), with the admin
//! kubeconfig. Helm's cache and config live in the control plane's temp dir.

use super::control_plane::{ControlPlane, binaries_dir};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The release name [`helm_install`] uses.
pub const RELEASE: &str = "sqsraft";

/// The chart's directory in this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/sqsraft-operator")
}

/// The Helm binary, if `e2e/controlplane/build.sh` has built it.
pub fn helm_binary() -> Result<PathBuf> {
    let helm = binaries_dir().join("helm");
    if !helm.is_file() {
        bail!(
            "{} is missing (build it with e2e/controlplane/build.sh)",
            helm.display()
        );
    }
    Ok(helm)
}

/// `helm install sqsraft charts/sqsraft-operator` into `namespace` (created if missing)
/// with `values` (any JSON object; `{}` for the chart's defaults). Returns Helm's
/// output. Helm does not wait for the operator pod: with no pod runner no pod would start.
pub async fn helm_install(
    plane: &ControlPlane,
    namespace: &str,
    values: &serde_json::Value,
) -> Result<String> {
    let home = plane.data_dir().join("helm");
    std::fs::create_dir_all(&home).with_context(|| format!("create {}", home.display()))?;
    let values_file = home.join(format!("values-{namespace}.json"));
    std::fs::write(&values_file, serde_json::to_vec(values)?)
        .context("write the Helm values file")?;
    let out = Command::new(helm_binary()?)
        .arg("install")
        .arg(RELEASE)
        .arg(chart_dir())
        .arg("--kubeconfig")
        .arg(plane.admin_kubeconfig())
        .args(["--namespace", namespace, "--create-namespace"])
        .arg("--values")
        .arg(&values_file)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .kill_on_drop(true)
        .output()
        .await
        .context("run helm install")?;
    if !out.status.success() {
        bail!(
            "helm install into {namespace} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

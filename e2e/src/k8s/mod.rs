//! The operator's tests on a real Kubernetes control plane: etcd, kube-apiserver and
//! kube-controller-manager built from pinned sources (`e2e/controlplane/`), started on
//! loopback by [`ControlPlane::start`], and the chart installed with the real Helm
//! ([`helm::helm_install`]). [`pod_runner`] stands in for the kubelet, the container
//! runtime and kube-proxy, the only parts not run for real.

pub mod control_plane;
pub mod helm;
mod pki;
pub mod pod_runner;

pub use control_plane::ControlPlane;

//! Each pod's `/etc/hosts`, standing in for cluster DNS: the pod's own names, every
//! Service's names (ClusterIP, or a headless Service's ready endpoints) and the
//! `<hostname>.<service>` names of endpoints that carry a hostname (StatefulSet pods).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The pod whose file is rendered.
pub struct HostsOwner<'a> {
    pub namespace: &'a str,
    pub hostname: &'a str,
    pub subdomain: Option<&'a str>,
    pub ip: &'a str,
}

/// All the spellings a name `<a>.<ns>` can be looked up by from namespace `from`.
fn names(first: &str, namespace: &str, from: &str, domain: &str) -> Vec<String> {
    let mut out = vec![
        format!("{first}.{namespace}.svc.{domain}"),
        format!("{first}.{namespace}.svc"),
        format!("{first}.{namespace}"),
    ];
    if namespace == from {
        out.push(first.to_owned());
    }
    out
}

fn ready_addresses(slice: &EndpointSlice) -> impl Iterator<Item = (&str, Option<&str>)> {
    slice
        .endpoints
        .iter()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .flat_map(|e| {
            let hostname = e.hostname.as_deref();
            e.addresses.iter().map(move |a| (a.as_str(), hostname))
        })
}

/// The file's content. Lines are sorted, so an unchanged cluster renders the same bytes.
pub fn render(
    owner: &HostsOwner<'_>,
    services: &[Service],
    slices: &[EndpointSlice],
    domain: &str,
) -> String {
    let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |ip: &str, names: Vec<String>| {
        entries.entry(ip.to_owned()).or_default().extend(names);
    };
    let own = match owner.subdomain {
        Some(sub) => vec![
            format!("{}.{sub}.{}.svc.{domain}", owner.hostname, owner.namespace),
            owner.hostname.to_owned(),
        ],
        None => vec![owner.hostname.to_owned()],
    };
    for svc in services {
        let (Some(name), Some(ns), Some(spec)) =
            (&svc.metadata.name, &svc.metadata.namespace, &svc.spec)
        else {
            continue;
        };
        match spec.cluster_ip.as_deref() {
            Some("None") => {
                let of_service = slices.iter().filter(|s| {
                    s.metadata.namespace.as_deref() == Some(ns)
                        && s.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("kubernetes.io/service-name"))
                            == Some(name)
                });
                for slice in of_service {
                    for (ip, hostname) in ready_addresses(slice) {
                        add(ip, names(name, ns, owner.namespace, domain));
                        if let Some(h) = hostname {
                            add(
                                ip,
                                names(&format!("{h}.{name}"), ns, owner.namespace, domain),
                            );
                        }
                    }
                }
            }
            Some(ip) if !ip.is_empty() => add(ip, names(name, ns, owner.namespace, domain)),
            _ => {}
        }
    }
    let mut out = String::from("# Kubernetes-managed hosts file (sqsraft pod runner).\n");
    out.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str(&format!("{}\t{}\n", owner.ip, own.join(" ")));
    for (ip, mut names) in entries {
        names.sort();
        names.dedup();
        names.retain(|n| !own.contains(n));
        if !names.is_empty() {
            out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    out
}

/// Rewrites `path` in place (same inode) when its content differs: the file is
/// bind-mounted into the pod, and a rename would leave the pod the old inode.
pub fn write_in_place(path: &Path, content: &str) -> Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(json: &str) -> Service {
        serde_json::from_str(json).unwrap()
    }

    fn fixtures() -> (Vec<Service>, Vec<EndpointSlice>) {
        let services = vec![
            service(
                r#"{"metadata": {"name": "q-headless", "namespace": "ns"}, "spec": {"clusterIP": "None"}}"#,
            ),
            service(
                r#"{"metadata": {"name": "q", "namespace": "ns"}, "spec": {"clusterIP": "10.214.0.20"}}"#,
            ),
            service(
                r#"{"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"clusterIP": "10.214.0.1"}}"#,
            ),
        ];
        let slices = vec![
            serde_json::from_str(
                r#"{"metadata": {"name": "q-headless-x", "namespace": "ns",
                    "labels": {"kubernetes.io/service-name": "q-headless"}},
                    "addressType": "IPv4",
                    "endpoints": [
                      {"addresses": ["10.213.0.2"], "hostname": "q-0", "conditions": {"ready": true}},
                      {"addresses": ["10.213.0.3"], "hostname": "q-1", "conditions": {"ready": false}},
                      {"addresses": ["10.213.0.4"], "hostname": "q-2"}
                    ]}"#,
            )
            .unwrap(),
        ];
        (services, slices)
    }

    #[test]
    fn statefulset_pods_services_and_own_name_resolve() {
        let (services, slices) = fixtures();
        let owner = HostsOwner {
            namespace: "ns",
            hostname: "q-0",
            subdomain: Some("q-headless"),
            ip: "10.213.0.2",
        };
        let hosts = render(&owner, &services, &slices, "cluster.local");
        let line = |ip: &str| {
            hosts
                .lines()
                .find(|l| l.starts_with(&format!("{ip}\t")))
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            line("10.213.0.2").contains("q-0.q-headless.ns.svc.cluster.local"),
            "{hosts}"
        );
        assert!(
            line("10.213.0.4").contains("q-2.q-headless.ns.svc.cluster.local"),
            "{hosts}"
        );
        assert!(
            line("10.213.0.4")
                .split_whitespace()
                .any(|n| n == "q-2.q-headless"),
            "{hosts}"
        );
        assert!(
            line("10.213.0.3").is_empty(),
            "not-ready endpoints are not published: {hosts}"
        );
        assert!(
            line("10.214.0.20").split_whitespace().any(|n| n == "q"),
            "{hosts}"
        );
        assert!(
            line("10.214.0.1").contains("kubernetes.default.svc.cluster.local"),
            "{hosts}"
        );
        assert!(
            !line("10.214.0.1")
                .split_whitespace()
                .any(|n| n == "kubernetes"),
            "other namespace: {hosts}"
        );
        assert_eq!(hosts, render(&owner, &services, &slices, "cluster.local"));
    }

    #[test]
    fn rewrites_keep_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        assert!(write_in_place(&path, "a\n").unwrap());
        let inode = std::fs::metadata(&path).unwrap().ino();
        assert!(!write_in_place(&path, "a\n").unwrap());
        assert!(write_in_place(&path, "bb\n").unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "bb\n");
    }
}

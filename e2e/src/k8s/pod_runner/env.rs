//! A container's environment as kubelet builds it: Service variables, `envFrom`, then
//! `env` in order, each value `$(VAR)`-expanded against what is defined before it;
//! `fieldRef`, `secretKeyRef` and `configMapKeyRef` resolved from the pod and the API.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Container, ObjectFieldSelector, Pod, Secret, Service};

use super::expand::expand;

/// Objects the environment and volumes read, by namespace and name.
pub trait Objects {
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap>;
}

/// Values only the runner knows when it starts a pod.
#[derive(Clone, Debug)]
pub struct PodRuntime {
    pub pod_ip: String,
    pub host_ip: String,
    pub node_name: String,
}

/// One resolved `NAME=value` list, in kubelet's order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: String, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.0
    }

    /// `$(VAR)` expansion of command and args against this environment.
    pub fn expand(&self, input: &str) -> String {
        expand(input, |name| self.get(name).map(str::to_owned))
    }
}

/// The value of a downward-API field path, as kubelet resolves `fieldRef`.
pub fn field_value(pod: &Pod, rt: &PodRuntime, selector: &ObjectFieldSelector) -> Result<String> {
    let meta = &pod.metadata;
    let path = selector.field_path.as_str();
    let subscript = |prefix: &str| -> Option<String> {
        let key = path
            .strip_prefix(prefix)?
            .strip_prefix("['")?
            .strip_suffix("']")?;
        Some(key.to_owned())
    };
    if let Some(key) = subscript("metadata.labels") {
        return Ok(meta
            .labels
            .as_ref()
            .and_then(|l| l.get(&key))
            .cloned()
            .unwrap_or_default());
    }
    if let Some(key) = subscript("metadata.annotations") {
        return Ok(meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(&key))
            .cloned()
            .unwrap_or_default());
    }
    let spec = pod.spec.as_ref();
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => rt.node_name.clone(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        "status.hostIP" | "status.hostIPs" => rt.host_ip.clone(),
        "status.podIP" | "status.podIPs" => rt.pod_ip.clone(),
        other => bail!("fieldRef {other:?} is not supported by the pod runner"),
    })
}

/// The variables kubelet derives from Services: the `kubernetes` Service always, the
/// pod's namespace's Services when `enableServiceLinks` is not false.
pub fn service_env(pod: &Pod, services: &[Service]) -> Vec<(String, String)> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut out = BTreeMap::new();
    for svc in services {
        let (Some(name), Some(ns)) = (&svc.metadata.name, &svc.metadata.namespace) else {
            continue;
        };
        let master = ns == "default" && name == "kubernetes";
        if !(master || (links && ns == namespace)) {
            continue;
        }
        let Some(spec) = &svc.spec else { continue };
        let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
        else {
            continue;
        };
        let prefix = name.to_uppercase().replace('-', "_");
        let ports = spec.ports.as_deref().unwrap_or_default();
        for (i, port) in ports.iter().enumerate() {
            let proto = port.protocol.as_deref().unwrap_or("TCP");
            if i == 0 {
                out.insert(format!("{prefix}_SERVICE_HOST"), ip.to_owned());
                out.insert(format!("{prefix}_SERVICE_PORT"), port.port.to_string());
                out.insert(
                    format!("{prefix}_PORT"),
                    format!("{}://{ip}:{}", proto.to_lowercase(), port.port),
                );
            }
            if let Some(pname) = port.name.as_deref().filter(|n| !n.is_empty()) {
                out.insert(
                    format!(
                        "{prefix}_SERVICE_PORT_{}",
                        pname.to_uppercase().replace('-', "_")
                    ),
                    port.port.to_string(),
                );
            }
            let base = format!("{prefix}_PORT_{}_{}", port.port, proto.to_uppercase());
            out.insert(
                base.clone(),
                format!("{}://{ip}:{}", proto.to_lowercase(), port.port),
            );
            out.insert(format!("{base}_PROTO"), proto.to_lowercase());
            out.insert(format!("{base}_PORT"), port.port.to_string());
            out.insert(format!("{base}_ADDR"), ip.to_owned());
        }
    }
    out.into_iter().collect()
}

fn key_of(data: Option<String>, what: &str, optional: bool) -> Result<Option<String>> {
    match data {
        Some(v) => Ok(Some(v)),
        None if optional => Ok(None),
        None => bail!("{what} not found"),
    }
}

/// The environment of `container` in `pod`.
pub fn container_env(
    pod: &Pod,
    container: &Container,
    rt: &PodRuntime,
    objects: &dyn Objects,
    service_vars: &[(String, String)],
) -> Result<Env> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env = Env::default();
    for from in container.env_from.as_deref().unwrap_or_default() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let pairs: Vec<(String, String)> = if let Some(r) = &from.config_map_ref {
            match objects.config_map(ns, &r.name) {
                Some(cm) => cm.data.unwrap_or_default().into_iter().collect(),
                None if r.optional == Some(true) => Vec::new(),
                None => bail!("envFrom configMap {ns}/{} not found", r.name),
            }
        } else if let Some(r) = &from.secret_ref {
            match objects.secret(ns, &r.name) {
                Some(s) => s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
                None if r.optional == Some(true) => Vec::new(),
                None => bail!("envFrom secret {ns}/{} not found", r.name),
            }
        } else {
            Vec::new()
        };
        for (k, v) in pairs {
            env.set(format!("{prefix}{k}"), v);
        }
    }
    for var in container.env.as_deref().unwrap_or_default() {
        let value = if let Some(from) = &var.value_from {
            let resolved = if let Some(f) = &from.field_ref {
                Some(field_value(pod, rt, f)?)
            } else if let Some(k) = &from.secret_key_ref {
                let what = format!("key {} of secret {ns}/{}", k.key, k.name);
                let data = objects.secret(ns, &k.name).and_then(|s| {
                    s.data?
                        .get(&k.key)
                        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                });
                key_of(data, &what, k.optional == Some(true))?
            } else if let Some(k) = &from.config_map_key_ref {
                let what = format!("key {} of configMap {ns}/{}", k.key, k.name);
                let data = objects
                    .config_map(ns, &k.name)
                    .and_then(|c| c.data?.get(&k.key).cloned());
                key_of(data, &what, k.optional == Some(true))?
            } else {
                bail!(
                    "env {}: only fieldRef, secretKeyRef and configMapKeyRef are supported",
                    var.name
                )
            };
            match resolved {
                Some(v) => v,
                None => continue,
            }
        } else {
            // Values may refer to variables defined before them and to Service variables.
            let value = var.value.as_deref().unwrap_or_default();
            expand(value, |name| {
                env.get(name).map(str::to_owned).or_else(|| {
                    service_vars
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                })
            })
        };
        env.set(var.name.clone(), value);
    }
    for (k, v) in service_vars {
        if env.get(k).is_none() {
            env.set(k.clone(), v.clone());
        }
    }
    Ok(env)
}

/// Context for errors: which pod and container an environment belongs to.
pub fn describe(pod: &Pod, container: &Container) -> String {
    format!(
        "container {} of pod {}/{}",
        container.name,
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// `container_env` with the pod and container named in the error.
pub fn container_env_in_context(
    pod: &Pod,
    container: &Container,
    rt: &PodRuntime,
    objects: &dyn Objects,
    service_vars: &[(String, String)],
) -> Result<Env> {
    container_env(pod, container, rt, objects, service_vars)
        .with_context(|| format!("environment of {}", describe(pod, container)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    struct Fixture;

    impl Objects for Fixture {
        fn secret(&self, ns: &str, name: &str) -> Option<Secret> {
            (ns == "ns" && name == "creds").then(|| Secret {
                data: Some([("key".to_string(), ByteString(b"s3cret".to_vec()))].into()),
                ..Secret::default()
            })
        }
        fn config_map(&self, ns: &str, name: &str) -> Option<ConfigMap> {
            (ns == "ns" && name == "conf").then(|| ConfigMap {
                data: Some([("mode".to_string(), "fast".to_string())].into()),
                ..ConfigMap::default()
            })
        }
    }

    fn pod(json: &str) -> Pod {
        serde_json::from_str(json).unwrap()
    }

    fn rt() -> PodRuntime {
        PodRuntime {
            pod_ip: "10.213.0.7".into(),
            host_ip: "10.213.0.1".into(),
            node_name: "runner-0".into(),
        }
    }

    const POD: &str = r#"{
        "metadata": {"name": "web-0", "namespace": "ns", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "ADDR", "value": "$(POD_NAME).h.$(NS).svc:9325"},
            {"name": "LATER", "value": "$(DEFINED_AFTER)"},
            {"name": "DEFINED_AFTER", "value": "x"},
            {"name": "ESCAPED", "value": "$$(POD_NAME)"},
            {"name": "API", "value": "$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "mode"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}}
        ]}]}
    }"#;

    fn kubernetes_service() -> Service {
        serde_json::from_str(
            r#"{"metadata": {"name": "kubernetes", "namespace": "default"},
                "spec": {"clusterIP": "10.214.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn resolves_field_refs_keys_and_expansion_like_kubelet() {
        let pod = pod(POD);
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let services = service_env(&pod, &[kubernetes_service()]);
        let env = container_env(&pod, container, &rt(), &Fixture, &services).unwrap();
        assert_eq!(env.get("POD_NAME"), Some("web-0"));
        assert_eq!(env.get("UID"), Some("u-1"));
        assert_eq!(env.get("APP"), Some("web"));
        assert_eq!(env.get("IP"), Some("10.213.0.7"));
        assert_eq!(env.get("NODE"), Some("runner-0"));
        assert_eq!(env.get("ADDR"), Some("web-0.h.ns.svc:9325"));
        assert_eq!(env.get("LATER"), Some("$(DEFINED_AFTER)"));
        assert_eq!(env.get("ESCAPED"), Some("$(POD_NAME)"));
        assert_eq!(env.get("API"), Some("10.214.0.1:443"));
        assert_eq!(env.get("PASSWORD"), Some("s3cret"));
        assert_eq!(env.get("MODE"), Some("fast"));
        assert_eq!(env.get("OPT"), None);
        assert_eq!(env.get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.214.0.1"));
        assert_eq!(env.get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(
            env.expand("--name=$(POD_NAME) $(NOPE)"),
            "--name=web-0 $(NOPE)"
        );
    }

    #[test]
    fn a_missing_required_key_is_an_error() {
        let pod = pod(
            r#"{"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "c",
               "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}]}]}}"#,
        );
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let err = container_env(&pod, container, &rt(), &Fixture, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("key nope of secret ns/creds"),
            "{err:#}"
        );
    }

    #[test]
    fn service_links_follow_enable_service_links() {
        let own: Service = serde_json::from_str(
            r#"{"metadata": {"name": "my-svc", "namespace": "ns"},
                "spec": {"clusterIP": "10.214.0.9", "ports": [{"port": 80}]}}"#,
        )
        .unwrap();
        let mut p = pod(POD);
        let all = [kubernetes_service(), own];
        let vars = service_env(&p, &all);
        assert!(
            vars.iter()
                .any(|(k, v)| k == "MY_SVC_SERVICE_HOST" && v == "10.214.0.9")
        );
        p.spec.as_mut().unwrap().enable_service_links = Some(false);
        let vars = service_env(&p, &all);
        assert!(!vars.iter().any(|(k, _)| k.starts_with("MY_SVC")));
        assert!(vars.iter().any(|(k, _)| k == "KUBERNETES_SERVICE_HOST"));
    }
}

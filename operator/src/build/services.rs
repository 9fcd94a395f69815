//! The three Services of a cluster.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    Cluster, INTERNAL_PORT, INTERNAL_PORT_NAME, LABEL_ROLE, ROLE_LEADER, SQS_PORT, SQS_PORT_NAME,
};

fn port(name: &str, port: i32, target: &str) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::String(target.into())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

/// Headless Service giving each pod the stable name
/// `<pod>.<name>-headless.<ns>.svc.<domain>`. It publishes pods before they are ready:
/// peers must reach each other to form the Raft group that makes them ready.
pub fn headless_service(c: &Cluster<'_>) -> Service {
    Service {
        metadata: c.meta(c.names.headless_service()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(c.selector_labels()),
            ports: Some(vec![
                port(SQS_PORT_NAME, SQS_PORT, SQS_PORT_NAME),
                port(INTERNAL_PORT_NAME, INTERNAL_PORT, INTERNAL_PORT_NAME),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The Service SQS clients use: every ready pod (any pod accepts any request).
pub fn client_service(c: &Cluster<'_>) -> Service {
    let spec = &c.qc.spec.service;
    let mut metadata = c.meta(c.client_service_name());
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(spec.type_.as_str().into()),
            selector: Some(c.selector_labels()),
            ports: Some(vec![port(SQS_PORT_NAME, spec.port, SQS_PORT_NAME)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A ClusterIP Service selecting only the pod the operator labelled as Raft leader,
/// for clients that want to skip the forwarding hop.
pub fn leader_service(c: &Cluster<'_>) -> Service {
    let mut selector = c.selector_labels();
    selector.insert(LABEL_ROLE.into(), ROLE_LEADER.into());
    Service {
        metadata: c.meta(c.leader_service_name()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector),
            ports: Some(vec![port(
                SQS_PORT_NAME,
                c.qc.spec.service.port,
                SQS_PORT_NAME,
            )]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

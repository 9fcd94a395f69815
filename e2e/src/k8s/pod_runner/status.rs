//! The pod status kubelet would report: phase, IPs, start time, conditions with
//! transition times kept across updates, and container statuses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, HostIP, PodCondition, PodIP, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::volumes::now;

/// Conditions by type, remembering when each last changed.
#[derive(Default)]
pub struct Conditions(BTreeMap<&'static str, (bool, Time)>);

impl Conditions {
    pub fn set(&mut self, kind: &'static str, value: bool) {
        match self.0.get(kind) {
            Some((old, _)) if *old == value => {}
            _ => {
                self.0.insert(kind, (value, Time(now())));
            }
        }
    }

    fn list(&self) -> Vec<PodCondition> {
        self.0
            .iter()
            .map(|(kind, (value, since))| PodCondition {
                type_: (*kind).into(),
                status: if *value { "True" } else { "False" }.into(),
                last_transition_time: Some(since.clone()),
                ..PodCondition::default()
            })
            .collect()
    }
}

pub struct StatusInput<'a> {
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    pub start_time: &'a Time,
    pub sandbox_ready: bool,
    pub containers: Vec<ContainerStatus>,
}

/// Phase: Pending until every container has run, Running while any runs or will be
/// restarted, then Succeeded (all exited 0) or Failed.
fn phase(containers: &[ContainerStatus]) -> &'static str {
    let state = |c: &ContainerStatus| c.state.clone().unwrap_or_default();
    if containers
        .iter()
        .any(|c| state(c).waiting.is_some() && c.restart_count == 0)
    {
        return "Pending";
    }
    if containers.iter().all(|c| state(c).terminated.is_some()) && !containers.is_empty() {
        let ok = containers
            .iter()
            .all(|c| state(c).terminated.map(|t| t.exit_code) == Some(0));
        return if ok { "Succeeded" } else { "Failed" };
    }
    "Running"
}

pub fn build(input: StatusInput<'_>, conditions: &mut Conditions) -> PodStatus {
    let ready = !input.containers.is_empty() && input.containers.iter().all(|c| c.ready);
    conditions.set("PodScheduled", true);
    conditions.set("PodReadyToStartContainers", input.sandbox_ready);
    conditions.set("Initialized", true);
    conditions.set("ContainersReady", ready);
    conditions.set("Ready", ready);
    let with_ip = !input.pod_ip.is_empty();
    PodStatus {
        phase: Some(phase(&input.containers).into()),
        conditions: Some(conditions.list()),
        host_ip: Some(input.host_ip.into()),
        host_ips: Some(vec![HostIP {
            ip: input.host_ip.into(),
        }]),
        pod_ip: with_ip.then(|| input.pod_ip.into()),
        pod_ips: with_ip.then(|| {
            vec![PodIP {
                ip: input.pod_ip.into(),
            }]
        }),
        start_time: Some(input.start_time.clone()),
        container_statuses: Some(input.containers),
        ..PodStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    fn container(state: ContainerState, restarts: i32, ready: bool) -> ContainerStatus {
        ContainerStatus {
            state: Some(state),
            restart_count: restarts,
            ready,
            ..ContainerStatus::default()
        }
    }

    fn waiting() -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting::default()),
            ..ContainerState::default()
        }
    }

    fn running() -> ContainerState {
        ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                ..Default::default()
            }),
            ..ContainerState::default()
        }
    }

    #[test]
    fn phase_follows_kubelet() {
        assert_eq!(phase(&[container(waiting(), 0, false)]), "Pending");
        assert_eq!(
            phase(&[
                container(running(), 0, true),
                container(waiting(), 0, false)
            ]),
            "Pending"
        );
        assert_eq!(
            phase(&[container(waiting(), 2, false)]),
            "Running",
            "in back-off"
        );
        assert_eq!(phase(&[container(running(), 0, true)]), "Running");
        assert_eq!(phase(&[container(exited(0), 0, false)]), "Succeeded");
        assert_eq!(
            phase(&[
                container(exited(0), 0, false),
                container(exited(3), 0, false)
            ]),
            "Failed"
        );
    }

    #[test]
    fn ready_needs_every_container_and_keeps_transition_times() {
        let start = Time(now());
        let input = |ready: bool| StatusInput {
            pod_ip: "10.213.0.2",
            host_ip: "10.213.0.1",
            start_time: &start,
            sandbox_ready: true,
            containers: vec![
                container(running(), 0, true),
                container(running(), 0, ready),
            ],
        };
        let mut conditions = Conditions::default();
        let status = build(input(false), &mut conditions);
        let get = |s: &PodStatus, kind: &str| {
            s.conditions
                .as_ref()
                .unwrap()
                .iter()
                .find(|c| c.type_ == kind)
                .cloned()
                .unwrap()
        };
        assert_eq!(get(&status, "Ready").status, "False");
        let scheduled = get(&status, "PodScheduled").last_transition_time;
        let status = build(input(true), &mut conditions);
        assert_eq!(get(&status, "Ready").status, "True");
        assert_eq!(get(&status, "ContainersReady").status, "True");
        assert_eq!(get(&status, "PodScheduled").last_transition_time, scheduled);
        assert_eq!(status.pod_ips.unwrap()[0].ip, "10.213.0.2");
    }
}

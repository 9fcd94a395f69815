"""The Helm chart: lint and render with Helm's own engine, every rendered object valid
for Kubernetes, RBAC exactly what the operator uses, the Deployment wired to the
operator's real flags, and the chart's crds/ identical to the generated CRDs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import helm_python as helm
import jsonschema
import pytest
import yaml
from conftest import CHART, REPO, find, generate, kinds, render, validate_object

# Values that switch on everything optional.
FULL_VALUES = {
    "replicaCount": 2,
    "logFormat": "text",
    "logLevel": "info,sqsraft_operator=debug",
    "serverImage": {"repository": "example/sqsraft-server", "tag": "0.1.0-rc1"},
    "image": {"repository": "example/sqsraft-operator", "tag": "dev", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}, "interval": "15s"},
    "serviceAccount": {"create": True, "name": "qops", "annotations": {"team": "queues"}},
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "512Mi"}},
    "podAnnotations": {"example.com/scrape": "true"},
    "podLabels": {"tier": "control"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "control", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "system-cluster-critical",
    "extraEnv": [{"name": "TZ", "value": "UTC"}],
    "queueCluster": {
        "create": True,
        "name": "orders",
        "namespace": "apps",
        "spec": {"replicas": 5, "storage": {"size": "10Gi"}, "service": {"type": "LoadBalancer"}},
    },
}
NAMESPACED_VALUES = {"watchNamespace": "apps"}
NO_LEADER_ELECTION = {"leaderElection": {"enabled": False}}
SCENARIOS = {
    "defaults": {},
    "everything": FULL_VALUES,
    "namespaced": NAMESPACED_VALUES,
    "no-leader-election": NO_LEADER_ELECTION,
}


def errors(report: dict) -> list[str]:
    """Lint findings of severity warning or error (1 is info, e.g. "icon is recommended")."""
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]


@pytest.mark.parametrize("values", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_helm_lint_strict_passes(values):
    report = helm.lint(CHART, values, strict=True, namespace="sqsraft-system", kube_version="v1.30.0")
    assert report["total_charts_linted"] == 1
    assert errors(report) == [] and report["errors"] == []


@pytest.mark.parametrize("values", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_every_rendered_object_is_valid(values, crd_schemas):
    objs = render(values)
    assert objs, "the chart rendered nothing"
    for obj in objs:
        validate_object(obj, crd_schemas)


def test_lint_reports_values_the_schema_rejects():
    bad = {"replicaCount": 2, "leaderElection": {"enabled": False}}
    report = helm.lint(CHART, bad, strict=True)
    assert any("replicaCount" in e for e in errors(report)), report


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 2, "leaderElection": {"enabled": False}},
        {"logFormat": "yaml"},
        {"metrics": {"port": 0, "service": {"enabled": True}}},
        {"watchNamespace": "Not_A_Namespace"},
        {"queueCluster": {"create": True, "spec": {"replicas": 0}}},
        {"unknownKey": 1},
    ],
    ids=["standby-without-election", "log-format", "port", "namespace", "qc-replicas", "unknown-key"],
)
def test_values_schema_rejects_bad_values(values):
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_default_objects():
    objs = render()
    assert kinds(objs) == [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
    ]
    for obj in objs:
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "sqsraft-system", obj["metadata"]
        labels = obj["metadata"]["labels"]
        # Chart objects must never look like objects the operator manages or server pods.
        assert labels.get("app.kubernetes.io/managed-by") != "sqsraft-operator"
        assert labels.get("app.kubernetes.io/name") != "sqsraft"


# What the operator's code calls, resource by resource (see templates/rbac.yaml):
# controller/mod.rs and controller/workloads.rs (QueueCluster), queue/reconcile.rs and
# queue/controller.rs (Queue), kube's event Recorder, lease.rs.
EXPECTED_RULES = {
    ("sqsraft.io", "queueclusters"): {"get", "list", "watch"},
    ("sqsraft.io", "queueclusters/status"): {"patch"},
    ("sqsraft.io", "queueclusters/finalizers"): {"update"},
    ("sqsraft.io", "queues"): {"get", "list", "watch", "patch"},
    ("sqsraft.io", "queues/status"): {"patch"},
    ("apps", "statefulsets"): {"get", "list", "watch", "create", "patch"},
    ("", "services"): {"get", "list", "watch", "create", "patch"},
    ("policy", "poddisruptionbudgets"): {"get", "list", "watch", "create", "patch"},
    ("networking.k8s.io", "networkpolicies"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "secrets"): {"get", "list", "watch", "create", "patch"},
    ("", "pods"): {"list", "watch", "patch"},
    ("", "pods/eviction"): {"create"},
    ("", "persistentvolumeclaims"): {"list", "patch", "delete"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
LEASE_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
# StorageClasses are cluster-scoped: read through a ClusterRole of their own, also when
# the operator watches one namespace (controller/volumes.rs).
STORAGE_CLASS_RULES = {("storage.k8s.io", "storageclasses"): {"get"}}
STORAGE_CLASS_ROLE = "sqsraft-operator-storageclasses"


def rule_table(role: dict) -> dict[tuple[str, str], set[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def test_cluster_role_holds_exactly_the_verbs_the_operator_uses():
    objs = render()
    assert rule_table(find(objs, "ClusterRole", "sqsraft-operator")) == EXPECTED_RULES
    assert rule_table(find(objs, "ClusterRole", STORAGE_CLASS_ROLE)) == STORAGE_CLASS_RULES
    assert rule_table(find(objs, "Role")) == LEASE_RULES
    account = find(objs, "ServiceAccount")
    for role in ("sqsraft-operator", STORAGE_CLASS_ROLE):
        binding = find(objs, "ClusterRoleBinding", role)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "sqsraft-system"}
        ]


# Kubernetes types the operator can hold an `Api<T>` of, and the resource each needs.
API_TYPES = {
    "QueueCluster": ("sqsraft.io", "queueclusters"),
    "Queue": ("sqsraft.io", "queues"),
    "StatefulSet": ("apps", "statefulsets"),
    "Service": ("", "services"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Secret": ("", "secrets"),
    "Pod": ("", "pods"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "StorageClass": ("storage.k8s.io", "storageclasses"),
    "Lease": ("coordination.k8s.io", "leases"),
    "K8sEvent": ("events.k8s.io", "events"),
}


def test_every_api_type_in_the_operator_code_has_a_rule():
    """A new `Api<T>` in the operator without an RBAC rule fails here."""
    used = set()
    for path in (REPO / "operator" / "src").rglob("*.rs"):
        text = path.read_text()
        text = text.split("#[cfg(test)]")[0]
        used |= set(re.findall(r"\b(?:Api|scoped)(?:::)?<\s*(\w+)\s*>", text))
    used.discard("K")  # generic helpers
    assert used, "found no Api<T> in operator/src: the pattern is stale"
    unknown = used - set(API_TYPES)
    assert not unknown, f"operator uses Api<{unknown}>: add RBAC rules and API_TYPES entries"
    granted = set(EXPECTED_RULES) | set(LEASE_RULES) | set(STORAGE_CLASS_RULES)
    for name in used:
        assert API_TYPES[name] in granted, name


def test_namespaced_install_uses_a_role_in_the_watched_namespace():
    objs = render(NAMESPACED_VALUES)
    # Only the StorageClass reader is cluster-wide.
    assert rule_table(find(objs, "ClusterRole")) == STORAGE_CLASS_RULES
    assert find(objs, "ClusterRoleBinding")["roleRef"]["name"] == STORAGE_CLASS_ROLE
    role = find(objs, "Role", "sqsraft-operator")
    assert role["metadata"]["namespace"] == "apps"
    assert rule_table(role) == EXPECTED_RULES
    binding = find(objs, "RoleBinding", "sqsraft-operator")
    assert binding["metadata"]["namespace"] == "apps"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sqsraft-operator"}
    assert binding["subjects"][0]["namespace"] == "sqsraft-system"
    env = container_env(find(objs, "Deployment"))
    assert env["SQSRAFT_OPERATOR_WATCH_NAMESPACE"] == "apps"


def container(deployment: dict) -> dict:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def container_env(deployment: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container(deployment)["env"]}


def operator_env_vars() -> set[str]:
    """The environment variables the operator binary reads (clap `env = "..."`)."""
    main = (REPO / "operator" / "src" / "main.rs").read_text()
    found = set(re.findall(r'env\s*=\s*"([A-Z_]+)"', main))
    assert found, "found no clap env attributes in operator/src/main.rs"
    return found


def test_deployment_env_names_are_real_operator_settings():
    known = operator_env_vars() | {"RUST_LOG"}
    for values in SCENARIOS.values():
        env = container_env(find(render(values), "Deployment"))
        user = {e["name"] for e in values.get("extraEnv", [])}
        assert set(env) - user <= known, set(env) - user - known


def test_leader_election_is_on_by_default_and_lease_scoped_to_the_release():
    objs = render()
    env = container_env(find(objs, "Deployment"))
    assert "SQSRAFT_OPERATOR_NO_LEADER_ELECTION" not in env
    assert env["SQSRAFT_OPERATOR_LEASE_NAME"] == "sqsraft-operator"
    # The Lease namespace and identity come from the downward API.
    fields = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container(find(objs, "Deployment"))["env"]
        if "valueFrom" in e
    }
    assert fields == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    role = find(objs, "Role")
    assert role["metadata"]["namespace"] == "sqsraft-system"

    off = render(NO_LEADER_ELECTION)
    assert container_env(find(off, "Deployment"))["SQSRAFT_OPERATOR_NO_LEADER_ELECTION"] == "true"
    assert all(r["kind"] != "Role" for r in off), "no Lease permissions without leader election"


def test_deployment_probes_security_and_metrics_port():
    for values in SCENARIOS.values():
        objs = render(values)
        deployment = find(objs, "Deployment")
        c = container(deployment)
        listen = container_env(deployment)["SQSRAFT_OPERATOR_METRICS_LISTEN"]
        port = int(listen.rsplit(":", 1)[1])
        assert c["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
        for probe in ("livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        if "metrics" in values and not values["metrics"]["service"]["enabled"]:
            continue
        service = find(objs, "Service")
        assert service["spec"]["selector"] == selector
        assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_operator_image_port_matches_the_dockerfile():
    dockerfile = (REPO / "operator" / "Dockerfile").read_text()
    exposed = re.findall(r"^EXPOSE\s+(\d+)", dockerfile, re.M)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert [str(values["metrics"]["port"])] == exposed
    user = re.search(r"^USER\s+(\d+)", dockerfile, re.M)
    assert user and int(user.group(1)) == values["podSecurityContext"]["runAsUser"]


def test_versions_follow_the_workspace():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert chart["appVersion"] == workspace == "0.1.0"
    env = container_env(find(render(), "Deployment"))
    assert container(find(render(), "Deployment"))["image"] == f"sqsraft/sqsraft-operator:{workspace}"
    assert env["SQSRAFT_OPERATOR_SERVER_IMAGE"] == f"sqsraft/sqsraft-server:{workspace}"


def test_non_default_values_reach_the_objects():
    objs = render(FULL_VALUES)
    deployment = find(objs, "Deployment")
    c = container(deployment)
    env = container_env(deployment)
    assert deployment["spec"]["replicas"] == 2
    assert c["image"] == "example/sqsraft-operator:dev" and c["imagePullPolicy"] == "Always"
    assert env["SQSRAFT_OPERATOR_SERVER_IMAGE"] == "example/sqsraft-server:0.1.0-rc1"
    assert env["SQSRAFT_OPERATOR_LOG_FORMAT"] == "text"
    assert env["RUST_LOG"] == "info,sqsraft_operator=debug"
    assert env["TZ"] == "UTC"
    assert c["resources"]["limits"]["memory"] == "512Mi"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "qops" == find(objs, "ServiceAccount")["metadata"]["name"]
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["tier"] == "control"
    bindings = [o for o in objs if o["kind"] == "ClusterRoleBinding"]
    assert len(bindings) == 2 and all(b["subjects"][0]["name"] == "qops" for b in bindings)


def test_service_monitor_selects_the_metrics_service():
    objs = render(FULL_VALUES)
    monitor = find(objs, "ServiceMonitor")
    service = find(objs, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in port_names
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert "ServiceMonitor" not in kinds(render())


def test_service_monitor_without_the_service_fails_to_render():
    with pytest.raises(helm.HelmRenderError, match="metrics.service.enabled"):
        render({"serviceMonitor": {"enabled": True}, "metrics": {"port": 8080, "service": {"enabled": False}}})


def test_queue_cluster_switch(crd_schemas):
    assert "QueueCluster" not in kinds(render())
    objs = render(FULL_VALUES)
    qc = find(objs, "QueueCluster")
    assert qc["apiVersion"] == "sqsraft.io/v1alpha1"
    assert qc["metadata"]["name"] == "orders" and qc["metadata"]["namespace"] == "apps"
    assert qc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert qc["spec"] == FULL_VALUES["queueCluster"]["spec"]
    crd_schemas.validate(qc)
    # Server pods select on app.kubernetes.io/instance=<cluster name>: the chart's
    # release labels must not be put on the QueueCluster.
    assert "app.kubernetes.io/instance" not in qc["metadata"]["labels"]

    released = render({"queueCluster": {"create": True, "keepOnUninstall": False}})
    qc = find(released, "QueueCluster")
    assert qc["metadata"]["namespace"] == "sqsraft-system"
    assert "annotations" not in qc["metadata"]
    assert qc["spec"] == {"replicas": 3}


def test_queue_cluster_spec_is_checked_against_the_crd(crd_schemas):
    qc = find(render({"queueCluster": {"create": True, "spec": {"replicas": 3, "replica": 1}}}), "QueueCluster")
    with pytest.raises(jsonschema.ValidationError):
        crd_schemas.validate(qc)


def test_notes_render_and_mention_the_queue_resources():
    text = generate.notes()
    assert "QueueCluster" in text and "queues/status" in text
    text = generate.notes({"queueCluster": {"create": True, "name": "orders"}})
    assert "get queuecluster orders" in text


def undocumented_values(text: str) -> list[str]:
    """Keys of a values file not covered by a comment: a comment directly above a key
    covers it and everything nested under it."""
    missing = []
    covered: list[int] = []  # indentation of the covering ancestors
    previous = ""
    for line in text.splitlines():
        m = re.match(r"^(\s*)([A-Za-z][\w.-]*):(.*)$", line)
        if m:
            indent = len(m.group(1))
            covered = [c for c in covered if c < indent]
            if previous.lstrip().startswith("#"):
                covered.append(indent)
            elif not covered and m.group(3).strip():
                missing.append(m.group(2))
        if line.strip():
            previous = line
    return missing


def test_values_yaml_is_commented():
    assert undocumented_values((CHART / "values.yaml").read_text()) == []
    # The check itself: an uncommented leaf is reported, a commented block covers its children.
    assert undocumented_values("a:\n  # doc\n  b: 1\n  c: 2\n") == ["c"]
    assert undocumented_values("# doc\nr:\n  x:\n    y: 1\n") == []


def test_chart_crds_are_the_generated_crds():
    top = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert top, "no generated CRDs"
    assert chart.keys() == top.keys(), "run manifests/generate.py (it syncs the chart's crds/)"
    for name in top:
        assert chart[name] == top[name], f"charts/sqsraft-operator/crds/{name} is stale: run manifests/generate.py"


def test_sync_crds_copies_updates_and_removes(tmp_path: Path):
    sync = generate._load_sync_crds()
    source, target = tmp_path / "crds", tmp_path / "chart-crds"
    source.mkdir()
    target.mkdir()
    (source / "a.yaml").write_text("a: 1\n")
    (source / "b.yaml").write_text("b: 2\n")
    (target / "b.yaml").write_text("b: old\n")
    (target / "gone.yaml").write_text("x: 0\n")
    changed = sync(source, target)
    assert sorted(changed) == ["a.yaml", "b.yaml", "gone.yaml"]
    assert {p.name: p.read_text() for p in target.glob("*.yaml")} == {"a.yaml": "a: 1\n", "b.yaml": "b: 2\n"}
    assert sync(source, target) == []


def test_chart_crds_are_what_helm_installs():
    chart = helm.Chart.load(CHART)
    try:
        loaded = {Path(c["name"]).name: c["data"] for c in chart.crds}
    finally:
        chart.close()
    assert loaded == {p.name: p.read_text() for p in (REPO / "crds").glob("*.yaml")}

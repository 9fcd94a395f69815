"""manifests/: install.yaml is the chart rendered with its defaults, every manifest and
example is valid for Kubernetes, and the examples are valid against our CRDs."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
from conftest import REPO, generate, load_all, render, validate_kube, validate_object

INSTALL = REPO / "manifests" / "install.yaml"
EXAMPLES = sorted((REPO / "manifests" / "examples").glob("*.yaml"))


def test_install_yaml_is_what_the_generator_writes():
    assert INSTALL.read_text() == generate.install_yaml(), "run .venv/bin/python manifests/generate.py"


def test_install_yaml_is_namespace_crds_and_the_default_chart():
    docs = load_all(INSTALL)
    assert docs[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sqsraft-system"}}
    crds = [load_all(p)[0] for p in sorted((REPO / "crds").glob("*.yaml"))]
    assert docs[1 : 1 + len(crds)] == crds
    assert docs[1 + len(crds) :] == render(name="sqsraft-operator", namespace="sqsraft-system")
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Deployment") == 1 and "ClusterRole" in kinds and "ServiceAccount" in kinds
    for doc in docs:
        if doc["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "sqsraft-system", doc["metadata"]


def test_generator_check_mode_detects_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "install.yaml"
    stale.write_text(INSTALL.read_text().replace("replicas: 1", "replicas: 2"))
    monkeypatch.setattr(generate, "INSTALL", stale)
    monkeypatch.setattr("sys.argv", ["generate.py", "--check"])
    assert generate.main() == 1
    stale.write_text(INSTALL.read_text())
    assert generate.main() == 0


def test_every_install_object_is_valid(crd_schemas):
    for doc in load_all(INSTALL):
        validate_object(doc, crd_schemas)


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"queuecluster.yaml", "queue-standard.yaml", "queue-fifo-with-dlq.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid_against_our_crds(path: Path, crd_schemas):
    docs = load_all(path)
    assert docs
    for doc in docs:
        assert crd_schemas.knows(doc), f"{path.name}: {doc.get('apiVersion')}/{doc.get('kind')} has no CRD in crds/"
        crd_schemas.validate(doc)


def examples_by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for p in EXAMPLES for d in load_all(p) if d["kind"] == kind}


def test_examples_are_wired_together():
    clusters = examples_by_kind("QueueCluster")
    queues = examples_by_kind("Queue")
    assert clusters and queues
    for q in queues.values():
        assert q["spec"]["clusterRef"]["name"] in clusters
        assert q["metadata"]["namespace"] == clusters[q["spec"]["clusterRef"]["name"]]["metadata"]["namespace"]
    standard = [q for q in queues.values() if not q["spec"].get("fifo")]
    fifo = [q for q in queues.values() if q["spec"].get("fifo")]
    assert standard, "an example of a standard queue"
    with_dlq = [q for q in fifo if "redrivePolicy" in q["spec"]]
    assert with_dlq, "an example of a FIFO queue with a dead-letter queue"
    for q in with_dlq:
        dlq = queues[q["spec"]["redrivePolicy"]["deadLetterQueueRef"]["name"]]
        # SQS: the dead-letter queue of a FIFO queue must be a FIFO queue.
        assert dlq["spec"]["fifo"] is True
        assert dlq["spec"]["clusterRef"] == q["spec"]["clusterRef"]
        assert dlq["spec"]["queueName"].endswith(".fifo")


@pytest.mark.parametrize(
    "mutation",
    [
        lambda s: s.update(visibilityTimeout=43201),
        lambda s: s.update(visibilityTimeout="30"),
        lambda s: s.update(deletionPolicy="Orphan"),
        lambda s: s.update(visibilityTimeoutSeconds=30),
        lambda s: s["redrivePolicy"].update(maxReceiveCount=0),
        lambda s: s.pop("clusterRef"),
    ],
    ids=["range", "type", "enum", "unknown-field", "max-receive", "required"],
)
def test_crd_validation_rejects_broken_queues(mutation, crd_schemas):
    queue = copy.deepcopy(examples_by_kind("Queue")["payments"])
    mutation(queue["spec"])
    with pytest.raises(jsonschema.ValidationError):
        crd_schemas.validate(queue)


def test_kube_validation_rejects_a_broken_object():
    """The Kubernetes schemas are really applied (strict: unknown fields fail)."""
    deployment = next(d for d in load_all(INSTALL) if d["kind"] == "Deployment")
    deployment["spec"]["replica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_kube(deployment)

"""Shared helpers of the chart and manifest tests: Helm rendering through the generator
(manifests/generate.py, Helm's Go SDK via helm-python-sdk), Kubernetes schema validation
(kubernetes-validate) and validation of custom resources against our CRDs."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "sqsraft-operator"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest the
# schemas know.
KUBE_VERSIONS = ["1.30", kubernetes_validate.latest_version()]
# Kinds without a Kubernetes schema that the chart may render.
PROMETHEUS_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate", REPO / "manifests" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def render(values: dict[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """The chart rendered by Helm with `values`: the parsed objects, in install order."""
    return [obj for _, obj in generate.render(values, **kwargs)]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]


def kinds(objs: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objs]


def _closed(schema: Any) -> Any:
    """A copy of a CRD schema that rejects unknown fields like the API server's pruning
    would drop them silently: objects with properties get additionalProperties: false."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


class CrdSchemas:
    """The openAPIV3Schemas of the CRDs in a directory, by (apiVersion, kind)."""

    def __init__(self, directory: Path):
        self.by_kind: dict[tuple[str, str], dict[str, Any]] = {}
        self.scope: dict[tuple[str, str], str] = {}
        for path in sorted(directory.glob("*.yaml")):
            for crd in load_all(path):
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    key = (f"{group}/{version['name']}", kind)
                    self.by_kind[key] = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    self.scope[key] = crd["spec"]["scope"]

    def knows(self, obj: dict[str, Any]) -> bool:
        return (obj.get("apiVersion"), obj.get("kind")) in self.by_kind

    def validate(self, obj: dict[str, Any]) -> None:
        """Checks a custom resource: its metadata as Kubernetes ObjectMeta, the rest
        against its CRD's schema (CEL rules are checked by the operator's own tests)."""
        key = (obj["apiVersion"], obj["kind"])
        assert key in self.by_kind, f"no CRD for {key}"
        if self.scope[key] == "Namespaced":
            assert obj["metadata"].get("namespace"), f"{key} {obj['metadata']} needs a namespace"
        carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(carrier, version, strict=True)
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        jsonschema.validate(body, self.by_kind[key])


@pytest.fixture(scope="session")
def crd_schemas() -> CrdSchemas:
    return CrdSchemas(REPO / "crds")


def validate_kube(obj: dict[str, Any]) -> None:
    """Validates a built-in object against the Kubernetes schemas, strictly (unknown
    fields fail), for every supported version."""
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def validate_object(obj: dict[str, Any], crds: CrdSchemas) -> None:
    """Validates any object the chart or the manifests contain."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if crds.knows(obj):
        crds.validate(obj)
    elif key in PROMETHEUS_KINDS:
        validate_service_monitor(obj)
    else:
        validate_kube(obj)


def validate_service_monitor(obj: dict[str, Any]) -> None:
    """No Kubernetes schema covers ServiceMonitor: check its ObjectMeta and the fields the
    Prometheus Operator requires (selector, endpoints each with a port)."""
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(carrier, version, strict=True)
    spec = obj["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}, spec
    assert spec["selector"]["matchLabels"], "empty selector would match every Service"
    assert spec["endpoints"] and all(e.get("port") for e in spec["endpoints"])

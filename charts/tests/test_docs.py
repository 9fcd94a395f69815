"""The user documentation this package owns: every CRD field is in the operator guide,
relative links resolve, and the repository paths they name exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, load_all

DOCS = [
    REPO / "README.md",
    REPO / "docs" / "quickstart.md",
    REPO / "docs" / "operator-guide.md",
    REPO / "docs" / "troubleshooting.md",
    REPO / "e2e" / "README.md",
]
# Standard Kubernetes types: the guide names them, not their every sub-field.
OPAQUE = {
    "affinity", "tolerations", "topologySpreadConstraints", "resources", "imagePullSecrets", "conditions",
    "sqsFrom",
}


def field_paths(schema: dict, prefix: str) -> list[str]:
    paths = []
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}"
        paths.append(path)
        if name in OPAQUE:
            continue
        paths += field_paths(sub, path)
        if sub.get("type") == "array":
            paths += field_paths(sub.get("items", {}), path + "[]")
    return paths


def crd_fields() -> list[str]:
    fields = []
    for path in sorted((REPO / "crds").glob("*.yaml")):
        for crd in load_all(path):
            schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            for top in ("spec", "status"):
                fields += field_paths(schema["properties"][top], top)
    return fields


def test_operator_guide_documents_every_crd_field():
    guide = (REPO / "docs" / "operator-guide.md").read_text()
    fields = crd_fields()
    assert len(fields) > 50
    missing = [f for f in fields if f"`{f}`" not in guide]
    assert missing == [], "document these fields in docs/operator-guide.md"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_relative_links_resolve(doc: Path):
    text = doc.read_text()
    assert text.strip()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_paths_named_in_docs_exist(doc: Path):
    """Repository paths the docs tell people to use are real."""
    for path in re.findall(
        r"(?<![\w/.])((?:charts|manifests|crds|server|operator|e2e|docs)/[\w./-]*\w)", doc.read_text()
    ):
        if path.startswith("e2e/tests/") or "<" in path:
            continue
        assert (REPO / path).exists(), f"{doc.name} names {path}, which does not exist"

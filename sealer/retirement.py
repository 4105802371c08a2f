"""What still depends on a key: the proof ``sealer keys retire`` needs before a key may go, and
the list ``--compromised`` gives of every value that must be changed.

In the cluster, a SealedSecret depends on the keys its status says unsealed it (or, before the
controller got to it, the key its annotation names; with neither, its key is unknown, which
blocks too). In a tree, a sealed file depends on the key its annotation names; a file naming no
key, or that cannot be read, blocks: nothing proves it does not need the key. For a compromised
key the Git history counts as well: a value re-sealed since was still readable in the commits
that held the old ciphertext.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sealer import documents
from sealer.clusterkeys import ObjectRef
from sealer.errors import ManifestError
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from sealer.sealedfiles import Scan, SealedDocument
from sealer.sealedsecret import KIND, describe
from sealer.worktree import Skipped

GIT_TIMEOUT = 120


@dataclass(frozen=True)
class PastFile:
    """A SealedSecret sealed to the key in some commit of the repository's history."""

    commit: str
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.commit[:12]}:{self.path}: {self.what}"


@dataclass
class Dependents:
    fingerprint: str
    objects: list[ObjectRef] = field(default_factory=list)
    unknown_objects: list[ObjectRef] = field(default_factory=list)
    files: list[SealedDocument] = field(default_factory=list)
    unknown_files: list[SealedDocument] = field(default_factory=list)
    unreadable: list[Skipped] = field(default_factory=list)
    history: list[PastFile] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """Anything that may still need the key to be unsealed."""
        return bool(
            self.objects or self.unknown_objects or self.files or self.unknown_files
            or self.unreadable
        )  # fmt: skip

    def lines(self) -> list[str]:
        out = [f"  in the cluster: {ref} ({ref.evidence})" for ref in self.objects]
        out += [f"  in the cluster, key unknown (not unsealed yet): {r}"
                for r in self.unknown_objects]  # fmt: skip
        out += [f"  in the tree: {item.where}" for item in self.files]
        out += [f"  in the tree, key unknown (no {KEY_FINGERPRINT_ANNOTATION}): {item.where}"
                for item in self.unknown_files]  # fmt: skip
        out += [f"  in the tree, unreadable: {s.reason}" for s in self.unreadable]
        out += [f"  in the Git history: {past}" for past in self.history]
        return out


def dependents(fingerprint: str, refs: list[ObjectRef], tree: Scan | None) -> Dependents:
    found = Dependents(fingerprint)
    for ref in refs:
        if fingerprint in ref.fingerprints:
            found.objects.append(ref)
        elif ref.evidence == "unknown":
            found.unknown_objects.append(ref)
    if tree is not None:
        for item in tree.sealed:
            if item.fingerprint == fingerprint:
                found.files.append(item)
            elif item.fingerprint is None:
                found.unknown_files.append(item)
        found.unreadable = list(tree.unreadable)
    return found


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", str(root), *args],  # noqa: S607 - the user's git, as they run it
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def history(root: Path, fingerprint: str) -> list[PastFile]:
    """Every SealedSecret that named ``fingerprint`` in any commit of the repository ``root``
    is in (nothing when it is not a Git work tree): the commits where that string appeared or
    went (``git log -S``), and in each, the files holding it."""
    top = (_git(root, "rev-parse", "--show-toplevel") or "").strip()
    if not top:
        return []
    root = Path(top)
    commits = _git(root, "log", "--all", "--format=%H", "-S", fingerprint)
    if not commits:
        return []
    found: dict[tuple[str, str], PastFile] = {}
    for commit in reversed(commits.split()):  # oldest first: each object's first exposure
        listed = _git(root, "grep", "-l", "-F", "--full-name", fingerprint, commit) or ""
        for entry in listed.splitlines():
            path = entry.split(":", 1)[1] if ":" in entry else entry
            blob = _git(root, "show", f"{commit}:{path}")
            if blob is None:
                continue
            try:
                objects = documents.load(blob, path)
            except ManifestError:
                continue
            for obj in objects:
                annotations = (obj.get("metadata") or {}).get("annotations") or {}
                if obj.get("kind") == KIND and annotations.get(KEY_FINGERPRINT_ANNOTATION) == (
                    fingerprint
                ):
                    found.setdefault((path, describe(obj)), PastFile(commit, path, describe(obj)))
    return sorted(found.values(), key=lambda p: (p.path, p.what))

"""Bulk re-sealing of a tree: every SealedSecret not sealed to the sealing key is re-encrypted by
the controller (``POST /v1/rotate``: values never leave the cluster) and rewritten in place,
surgically (:func:`sealer.sealedfiles.rewrite_objects`), so comments, key order and the file's
other documents stay byte for byte. An object is up to date when its
``sealer.dev/key-fingerprint`` annotation names the sealing key; without the annotation its key
is unknown, so it is re-sealed (which adds the annotation): a second run changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import documents, sealedfiles
from sealer.errors import ClusterError, SealerError
from sealer.kube import Controller, KubeClient
from sealer.pins import ClusterPins
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from sealer.sealedfiles import Change, Scan, SealedDocument

Rotate = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass
class Plan:
    tree: Scan
    sealing: str  # the fingerprint every object should be sealed to
    stale: list[SealedDocument] = field(default_factory=list)

    @property
    def fresh(self) -> int:
        return len(self.tree.sealed) - len(self.stale)


@dataclass
class Report:
    plan: Plan
    resealed: list[SealedDocument] = field(default_factory=list)
    failed: list[tuple[SealedDocument, str]] = field(default_factory=list)
    files_changed: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        tree = self.plan.tree
        text = (
            f"{tree.files} files, {len(tree.sealed)} SealedSecrets: {self.plan.fresh} already "
            f"sealed to {self.plan.sealing}, {len(self.resealed)} re-sealed in "
            f"{len(self.files_changed)} files"
        )
        return text + (f", {len(self.failed)} failed" if self.failed else "")


def plan(tree: Scan, sealing: str) -> Plan:
    return Plan(tree, sealing, [s for s in tree.sealed if s.fingerprint != sealing])


def controller_rotate(client: KubeClient, controller: Controller) -> Rotate:
    """``/v1/rotate`` through the service proxy (429s are waited out by the client)."""

    def rotate(obj: Mapping[str, Any]) -> dict[str, Any]:
        response = client.controller(controller, "POST", "/v1/rotate", dict(obj))
        if response.status == 409:
            raise SealerError(f"the controller cannot decrypt it: {response.text()[:300]}")
        if response.status != 200:
            raise ClusterError(f"re-encryption answered {response.status}: {response.text()[:300]}")
        try:
            result: dict[str, Any] = json.loads(response.body)
        except ValueError:
            raise ClusterError("the controller's answer is not JSON") from None
        return result

    return rotate


def _change(
    item: SealedDocument, result: Mapping[str, Any], sealing: str, pins: ClusterPins | None
) -> Change:
    """The new items and fingerprint from ``/v1/rotate``'s answer, checked."""
    old = (item.obj.get("spec") or {}).get("encryptedData") or {}
    new = (result.get("spec") or {}).get("encryptedData") or {}
    fingerprint = ((result.get("metadata") or {}).get("annotations") or {}).get(
        KEY_FINGERPRINT_ANNOTATION
    )
    if (
        not isinstance(new, dict)
        or set(new) != set(old)
        or not all(isinstance(v, str) for v in new.values())
    ):
        raise ClusterError("the controller answered with other items than were sent")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise ClusterError("the controller's answer names no key fingerprint")
    if fingerprint != sealing:  # a replica that has not loaded the newest key yet, say
        raise ClusterError(
            f"the controller re-sealed it to {fingerprint}, not to the sealing key {sealing}: "
            "run again in a moment"
        )
    if pins is not None and pins.pins and fingerprint not in pins.pins:
        raise SealerError(
            f"the controller re-sealed it to {fingerprint}, which is not pinned for cluster "
            f"{pins.cluster!r} in {pins.config}"
        )
    return Change(new, {KEY_FINGERPRINT_ANNOTATION: fingerprint})


def apply(
    the_plan: Plan,
    rotate: Rotate,
    pins: ClusterPins | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> Report:
    """Re-seal every stale object, one file at a time; a file is written only if all its
    edits read back as intended, and an object that fails leaves its file's others to go on."""
    report = Report(the_plan)
    for path, items in _by_file(the_plan.stale).items():
        changes: dict[int, Change] = {}
        done: list[SealedDocument] = []
        for item in items:
            try:
                changes[item.index] = _change(item, rotate(item.obj), the_plan.sealing, pins)
                done.append(item)
            except SealerError as exc:
                report.failed.append((item, str(exc)))
            progress(1)
        if not changes:
            continue
        text = path.read_bytes().decode("utf-8")
        try:
            new_text = sealedfiles.rewrite_objects(text, changes, source=str(path))
        except SealerError as exc:
            report.failed.extend((item, str(exc)) for item in done)
            continue
        if new_text != text:
            documents.write_atomic(path, new_text.encode("utf-8"))
            report.files_changed.append(path)
        report.resealed.extend(done)
    return report


def _by_file(items: list[SealedDocument]) -> dict[Path, list[SealedDocument]]:
    grouped: dict[Path, list[SealedDocument]] = {}
    for item in items:
        grouped.setdefault(item.path, []).append(item)
    return grouped

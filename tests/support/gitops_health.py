"""The health rules GitOps tools apply to a SealedSecret, reproduced in Python so tests can
evaluate them against what the controller writes.

- :func:`argocd_health`: Argo CD's built-in check for ``bitnami.com/SealedSecret``,
  ``resource_customizations/bitnami.com/SealedSecret/health.lua`` in argoproj/argo-cd (read at
  commit 09762a2d72d37831e532d7c8182d2e2293ea5baa). The Lua script walks
  ``status.conditions`` in order and returns at the first ``Synced`` condition whose status is
  ``"False"`` (Degraded, its message) or ``"True"`` (Healthy, its message); anything else,
  including no status, is Progressing, "Waiting for Sealed Secret to be decrypted".
- :func:`kstatus`: ``status.Compute`` of sigs.k8s.io/cli-utils ``pkg/kstatus/status``
  (status.go, generic.go) for a custom resource, which has no type-specific rule: a deletion
  timestamp is Terminating; ``status.observedGeneration`` present and different from
  ``metadata.generation`` is InProgress; a ``Reconciling`` condition ``"True"`` is InProgress,
  a ``Stalled`` condition ``"True"`` is Failed (each with the condition's message); otherwise
  Current. Flux's ``wait: true`` / ``healthChecks`` poll resources with these rules.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CRD = Path(__file__).resolve().parents[2] / "crds" / "sealedsecret.yaml"


def argocd_health(obj: dict[str, Any]) -> tuple[str, str | None]:
    status = obj.get("status")
    if status is not None:
        conditions = status.get("conditions")
        if conditions is not None:
            for condition in conditions:  # Lua's ipairs: in order
                if condition.get("type") == "Synced" and condition.get("status") == "False":
                    return "Degraded", condition.get("message")
                if condition.get("type") == "Synced" and condition.get("status") == "True":
                    return "Healthy", condition.get("message")
    return "Progressing", "Waiting for Sealed Secret to be decrypted"


def kstatus(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating", "Resource scheduled for deletion"
    status = obj.get("status") or {}
    generation = meta.get("generation")
    if generation is not None and "observedGeneration" in status:
        observed = status["observedGeneration"]
        if observed != generation:
            return "InProgress", (f"{obj.get('kind')} generation is {generation}, but latest "
                                  f"observed generation is {observed}")  # fmt: skip
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return "InProgress", condition.get("message") or ""
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return "Failed", condition.get("message") or ""
    return "Current", "Resource is current"


def as_served(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as a real API server returns it under our CRD: the schema's ``status`` default
    applied when there is no status (the stand-in does no defaulting)."""
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    result = copy.deepcopy(obj)
    if "default" in schema and result.get("status") is None:
        result["status"] = copy.deepcopy(schema["default"])
    return result

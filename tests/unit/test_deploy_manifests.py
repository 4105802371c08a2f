"""deploy/ rendered by the real kubectl kustomize, checked against the Kubernetes schemas."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy_support import REQUIRED, ROOT, granted, rendered

K8S_VERSION = "1.33.0"


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return rendered()


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def test_everything_is_installed(objects: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                     "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    namespaced = [o for o in objects if o["kind"] in ("Deployment", "Service", "ServiceAccount",
                                                      "Role", "RoleBinding")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"kube-system"}


def test_every_object_is_valid_for_kubernetes(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    for path in (ROOT / "crds").glob("*.yaml"):
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), K8S_VERSION, strict=True)


def test_crd_copy_is_identical() -> None:
    assert (ROOT / "deploy" / "sealedsecret-crd.yaml").read_bytes() == \
        (ROOT / "crds" / "sealedsecret.yaml").read_bytes()


def test_crd_schema_accepts_what_sealer_writes() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "sealedsecret.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    sealed = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
              "metadata": {"name": "x", "namespace": "y"},
              "spec": {"encryptedData": {"a": "AgB="},
                       "template": {"metadata": {"name": "x", "labels": {"a": "b"}},
                                    "type": "Opaque", "immutable": True}},
              "status": {"observedGeneration": 1, "keyFingerprints": ["SHA256:x"],
                         "conditions": [{"type": "Synced", "status": "True"}]}}
    jsonschema.validate(sealed, schema)


def test_rbac_is_least_privilege(objects: list[dict[str, Any]]) -> None:
    rules = [r for o in objects if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
    # exactly what the controller calls (test_rbac_coverage.py records the calls)
    assert granted(objects) == REQUIRED
    binding = by_kind(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sealed-secrets-controller",
                                    "namespace": "kube-system"}]


def test_deployment_is_hardened_and_probed(objects: list[dict[str, Any]]) -> None:
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108


def test_service_ports_are_named_as_upstream(objects: list[dict[str, Any]]) -> None:
    service = by_kind(objects, "Service")
    assert service["metadata"]["name"] == "sealed-secrets-controller"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 8080,
                                                                        "metrics": 8081}
    pod_labels = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_dockerfile_runs_the_controller_as_non_root() -> None:
    """No Docker engine here: the image cannot be built, so check its structure."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 1001", text, re.M)
    assert 'ENTRYPOINT ["sealer-controller"]' in text
    assert all(":latest" not in line for line in text.splitlines() if line.startswith("FROM"))
    assert "tests" in (ROOT / ".dockerignore").read_text().split()

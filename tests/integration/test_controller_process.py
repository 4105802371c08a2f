"""``sealer-controller`` as users run it: a process configured by flags and SEALER_* variables,
JSON logs, the HTTP API and metrics served, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from sealer import keys
from sealer.keys import KEY_LABEL
from tests.integration.controller_fixtures import KEY_NS, data_of, sealed_secret, wait_for
from tests.support.kubeapi import KubeAPI
from tests.support.ports import free_port


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read()
    except OSError:
        return 0, b""


def test_console_script(kube_api: KubeAPI, kubeconfig: Path, tmp_path: Path) -> None:
    api_port, metrics_port = free_port(), free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SEALER_KEY_SIZE": "2048",
           "SEALER_LOG_FORMAT": "json", "POD_NAMESPACE": KEY_NS}
    log = (tmp_path / "controller.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "--listen-addr", f"127.0.0.1:{api_port}",
         "--listen-metrics-addr", f"127.0.0.1:{metrics_port}", "--key-renew-period", "720h"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: get(base + "/readyz")[0] == 200, timeout=30, what="readyz")
        (stored,) = kube_api.list("secrets", KEY_NS, label_selector=f"{KEY_LABEL}=active")
        pair = keys.key_pair_from_secret(stored)
        status, pem = get(base + "/v1/cert.pem")
        assert status == 200 and pem == pair.certificate.pem

        kube_api.create(sealed_secret(pair, "default", "proc", {"k": b"v"}))
        secret = wait_for(lambda: kube_api.get("secrets", "proc", "default"), what="Secret")
        assert data_of(secret) == {"k": b"v"}
        status, metrics = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200 and b"sealed_secrets_controller_unseal_requests_total 1.0" in metrics
        assert b"sealed_secrets_controller_keys 1.0" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0
    log.seek(0)
    lines = [json.loads(line) for line in log if line.startswith("{")]
    messages = [entry["msg"] for entry in lines]
    assert any(m.startswith("new key written") for m in messages)
    assert any(m == "created Secret default/proc" for m in messages)

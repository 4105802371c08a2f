"""``sealer-controller`` killed with SIGKILL in the middle of its writes, then started again: the
second life finishes the work, each Secret is made once, no key is made, and the debug-level
logs of both lives hold no value and no key (the session's leak scan reads them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from sealer.keys import KeyPair
from tests.integration.controller_fixtures import KEY_NS, key_secret, sealed_secret, wait_for
from tests.integration.test_faults import NS, converged, items
from tests.support.kubeapi import KubeAPI
from tests.support.leaks import REGISTRY


def start(kubeconfig: Path, log: IO[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": KEY_NS,
           "SEALER_LOG_LEVEL": "debug", "SEALER_LOG_FORMAT": "json",
           "SEALER_RETRY_MAX_DELAY": "0.5", "SEALER_KEY_RENEW_PERIOD": "0"}
    return subprocess.Popen([sys.executable, "-m", "controller", "--listen-addr", "",
                             "--listen-metrics-addr", ""], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def test_sigkill_mid_reconcile_and_restart(kube_api: KubeAPI, kubeconfig: Path, tmp_path: Path,
                                           key_pairs: tuple[KeyPair, ...]) -> None:
    pair = key_pairs[0]
    kube_api.create(key_secret(pair, "sealed-secrets-key00000"))
    kube_api.inject(verb="create", resource="secrets", namespace=NS, status=None,
                    delay_response=1.0, times=None)
    expected = {f"obj-{i:02d}": items(f"obj-{i:02d}") for i in range(8)}
    for name, want in expected.items():
        kube_api.create(sealed_secret(pair, NS, name, want))
    logs = [(tmp_path / f"life{n}.log").open("w+") for n in (1, 2)]
    first = start(kubeconfig, logs[0])
    try:
        wait_for(lambda: kube_api.count(verb="create", resource="secrets") >= 2, timeout=30,
                 what="writes in flight")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    kube_api.clear_faults()
    second = start(kubeconfig, logs[1])
    try:
        wait_for(lambda: converged(kube_api, expected), timeout=60, what="convergence")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert kube_api.count(verb="delete", resource="secrets") == 0  # each Secret made once
    assert len(kube_api.list("secrets", KEY_NS)) == 1  # and no key made by either life
    for log in logs:
        log.seek(0)
        REGISTRY.observe("controller process log", log.read())

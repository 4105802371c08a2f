"""The hostile corpus against one real controller (kopf + Runtime on the API stand-in), all at
once, with good objects interleaved.

Every case first exists as a good SealedSecret whose Secret is written; then its hostile version
replaces it while new good objects keep arriving. Each hostile case must end ``Synced=False``
with its reason and a message naming the field, one Warning Event, the error metric, and its
Secret exactly as it was; accepted cases must end ``Synced=True`` with the expected Secret; every
good object must be unsealed; and ``/v1/verify`` must refuse (never 500) what the controller does.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.config import Config
from controller.operator import OperatorThread
from sealer.keys import KeyPair
from tests.hostile.corpus import (
    CASES,
    ERR_UNSEAL,
    KEY_NS,
    NS,
    SYNCED,
    Case,
    Keys,
    good,
    value,
)
from tests.integration.controller_fixtures import data_of, key_secret, wait_for
from tests.support.kopf_harness import quick_settings
from tests.support.kubeapi import SEALEDSECRET_CRD, KubeAPI

Obj = dict[str, Any]
GOOD_NS = "good"
CONTROLLER_CASES = [c for c in CASES if c.controller is not None]
GOOD_COUNT = 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    api: KubeAPI
    thread: OperatorThread
    keys: Keys
    url: str
    before: dict[str, Obj] = field(default_factory=dict)  # case name -> Secret before

    def condition(self, namespace: str, name: str) -> Obj:
        obj = self.api.get("sealedsecrets", name, namespace) or {}
        conds = (obj.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c.get("type") == "Synced"), {})

    def settled(self, case: Case) -> Obj | None:
        obj = self.api.get("sealedsecrets", case.name, case.namespace) or {}
        status = obj.get("status") or {}
        cond = self.condition(case.namespace, case.name)
        if case.controller == SYNCED:
            done = (cond.get("status") == "True"
                    and status.get("observedGeneration") == obj["metadata"]["generation"])
        else:
            done = cond.get("status") == "False" and cond.get("reason") == case.controller
        return cond if done else None


def hostile_patch(obj: Obj) -> list[Obj]:
    return [{"op": "add", "path": "/metadata/annotations",
             "value": obj["metadata"].get("annotations") or {}},
            {"op": "add", "path": "/spec", "value": obj["spec"]}]


@pytest.fixture(scope="module")
def run(key_pairs: tuple[KeyPair, KeyPair],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    keys = Keys(ours=key_pairs[0], foreign=key_pairs[1])
    with KubeAPI.start(crds=[SEALEDSECRET_CRD]) as api:
        kubeconfig: Path = api.write_kubeconfig(tmp_path_factory.mktemp("hostile") / "kubeconfig")
        api.create(key_secret(keys.ours, "sealed-secrets-key00000"))
        api.create({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "victim", "namespace": NS},
                    "data": {"mine": base64.b64encode(b"untouched").decode()}})
        port = free_port()
        config = Config(kubeconfig=str(kubeconfig), key_namespace=KEY_NS,
                        listen_addr=f"127.0.0.1:{port}", listen_metrics_addr="",
                        retry_base_delay=0.05, retry_max_delay=1.0,
                        key_renew_period=dt.timedelta(0), key_size=2048, reconcile_workers=4,
                        verify_rate="1000/second")
        thread = OperatorThread(config, settings=quick_settings()).start()
        try:
            result = Run(api, thread, keys, f"http://127.0.0.1:{port}")
            stage(result)
            yield result
        finally:
            thread.stop()


def stage(run: Run) -> None:
    api, keys = run.api, run.keys
    for case in CONTROLLER_CASES:  # 1: every case as a good object first
        api.create(good(keys, case.name, case.namespace))
    for case in CONTROLLER_CASES:
        secret = wait_for(lambda c=case: api.get("secrets", c.name, c.namespace),  # type: ignore[misc]
                          what=f"first Secret of {case.name}")
        run.before[case.name] = secret
    for i, case in enumerate(CONTROLLER_CASES):  # 2: all hostile at once, good ones between
        built = case.build(keys)
        assert isinstance(built, dict)
        api.patch("sealedsecrets", case.name, hostile_patch(built), case.namespace,
                  content_type="application/json-patch+json")
        if i < GOOD_COUNT:
            api.create(good(keys, f"good-{i:02d}", GOOD_NS))
    for i in range(len(CONTROLLER_CASES), GOOD_COUNT):
        api.create(good(keys, f"good-{i:02d}", GOOD_NS))
    for case in CONTROLLER_CASES:
        wait_for(lambda c=case: run.settled(c),  # type: ignore[misc]
                 timeout=30, what=f"outcome of {case.name}")
    for i in range(GOOD_COUNT):
        wait_for(lambda i=i: api.get("secrets", f"good-{i:02d}", GOOD_NS),  # type: ignore[misc]
                 what=f"good-{i:02d}")
    run.thread.call(lambda: run.thread.runtime.wait_idle(30), 40)


def test_the_corpus_against_one_controller(run: Run, subtests: pytest.Subtests) -> None:
    """One test, so that one xdist worker starts the controller and runs the corpus once."""
    for case in CONTROLLER_CASES:
        if case.controller != SYNCED:
            with subtests.test(msg=f"refused: {case.name}"):
                refused_with_reason_event_metric_and_the_secret_untouched(run, case)
    checks = [accepted_cases_write_only_their_own_secret,
              every_good_object_is_unsealed_and_metrics_count_the_rest,
              it_keeps_serving_new_objects]
    for check in checks:
        with subtests.test(msg=check.__name__):
            check(run)
    for case in CASES:
        with subtests.test(msg=f"verify: {case.name}"):
            verify_refuses_what_the_controller_refuses(run, case)


def refused_with_reason_event_metric_and_the_secret_untouched(run: Run, case: Case) -> None:
    cond = run.condition(case.namespace, case.name)
    assert cond["status"] == "False" and cond["reason"] == case.controller
    message = cond["message"]
    if case.controller == ERR_UNSEAL:
        assert f"{case.where}: {case.field}: {case.cause}" in message
    else:  # the API server's refusal of the Secret
        assert case.field in message and case.cause in message
    assert value(case.name).decode() not in json.dumps(cond)
    warnings = [e for e in run.api.list("events", case.namespace)
                if e["involvedObject"]["name"] == case.name and e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == [case.controller]  # once, not per retry
    assert warnings[0]["message"] == message
    now = run.api.get("secrets", case.name, case.namespace)
    before = run.before[case.name]
    assert now is not None
    assert now["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert data_of(now) == {"pw": value(case.name)}
    gauge = run.thread.runtime.metrics.registry.get_sample_value(
        "sealed_secrets_controller_condition_info",
        {"namespace": case.namespace, "name": case.name, "condition": "Synced",
         "ss_app_kubernetes_io_instance": ""})
    assert gauge == -1.0


def accepted_cases_write_only_their_own_secret(run: Run) -> None:
    secrets: dict[str, Obj] = {}
    for case in CONTROLLER_CASES:
        if case.controller == SYNCED:
            secret = run.api.get("secrets", case.name, NS)
            assert secret is not None
            secrets[case.name] = secret
    assert data_of(secrets["empty-encrypted-data"]) == {}
    for name in ("template-renames-secret", "template-other-namespace"):
        assert data_of(secrets[name]) == {"pw": value(name)}
        assert secrets[name]["metadata"]["namespace"] == NS
    victim = run.api.get("secrets", "victim", NS)
    assert victim is not None and data_of(victim) == {"mine": b"untouched"}
    assert run.api.get("secrets", "template-other-namespace", KEY_NS) is None
    key_secrets = [s["metadata"]["name"] for s in run.api.list("secrets", KEY_NS)]
    assert key_secrets == ["planted-key", "sealed-secrets-key00000"]  # the twin; no new key
    assert len(run.thread.runtime.ring) == 1


def every_good_object_is_unsealed_and_metrics_count_the_rest(run: Run) -> None:
    for i in range(GOOD_COUNT):
        name = f"good-{i:02d}"
        secret = run.api.get("secrets", name, GOOD_NS)
        assert secret is not None and data_of(secret) == {"pw": value(name)}
        assert run.condition(GOOD_NS, name)["status"] == "True"
    registry = run.thread.runtime.metrics.registry
    errors = registry.get_sample_value("sealed_secrets_controller_unseal_errors_total",
                                       {"reason": "unseal", "namespace": NS})
    refused = [c for c in CONTROLLER_CASES if c.controller == ERR_UNSEAL and c.namespace == NS]
    assert errors is not None and errors >= len(refused)
    assert registry.get_sample_value("sealed_secrets_controller_unseal_errors_total",
                                     {"reason": "unseal", "namespace": GOOD_NS}) is None
    assert not [e for e in run.api.list("events", GOOD_NS) if e["type"] == "Warning"]


def it_keeps_serving_new_objects(run: Run) -> None:
    run.api.create(good(run.keys, "after-the-storm", GOOD_NS))
    secret = wait_for(lambda: run.api.get("secrets", "after-the-storm", GOOD_NS),
                      what="a new object after the corpus")
    assert data_of(secret) == {"pw": value("after-the-storm")}


def verify(run: Run, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(run.url + "/v1/verify", data=body,  # noqa: S310
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def verify_refuses_what_the_controller_refuses(run: Run, case: Case) -> None:
    built = case.build(run.keys)
    body = built if isinstance(built, bytes) else json.dumps(built).encode()
    status, text = verify(run, body)
    if case.unseal_ok:
        assert status == 200, text
        return
    assert status in (400, 409), text
    assert case.cause in text or (case.cli_cause or "") in text
    assert value(case.name).decode() not in text

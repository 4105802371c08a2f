"""The real controller under API faults injected by the stand-in, and restarts: after each, it
converges. Every SealedSecret ends ``Synced`` for its current generation with the right Secret,
owned by it; no Secret is lost, duplicated or left with stale data; no key is generated twice.
(No value leaks either: the session's leak scan reads every status, Event and log line.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from controller.cluster import Cluster
from controller.config import Config
from controller.operator import OperatorThread
from controller.runtime import Runtime
from sealer.keys import KeyPair
from sealer.kube import load_configuration
from tests.integration.controller_fixtures import (
    KEY_NS,
    Controller,
    ControllerFactory,
    data_of,
    key_secret,
    sealed_secret,
    wait_for,
)
from tests.support.kopf_harness import quick_settings
from tests.support.kubeapi import KubeAPI

Obj = dict[str, Any]
NS = "faults"
Expected = dict[str, dict[str, bytes]]


def items(name: str, version: int = 1) -> dict[str, bytes]:
    return {"pw": f"{name}-fault-value-v{version}".encode(), "user": f"{name}-user-7a".encode()}


def create_all(api: KubeAPI, pair: KeyPair, count: int, prefix: str = "obj") -> Expected:
    expected: Expected = {}
    for i in range(count):
        name = f"{prefix}-{i:02d}"
        expected[name] = items(name)
        api.create(sealed_secret(pair, NS, name, expected[name]))
    return expected


def change_all(api: KubeAPI, pair: KeyPair, expected: Expected) -> None:
    for name in expected:
        expected[name] = items(name, 2)
        spec = sealed_secret(pair, NS, name, expected[name])["spec"]
        api.patch("sealedsecrets", name, {"spec": spec}, NS)


def converged(api: KubeAPI, expected: Mapping[str, Mapping[str, bytes]]) -> bool | None:
    """Whether every object is Synced for its generation with its Secret, and nothing else."""
    for name, want in expected.items():
        obj = api.get("sealedsecrets", name, NS)
        secret = api.get("secrets", name, NS)
        if obj is None or secret is None:
            return None
        status = obj.get("status") or {}
        cond: Obj = next((c for c in status.get("conditions") or [] if c["type"] == "Synced"), {})
        owners = [r["uid"] for r in secret["metadata"].get("ownerReferences") or []]
        if (cond.get("status") != "True" or data_of(secret) != want
                or status.get("observedGeneration") != obj["metadata"]["generation"]
                or owners != [obj["metadata"]["uid"]]):
            return None
    names = {s["metadata"]["name"] for s in api.list("secrets", NS)}
    return names == set(expected) or None


def assert_converged(ctl: Controller, expected: Expected, keys: int = 1,
                     generated: int = 0) -> None:
    wait_for(lambda: converged(ctl.api, expected), timeout=30, what="convergence")
    ctl.idle()
    assert converged(ctl.api, expected)
    assert len(ctl.api.list("secrets", KEY_NS)) == keys
    assert ctl.runtime.key_manager.generated == generated


def hits(api: KubeAPI) -> int:
    return sum(f.hits for f in api.emulator.faults.faults)


@pytest.mark.parametrize(("verb", "resource", "subresource"), [
    ("get", "secrets", None),
    ("create", "secrets", None),
    ("update", "secrets", None),
    ("patch", "sealedsecrets", "status"),
    ("create", "events", None),
])
def test_500s(controller: ControllerFactory, kube_api: KubeAPI, key_pairs: tuple[KeyPair, ...],
              verb: str, resource: str, subresource: str | None) -> None:
    ctl = controller([key_pairs[0]], retry_max_delay=0.2)
    fault = kube_api.inject(verb=verb, resource=resource, subresource=subresource, status=500,
                            times=6, message="etcdserver: leader changed")
    expected = create_all(kube_api, key_pairs[0], 6)
    assert_converged(ctl, expected)
    change_all(kube_api, key_pairs[0], expected)  # the update path too
    assert_converged(ctl, expected)
    assert fault.hits == 6


def test_409_conflicts_on_every_write(controller: ControllerFactory, kube_api: KubeAPI,
                                      key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]], retry_max_delay=0.2)
    expected = create_all(kube_api, key_pairs[0], 6)
    assert_converged(ctl, expected)
    updates = kube_api.inject(verb="update", resource="secrets", status=409, times=15)
    kube_api.inject(verb="create", resource="secrets", status=409, times=3)
    change_all(kube_api, key_pairs[0], expected)
    for name in ("obj-00", "obj-01"):  # and two deleted: created again through conflicts
        kube_api.delete("secrets", name, NS)
    assert_converged(ctl, expected)
    assert updates.hits == 15


def test_a_real_conflict_is_never_overwritten_with_stale_data(
        controller: ControllerFactory, kube_api: KubeAPI, key_pairs: tuple[KeyPair, ...]) -> None:
    """Someone edits the Secret between the controller's read and its write: the write is
    refused (409, resourceVersion), the controller reads again and writes the right data."""
    ctl = controller([key_pairs[0]], retry_max_delay=0.2)
    expected = create_all(kube_api, key_pairs[0], 1)
    assert_converged(ctl, expected)
    slow = kube_api.inject(verb="get", resource="secrets", name="obj-00", status=None,
                           delay_response=0.4, times=1)  # read now, answered later
    change_all(kube_api, key_pairs[0], expected)
    wait_for(lambda: slow.hits == 1, what="the controller reading the Secret")
    kube_api.patch("secrets", "obj-00", {"metadata": {"labels": {"edited": "by-hand"}},
                                          "data": {"pw": "aGFuZA=="}}, NS)
    assert_converged(ctl, expected)
    assert kube_api.count(verb="update", resource="secrets", status=409) >= 1


def test_429_with_retry_after(controller: ControllerFactory, kube_api: KubeAPI,
                              key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]], retry_max_delay=0.2)
    for verb, resource, sub in (("create", "secrets", None), ("get", "secrets", None),
                                ("patch", "sealedsecrets", "status")):
        kube_api.inject(verb=verb, resource=resource, subresource=sub, status=429, times=4,
                        retry_after=1, message="too many requests, please try again later")
    expected = create_all(kube_api, key_pairs[0], 5)
    assert_converged(ctl, expected)
    assert hits(kube_api) == 12


def test_slow_responses(controller: ControllerFactory, kube_api: KubeAPI,
                        key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    kube_api.inject(verb="get", resource="secrets", status=None, delay=0.3, times=10)
    kube_api.inject(verb="create", resource="secrets", status=None, delay=0.3, times=10)
    kube_api.inject(verb="watch", resource="secrets", status=None, delay=0.3, times=None)
    expected = create_all(kube_api, key_pairs[0], 8)
    assert_converged(ctl, expected)


@pytest.fixture
def short_timeout_controller(kube_api: KubeAPI, kubeconfig: Path,
                             key_pairs: tuple[KeyPair, ...]) -> Iterator[Controller]:
    """A controller whose API calls give up after 0.5 s without an answer."""
    kube_api.create(key_secret(key_pairs[0], "sealed-secrets-key00000"))
    config = Config(kubeconfig=str(kubeconfig), key_namespace=KEY_NS, listen_addr="",
                    listen_metrics_addr="", retry_base_delay=0.05, retry_max_delay=0.2,
                    key_renew_period=dt.timedelta(0), key_size=2048, reconcile_workers=4)
    cluster = Cluster(load_configuration(str(kubeconfig)), timeout=(2.0, 0.5))
    thread = OperatorThread(config, runtime=Runtime(config, cluster=cluster),
                            settings=quick_settings()).start()
    handle = Controller(kube_api, thread)
    wait_for(lambda: kube_api.watching("sealedsecrets") and kube_api.watching("secrets"),
             what="kopf watching")
    yield handle
    thread.stop()


def test_timeouts_after_the_write_was_made(short_timeout_controller: Controller,
                                           kube_api: KubeAPI,
                                           key_pairs: tuple[KeyPair, ...]) -> None:
    """The API server makes the write but the answer comes too late: the controller retries,
    finds the Secret already there and right (no second write, no decryption needed)."""
    ctl = short_timeout_controller
    kube_api.inject(verb="create", resource="secrets", status=None, delay_response=1.0, times=4)
    kube_api.inject(verb="get", resource="secrets", status=None, delay=1.0, times=2)
    expected = create_all(kube_api, key_pairs[0], 4)
    assert_converged(ctl, expected)
    creates = kube_api.requests(verb="create", resource="secrets", namespace=NS)
    assert sum(r.status == 0 for r in creates) == 4  # all timed out, all made
    assert kube_api.count(verb="delete", resource="secrets") == 0  # so each made once
    assert ctl.counters.decryptions == 4  # and known right by its keyed hash


def test_watch_streams_cut_midway(controller: ControllerFactory, kube_api: KubeAPI,
                                  key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    expected = create_all(kube_api, key_pairs[0], 4, prefix="early")
    for round_ in range(4):
        wait_for(lambda: kube_api.watching("sealedsecrets") and kube_api.watching("secrets"),
                 what="kopf watching again")
        assert kube_api.cut_watches(abort=round_ % 2 == 0) > 0
        expected |= create_all(kube_api, key_pairs[0], 3, prefix=f"cut{round_}")
        early = f"early-{round_:02d}"
        wait_for(lambda e=early: kube_api.get("secrets", e, NS),  # type: ignore[misc]
                 what=early)
        kube_api.delete("secrets", early, NS)  # drift while the watch is down
    assert_converged(ctl, expected)


def test_object_deleted_while_it_is_handled(controller: ControllerFactory, kube_api: KubeAPI,
                                            key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    slow = kube_api.inject(verb="create", resource="secrets", status=None,
                           delay=0.5, times=1)
    kube_api.create(sealed_secret(key_pairs[0], NS, "doomed", items("doomed")))
    wait_for(lambda: slow.hits == 1, what="the controller writing the Secret")
    kube_api.delete("sealedsecrets", "doomed", NS)
    ctl.idle()
    expected = create_all(kube_api, key_pairs[0], 2)  # it keeps serving
    assert_converged(ctl, expected)  # and the Secret made for the gone object was collected
    kube_api.create(sealed_secret(key_pairs[0], NS, "doomed", items("doomed", 2)))
    assert_converged(ctl, {**expected, "doomed": items("doomed", 2)})


def test_key_secret_deleted_while_running(controller: ControllerFactory, kube_api: KubeAPI,
                                          key_pairs: tuple[KeyPair, ...]) -> None:
    pair = key_pairs[0]
    ctl = controller([pair])
    expected = create_all(kube_api, pair, 4)
    assert_converged(ctl, expected)
    kube_api.delete("secrets", "sealed-secrets-key00000", KEY_NS)
    wait_for(lambda: ctl.runtime.key_manager.generated == 1, what="a new key")
    newest = wait_for(lambda: ctl.runtime.ring.newest, what="the new key in the ring")
    assert newest.fingerprint != pair.fingerprint
    # the Secrets made with the lost key stay as they are; new objects use the new key
    expected |= {"new": items("new")}
    kube_api.create(sealed_secret(newest, NS, "new", items("new")))
    assert_converged(ctl, expected, generated=1)
    # an object sealed to the lost key waits, Synced=False, until the key is restored
    kube_api.create(sealed_secret(pair, NS, "late", items("late")))
    ctl.wait_condition(NS, "late", "False")
    kube_api.create(key_secret(pair, "sealed-secrets-key00000"))  # from the backup
    assert_converged(ctl, {**expected, "late": items("late")}, keys=2, generated=1)


def test_operator_stopped_mid_reconcile_and_restarted(
        controller: ControllerFactory, kube_api: KubeAPI,
        key_pairs: tuple[KeyPair, ...]) -> None:
    first = controller([key_pairs[0]])
    kube_api.inject(verb="create", resource="secrets", status=None, delay_response=0.5,
                    times=None)
    expected = create_all(kube_api, key_pairs[0], 10)
    wait_for(lambda: kube_api.count(verb="create", resource="secrets") >= 3,
             what="writes in flight")
    first.stop()
    kube_api.clear_faults()
    second = controller([key_pairs[0]])
    assert_converged(second, expected)
    # writes cut off by the stop were made anyway (status 0), then found made (409)
    statuses = {r.status for r in kube_api.requests(verb="create", resource="secrets")}
    assert statuses <= {0, 201, 409}
    assert kube_api.count(verb="delete", resource="secrets") == 0  # each made exactly once

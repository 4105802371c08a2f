"""High availability and sharding against the stand-in, with the real operator (kopf peering).

- Two replicas share one ``ClusterKopfPeering``: exactly one acts (unseals, writes), both serve
  the HTTP API with the same keys; stop the acting one and the other takes over, leaving no
  SealedSecret unsynced. A replica killed without a goodbye (SIGKILL) is taken over too, once
  its peering entry expires.
- Replicas (or shards) starting together on an empty key namespace make exactly one key.
- Shards: two controllers with disjoint ``--namespace`` sets share one key namespace; each
  unseals only its own namespaces.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller import handlers
from controller.config import Config
from controller.operator import OperatorThread
from sealer import keys
from sealer.keys import KEY_LABEL, KeyPair
from tests.integration.controller_fixtures import (
    KEY_NS,
    Controller,
    ControllerFactory,
    data_of,
    key_secret,
    sealed_secret,
    wait_for,
)
from tests.integration.test_controller_keys import aged
from tests.integration.test_controller_process import get
from tests.integration.test_keys_rotate_on_request import answer, request
from tests.support.kopf_harness import quick_settings
from tests.support.kubeapi import SEALEDSECRET_CRD, KubeAPI
from tests.support.ports import free_port

PEERING = "sealed-secrets-controller"
ACTIVE = f"{KEY_LABEL}=active"
log = logging.getLogger(__name__)


def peering_object(name: str = PEERING) -> dict[str, Any]:
    return {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}


def peers(api: KubeAPI, name: str = PEERING) -> dict[str, dict[str, Any]]:
    """The live entries of the peering object: identity -> priority, lifetime, lastseen."""
    status = (api.get("clusterkopfpeerings", name) or {}).get("status") or {}
    return {k: v for k, v in status.items() if v}


def replica(controller: ControllerFactory, **config: Any) -> tuple[Controller, str]:
    """A controller with peering and its own HTTP API port; returns it and its API's URL."""
    port = free_port()
    handle = controller(peering=PEERING, peering_lifetime=2, key_refresh_interval=0.2,
                        listen_addr=f"127.0.0.1:{port}", **config)
    return handle, f"http://127.0.0.1:{port}"


def all_synced(api: KubeAPI, names: list[str], namespace: str = "default") -> bool:
    for name in names:
        obj = api.get("sealedsecrets", name, namespace) or {}
        generation = obj.get("metadata", {}).get("generation")
        status = obj.get("status") or {}
        synced = [c for c in status.get("conditions") or [] if c.get("type") == "Synced"]
        if not synced or synced[0].get("status") != "True":
            return False
        if status.get("observedGeneration") != generation:
            return False
    return True


@pytest.fixture
def peering(kube_api: KubeAPI) -> None:
    kube_api.create(peering_object())


@pytest.mark.usefixtures("peering")
def test_one_replica_acts_the_other_takes_over(controller: ControllerFactory,
                                               kube_api: KubeAPI) -> None:
    first, first_url = replica(controller)  # no key yet: it makes one
    wait_for(lambda: kube_api.watching("sealedsecrets") == 1, what="the first replica acting")
    second, second_url = replica(controller)
    wait_for(lambda: len(peers(kube_api)) == 2, what="both replicas in the peering object")
    # The replica running longest acts: a new one (a rolling update) never pre-empts it.
    assert first.runtime.peering_priority > second.runtime.peering_priority
    pair = first.runtime.ring.newest
    assert pair is not None and second.runtime.ring.fingerprints == (pair.fingerprint,)

    # Both serve the HTTP API, with the same certificate.
    for url in (first_url, second_url):
        assert get(url + "/readyz")[0] == 200
        assert get(url + "/v1/cert.pem") == (200, pair.certificate.pem)

    names = [f"app-{i}" for i in range(6)]
    for name in names[:4]:
        kube_api.create(sealed_secret(pair, "default", name, {"n": name.encode()}))
    wait_for(lambda: all_synced(kube_api, names[:4]), what="synced by the acting replica")
    first.idle()
    assert first.counters.writes == 4 and second.counters.writes == 0
    assert not second.runtime.bodies  # the paused replica saw no SealedSecret at all
    assert kube_api.watching("sealedsecrets") == 1

    # The acting replica stops (a rolling update, a drained node): the other takes over.
    stopped = threading.Thread(target=first.stop)
    stopped.start()
    kube_api.create(sealed_secret(pair, "default", names[4], {"n": b"during"}))
    kube_api.patch("sealedsecrets", names[0], {"spec": sealed_secret(
        pair, "default", names[0], {"n": b"changed"})["spec"]}, "default")
    stopped.join()
    kube_api.create(sealed_secret(pair, "default", names[5], {"n": b"after"}))
    wait_for(lambda: all_synced(kube_api, names), what="every SealedSecret synced")
    assert data_of(kube_api.get("secrets", names[0], "default") or {}) == {"n": b"changed"}
    assert data_of(kube_api.get("secrets", names[5], "default") or {}) == {"n": b"after"}
    # at least the one made after the first had gone (a write the first had in flight when it
    # stopped may have landed uncounted: the second then finds that Secret up to date)
    assert second.counters.writes >= 1
    assert list(peers(kube_api)) == [next(iter(peers(kube_api)))]  # the first left the object
    assert get(second_url + "/v1/cert.pem") == (200, pair.certificate.pem)


@pytest.mark.usefixtures("peering")
def test_passive_replica_keeps_its_keys_current(controller: ControllerFactory, kube_api: KubeAPI,
                                                key_pairs: tuple[KeyPair, KeyPair]) -> None:
    """A paused replica gets no Secret events, yet serves keys added or removed meanwhile."""
    first, second = aged(key_pairs[0], 10), key_pairs[1]
    controller([first], peering=PEERING, peering_lifetime=2, key_refresh_interval=0.2)
    passive, url = replica(controller)
    wait_for(lambda: len(peers(kube_api)) == 2, what="both replicas in the peering object")
    assert passive.runtime.ring.fingerprints == (first.fingerprint,)

    kube_api.create(key_secret(second, "added-by-hand"))  # newer: the one to seal with
    wait_for(lambda: second.fingerprint in passive.runtime.ring.fingerprints, what="added key")
    assert get(url + "/v1/cert.pem") == (200, second.certificate.pem)
    kube_api.delete("secrets", "added-by-hand", KEY_NS)
    wait_for(lambda: passive.runtime.ring.fingerprints == (first.fingerprint,),
             what="removed key dropped")
    assert passive.counters.writes == 0


def start_together(controller: ControllerFactory,
                   configs: list[dict[str, Any]]) -> list[Controller]:
    handles: list[Controller | None] = [None] * len(configs)

    def run(i: int) -> None:
        handles[i] = controller(**configs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(configs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(handles), "a controller did not start"
    return [h for h in handles if h is not None]


@pytest.mark.usefixtures("peering")
def test_replicas_starting_together_make_one_key(controller: ControllerFactory,
                                                 kube_api: KubeAPI) -> None:
    # Both initial listings of the key namespace are answered late, as they were when made:
    # both find no key, both make one, both try to store it. The API server lets one create win.
    kube_api.inject(verb="list", resource="secrets", namespace=KEY_NS, status=None,
                    delay_response=1.5, times=2)
    configs = [{"peering": PEERING, "peering_lifetime": 2} for _ in range(2)]
    handles = start_together(controller, configs)
    (stored,) = kube_api.list("secrets", KEY_NS, label_selector=ACTIVE)
    made = keys.key_pair_from_secret(stored)
    assert [h.runtime.ring.fingerprints for h in handles] == [(made.fingerprint,)] * 2
    assert sorted(h.runtime.key_manager.generated for h in handles) == [0, 1]
    assert kube_api.count(verb="create", resource="secrets", namespace=KEY_NS, status=409) == 1


def test_shards_unseal_only_their_namespaces(controller: ControllerFactory,
                                             kube_api: KubeAPI) -> None:
    """Two controllers with disjoint --namespace sets (each with its own peering object, as
    deployed) share the key namespace: they make one key between them and each unseals only
    its own namespaces; a namespace in neither set is left alone. They never list or watch
    Namespaces (deploy/'s RBAC does not allow it: kopf would retry for a minute) and need no
    Namespace object for the names given."""
    for name in ("shard-a", "shard-b"):
        kube_api.create(peering_object(name))
    kube_api.inject(verb="list", resource="secrets", namespace=KEY_NS, status=None,
                    delay_response=1.5, times=2)
    shard_a, shard_b = start_together(controller, [
        {"namespaces": ("team-a", "team-a2"), "peering": "shard-a"},
        {"namespaces": ("team-b",), "peering": "shard-b"},
    ])
    (stored,) = kube_api.list("secrets", KEY_NS, label_selector=ACTIVE)
    pair = keys.key_pair_from_secret(stored)
    assert shard_a.runtime.ring.fingerprints == shard_b.runtime.ring.fingerprints

    objects = [("team-a", "one"), ("team-a2", "two"), ("team-b", "three"), ("team-c", "four")]
    for namespace, name in objects:
        kube_api.create(sealed_secret(pair, namespace, name, {"v": name.encode()}))
    for namespace, name in objects[:3]:
        wait_for(lambda ns=namespace, n=name: all_synced(kube_api, [n], ns), what=name)
    shard_a.idle()
    shard_b.idle()
    assert set(shard_a.runtime.bodies) == {("team-a", "one"), ("team-a2", "two")}
    assert set(shard_b.runtime.bodies) == {("team-b", "three")}
    assert shard_a.counters.writes == 2 and shard_b.counters.writes == 1
    assert kube_api.get("secrets", "four", "team-c") is None
    assert not (kube_api.get("sealedsecrets", "four", "team-c") or {}).get("status")
    assert kube_api.count(resource="namespaces") == 0
    assert kube_api.count(resource="customresourcedefinitions") == 0

    # Both shards watch the key namespace, so both may act on a rotation request (the second
    # only if it sees the request before the first's answer): one new key still.
    request(kube_api, "shards-1")
    answered = answer(kube_api, "shards-1")

    def sealing() -> set[str]:
        return {p.fingerprint for h in (shard_a, shard_b) if (p := h.runtime.ring.newest)}

    wait_for(lambda: sealing() == {answered["fingerprint"]}, what="both shards on the new key")
    shard_a.idle()
    shard_b.idle()
    assert len(kube_api.list("secrets", KEY_NS, label_selector=ACTIVE)) == 2
    assert shard_a.runtime.key_manager.generated + shard_b.runtime.key_manager.generated == 2


@pytest.fixture
def leader_process(kube_api: KubeAPI, kubeconfig: Path,
                   tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``sealer-controller --peering`` as a process (so it can die without a goodbye)."""
    port = free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SEALER_KEY_SIZE": "2048",
           "POD_NAMESPACE": KEY_NS, "SEALER_PEERING": PEERING, "SEALER_PEERING_LIFETIME": "2s"}
    with (tmp_path / "leader.log").open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "--listen-addr", f"127.0.0.1:{port}",
             "--listen-metrics-addr", "", "--key-renew-period", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


@pytest.mark.usefixtures("peering")
def test_a_killed_replica_is_taken_over(controller: ControllerFactory, kube_api: KubeAPI,
                                        leader_process: tuple[subprocess.Popen[bytes], str]
                                        ) -> None:
    proc, url = leader_process
    wait_for(lambda: get(url + "/readyz")[0] == 200, timeout=30, what="the leader ready")
    wait_for(lambda: kube_api.watching("sealedsecrets") == 1, what="the leader acting")
    follower, _ = replica(controller)
    wait_for(lambda: len(peers(kube_api)) == 2, what="both replicas in the peering object")
    pair = follower.runtime.ring.newest
    assert pair is not None
    kube_api.create(sealed_secret(pair, "default", "before", {"k": b"1"}))
    wait_for(lambda: all_synced(kube_api, ["before"]), what="synced by the leader")
    assert follower.counters.writes == 0

    proc.send_signal(signal.SIGKILL)  # no goodbye: its peering entry stays until it expires
    proc.wait(30)
    killed = time.monotonic()
    assert len(peers(kube_api)) == 2
    kube_api.create(sealed_secret(pair, "default", "after", {"k": b"2"}))
    wait_for(lambda: all_synced(kube_api, ["after"]), what="synced by the follower")
    log.info("takeover after SIGKILL: %.1f s (peering lifetime 2 s)", time.monotonic() - killed)
    assert follower.counters.writes == 1
    assert len(peers(kube_api)) == 1  # the dead entry was cleaned up


def test_a_shard_waits_for_its_crd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With --namespace kopf discovers resources once, at start (no CRD watch): a shard started
    before the SealedSecret CRD is served waits for it instead of never watching it."""
    monkeypatch.setattr(handlers, "STARTUP_RETRY_DELAY", 0.1)
    with KubeAPI.start() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        config = Config(kubeconfig=str(kubeconfig), key_namespace=KEY_NS, namespaces=("team-a",),
                        listen_addr="", listen_metrics_addr="", key_size=2048,
                        key_renew_period=dt.timedelta(0))
        thread = OperatorThread(config, settings=quick_settings())
        starting = threading.Thread(target=thread.start)
        starting.start()
        try:
            asked = lambda: sum(r.path == "/apis/bitnami.com/v1alpha1"  # noqa: E731
                                for r in api.requests(verb="discovery"))
            wait_for(lambda: asked() >= 2, what="startup retried while the CRD is missing")
            assert starting.is_alive() and not thread.runtime.ready
            api.create(yaml.safe_load(SEALEDSECRET_CRD.read_text()))
            starting.join(30)
            assert thread.runtime.ready
            wait_for(lambda: api.watching("sealedsecrets") >= 1, what="watching SealedSecrets")
            pair = thread.runtime.ring.newest
            assert pair is not None
            api.create(sealed_secret(pair, "team-a", "late", {"k": b"v"}))
            secret = wait_for(lambda: api.get("secrets", "late", "team-a"), what="Secret")
            assert data_of(secret) == {"k": b"v"}
        finally:
            starting.join(30)
            thread.stop()


def test_without_the_peering_object_nothing_acts_until_it_exists(
        controller: ControllerFactory, kube_api: KubeAPI,
        caplog: pytest.LogCaptureFixture) -> None:
    """Peering is mandatory: a missing object must not let every replica act alone."""
    handle, url = replica(controller)
    wait_for(lambda: kube_api.count(verb="patch", resource="clusterkopfpeerings", status=404),
             what="a keep-alive refused: no object")
    assert "ClusterKopfPeering sealed-secrets-controller does not exist" in caplog.text
    assert get(url + "/v1/cert.pem")[0] == 200  # the HTTP API is served meanwhile
    assert kube_api.watching("sealedsecrets") == 0
    pair = handle.runtime.ring.newest
    assert pair is not None
    kube_api.create(sealed_secret(pair, "default", "waiting", {"k": b"v"}))
    kube_api.create(peering_object())
    wait_for(lambda: all_synced(kube_api, ["waiting"]), what="acting once the object exists")

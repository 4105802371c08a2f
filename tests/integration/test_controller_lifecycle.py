"""Drift healing, restarts without re-decryption, endless retries, GitOps-clean bookkeeping,
namespace and label filtering, and no plaintext anywhere but in the Secret."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from controller.selector import LabelSelector
from sealer.keys import KeyPair
from tests.integration.controller_fixtures import (
    ControllerFactory,
    data_of,
    sealed_secret,
    wait_for,
)
from tests.support.kubeapi import KubeAPI


def test_deleted_secret_comes_back(controller: ControllerFactory,
                                   key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    ctl.api.create(sealed_secret(key_pairs[0], "default", "db", {"password": b"pw"}))
    first = ctl.wait_secret("default", "db")
    ctl.api.delete("secrets", "db", "default")
    again = ctl.wait_secret("default", "db",
                            lambda s: s["metadata"]["uid"] != first["metadata"]["uid"])
    assert data_of(again) == {"password": b"pw"}


def test_hand_edits_are_undone_but_foreign_labels_are_left(
        controller: ControllerFactory, key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    ctl.api.create(sealed_secret(key_pairs[0], "default", "db", {"password": b"pw"}))
    ctl.wait_secret("default", "db")
    ctl.api.patch("secrets", "db", {"data": {"password": base64.b64encode(b"oops").decode(),
                                             "extra": "eA=="}}, "default")
    healed = ctl.wait_secret("default", "db", lambda s: data_of(s) == {"password": b"pw"})
    ctl.idle()
    decryptions = ctl.counters.decryptions
    # a label another tool adds is not ours to police: no rewrite, no decryption
    labelled = ctl.api.patch("secrets", "db",
                             {"metadata": {"labels": {"reloader": "seen"}}}, "default")
    ctl.idle()
    now = ctl.secret("default", "db")
    assert now["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]
    assert ctl.counters.decryptions == decryptions
    assert healed["metadata"]["uid"] == now["metadata"]["uid"]


def test_restart_does_not_decrypt_again(controller: ControllerFactory, kube_api: KubeAPI,
                                        key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    for name in ("a", "b", "c", "d"):
        kube_api.create(sealed_secret(key_pairs[0], "default", name, {"k": name.encode()}))
    for name in ("a", "b", "c", "d"):
        ctl.wait_condition("default", name, "True")
    ctl.idle()
    assert ctl.counters.decryptions == 4
    ctl.stop()

    # while it is down: one spec changes, one Secret is deleted
    changed = sealed_secret(key_pairs[0], "default", "c", {"k": b"c2"})
    kube_api.patch("sealedsecrets", "c", {"spec": changed["spec"]}, "default")
    kube_api.delete("secrets", "d", "default")
    kube_api.reset_log()

    again = controller([key_pairs[0]])
    again.wait_secret("default", "c", lambda s: data_of(s) == {"k": b"c2"})
    again.wait_secret("default", "d")
    wait_for(lambda: again.counters.reconciles >= 4, what="every object looked at")
    again.idle()
    assert again.counters.decryptions == 2  # c (new spec) and d (Secret gone); not a, b
    assert again.counters.in_sync >= 2  # a, b (+ re-checks of our own writes' echoes)
    writes = [r for r in kube_api.requests(resource="secrets")
              if r.verb in ("create", "update", "patch")]
    assert sorted((r.verb, r.name or "") for r in writes) == [("create", ""), ("update", "c")]
    status_writes = kube_api.requests(verb="patch", resource="sealedsecrets")
    assert {r.name for r in status_writes} == {"c"}  # observedGeneration 2


def test_retries_outlast_upstreams_five(controller: ControllerFactory, kube_api: KubeAPI,
                                        key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]], retry_max_delay=0.2)
    kube_api.inject(verb="create", resource="secrets", namespace="default", status=500, times=8,
                    message="etcd is sad")
    kube_api.create(sealed_secret(key_pairs[0], "default", "flaky", {"k": b"v"}))
    cond = ctl.wait_condition("default", "flaky", "False")
    assert cond["reason"] == "ErrUpdateFailed" and "etcd is sad" in cond["message"]
    assert data_of(ctl.wait_secret("default", "flaky")) == {"k": b"v"}
    ctl.wait_condition("default", "flaky", "True")
    assert ctl.counters.failures >= 8
    wait_for(lambda: ctl.runtime.queue.failures(("default", "flaky")) == 0,
             what="backoff reset after the success")


def test_undecryptable_is_retried_forever(controller: ControllerFactory,
                                          key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]], retry_max_delay=0.2)
    ctl.api.create(sealed_secret(key_pairs[1], "default", "never", {"k": b"v"}))
    wait_for(lambda: ctl.runtime.queue.failures(("default", "never")) > 6,
             what="more than upstream's 5 retries")
    # one warning Event, not one per retry
    assert len(ctl.events("default", "never", "ErrUnsealFailed")) == 1


def test_kopf_leaves_no_trace_on_sealed_secrets(controller: ControllerFactory,
                                                kube_api: KubeAPI,
                                                key_pairs: tuple[KeyPair, ...]) -> None:
    """What a GitOps tool compares (metadata, spec) is exactly what was applied."""
    ctl = controller([key_pairs[0]])
    applied = kube_api.create(sealed_secret(key_pairs[0], "default", "git", {"k": b"v"}))
    ctl.wait_condition("default", "git", "True")
    ctl.api.delete("secrets", "git", "default")
    ctl.wait_secret("default", "git")
    ctl.idle()
    now = kube_api.get("sealedsecrets", "git", "default")
    assert now["spec"] == applied["spec"]
    for field in ("annotations", "labels", "finalizers"):
        assert now["metadata"].get(field) == applied["metadata"].get(field)
    assert set(now["status"]) <= {"conditions", "observedGeneration", "keyFingerprints"}
    writes = [r for r in kube_api.requests(resource="sealedsecrets")
              if r.verb in ("create", "update", "patch")]
    assert all(r.subresource == "status" for r in writes if r.verb != "create")


def test_namespaces_and_label_selector(controller: ControllerFactory, kube_api: KubeAPI,
                                       key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]], namespaces=("kube-public",),
                     label_selector=LabelSelector.parse("shard in (a, b)"))
    pair = key_pairs[0]
    picked = sealed_secret(pair, "kube-public", "picked", {"k": b"v"})
    picked["metadata"]["labels"] = {"shard": "a"}
    other_shard = sealed_secret(pair, "kube-public", "other", {"k": b"v"})
    other_shard["metadata"]["labels"] = {"shard": "c"}
    other_ns = sealed_secret(pair, "default", "elsewhere", {"k": b"v"})
    other_ns["metadata"]["labels"] = {"shard": "a"}
    for obj in (other_shard, other_ns, picked):
        kube_api.create(obj)
    ctl.wait_secret("kube-public", "picked")
    ctl.idle()
    assert ctl.secret("kube-public", "other") is None
    assert ctl.secret("default", "elsewhere") is None
    assert ctl.condition("default", "elsewhere") is None


def test_immutable_secret_is_reported_then_recreated(controller: ControllerFactory,
                                                     key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]])
    pair = key_pairs[0]
    ctl.api.create(sealed_secret(pair, "default", "frozen", {"k": b"v1"},
                                 template={"immutable": True}))
    ctl.wait_secret("default", "frozen")
    update = sealed_secret(pair, "default", "frozen", {"k": b"v2"}, template={"immutable": True})
    ctl.api.patch("sealedsecrets", "frozen", {"spec": update["spec"]}, "default")
    cond = ctl.wait_condition("default", "frozen", "False")
    assert "the target Secret is immutable" in cond["message"]
    ctl.api.delete("secrets", "frozen", "default")  # what the message tells the user to do
    assert data_of(ctl.wait_secret("default", "frozen")) == {"k": b"v2"}


def test_no_plaintext_outside_the_secret(controller: ControllerFactory, kube_api: KubeAPI,
                                         key_pairs: tuple[KeyPair, ...],
                                         caplog: pytest.LogCaptureFixture) -> None:
    canary = b"CANARY-7f3a9c-do-not-leak"
    caplog.set_level(logging.DEBUG)
    ctl = controller([key_pairs[0]])
    ctl.api.create(sealed_secret(key_pairs[0], "default", "c1", {"k": canary}))
    # a template that cannot render mentions only names; a failed write only the API's message
    bad = sealed_secret(key_pairs[0], "default", "c2", {"k": canary},
                        template={"data": {"x": "{{ .missing }}"}})
    kube_api.inject(verb="create", resource="secrets", namespace="default", name=None,
                    status=422, times=1, message="Secret is invalid")
    ctl.api.create(bad)
    ctl.wait_secret("default", "c1")
    ctl.wait_condition("default", "c2", "False")
    ctl.idle()
    everything = json.dumps([kube_api.list("sealedsecrets"), kube_api.list("events")])
    encoded = base64.b64encode(canary).decode()
    for text in (everything, caplog.text):
        assert canary.decode() not in text and encoded not in text
    assert repr(ctl.runtime.ring) and canary.decode() not in repr(ctl.counters)

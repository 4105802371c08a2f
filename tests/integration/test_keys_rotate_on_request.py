"""The controller's side of key rotation and retirement, against the stand-in: a request on the
rotation ConfigMap makes exactly one key, answered on the ConfigMap; a retired key still
decrypts but is never the sealing key; /v1/keys tells the public facts of each."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from controller.keyring import successor_name
from sealer import keys
from sealer.keyrotation import CONFIG_MAP, DONE_ANNOTATION, REQUEST_ANNOTATION
from sealer.keys import KEY_STATE_ANNOTATION, KeyPair, load_certificate
from tests.integration.controller_fixtures import KEY_NS, sealed_secret, wait_for
from tests.support.ports import free_port


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test server
        return bytes(resp.read())


def request(kube_api: Any, request_id: str) -> None:
    annotations = {REQUEST_ANNOTATION: request_id}
    if kube_api.get("configmaps", CONFIG_MAP, KEY_NS) is None:
        kube_api.create({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": CONFIG_MAP, "namespace": KEY_NS,
                                      "annotations": annotations}})
    else:
        kube_api.patch("configmaps", CONFIG_MAP, {"metadata": {"annotations": annotations}},
                       KEY_NS)


def answer(kube_api: Any, request_id: str) -> dict[str, str]:
    def done() -> dict[str, str] | None:
        cm = kube_api.get("configmaps", CONFIG_MAP, KEY_NS) or {}
        if (cm.get("metadata", {}).get("annotations") or {}).get(DONE_ANNOTATION) == request_id:
            return dict(cm.get("data") or {})
        return None

    return wait_for(done, what=f"answer to rotation {request_id}")


def test_rotation_request_retirement_and_the_keys_endpoint(
    kube_api: Any, controller: Callable[..., Any], key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    port = free_port()
    handle = controller(keys=[key_pairs[0]], listen_addr=f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: handle.runtime.ready or None, what="ready")
    old = key_pairs[0]
    kube_api.create(sealed_secret(old, "team-a", "db", {"pw": b"v1"}))
    handle.wait_condition("team-a", "db", "True")

    (listed,) = json.loads(get(base + "/v1/keys"))["keys"]
    assert listed["fingerprint"] == old.fingerprint and listed["state"] == "sealing"
    assert listed["bits"] == 4096 and set(listed) == {
        "fingerprint", "secret", "state", "created", "notBefore", "notAfter", "bits"}

    request(kube_api, "r1")
    data = answer(kube_api, "r1")
    new_fp = data["fingerprint"]
    assert new_fp != old.fingerprint and data["request"] == "r1" and "error" not in data
    assert kube_api.get("secrets", data["secret"], KEY_NS) is not None
    assert load_certificate(get(base + "/v1/cert.pem")).fingerprint == new_fp
    states = {k["fingerprint"]: k["state"] for k in json.loads(get(base + "/v1/keys"))["keys"]}
    assert states == {new_fp: "sealing", old.fingerprint: "active"}
    assert handle.runtime.rotation.rotations == 1

    # an answered request is never handled again, even by a fresh controller
    handle.stop()
    again = controller(keys=[], listen_addr="")
    wait_for(lambda: again.runtime.ready or None, what="restarted")
    assert len(again.runtime.ring) == 2 and again.runtime.rotation.rotations == 0

    # a key already made for a request (by another replica, or before a crash) answers it
    made = successor_name("sealed-secrets-key", "request:r2")
    kube_api.create(keys.key_secret(key_pairs[1], KEY_NS, "sealed-secrets-key", name=made))
    request(kube_api, "r2")
    assert answer(kube_api, "r2")["fingerprint"] == key_pairs[1].fingerprint
    assert again.runtime.key_manager.generated == 0 and len(again.runtime.ring) == 3

    # retired: still decrypts (a change sealed to the old key unseals), never sealed to
    kube_api.patch("secrets", "sealed-secrets-key00000",
                   {"metadata": {"annotations": {KEY_STATE_ANNOTATION: "retired"}}}, KEY_NS)
    wait_for(lambda: again.runtime.ring.retired or None, what="retired key seen")
    assert again.runtime.ring.retired == {old.fingerprint}
    assert again.runtime.ring.newest.fingerprint == new_fp and len(again.runtime.ring) == 3
    kube_api.patch("sealedsecrets", "db", {"spec": sealed_secret(
        old, "team-a", "db", {"pw": b"v2"})["spec"]}, "team-a")
    again.wait_secret("team-a", "db", lambda s: s["data"]["pw"] == "djI=")

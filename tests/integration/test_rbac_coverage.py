"""The calls the real controller makes, recorded by the stand-in, are exactly what deploy/'s
RBAC grants: nothing the controller does would be refused, nothing granted goes unused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sealer.keys import KeyPair
from tests.deploy_support import REQUIRED, granted, rendered
from tests.integration.controller_fixtures import KEY_NS, sealed_secret, wait_for
from tests.support import KubeAPI


def observed(api: KubeAPI) -> set[tuple[str, str, str]]:
    calls = set()
    for record in api.requests():
        if record.resource is None or record.verb in ("discovery", "other"):
            continue
        resource = record.resource + (f"/{record.subresource}" if record.subresource else "")
        calls.add((record.group or "", resource, record.verb))
    return calls


def test_controller_calls_only_what_rbac_grants(
    kube_api: KubeAPI, controller: Callable[..., Any], key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    kube_api.reset_log()
    handle = controller()  # no key yet: it makes one (create Secret in the key namespace)
    pair = wait_for(lambda: handle.runtime.ring.newest, what="generated key")
    kube_api.create(sealed_secret(pair, "default", "app", {"a": b"1"}))
    handle.wait_condition("default", "app", "True")
    kube_api.patch("sealedsecrets", "app", {"spec": sealed_secret(pair, "default", "app",
                   {"a": b"2"})["spec"]}, "default")
    handle.wait_secret("default", "app", lambda s: s["data"]["a"] == "Mg==")
    kube_api.delete("secrets", "app", "default")  # drift: the controller restores it
    handle.wait_secret("default", "app")
    bad = sealed_secret(key_pairs[0], "default", "foreign", {"a": b"1"})  # a key it lacks
    kube_api.create(bad)
    handle.wait_condition("default", "foreign", "False")
    kube_api.delete("sealedsecrets", "app", "default")
    handle.idle()
    calls = observed(kube_api)
    assert calls <= REQUIRED, f"not granted in deploy/: {sorted(calls - REQUIRED)}"
    assert granted(rendered()) >= calls
    core = {("", "secrets", "create"), ("", "secrets", "get"), ("", "events", "create"),
            ("bitnami.com", "sealedsecrets/status", "patch"), ("bitnami.com", "sealedsecrets",
                                                                "watch")}
    assert core <= calls
    assert any(r.namespace == KEY_NS and r.verb == "create" for r in kube_api.requests())

"""The calls the real controller makes, recorded by the stand-in, against deploy/'s RBAC.

The controller runs as deploy/ runs it (two replicas with ``--peering``, cluster-wide) through
everything it does: a first key made, SealedSecrets created, changed, deleted, one it cannot
decrypt (a Warning Event), a Secret deleted behind its back (restored), a key rotation request
(answered on its ConfigMap), the acting replica stopping (the other takes over). Then a shard
(``--namespace``, its own peering object), as docs/install.md describes. Every call is
(apiGroup, resource[/subresource], verb, namespace); the test checks that:

- the rendered ClusterRole and Roles grant every call, in the namespace it was made in (a Role's
  grant only counts in its own namespace, and only for its ``resourceNames``);
- together the scenarios call every permission of ``tests/deploy_support.py``'s list, and
  nothing else: nothing the controller does would be refused, nothing granted goes unused.

Discovery (``/api``, ``/apis/...``) needs no grant (every authenticated user may read it) and
is left out, as are calls that are not the controller's (the test's own setup goes through the
stand-in's store, not its HTTP API).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sealer.keyrotation import CONFIG_MAP
from sealer.keys import KeyPair
from tests.deploy_support import REQUIRED, Grant, Permission, grants, rendered
from tests.integration.controller_fixtures import ControllerFactory, sealed_secret, wait_for
from tests.integration.test_controller_ha import PEERING, all_synced, peering_object, peers
from tests.integration.test_keys_rotate_on_request import answer, request
from tests.support import KubeAPI
from tests.support.kubeapi_hooks import RequestRecord

INSTALL_NS = "kube-system"  # deploy/kustomization.yaml's namespace, the controller's own

Call = tuple[str, str, str, str | None, str | None]  # group, resource, verb, namespace, name


def calls(records: Iterable[RequestRecord]) -> set[Call]:
    found = set()
    for r in records:
        if r.resource is None or r.verb in ("discovery", "other"):
            continue
        resource = r.resource + (f"/{r.subresource}" if r.subresource else "")
        found.add((r.group or "", resource, r.verb, r.namespace, r.name))
    return found


def allowed(call: Call, rules: list[Grant]) -> bool:
    group, resource, verb, namespace, name = call
    for grant in rules:
        if grant.namespace is not None and grant.namespace != namespace:
            continue
        if (group, resource, verb) not in grant.permissions():
            continue
        names = grant.rule.get("resourceNames")
        if names and (verb in ("list", "watch", "create") or name not in names):
            continue  # resourceNames never cover collections, nor a create without a name
        return True
    return False


def permissions(found: Iterable[Call]) -> set[Permission]:
    return {(group, resource, verb) for group, resource, verb, _, _ in found}


def deployed_scenario(kube_api: KubeAPI, controller: ControllerFactory,
                      foreign: KeyPair) -> set[Call]:
    kube_api.create(peering_object())
    config = {"peering": PEERING, "peering_lifetime": 2, "key_refresh_interval": 0.2}
    first = controller(**config)  # no key yet: it makes one in its namespace
    wait_for(lambda: kube_api.watching("sealedsecrets") == 1, what="the first replica acting")
    second = controller(**config)
    wait_for(lambda: len(peers(kube_api)) == 2, what="both replicas in the peering object")
    pair = wait_for(lambda: first.runtime.ring.newest, what="the first key")

    kube_api.create(sealed_secret(pair, "default", "app", {"a": b"1"}))
    first.wait_condition("default", "app", "True")
    kube_api.patch("sealedsecrets", "app", {"spec": sealed_secret(
        pair, "default", "app", {"a": b"2"})["spec"]}, "default")
    first.wait_secret("default", "app", lambda s: s["data"]["a"] == "Mg==")
    kube_api.delete("secrets", "app", "default")  # drift: the controller restores it
    first.wait_secret("default", "app")
    kube_api.create(sealed_secret(foreign, "default", "foreign", {"a": b"1"}))  # not our key
    first.wait_condition("default", "foreign", "False")
    request(kube_api, "rbac-1")
    answer(kube_api, "rbac-1")
    kube_api.delete("sealedsecrets", "app", "default")
    first.idle()

    stopping = threading.Thread(target=first.stop)  # the acting replica goes
    stopping.start()
    kube_api.create(sealed_secret(pair, "default", "later", {"a": b"3"}))
    stopping.join()
    wait_for(lambda: all_synced(kube_api, ["later"]), what="taken over")
    second.idle()
    return calls(kube_api.requests())


def shard_scenario(kube_api: KubeAPI, controller: ControllerFactory) -> set[Call]:
    kube_api.create(peering_object("shard-a"))
    shard = controller(namespaces=("team-a",), peering="shard-a", peering_lifetime=2)
    pair = wait_for(lambda: shard.runtime.ring.newest, what="the key")
    kube_api.create(sealed_secret(pair, "team-a", "app", {"a": b"1"}))
    shard.wait_condition("team-a", "app", "True")
    shard.idle()
    return calls(kube_api.requests())


def check(found: set[Call], rules: list[Grant]) -> None:
    refused = sorted((c for c in found if not allowed(c, rules)), key=str)
    assert not refused, f"deploy/ does not allow: {refused}"
    unlisted = permissions(found) - REQUIRED
    assert not unlisted, f"not in tests/deploy_support.py's list: {sorted(unlisted)}"


def test_deployed_controller_calls_exactly_what_rbac_grants(
    kube_api: KubeAPI, controller: ControllerFactory, key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    rules = grants(rendered())
    kube_api.reset_log()
    found = deployed_scenario(kube_api, controller, key_pairs[0])
    check(found, rules)
    assert permissions(found) == REQUIRED, (
        f"granted but never called: {sorted(REQUIRED - permissions(found))}")
    # where the namespaced grants are used: the rotation answer, in the controller's namespace
    answered = {c for c in found if c[1] == "configmaps" and c[2] == "patch"}
    assert answered == {("", "configmaps", "patch", INSTALL_NS, CONFIG_MAP)}
    key_writes = {c for c in found if c[:3] == ("", "secrets", "create") and c[3] == INSTALL_NS}
    assert key_writes, "the first key is made in the controller's namespace"


def test_shard_calls_only_what_rbac_grants(kube_api: KubeAPI,
                                           controller: ControllerFactory) -> None:
    """With --namespace kopf watches per namespace and lists no Namespaces and no CRDs: the
    same grants serve a shard."""
    rules = grants(rendered())
    kube_api.reset_log()
    found = shard_scenario(kube_api, controller)
    check(found, rules)
    assert not {c for c in found if c[1] in ("namespaces", "customresourcedefinitions")}
    assert {c[3] for c in found if c[1] == "sealedsecrets"} == {"team-a", INSTALL_NS}

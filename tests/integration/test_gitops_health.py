"""What the controller writes, judged by Argo CD's built-in SealedSecret health check and by the
kstatus rules Flux's health checks use (tests/support/gitops_health.py), through a SealedSecret's
life: before the first sync, synced, failing, a new generation not yet handled, recovered."""

from __future__ import annotations

from sealer.keys import KeyPair
from tests.integration.controller_fixtures import ControllerFactory, sealed_secret
from tests.support.gitops_health import argocd_health, as_served, kstatus
from tests.support.kubeapi import KubeAPI

NS = "default"


def test_health_through_a_life(controller: ControllerFactory, kube_api: KubeAPI,
                               key_pairs: tuple[KeyPair, KeyPair]) -> None:  # fmt: skip
    def live(name: str) -> dict:  # type: ignore[type-arg]
        obj = kube_api.get("sealedsecrets", name, NS)
        assert obj is not None
        return as_served(obj)

    good = sealed_secret(key_pairs[0], NS, "db", {"password": b"health-value-1"})
    kube_api.create(good)
    bad = sealed_secret(key_pairs[1], NS, "other-key", {"password": b"health-value-2"})
    kube_api.create(bad)
    # applied, the controller not running yet: the CRD's status default is all there is
    assert argocd_health(live("db")) == ("Progressing", "Waiting for Sealed Secret to be decrypted")
    assert kstatus(live("db"))[0] == "InProgress"

    ctl = controller(keys=[key_pairs[0]])
    ctl.wait_condition(NS, "db", "True")
    cond = ctl.wait_condition(NS, "other-key", "False")
    assert argocd_health(live("db"))[0] == "Healthy"
    assert kstatus(live("db")) == ("Current", "Resource is current")
    assert argocd_health(live("other-key")) == ("Degraded", cond["message"])
    assert kstatus(live("other-key")) == ("Failed", cond["message"])
    assert "health-value" not in cond["message"]

    # a new generation the controller has not handled yet
    ctl.stop()
    spec = sealed_secret(key_pairs[0], NS, "db", {"password": b"health-value-3"})["spec"]
    kube_api.patch("sealedsecrets", "db", {"spec": spec}, NS)
    assert live("db")["metadata"]["generation"] == 2
    assert kstatus(live("db"))[0] == "InProgress"
    assert argocd_health(live("db"))[0] == "Healthy"  # Argo's rule reads Synced only

    # the key arrives, the controller is back: both healthy
    ctl = controller(keys=[key_pairs[0], key_pairs[1]])
    ctl.wait_condition(NS, "other-key", "True")
    ctl.wait_secret(NS, "db", lambda s: s["data"]["password"] == "aGVhbHRoLXZhbHVlLTM=")
    for name in ("db", "other-key"):
        obj = ctl.api.get("sealedsecrets", name, NS)
        assert obj is not None and obj["status"]["observedGeneration"] == \
            obj["metadata"]["generation"]  # fmt: skip
        assert argocd_health(live(name))[0] == "Healthy"
        assert kstatus(live(name))[0] == "Current"
        assert [c["type"] for c in obj["status"]["conditions"]] == ["Synced"]

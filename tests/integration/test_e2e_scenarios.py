"""End-to-end scenarios that run unchanged on the stand-in or on a real cluster
(``SEALER_E2E_KUBECONFIG``; see tests/integration/e2e_backend.py): seal with the CLI (the
certificate from the controller through the API server's service proxy), apply, unseal; every
scope; drift healing; the status under Argo CD's and kstatus' health rules; ``sealer diff``."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from sealer import documents
from sealer.cli.main import cli
from tests.integration.e2e_backend import Backend
from tests.support.gitops_health import argocd_health, kstatus


def seal(e2e: Backend, secret: dict[str, Any], *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["seal", "--kubeconfig", str(e2e.kubeconfig), *args],
                                input=yaml.safe_dump(secret), catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (obj,) = documents.load(result.stdout)
    return obj


def secret(ns: str, name: str, value: str, **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "stringData": {"password": value}}  # fmt: skip


def value_of(obj: dict[str, Any]) -> bytes:
    return base64.b64decode(obj["data"]["password"])


def test_seal_apply_unseal_and_health(e2e: Backend) -> None:
    ns = e2e.new_namespace()
    e2e.apply(seal(e2e, secret(ns, "db", "e2e-value-one")))
    assert value_of(e2e.secret(ns, "db")) == b"e2e-value-one"
    obj = e2e.synced(ns, "db")
    assert argocd_health(obj)[0] == "Healthy"
    assert kstatus(obj)[0] == "Current"
    # a new value: a new generation, unsealed again
    e2e.apply(seal(e2e, secret(ns, "db", "e2e-value-two")))
    e2e.secret(ns, "db", lambda s: value_of(s) == b"e2e-value-two")
    obj = e2e.wait(lambda: (o := e2e.synced(ns, "db"))["status"]["observedGeneration"] == 2
                   and o, "observedGeneration 2")  # fmt: skip
    assert kstatus(obj)[0] == "Current" and argocd_health(obj)[0] == "Healthy"


def test_scopes(e2e: Backend) -> None:
    ns, other = e2e.new_namespace(), e2e.new_namespace()
    strict = seal(e2e, secret(ns, "strict", "e2e-strict-value"))
    strict["metadata"]["name"] = "renamed"  # the ciphertext is bound to ns/strict
    e2e.apply(strict)
    failed = e2e.synced(ns, "renamed", "False")
    health, message = argocd_health(failed)
    assert health == "Degraded" and message and "renamed" in message
    assert kstatus(failed) == ("Failed", message)
    assert e2e.get("secrets", "renamed", ns) is None

    wide = seal(e2e, secret(ns, "wide", "e2e-wide-value"), "--scope", "namespace-wide")
    wide["metadata"]["name"] = "any-name"
    e2e.apply(wide)
    assert value_of(e2e.secret(ns, "any-name")) == b"e2e-wide-value"

    everywhere = seal(e2e, secret(ns, "cw", "e2e-cluster-value"), "--scope", "cluster-wide")
    everywhere["metadata"]["namespace"] = other
    e2e.apply(everywhere)
    assert value_of(e2e.secret(other, "cw")) == b"e2e-cluster-value"


def test_drift_healing(e2e: Backend) -> None:
    ns = e2e.new_namespace()
    e2e.apply(seal(e2e, secret(ns, "db", "e2e-heal-value")))
    first = e2e.secret(ns, "db")
    e2e.delete("secrets", "db", ns)
    again = e2e.secret(ns, "db", lambda s: s["metadata"]["uid"] != first["metadata"]["uid"])
    assert value_of(again) == b"e2e-heal-value"
    e2e.patch("secrets", "db", ns,
              {"data": {"password": base64.b64encode(b"tampered").decode()}})  # fmt: skip
    healed = e2e.secret(ns, "db", lambda s: value_of(s) == b"e2e-heal-value")
    assert healed["metadata"]["ownerReferences"][0]["kind"] == "SealedSecret"


def test_diff_against_the_cluster(e2e: Backend, tmp_path: Path) -> None:
    ns = e2e.new_namespace()
    applied = seal(e2e, secret(ns, "db", "e2e-diff-value"))
    e2e.apply(applied)
    e2e.synced(ns, "db")
    (tmp_path / "db.yaml").write_text(documents.dump([applied], "yaml"))
    (tmp_path / "api.yaml").write_text(documents.dump(
        [seal(e2e, secret(ns, "api", "e2e-diff-api"))], "yaml"))
    result = CliRunner().invoke(cli, ["diff", str(tmp_path), "-o", "yaml", "--kubeconfig",
                                      str(e2e.kubeconfig)])  # fmt: skip
    assert result.exit_code == 1, result.stderr
    states = {d["name"]: d["state"] for d in yaml.safe_load(result.stdout)}
    assert states == {"db": "in-sync", "api": "only-in-git"}
    assert "e2e-diff" not in result.stdout + result.stderr

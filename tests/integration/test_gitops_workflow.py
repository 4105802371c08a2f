"""The GitOps workflow end to end against the stand-in API server and the real controller:
``sealer diff`` naming every kind of divergence between a tree and a cluster, and
``sealer seal --cluster`` sealing one Secret for two clusters with different keys (each file
unseals only in its own cluster), then ``diff --all-clusters`` seeing both in sync."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from controller.config import Config
from controller.operator import OperatorThread
from sealer import documents
from sealer.cli.main import cli
from sealer.keys import KeyPair
from sealer.manifests import seal_secret
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from tests.integration.controller_fixtures import KEY_NS, Controller, key_secret, wait_for
from tests.integration.e2e_backend import serve_controller
from tests.support import KubeAPI
from tests.support.kopf_harness import quick_settings
from tests.support.kubeapi import SEALEDSECRET_CRD
from tests.support.ports import free_port

NS = "team-a"


def secret(name: str, ns: str = NS, labels: dict[str, str] | None = None,
           **items: str) -> dict[str, Any]:  # fmt: skip
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
            "stringData": items or {"password": f"{name}-value-1234"}}  # fmt: skip


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_diff_names_every_divergence(
    controller: Callable[..., Controller], kube_api: KubeAPI, kubeconfig: Path,
    key_pairs: tuple[KeyPair, KeyPair], tmp_path: Path
) -> None:
    old, new = key_pairs
    ctl = controller(keys=[old, new])
    tree = tmp_path / "tree"
    tree.mkdir()
    newest = tmp_path / "newest.pem"
    newest.write_bytes(new.certificate.pem)

    def sealed(s: dict[str, Any], pair: KeyPair = new) -> dict[str, Any]:
        return seal_secret(s, pair.certificate)

    def in_tree(name: str, *objs: dict[str, Any]) -> None:
        (tree / name).write_text(documents.dump(list(objs), "yaml"))

    db = sealed(secret("db"))
    in_tree("db.yaml", db)
    kube_api.create(db)
    in_tree("new.yaml", sealed(secret("new")))
    kube_api.create(sealed(secret("manual")))
    applied = sealed(secret("changed", a="aaaa-1111", b="bbbb-2222", c="cccc-3333"))
    kube_api.create(applied)
    edited = sealed(secret("changed", labels={"app": "changed", "tier": "x"}, a="aaaa-1111",
                           b="bbbb-2222-new", d="dddd-4444"))  # fmt: skip
    edited["spec"]["encryptedData"]["a"] = applied["spec"]["encryptedData"]["a"]
    broken = sealed(secret("broken"))
    broken["spec"]["encryptedData"] = sealed(secret("elsewhere"))["spec"]["encryptedData"]
    stale = sealed(secret("old"), old)
    in_tree("several.yaml", edited, broken, stale)  # one file, three documents
    kube_api.create(broken)
    kube_api.create(stale)
    for name in ("db", "manual", "changed", "old"):
        ctl.wait_condition(NS, name, "True")
    ctl.wait_condition(NS, "broken", "False")

    code, out, err = run("diff", str(tree), "--cert", str(newest), "-o", "json",
                         "--kubeconfig", str(kubeconfig))  # fmt: skip
    assert code == 1, err
    found = {d["name"]: d for d in json.loads(out)}
    assert {name: d["state"] for name, d in found.items()} == {
        "db": "in-sync", "new": "only-in-git", "manual": "only-in-cluster",
        "changed": "differs", "broken": "not-synced", "old": "stale"}
    assert found["changed"]["items"] == {"added": ["d"], "removed": ["c"], "changed": ["b"]}
    assert "template changed" in found["changed"]["details"]
    assert found["broken"]["details"][0].startswith("ErrUnsealFailed: ")
    assert found["old"]["key"] == old.fingerprint and found["old"]["stale"]
    assert found["db"]["source"].endswith("db.yaml:2")  # after the first ---
    assert found["broken"]["source"].endswith("several.yaml:" + str(
        documents.dump([edited], "yaml").count("\n") + 2))
    assert "1 only-in-git, 1 only-in-cluster, 1 differs, 1 not-synced, 1 stale, 1 in-sync" in err
    for value in ("db-value-1234", "bbbb-2222-new"):
        assert value not in out + err

    code, table, _ = run("diff", str(tree), "--cert", str(newest), "--kubeconfig",
                         str(kubeconfig))  # fmt: skip
    assert code == 1
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert set(lines) == {"in-sync", "only-in-git", "only-in-cluster", "differs",
                          "not-synced", "stale"}  # fmt: skip
    assert "items added: d; items removed: c; items changed: b; template changed" in \
        lines["differs"]  # fmt: skip

    # everything in sync: exit 0; the newest key comes from the controller when not given
    calm = tmp_path / "calm"
    calm.mkdir()
    (calm / "db.yaml").write_text(documents.dump([db], "yaml"))
    kube_api.delete("sealedsecrets", "manual", NS)
    kube_api.delete("sealedsecrets", "changed", NS)
    kube_api.delete("sealedsecrets", "broken", NS)
    kube_api.delete("sealedsecrets", "old", NS)
    code, out, err = run("diff", str(calm), "--cert", str(newest), "--kubeconfig",
                         str(kubeconfig))  # fmt: skip
    assert code == 0, out + err
    assert out.splitlines()[1].split()[:3] == ["in-sync", NS, "db"]


def test_diff_only_reads_sealed_secrets(kube_api: KubeAPI, kubeconfig: Path,
                                        key_pairs: tuple[KeyPair, KeyPair],
                                        tmp_path: Path) -> None:  # fmt: skip
    obj = seal_secret(secret("db"), key_pairs[0].certificate)
    kube_api.create(obj)
    (tmp_path / "db.yaml").write_text(documents.dump([obj], "yaml"))
    cert = tmp_path / "cert.pem"
    cert.write_bytes(key_pairs[0].certificate.pem)
    kube_api.reset_log()
    code, out, _ = run("diff", str(tmp_path), "--cert", str(cert), "-A",
                       "--kubeconfig", str(kubeconfig))  # fmt: skip
    assert code == 1 and "no status yet" in out  # no controller here
    assert {(r.method, r.resource) for r in kube_api.requests()} == {("GET", "sealedsecrets")}


# --- several clusters -----------------------------------------------------------------------


class SecondCluster:
    """Another stand-in with its own controller and keys."""

    def __init__(self, tmp_path: Path, pair: KeyPair) -> None:
        self.api = KubeAPI.start(crds=[SEALEDSECRET_CRD])
        self.kubeconfig = self.api.write_kubeconfig(tmp_path / "kubeconfig-b")
        self.api.create(key_secret(pair, "sealed-secrets-key-b"))
        port = free_port()
        config = Config(kubeconfig=str(self.kubeconfig), key_namespace=KEY_NS,
                        listen_addr=f"127.0.0.1:{port}", listen_metrics_addr="",
                        retry_base_delay=0.05, retry_max_delay=1.0,
                        key_renew_period=dt.timedelta(0), key_size=2048)  # fmt: skip
        watches = self.api.open_watches
        self.thread = OperatorThread(config, settings=quick_settings()).start()
        self.handle = Controller(self.api, self.thread)
        wait_for(lambda: self.api.open_watches >= watches + 4, what="kopf watching")
        serve_controller(self.api, f"http://127.0.0.1:{port}")

    def close(self) -> None:
        self.thread.stop()
        self.api.stop()


@pytest.fixture
def second(tmp_path: Path, key_pairs: tuple[KeyPair, KeyPair]) -> Iterator[SecondCluster]:
    cluster = SecondCluster(tmp_path, key_pairs[1])
    yield cluster
    cluster.close()


def test_one_secret_sealed_for_two_clusters(
    controller: Callable[..., Controller], kube_api: KubeAPI, kubeconfig: Path,
    key_pairs: tuple[KeyPair, KeyPair], second: SecondCluster, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    first = controller(keys=[key_pairs[0]], listen_addr=f"127.0.0.1:{port}")
    serve_controller(kube_api, f"http://127.0.0.1:{port}")
    repo = tmp_path / "repo"
    (repo / "certs").mkdir(parents=True)
    (repo / "certs" / "b.pem").write_bytes(key_pairs[1].certificate.pem)
    (repo / ".sealer.yaml").write_text(yaml.safe_dump({"clusters": {
        "a": {"kubeconfig": str(kubeconfig), "output": "clusters/{cluster}/{namespace}/{name}.yaml",
              "pins": [key_pairs[0].fingerprint], "paths": ["clusters/a"]},
        "b": {"kubeconfig": str(second.kubeconfig), "cert": "certs/b.pem",
              "output": "clusters/{cluster}/{namespace}/{name}.yaml", "paths": ["clusters/b"]},
    }}))  # fmt: skip
    monkeypatch.chdir(repo)
    code, out, err = run("seal", "--all-clusters", input=yaml.safe_dump(secret("db")))
    assert code == 0, err
    assert out == ""
    file_a, file_b = repo / "clusters/a/team-a/db.yaml", repo / "clusters/b/team-a/db.yaml"
    fingerprint = key_pairs[0].fingerprint
    assert f"clusters/a/team-a/db.yaml: 1 SealedSecret(s) for cluster a ({fingerprint})" in err
    a, b = documents.load(file_a.read_text())[0], documents.load(file_b.read_text())[0]
    assert a["spec"]["encryptedData"] != b["spec"]["encryptedData"]

    # each file unseals in its own cluster, and only there
    kube_api.create(a)
    second.api.create(b)
    secret_a = first.wait_secret(NS, "db")
    secret_b = second.handle.wait_secret(NS, "db")
    assert base64.b64decode(secret_a["data"]["password"]) == b"db-value-1234"
    assert base64.b64decode(secret_b["data"]["password"]) == b"db-value-1234"
    kube_api.create({**b, "metadata": {**b["metadata"], "name": "db-from-b"}})
    condition = first.wait_condition(NS, "db-from-b", "False")
    assert condition["reason"] == "ErrUnsealFailed"

    # diff per cluster, each against its own tree
    kube_api.delete("sealedsecrets", "db-from-b", NS)
    code, out, err = run("diff", "--all-clusters")
    assert code == 0, out + err
    rows = [line.split()[:4] for line in out.splitlines()[1:]]
    assert rows == [["a", "in-sync", NS, "db"], ["b", "in-sync", NS, "db"]]

    # one cluster, named: only its file changes
    before, first_a = file_b.read_text(), file_a.read_text()
    assert run("seal", "--cluster", "a", input=yaml.safe_dump(secret("db")))[0] == 0
    assert file_b.read_text() == before and file_a.read_text() != first_a
    # a pin that does not match refuses the whole run, and no file is written
    (repo / ".sealer.yaml").write_text((repo / ".sealer.yaml").read_text().replace(
        key_pairs[0].fingerprint, "SHA256:someone-else"))
    before_a = file_a.read_text()
    code, _, err = run("seal", "--cluster", "b", "--cluster", "a",
                       input=yaml.safe_dump(secret("db")))  # fmt: skip
    assert code == 1 and "not pinned for cluster 'a'" in err
    assert file_a.read_text() == before_a and file_b.read_text() == before
    assert run("seal", "--cluster", "a", "--cluster", "b", "-w", "x.yaml",
               input=yaml.safe_dump(secret("db")))[0] == 2  # fmt: skip


def test_key_rotation_for_one_cluster_named_in_sealer_yaml(
    controller: Callable[..., Controller], kube_api: KubeAPI, kubeconfig: Path,
    key_pairs: tuple[KeyPair, KeyPair], second: SecondCluster, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--cluster b`` alone reaches cluster b as .sealer.yaml describes it (no --kubeconfig, and
    the default kubeconfig points nowhere): rotate, reseal and retire touch b only."""
    port = free_port()
    controller(keys=[key_pairs[0]], listen_addr=f"127.0.0.1:{port}")
    serve_controller(kube_api, f"http://127.0.0.1:{port}")
    repo = tmp_path / "repo"
    repo.mkdir()
    pattern = "clusters/{cluster}/{namespace}/{name}.yaml"
    (repo / ".sealer.yaml").write_text(yaml.safe_dump({"clusters": {
        "a": {"kubeconfig": str(kubeconfig), "output": pattern, "paths": ["clusters/a"],
              "pins": [key_pairs[0].fingerprint]},
        "b": {"kubeconfig": str(second.kubeconfig), "output": pattern, "paths": ["clusters/b"],
              "pins": [key_pairs[1].fingerprint]},
    }}))  # fmt: skip
    monkeypatch.chdir(repo)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere"))
    for name in ("SEALER_KUBECONFIG", "SEALER_CONTEXT", "SEALER_CLUSTER"):
        monkeypatch.delenv(name, raising=False)
    assert run("seal", "--all-clusters", input=yaml.safe_dump(secret("db")))[0] == 0
    file_a, file_b = repo / "clusters/a/team-a/db.yaml", repo / "clusters/b/team-a/db.yaml"
    kube_api.create(documents.load(file_a.read_text())[0])
    second.api.create(documents.load(file_b.read_text())[0])
    second.handle.wait_condition(NS, "db", "True")
    before_a, keys_a = file_a.read_text(), len(kube_api.list("secrets", KEY_NS))

    code, out, err = run("keys", "rotate", "--cluster", "b", "--pin")
    assert code == 0, err
    new = next(line.split()[3] for line in err.splitlines() if line.startswith("new sealing key"))
    assert new not in (key_pairs[0].fingerprint, key_pairs[1].fingerprint)
    assert "BEGIN CERTIFICATE" in out
    assert new in yaml.safe_load((repo / ".sealer.yaml").read_text())["clusters"]["b"]["pins"]

    # a cluster the file does not describe is refused, not looked for in the current context
    code, _, err = run("keys", "retire", key_pairs[1].fingerprint, "--cluster", "c", "--repo", ".")
    assert code != 0 and "has no cluster 'c'" in err
    # the old key is still needed by b's file and b's object: deletion is refused
    code, out, err = run("keys", "retire", key_pairs[1].fingerprint, "--cluster", "b", "--delete")
    assert code == 1 and "refusing to delete" in err
    assert "clusters/b/team-a/db.yaml" in err and f"{NS}/db" in err

    code, _, err = run("reseal", "clusters/b", "--cluster", "b")
    assert code == 0, err
    resealed = documents.load(file_b.read_text())[0]
    assert resealed["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION] == new
    assert file_a.read_text() == before_a
    second.api.patch("sealedsecrets", "db", {"spec": resealed["spec"]}, NS)
    wait_for(lambda: (second.api.get("sealedsecrets", "db", NS) or {}).get("status", {})
             .get("keyFingerprints") == [new] or None, what="b unsealed with its new key")

    code, out, err = run("keys", "retire", key_pairs[1].fingerprint, "--cluster", "b", "--delete")
    assert code == 0, err
    assert "deleted Secret kube-system/sealed-secrets-key-b" in out
    assert [s["metadata"]["name"] for s in second.api.list("secrets", KEY_NS)
            if s["metadata"]["name"] == "sealed-secrets-key-b"] == []
    assert len(kube_api.list("secrets", KEY_NS)) == keys_a and file_a.read_text() == before_a

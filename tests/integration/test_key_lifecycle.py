"""The key lifecycle end to end (issue #5): the CLI against the real controller through the
stand-in's service proxy. Rotate; old objects still unseal; `reseal` a Git tree of mixed files
(comments, several documents, a List, JSON) where every byte but the ciphertexts and the key
annotation stays put, idempotently; `retire` refusing, then deleting; `--compromised` listing
the cluster, the tree and the Git history; backup, losing every key, restore; trust pins."""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sealer import documents, keys
from sealer.cli.main import cli
from sealer.keys import KEY_LABEL, KeyPair
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from tests.integration.controller_fixtures import KEY_NS, sealed_secret, wait_for
from tests.integration.test_cli_cluster import controller_service, run
from tests.support import KubeAPI
from tests.support.ports import free_port

SECRET = ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-a}\n"
          "stringData: {password: pw-value-123}\n")


@pytest.fixture
def served(kube_api: KubeAPI, controller: Callable[..., Any],
           key_pairs: tuple[KeyPair, KeyPair]) -> Any:
    port = free_port()
    handle = controller(keys=[key_pairs[0]], listen_addr=f"127.0.0.1:{port}",
                        verify_rate="1000/second")
    url = f"http://127.0.0.1:{port}"
    kube_api.create(controller_service("sealed-secrets-controller"))
    kube_api.register_service_proxy(KEY_NS, "sealed-secrets-controller", url)

    def ready() -> bool | None:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:  # noqa: S310
                return resp.status == 200 or None
        except OSError:
            return None

    wait_for(ready, what="controller ready")
    return handle


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, timeout=30).stdout


def sealed(pair: KeyPair, ns: str, name: str, value: bytes, hint: bool = True) -> dict[str, Any]:
    return sealed_secret(pair, ns, name, {"password": value, "user": b"admin"}, hint=hint)


def write_tree(repo: Path, pair: KeyPair) -> dict[str, dict[str, Any]]:
    """Mixed files, as people keep them; returns the SealedSecrets by name."""
    objs = {n: sealed(pair, "team-a", n, n.encode() + b"-secret", hint=n != "legacy")
            for n in ("db", "cache", "api", "legacy")}
    db, cache, api, legacy = (objs[n] for n in ("db", "cache", "api", "legacy"))
    (repo / "apps").mkdir(parents=True)
    (repo / "apps" / "db.yaml").write_text(
        "# Database credentials: sealed, safe to commit.\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-settings  # not secret\n"
        "  namespace: team-a\ndata:\n  host: db.internal\n"
        "---\n"
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
        "  name: db\n  namespace: team-a\n  annotations:\n"
        f"    {KEY_FINGERPRINT_ANNOTATION}: {pair.fingerprint}  # sealed by CI\n"
        "    team: a\nspec:\n  encryptedData:\n"
        f"    password: {db['spec']['encryptedData']['password']}   # rotated monthly\n"
        f"    user: '{db['spec']['encryptedData']['user']}'\n"
        "  template:\n    metadata:\n      labels: {app: db}\n"
        "# trailing comment of the file\n")
    (repo / "apps" / "cache.yaml").write_text(
        "kind: SealedSecret\napiVersion: bitnami.com/v1alpha1\n"
        "metadata: {name: cache, namespace: team-a}\n"
        "spec:\n  encryptedData: {password: "
        f"\"{cache['spec']['encryptedData']['password']}\", "
        f"user: \"{cache['spec']['encryptedData']['user']}\"}}\n")
    (repo / "apps" / "api.json").write_text(json.dumps(api, indent=2) + "\n")
    (repo / "apps" / "legacy.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        + "".join("  " + line + "\n" for line in yaml.safe_dump(
            [legacy], sort_keys=False, width=4096).splitlines()))
    (repo / "README.md").write_text("not a manifest\n")
    (repo / "chart.yaml").write_text("kind: SealedSecret\nmetadata: {{ .Values.x }}\n: :\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "sealed")
    return objs


def only_values_changed(old: str, new: str, fingerprint: str) -> None:
    """Every byte of ``old`` is in ``new`` at its place, but the ciphertexts (now new ones) and
    the key annotation (added or changed); nothing else moved."""
    olds = documents.load(old, "old")
    news = documents.load(new, "new")
    expected = old
    for before, after in zip(olds, news, strict=True):
        for item, value in (before.get("spec") or {}).get("encryptedData", {}).items():
            expected = expected.replace(value, after["spec"]["encryptedData"][item])
        hint = ((before.get("metadata") or {}).get("annotations") or {}).get(
            KEY_FINGERPRINT_ANNOTATION)
        if hint:
            expected = expected.replace(hint, fingerprint)
    added = re.compile(r'[\s,{}"]*(annotations"?:[\s{"]*)?"?'
                       + re.escape(KEY_FINGERPRINT_ANNOTATION) + r'"?: "?' + re.escape(fingerprint)
                       + r'"?[\s,}]*')
    matcher = difflib.SequenceMatcher(None, expected, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        assert tag == "insert", (expected[i1:i2], new[j1:j2])
        assert added.fullmatch(new[j1:j2]), new[j1:j2]


def test_rotate_reseal_retire_and_compromise(
    served: Any, kube_api: KubeAPI, kubeconfig: Path, tmp_path: Path,
    key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    old = key_pairs[0]
    repo = tmp_path / "repo"
    objs = write_tree(repo, old)
    for obj in objs.values():
        kube_api.create(obj)
    for name in objs:
        served.wait_condition("team-a", name, "True")

    code, out, _ = run(kubeconfig, "keys", "list", "-o", "json")
    assert code == 0
    (listed,) = json.loads(out)["keys"]
    assert (listed["fingerprint"], listed["state"], listed["sealedSecrets"]) == (
        old.fingerprint, "sealing", 4)

    code, out, err = run(kubeconfig, "keys", "rotate")
    assert code == 0, err
    new = keys.load_certificate(out.encode()).fingerprint
    assert new != old.fingerprint and new in err and "sealer reseal" in err
    assert served.runtime.ring.newest.fingerprint == new
    code, out, _ = run(kubeconfig, "keys", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["FINGERPRINT", "STATE", "CREATED", "EXPIRES", "SEALEDSECRETS",
                                "SECRET"]
    assert [line.split()[:2] + [line.split()[4]] for line in lines[1:]] == [
        [new, "sealing", "0"], [old.fingerprint, "active", "4"]]

    # the old key still unseals: a change sealed to it is written
    kube_api.patch("sealedsecrets", "db", {"spec": sealed(old, "team-a", "db", b"v2")["spec"]},
                   "team-a")
    served.wait_secret("team-a", "db", lambda s: s["data"]["password"] == "djI=")

    code, out, err = run(kubeconfig, "reseal", "--check", str(repo))
    assert code == 1 and len(out.splitlines()) == 4 and "4 not sealed to" in err
    assert "chart.yaml: mentions SealedSecret" in err

    # retire refuses to delete while anything needs the key; the key is retired meanwhile
    code, out, err = run(kubeconfig, "keys", "retire", old.fingerprint[:20], "--delete",
                         "--repo", str(repo))
    assert code == 1 and "refusing to delete" in err
    assert err.count("in the cluster: SealedSecret team-a/") == 4
    assert err.count("in the tree: ") == 2 and err.count("in the tree, key unknown") == 2
    assert "legacy.yaml:4: SealedSecret team-a/legacy" in err and "chart.yaml" in err
    assert json.loads(run(kubeconfig, "keys", "list", "-o", "json")[1])["keys"][1]["state"] == \
        "retired"

    before = {p: p.read_text() for p in sorted((repo / "apps").iterdir())}
    code, _, err = run(kubeconfig, "reseal", str(repo))
    assert code == 0, err
    assert "4 re-sealed in 4 files" in err
    for path, text in before.items():
        only_values_changed(text, path.read_text(), new)
    for obj in documents.load((repo / "apps" / "db.yaml").read_text(), "db"):
        assert obj["metadata"].get("annotations", {}).get(KEY_FINGERPRINT_ANNOTATION) in (
            None if obj["kind"] == "ConfigMap" else new,)
    after = {p: p.read_bytes() for p in before}
    assert run(kubeconfig, "reseal", "--check", str(repo))[0] == 0
    code, _, err = run(kubeconfig, "reseal", str(repo))
    assert code == 0 and "0 re-sealed in 0 files" in err
    assert {p: p.read_bytes() for p in before} == after
    git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "resealed")

    # compromised: the cluster's objects, and the history (the tree is re-sealed already)
    code, out, _ = run(kubeconfig, "keys", "retire", old.fingerprint, "--compromised",
                       "--repo", str(repo))
    assert code == 0 and "compromised key" in out and "Change the credential" in out
    assert out.count("in the Git history: ") == 2  # cache and legacy never named their key
    assert "apps/api.json: SealedSecret team-a/api" in out and "in the tree: " not in out

    # apply the re-sealed files: once the controller has unsealed them, the key can go
    for path in (repo / "apps").iterdir():
        for obj in documents.load(path.read_text(), str(path)):
            if obj["kind"] == "SealedSecret":
                kube_api.patch("sealedsecrets", obj["metadata"]["name"], {
                    "spec": obj["spec"], "metadata": {"annotations": obj["metadata"].get(
                        "annotations")}}, "team-a")
    wait_for(lambda: all(
        (o.get("status") or {}).get("keyFingerprints") == [new]
        for o in kube_api.list("sealedsecrets", "team-a")) or None, what="unsealed by the new key")
    code, out, err = run(kubeconfig, "keys", "retire", old.fingerprint, "--delete",
                         "--repo", str(repo))
    assert code == 1 and "in the tree, unreadable: " in err  # what chart.yaml holds is unknown
    (repo / "chart.yaml").unlink()
    code, out, err = run(kubeconfig, "keys", "retire", old.fingerprint, "--delete",
                         "--repo", str(repo))
    assert code == 0, err
    assert "deleted Secret kube-system/sealed-secrets-key00000" in out
    wait_for(lambda: len(served.runtime.ring) == 1 or None, what="key dropped")
    assert served.secret("team-a", "db") is not None


def test_backup_lose_every_key_restore(
    served: Any, kube_api: KubeAPI, kubeconfig: Path, tmp_path: Path,
    key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    sealed_file = tmp_path / "sealed.yaml"
    assert run(kubeconfig, "seal", "--cert", str(tmp_path / "none"), input=SECRET)[0] == 1
    assert run(kubeconfig, "seal", "-w", str(sealed_file), input=SECRET)[0] == 0
    kube_api.create(documents.load(sealed_file.read_text(), "s")[0])
    served.wait_secret("team-a", "db")

    backup = tmp_path / "keys-backup.yaml"
    code, out, err = run(kubeconfig, "keys", "backup", "-o", str(backup))
    assert code == 0 and out == "" and "store it offline" in err.lower()
    assert backup.stat().st_mode & 0o777 == 0o600
    text = backup.read_text()
    assert text.startswith("# sealer keys backup") and "tls.key" in text
    assert "uid" not in text and "resourceVersion" not in text
    # disaster recovery without any cluster: the backup opens the sealed file
    recovered = CliRunner().invoke(cli, ["unseal", "--key", str(backup), "-f", str(sealed_file)])
    assert recovered.exit_code == 0 and "cHctdmFsdWUtMTIz" in recovered.stdout

    # every key lost: the controller makes a new one, and the object no longer opens
    for secret in kube_api.list("secrets", KEY_NS):
        if (secret["metadata"].get("labels") or {}).get(KEY_LABEL):
            kube_api.delete("secrets", secret["metadata"]["name"], KEY_NS)
    wait_for(lambda: served.runtime.ring.newest is not None and served.runtime.ring.newest.
             fingerprint != key_pairs[0].fingerprint or None, what="a new key")
    kube_api.delete("secrets", "db", "team-a")
    served.wait_condition("team-a", "db", "False")

    code, out, _ = run(kubeconfig, "keys", "restore", str(backup))
    assert code == 0 and out == f"restored: {key_pairs[0].fingerprint} (kube-system/" \
        "sealed-secrets-key00000)\n"
    served.wait_condition("team-a", "db", "True")
    assert served.secret("team-a", "db") is not None
    code, out, _ = run(kubeconfig, "keys", "restore", str(backup))
    assert code == 0 and out.startswith("already present: ")
    key_secrets = [s for s in kube_api.list("secrets", KEY_NS)
                   if (s["metadata"].get("labels") or {}).get(KEY_LABEL)]
    assert len(key_secrets) == 2  # the controller's new key and the restored one, no copy


def test_pins_refuse_a_foreign_certificate(
    served: Any, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    repo = tmp_path / "repo"
    (repo / "apps").mkdir(parents=True)
    git(repo, "init", "-q")
    monkeypatch.chdir(repo / "apps")
    code, _, err = run(kubeconfig, "cert", "--pin", "--cluster", "prod")
    assert code == 0 and "pinned for cluster 'prod'" in err
    config = repo / ".sealer.yaml"
    assert yaml.safe_load(config.read_text())["clusters"]["prod"]["pins"] == [
        key_pairs[0].fingerprint]
    assert run(kubeconfig, "seal", input=SECRET)[0] == 0

    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(key_pairs[1].certificate.pem)
    code, out, err = run(kubeconfig, "seal", "--cert", str(foreign), input=SECRET)
    assert code == 1 and out == "" and "is not pinned for cluster 'prod'" in err

    # a rotation changes the certificate: refused until pinned again
    code, _, err = run(kubeconfig, "keys", "rotate")
    assert code == 0 and "sealer cert --pin --cluster prod" in err
    code, _, err = run(kubeconfig, "seal", input=SECRET)
    assert code == 1 and "not pinned" in err
    assert run(kubeconfig, "cert", "--pin")[0] == 0
    assert len(yaml.safe_load(config.read_text())["clusters"]["prod"]["pins"]) == 2
    assert run(kubeconfig, "seal", input=SECRET)[0] == 0
    code, _, err = run(kubeconfig, "seal", "--cluster", "staging", input=SECRET)
    assert code == 1 and "has no cluster 'staging'" in err

"""``sealer unseal``: offline recovery with the controller's private keys (PEM files or key
Secret backups), every key tried; ``--raw`` for one item."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from sealer import keys
from sealer.cli.main import cli
from sealer.keys import KeyPair

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
SECRET = ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-a}\n"
          "type: Opaque\nstringData: {password: s3cr3t-value, user: admin}\n")


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def files(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_text(VECTOR["private_key_pem"])
    cert.write_text(VECTOR["cert_pem"])
    return key, cert


def test_unseal_recovers_the_secret_with_a_pem_key(tmp_path: Path) -> None:
    key, cert = files(tmp_path)
    sealed = tmp_path / "sealed.yaml"
    assert run("seal", "--cert", str(cert), "-w", str(sealed), input=SECRET)[0] == 0
    code, out, _ = run("unseal", "--key", str(key), "-f", str(sealed))
    assert code == 0
    secret = yaml.safe_load(out)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "db"
    assert base64.b64decode(secret["data"]["password"]) == b"s3cr3t-value"
    assert "ownerReferences" not in secret["metadata"]


def test_unseal_tries_every_key_including_key_secret_lists(
    tmp_path: Path, key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    key, cert = files(tmp_path)
    sealed = tmp_path / "sealed.yaml"
    run("seal", "--cert", str(cert), "-w", str(sealed), input=SECRET)
    backup = tmp_path / "keys.yaml"
    pairs = [key_pairs[0], keys.key_pair(key.read_bytes(), cert.read_bytes())]
    backup.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        keys.key_secret(p, "kube-system", "sealed-secrets-key", name=f"k{i}")
        for i, p in enumerate(pairs)]}))
    other = tmp_path / "other.pem"
    other.write_bytes(keys.private_key_pem(key_pairs[1].private_key))
    code, out, _ = run("unseal", "--key", str(other), "--key", str(backup), "-f", str(sealed))
    assert code == 0 and yaml.safe_load(out)["data"]["user"] == "YWRtaW4="


def test_unseal_with_the_wrong_key_is_one_opaque_line(
    tmp_path: Path, key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    _, cert = files(tmp_path)
    sealed = tmp_path / "sealed.yaml"
    run("seal", "--cert", str(cert), "-w", str(sealed), input=SECRET)
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(keys.private_key_pem(key_pairs[0].private_key))
    code, out, err = run("unseal", "--key", str(wrong), "-f", str(sealed))
    assert code == 1 and out == ""
    assert "no key could decrypt it" in err and "spec.encryptedData." in err
    assert "s3cr3t" not in err and "BEGIN" not in err


def test_unseal_raw(tmp_path: Path) -> None:
    key, cert = files(tmp_path)
    code, item, _ = run("seal", "--raw", "--cert", str(cert), "--scope", "namespace-wide",
                        "-n", "ns", input=b"\x00binary\xff")
    assert code == 0
    code, out, _ = run("unseal", "--raw", "--key", str(key), "--scope", "namespace-wide",
                       "-n", "ns", input=item)
    assert code == 0
    code, _, err = run("unseal", "--raw", "--key", str(key), "-n", "ns", "--name", "x",
                       input=item)
    assert code == 1 and "no given key" in err


def test_unseal_rejects_an_unreadable_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN RSA PRIVATE KEY-----\nnot really\n-----END RSA PRIVATE KEY-----\n")
    code, _, err = run("unseal", "--key", str(bad), input="")
    assert code == 1 and "not a readable" in err and "not really" not in err


def test_the_recovered_secret_is_shaped_as_kubeseal_writes_it(tmp_path: Path) -> None:
    key, cert = files(tmp_path)
    sealed = tmp_path / "sealed.json"
    assert run("seal", "--cert", str(cert), "-w", str(sealed), input=SECRET)[0] == 0
    code, out, _ = run("unseal", "--key", str(key), "-f", str(sealed), "-o", "json")
    assert code == 0
    secret = json.loads(out)
    assert list(secret) == ["kind", "apiVersion", "metadata", "data", "type"]  # Go's v1.Secret
    assert secret["metadata"] == {"name": "db", "namespace": "team-a", "creationTimestamp": None}
    code, out, _ = run("unseal", "--key", str(key), "-f", str(sealed))
    assert out.startswith("---\napiVersion: v1\ndata:\n  password: czNjcjN0LXZhbHVl\n")

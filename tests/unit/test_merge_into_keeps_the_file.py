"""``sealer seal --merge-into FILE``: items added or replaced in place, sealed for the file's own
name, namespace and scope; every other byte of a kubeseal-style file stays as it was."""

from __future__ import annotations

import difflib
import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer import crypto, keys
from sealer.cli.main import cli
from sealer.keys import KeyRing
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from sealer.sealedsecret import SealedSecret, unseal

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
PAIR = keys.key_pair(VECTOR["private_key_pem"].encode(), VECTOR["cert_pem"].encode())
ORIGINAL = """\
apiVersion: v1
kind: Secret
metadata:
  name: app
  namespace: prod
  labels: {team: a}
type: Opaque
stringData: {user: admin, password: old-password, token: t0k3n}
"""
UPDATE = """\
apiVersion: v1
kind: Secret
metadata:
  name: ignored-name
  namespace: ignored-ns
  labels: {release: "2"}
  annotations: {sealedsecrets.bitnami.com/cluster-wide: "true", owner: ops}
stringData: {password: new-password, extra: added}
"""


@pytest.fixture
def cert_file(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return path


def run(*args: str, input: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def sealed_file(tmp_path: Path, cert_file: Path, *args: str, name: str = "sealed.yaml") -> Path:
    target = tmp_path / name
    code, _, err = run("seal", "--cert", str(cert_file), "-w", str(target), *args, input=ORIGINAL)
    assert code == 0, err
    return target


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line for line in diff if line[:1] in "+-"]


def test_only_the_given_items_change_in_a_yaml_file(tmp_path: Path, cert_file: Path) -> None:
    target = sealed_file(tmp_path, cert_file, "--scope", "namespace-wide")
    before = target.read_text()
    code, out, err = run("seal", "--cert", str(cert_file), "--merge-into", str(target),
                         input=UPDATE)
    assert code == 0 and out == "", err
    after = target.read_text()
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    assert new["spec"]["encryptedData"]["user"] == old["spec"]["encryptedData"]["user"]
    assert new["spec"]["encryptedData"]["token"] == old["spec"]["encryptedData"]["token"]
    assert sorted(line[2:].split(":")[0].strip() for line in changed_lines(before, after)) == [
        "extra", "owner", "password", "password", "release"]  # fmt: skip
    # sealed for the file's name, namespace and scope, not the input's
    result = unseal(SealedSecret.from_manifest(new), KeyRing((PAIR,)))
    assert result.secret["data"]["password"] == "bmV3LXBhc3N3b3Jk"
    assert new["metadata"]["name"] == "app" and new["metadata"]["namespace"] == "prod"
    assert SealedSecret.from_manifest(new).scope is Scope.NAMESPACE_WIDE
    blob = crypto.b64decode(new["spec"]["encryptedData"]["extra"])
    assert crypto.unseal_with(PAIR.private_key, blob, Scope.NAMESPACE_WIDE.label("prod", "x"))
    # upstream merges the input's labels and annotations into the template; never its scope
    template = new["spec"]["template"]["metadata"]
    assert template["labels"] == {"team": "a", "release": "2"}
    assert template["annotations"] == {"owner": "ops",
                                       "sealedsecrets.bitnami.com/namespace-wide": "true"}


def test_a_json_file_stays_json(tmp_path: Path, cert_file: Path) -> None:
    target = sealed_file(tmp_path, cert_file, "-o", "json", name="sealed.json")
    before = json.loads(target.read_text())
    code, _, err = run("seal", "--cert", str(cert_file), "--merge-into", str(target),
                       input=UPDATE.replace("sealedsecrets.bitnami.com/cluster-wide", "x"))
    assert code == 0, err
    after = json.loads(target.read_text())
    assert after["spec"]["encryptedData"]["token"] == before["spec"]["encryptedData"]["token"]
    assert set(after["spec"]["encryptedData"]) == {"user", "password", "token", "extra"}


def test_the_key_hint_is_updated_only_when_every_item_was_resealed(
    tmp_path: Path, cert_file: Path, key_pairs: tuple[keys.KeyPair, keys.KeyPair]
) -> None:
    target = sealed_file(tmp_path, cert_file)
    other = tmp_path / "other.pem"
    other.write_bytes(key_pairs[0].certificate.pem)
    assert run("seal", "--cert", str(other), "--merge-into", str(target), input=UPDATE)[0] == 0
    hint = yaml.safe_load(target.read_text())["metadata"]["annotations"]
    assert hint[KEY_FINGERPRINT_ANNOTATION] == PAIR.fingerprint  # old items still on that key
    everything = ORIGINAL.replace("stringData: {", "stringData: {extra: e, ")
    assert run("seal", "--cert", str(other), "--merge-into", str(target), input=everything)[0] == 0
    hint = yaml.safe_load(target.read_text())["metadata"]["annotations"]
    assert hint[KEY_FINGERPRINT_ANNOTATION] == key_pairs[0].fingerprint


def test_the_file_keeps_its_mode(tmp_path: Path, cert_file: Path) -> None:
    target = sealed_file(tmp_path, cert_file)
    os.chmod(target, 0o640)
    assert run("seal", "--cert", str(cert_file), "--merge-into", str(target), input=UPDATE)[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize(
    ("args", "content", "code", "message"),
    [
        (["--scope", "cluster-wide"], None, 1, "contradicts the file's scope strict"),
        (["-w", "out.yaml"], None, 2, "in place"),
        (["--raw"], None, 2, "in place"),
        ([], ORIGINAL + "---\n" + ORIGINAL, 1, "expected one SealedSecret, found 2"),
        ([], ORIGINAL, 1, "expected kind SealedSecret"),
    ],
)
def test_refusals_leave_the_file_alone(
    tmp_path: Path, cert_file: Path, args: list[str], content: str | None, code: int, message: str
) -> None:
    target = sealed_file(tmp_path, cert_file)
    if content is not None:
        target.write_text(content)
    before = target.read_bytes()
    got, _, err = run("seal", "--cert", str(cert_file), "--merge-into", str(target), *args,
                      input=UPDATE)
    assert got == code and message in err, err
    assert target.read_bytes() == before

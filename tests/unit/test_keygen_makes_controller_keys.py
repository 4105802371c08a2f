"""``sealer keygen``: a key pair like the controller's (PKCS#1 key written 0600, self-signed
certificate with upstream's extensions), usable at once by ``seal`` and ``unseal``."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sealer import keys
from sealer.cli.main import cli
from sealer.cli.offline import parse_duration

KEY_USAGE_ENCIPHER_ONLY = bytes.fromhex("0603551d0f0101ff040403020001")  # as tests/vectors
BASIC_CONSTRAINTS_CA = bytes.fromhex("0603551d130101ff040530030101ff")


def run(*args: str, input: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_keygen_makes_a_controller_like_pair(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    code, out, _ = run("keygen", "--key", str(key), "--cert", str(cert), "--bits", "2048",
                       "--valid-for", "30d")
    assert code == 0 and out.startswith("SHA256:")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, as upstream
    pair = keys.key_pair(key.read_bytes(), cert.read_bytes())
    assert (pair.certificate.not_after - pair.certificate.not_before).days == 30
    assert out.split()[0] == pair.fingerprint
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
    assert KEY_USAGE_ENCIPHER_ONLY in der and BASIC_CONSTRAINTS_CA in der
    parsed = x509.load_der_x509_certificate(der)
    assert parsed.subject == parsed.issuer == x509.Name([])


def test_the_pair_seals_and_unseals(tmp_path: Path) -> None:
    key, cert, sealed = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "s.yaml"
    assert run("keygen", "--key", str(key), "--cert", str(cert), "--bits", "2048")[0] == 0
    secret = "kind: Secret\nmetadata: {name: a, namespace: b}\nstringData: {k: v}\n"
    assert run("seal", "--cert", str(cert), "-w", str(sealed), input=secret)[0] == 0
    code, out, _ = run("unseal", "--key", str(key), "-f", str(sealed))
    assert code == 0 and base64.b64decode(yaml.safe_load(out)["data"]["k"]) == b"v"


def test_defaults_are_upstreams() -> None:
    params = {p.name: p for p in next(c for n, c in cli.commands.items() if n == "keygen").params}
    assert params["bits"].default == 4096
    assert parse_duration(str(params["valid_for"].default)) == dt.timedelta(days=3650)


def test_existing_files_and_bad_durations_are_refused(tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    key.write_text("precious")
    code, _, err = run("keygen", "--key", str(key), "--cert", str(cert), "--bits", "2048")
    assert code == 1 and "exists" in err and key.read_text() == "precious"
    code, _, err = run("keygen", "--key", str(tmp_path / "n.pem"), "--cert", str(cert),
                       "--valid-for", "soon")
    assert code == 2 and "duration" in err
    code, _, err = run("keygen", "--key", str(tmp_path / "n.pem"), "--cert", str(cert),
                       "--bits", "1024")
    assert code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8760h", dt.timedelta(days=365)), ("1h30m", dt.timedelta(minutes=90)),
     ("90m", dt.timedelta(minutes=90)), ("10y", dt.timedelta(days=3650)),
     ("1.5h", dt.timedelta(minutes=90))],
)
def test_go_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected

"""What every command shares: ``SEALER_*`` environment variables, help, version, shell
completion, and the ``kubectl seal`` plugin name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer.cli.main import cli
from sealer.scope import Scope
from sealer.sealedsecret import SealedSecret

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: ns}\nstringData: {a: b}\n"
COMMANDS = ["seal", "unseal", "keygen", "cert", "validate", "reencrypt"]


@pytest.fixture
def cert_file(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return path


def test_options_come_from_sealer_environment_variables(
    cert_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALER_CERT", str(cert_file))
    monkeypatch.setenv("SEALER_FORMAT", "json")
    monkeypatch.setenv("SEALER_SEAL_SCOPE", "namespace-wide")  # click's auto_envvar_prefix
    result = CliRunner().invoke(cli, ["seal"], input=SECRET)
    assert result.exit_code == 0, result.stderr
    assert SealedSecret.from_manifest(json.loads(result.stdout)).scope is Scope.NAMESPACE_WIDE
    result = CliRunner().invoke(cli, ["seal", "-o", "yaml"], input=SECRET)  # a flag wins
    assert yaml.safe_load(result.stdout)["kind"] == "SealedSecret"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(cli, [command, flag])
        assert result.exit_code == 0 and "Usage: " in result.stdout


def test_version_and_bash_completion() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("sealer, version ")
    result = CliRunner().invoke(cli, [], prog_name="sealer",
                                env={"_SEALER_COMPLETE": "bash_source"})
    assert "_SEALER_COMPLETE=bash_complete" in result.stdout and "complete " in result.stdout
    result = CliRunner().invoke(cli, [], prog_name="sealer",
                                env={"_SEALER_COMPLETE": "bash_complete",
                                     "COMP_WORDS": "sealer se", "COMP_CWORD": "1"})
    assert "plain,seal" in result.stdout


def test_kubectl_finds_the_plugin(cert_file: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    path = bin_dir + os.pathsep + os.environ.get("PATH", "")
    kubectl = shutil.which("kubectl", path=path)
    assert kubectl is not None and shutil.which("kubectl-seal", path=bin_dir) is not None
    result = subprocess.run([kubectl, "seal", "seal", "--cert", str(cert_file)], input=SECRET,
                            capture_output=True, text=True, env={**os.environ, "PATH": path},
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["kind"] == "SealedSecret"
    broken = subprocess.run([kubectl, "seal", "seal", "--cert", str(cert_file)], input="a: [",
                            capture_output=True, text=True, env={**os.environ, "PATH": path},
                            timeout=60, check=False)
    assert broken.returncode == 1 and broken.stderr.count("\n") == 1
    assert "Traceback" not in broken.stderr

""".sealer.yaml trust pins: found walking up, a cluster chosen by --cluster, defaultCluster or
being the only one pinned; an unpinned certificate refused whatever its source; pinning keeps
the file's comments and other settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer import pins
from sealer.cli.main import cli
from sealer.errors import CertificateError, InputError
from sealer.keys import KeyPair

SECRET = ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-a}\n"
          "stringData: {password: pw-value-123}\n")


def test_selection_rules(tmp_path: Path) -> None:
    config = tmp_path / ".sealer.yaml"
    config.write_text("clusters:\n  prod: {pins: [SHA256:a]}\n  dev: {}\nguard: {x: 1}\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert pins.find_config(tmp_path / "a" / "b") == config
    chosen = pins.selected(config, None)
    assert chosen is not None and (chosen.cluster, chosen.pins) == ("prod", ("SHA256:a",))
    dev = pins.selected(config, "dev")
    assert dev is not None and dev.pins == ()
    with pytest.raises(InputError, match="has no cluster 'qa'"):
        pins.selected(config, "qa")
    config.write_text("clusters:\n  prod: {pins: [SHA256:a]}\n  dev: {pins: [SHA256:b]}\n")
    with pytest.raises(InputError, match="choose one with --cluster"):
        pins.selected(config, None)
    config.write_text("defaultCluster: dev\n" + config.read_text())
    assert pins.selected(config, None).pins == ("SHA256:b",)  # type: ignore[union-attr]
    config.write_text("guard: {}\n")
    assert pins.selected(config, None) is None
    with pytest.raises(InputError, match="no .sealer.yaml"):
        pins.selected(None, "prod")
    config.write_text("clusters:\n  prod: {pins: SHA256:a}\n")
    with pytest.raises(InputError, match="clusters.prod.pins: must be a list"):
        pins.selected(config, None)


def test_check_and_cert_source(tmp_path: Path, key_pairs: tuple[KeyPair, KeyPair]) -> None:
    config = tmp_path / ".sealer.yaml"
    config.write_text(f"clusters:\n  prod:\n    pins: ['{key_pairs[0].fingerprint}']\n"
                      "    cert: certs/prod.pem\n")
    chosen = pins.selected(config, None)
    assert chosen is not None
    chosen.check(key_pairs[0].certificate)
    with pytest.raises(CertificateError, match="is not pinned for cluster 'prod'") as refused:
        chosen.check(key_pairs[1].certificate)
    assert "sealer cert --pin --cluster prod" in str(refused.value)
    assert chosen.cert_source() == str((tmp_path / "certs" / "prod.pem").resolve())


def test_pinning_keeps_comments_and_other_settings(tmp_path: Path) -> None:
    config = tmp_path / ".sealer.yaml"
    original = ("# repository settings\ndefaultCluster: prod\nclusters:\n  prod:\n    pins:\n"
                "    - SHA256:old   # 2025 key\n# end of clusters\nguard:\n  paths: [a, b]  # x\n")
    config.write_text(original)
    pinned = pins.add_pin(config, None, "SHA256:new")
    assert pinned.pins == ("SHA256:old", "SHA256:new")
    assert config.read_text() == original.replace(
        "    - SHA256:old   # 2025 key\n", "    - SHA256:old   # 2025 key\n    - SHA256:new\n")
    assert pins.add_pin(config, None, "SHA256:new").pins == ("SHA256:old", "SHA256:new")
    pins.add_pin(config, "dev", "SHA256:dev")
    assert yaml.safe_load(config.read_text())["clusters"]["dev"] == {"pins": ["SHA256:dev"]}
    fresh = tmp_path / "new" / ".sealer.yaml"
    fresh.parent.mkdir()
    assert pins.add_pin(fresh, None, "SHA256:a").cluster == "default"
    assert fresh.read_text().startswith("# sealer repository settings")


def test_seal_refuses_a_certificate_file_that_is_not_pinned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    monkeypatch.chdir(tmp_path)
    good, bad = tmp_path / "good.pem", tmp_path / "bad.pem"
    good.write_bytes(key_pairs[0].certificate.pem)
    bad.write_bytes(key_pairs[1].certificate.pem)
    (tmp_path / ".sealer.yaml").write_text(
        f"clusters:\n  prod:\n    pins: ['{key_pairs[0].fingerprint}']\n    cert: good.pem\n")
    runner = CliRunner()
    refused = runner.invoke(cli, ["seal", "--cert", str(bad)], input=SECRET)
    assert refused.exit_code == 1 and "is not pinned" in refused.stderr
    assert refused.stdout == ""
    sealed = runner.invoke(cli, ["seal"], input=SECRET)  # the cluster's cert: good.pem
    assert sealed.exit_code == 0 and key_pairs[0].fingerprint in sealed.stdout
    warned = runner.invoke(cli, ["cert", "--cert", str(bad)])
    assert warned.exit_code == 0 and "warning: not pinned" in warned.stderr

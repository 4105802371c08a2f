"""--peering and friends: flags and environment, what they set in kopf, and the default priority
(the replica running longest acts)."""

from __future__ import annotations

import kopf
import pytest

from controller import peering
from controller.config import Config, ConfigError, parse

ENV = {"POD_NAMESPACE": "kube-system"}


def test_standalone_by_default() -> None:
    config = parse([], ENV)
    assert config.peering == "" and config.peering_priority is None
    assert config.peering_lifetime == 30
    settings = kopf.OperatorSettings()
    peering.configure(settings, config, 0)
    assert settings.peering.standalone and not settings.peering.mandatory


def test_flags_and_environment() -> None:
    config = parse(["--peering", "sealed-secrets-controller", "--peering-lifetime", "2m",
                    "--peering-priority", "-5"], ENV)
    assert (config.peering, config.peering_lifetime, config.peering_priority) == (
        "sealed-secrets-controller", 120, -5)
    env = {**ENV, "SEALER_PEERING": "shard-a.example", "SEALER_PEERING_LIFETIME": "15"}
    config = parse([], env)
    assert config.peering == "shard-a.example" and config.peering_lifetime == 15
    assert parse(["--peering", "other"], env).peering == "other"  # a flag wins


@pytest.mark.parametrize("args", [
    ["--peering", "Not_A_Name"], ["--peering=-leading"], ["--peering", "x" * 254],
    ["--peering-lifetime", "0"], ["--peering-lifetime", "500ms"], ["--peering-lifetime", "soon"],
    ["--peering-priority", "high"],
])
def test_bad_values(args: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse(args, ENV)


def test_peering_settings() -> None:
    config = Config(peering="sealed-secrets-controller", peering_lifetime=7,
                    namespaces=("team-a",))
    settings = kopf.OperatorSettings()
    peering.configure(settings, config, 42)
    p = settings.peering
    assert not p.standalone and p.mandatory  # no peering object: paused, never alone
    assert p.clusterwide  # one cluster-scoped object, also for --namespace
    assert (p.name, p.priority, p.lifetime) == ("sealed-secrets-controller", 42, 7)


def test_the_replica_started_first_has_the_higher_priority() -> None:
    second = 1_800_000_000_000_000_000
    earlier = [peering.auto_priority(second - 1000) for _ in range(50)]  # 1 µs earlier
    later = [peering.auto_priority(second) for _ in range(50)]
    assert min(earlier) > max(later)
    assert len(set(later)) > 1  # a random tie-breaker below the microsecond

"""controller.config and controller.selector: upstream's flags, our SEALER_* environment, Go
durations, RFC 1123Z cutoffs, namespaces, label selectors."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from controller import logs
from controller.config import ConfigError, parse, parse_cutoff, parse_duration
from controller.main import main
from controller.selector import LabelSelector

ENV = {"POD_NAMESPACE": "sealed"}


@pytest.mark.parametrize(("text", "seconds"), [
    ("720h", 720 * 3600), ("0", 0), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400),
    ("500ms", 0.5), ("87600h", 87600 * 3600), ("-1m", -60),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "h", "10", "1d", "1h x", "1hh"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_cutoff_formats() -> None:
    expected = dt.datetime(2006, 1, 2, 22, 4, 5, tzinfo=dt.UTC)
    assert parse_cutoff("Mon, 02 Jan 2006 15:04:05 -0700") == expected
    assert parse_cutoff("2006-01-02T22:04:05Z") == expected
    assert parse_cutoff("") is None
    with pytest.raises(ConfigError):
        parse_cutoff("yesterday")


def test_defaults() -> None:
    cfg = parse([], ENV)
    assert cfg.all_namespaces and cfg.watches("anything")
    assert cfg.key_namespace == "sealed"
    assert cfg.key_prefix == "sealed-secrets-key"
    assert cfg.key_renew_period == dt.timedelta(hours=720)
    assert cfg.key_cutoff_time is None and cfg.key_size == 4096
    assert cfg.listen_addr == ":8080" and cfg.listen_metrics_addr == ":8081"
    assert cfg.update_status and cfg.accept_v1_data and not cfg.skip_recreate


def test_env_and_flags() -> None:
    env = {**ENV, "SEALER_KEY_PREFIX": "mykeys", "SEALED_SECRETS_KEY_RENEW_PERIOD": "0",
           "SEALER_NAMESPACE": "a, b", "SEALER_LOG_FORMAT": "json"}
    cfg = parse([], env)
    assert cfg.key_prefix == "mykeys" and cfg.key_renew_period == dt.timedelta(0)
    assert cfg.namespaces == ("a", "b") and not cfg.watches("c")
    assert cfg.log_format == "json"
    flagged = parse(["--key-prefix", "other", "--namespace", "x", "--namespace", "y"], env)
    assert flagged.key_prefix == "other" and flagged.namespaces == ("x", "y")


def test_upstream_flags_as_the_helm_chart_passes_them() -> None:
    cfg = parse([
        "--update-status", "--key-renew-period", "720h0m0s", "--key-prefix", "sealed-secrets-key",
        "--additional-namespaces", "team-a,team-b", "--listen-addr", ":8080",
        "--listen-metrics-addr", ":8081", "--max-unseal-retries", "5", "--watch-for-secrets",
        "--log-info-stdout", "--log-level", "INFO", "--log-format", "text",
        "--privatekey-labels", "a=1,b=2", "--privatekey-annotations", "c=3",
        "--rate-limit", "2", "--rate-limit-burst", "4", "--key-cutoff-time",
        "Mon, 02 Jan 2006 15:04:05 -0700", "--all-namespaces=false",
    ], ENV)
    assert cfg.namespaces == ("sealed", "team-a", "team-b")
    assert cfg.private_key_labels == {"a": "1", "b": "2"}
    assert cfg.private_key_annotations == {"c": "3"}
    assert cfg.verify_rate == "4/second"
    assert cfg.key_cutoff_time is not None


def test_all_namespaces_false_means_own_namespace() -> None:
    assert parse(["--all-namespaces=false"], ENV).namespaces == ("sealed",)
    assert parse(["--all-namespaces", "false"], ENV).namespaces == ("sealed",)


@pytest.mark.parametrize("argv", [
    ["--key-prefix", "Bad_Prefix"], ["--key-renew-period", "30d"],
    ["--key-order-priority", "Random"], ["--privatekey-labels", "novalue"],
    ["--key-size", "big"],
])
def test_bad_values(argv: list[str]) -> None:
    with pytest.raises(ConfigError):
        parse(argv, ENV)


def test_main_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "controller version" in capsys.readouterr().out
    assert main(["--key-renew-period", "forever"]) == 2
    assert "invalid duration" in capsys.readouterr().err


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ("", {}, True),
    ("a=b", {"a": "b"}, True),
    ("a==b", {"a": "c"}, False),
    ("a!=b", {}, True),
    ("a!=b", {"a": "b"}, False),
    ("a in (x, y),b", {"a": "y", "b": ""}, True),
    ("a notin (x)", {"a": "x"}, False),
    ("!a", {"b": "1"}, True),
    ("!a", {"a": "1"}, False),
    ("a,b=2", {"a": "1", "b": "2"}, True),
])
def test_label_selector(selector: str, labels: dict[str, str], matches: bool) -> None:
    parsed = LabelSelector.parse(selector)
    assert parsed.matches(labels) is matches
    assert parsed.text == selector


@pytest.mark.parametrize("selector", ["a in x", "=b", "!a in (x)", "a=(b)"])
def test_bad_label_selector(selector: str) -> None:
    with pytest.raises(ValueError):
        LabelSelector.parse(selector)


def test_json_logs(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("json", "INFO")
        logging.getLogger("controller.test").info("hello %s", "there", extra={"object": "a/b"})
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["msg"] == "hello there" and line["object"] == "a/b"
        assert line["level"] == "INFO" and line["logger"] == "controller.test"
        assert logging.getLogger("kopf.objects").level == logging.WARNING
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

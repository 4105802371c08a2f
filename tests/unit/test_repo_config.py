""".sealer.yaml: found walking up, clusters (certificate source, pins, output pattern, where the
cluster is), the guard's allow-list; unknown keys tolerated, wrong types named."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealer import repoconfig
from sealer.errors import InputError

FULL = """\
# repository settings
defaultCluster: prod
futureSetting: {anything: [1, 2]}
clusters:
  prod:
    cert: certs/prod.pem
    pins: [SHA256:aaa]
    output: clusters/{cluster}/{namespace}/{name}.yaml
    context: prod-admin
    kubeconfig: kube/prod
    controllerName: sealer
    controllerNamespace: sealer-system
    paths: [clusters/prod]
    somethingElse: true
  staging:
    cert: https://certs.example.com/staging.pem
  bare:
guard:
  allow:
    - tests/fixtures/**
    - path: docs/examples/*.yaml
      rule: secret-data
      reason: fake values
  other: ignored
"""


def test_full_file(tmp_path: Path) -> None:
    (tmp_path / ".sealer.yaml").write_text(FULL)
    (tmp_path / "a" / "b").mkdir(parents=True)
    config = repoconfig.discover(tmp_path / "a" / "b")
    assert config.path == tmp_path / ".sealer.yaml" and config.default_cluster == "prod"
    prod = config.cluster("prod")
    root = tmp_path.resolve()
    assert prod.cert_source() == str(root / "certs/prod.pem")
    assert prod.pins == ("SHA256:aaa",)
    assert prod.kubeconfig_path() == str(root / "kube/prod")
    assert (prod.context, prod.controller_name, prod.controller_namespace) == (
        "prod-admin", "sealer", "sealer-system")
    assert prod.output_path("team-a", "db") == root / "clusters/prod/team-a/db.yaml"
    assert prod.tree_paths() == [root / "clusters/prod"]
    assert config.cluster("staging").cert_source() == "https://certs.example.com/staging.pem"
    assert config.cluster("bare").tree_paths() == [root]
    assert [c.name for c in config.select([], every=True)] == ["bare", "prod", "staging"]
    assert [c.name for c in config.select(["staging", "prod", "staging"])] == ["staging", "prod"]


def test_no_file_is_an_empty_configuration(tmp_path: Path) -> None:
    config = repoconfig.discover(tmp_path)
    assert config.path is None and not config.clusters and not config.allow
    with pytest.raises(InputError, match="no cluster 'prod'"):
        config.cluster("prod")
    with pytest.raises(InputError, match="names no clusters"):
        config.select([], every=True)


def test_output_needs_a_pattern_and_safe_names(tmp_path: Path) -> None:
    (tmp_path / ".sealer.yaml").write_text(FULL)
    config = repoconfig.load(tmp_path / ".sealer.yaml")
    with pytest.raises(InputError, match="no output path pattern"):
        config.cluster("staging").output_path("ns", "name")
    with pytest.raises(InputError, match="cannot be part of a path"):
        config.cluster("prod").output_path("..", "name")
    assert config.cluster("prod").output_path("", "global").parts[-2] == "_cluster"


@pytest.mark.parametrize("body,where", [
    ("clusters: []", "clusters: must be a mapping"),
    ("clusters: {a: {pins: SHA256:x}}", "clusters.a.pins: must be a list"),
    ("clusters: {a: {cert: 3}}", "clusters.a.cert: must be a string"),
    ("clusters: {a: {output: 'x/{team}.yaml'}}", "unknown placeholder {team}"),
    ("clusters: {a: {output: '../x/{name}.yaml'}}", "relative path inside"),
    ("clusters: {a: {output: 'x/{name'}}", "is not a path pattern"),
    ("defaultCluster: b\nclusters: {a: {}}", "defaultCluster: names no cluster"),
    ("guard: {allow: [{rule: x}]}", "guard.allow[0].path: is required"),
    ("guard: {allow: x}", "guard.allow: must be a list"),
    ("a: 1\n---\nb: 2\n", "must be one YAML document"),
])
def test_wrong_types_are_named(tmp_path: Path, body: str, where: str) -> None:
    (tmp_path / ".sealer.yaml").write_text(body)
    with pytest.raises(InputError, match=where.replace("[", r"\[").replace("{", r"\{")):
        repoconfig.discover(tmp_path)


@pytest.mark.parametrize("pattern,path,matches", [
    ("tests/fixtures/**", "tests/fixtures/a/b.yaml", True),
    ("tests/fixtures/**", "x/tests/fixtures/b.yaml", False),
    ("tests/fixtures", "tests/fixtures/deep/b.yaml", True),
    ("*.pem", "deep/down/key.pem", True),
    ("docs/*.yaml", "docs/a.yaml", True),
    ("docs/*.yaml", "docs/sub/a.yaml", False),
    ("docs/**/*.yaml", "docs/sub/a.yaml", True),
    ("docs/**/*.yaml", "docs/a.yaml", True),
    ("/kubeconfig", "kubeconfig", True),
    ("a?c.txt", "abc.txt", True),
])
def test_allow_globs(tmp_path: Path, pattern: str, path: str, matches: bool) -> None:
    (tmp_path / ".sealer.yaml").write_text(f"guard: {{allow: ['{pattern}']}}")
    config = repoconfig.discover(tmp_path)
    assert (config.allowed(tmp_path / path, "any") is not None) is matches


def test_allow_by_rule(tmp_path: Path) -> None:
    (tmp_path / ".sealer.yaml").write_text(FULL)
    config = repoconfig.discover(tmp_path)
    entry = config.allowed(tmp_path / "docs/examples/x.yaml", "secret-data")
    assert entry is not None and entry.reason == "fake values"
    assert config.allowed(tmp_path / "docs/examples/x.yaml", "pem-private-key") is None

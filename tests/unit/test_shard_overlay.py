"""docs/install.md's shard overlay, rendered with the real kubectl for two shards: valid
objects, and two shards that share nothing but the key namespace (and the CRDs, applied once)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from controller.config import parse
from tests.deploy_support import DEPLOY, REQUIRED, ROOT, granted, kustomize

Obj = dict[str, Any]
SHARDS = {"team-a": ["team-a", "team-a-staging"], "team-b": ["team-b"]}


def documented_overlay() -> str:
    text = (ROOT / "docs" / "install.md").read_text()
    blocks = re.findall(r"```yaml\n(# shard-team-a/kustomization\.yaml.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/install.md: the shard overlay block"
    return str(blocks[0])


def render(tmp: Path, shard: str) -> list[Obj]:
    overlay = documented_overlay()
    if shard != "team-a":
        overlay = overlay.replace("- --namespace=team-a-staging\n", "")
        overlay = overlay.replace("team-a", shard)
    folder = tmp / f"shard-{shard}"
    folder.mkdir()
    base = os.path.relpath(DEPLOY, folder)
    (folder / "kustomization.yaml").write_text(overlay.replace("../deploy", base, 1))
    return kustomize(folder)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Obj]]:
    tmp = tmp_path_factory.mktemp("overlays")
    return {shard: render(tmp, shard) for shard in SHARDS}


def one(objects: list[Obj], kind: str) -> Obj:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def args_of(objects: list[Obj]) -> list[str]:
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return list(container["args"])


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_each_shard_is_valid_and_leaves_the_crds_alone(shards: dict[str, list[Obj]]) -> None:
    for objects in shards.values():
        assert "CustomResourceDefinition" not in {o["kind"] for o in objects}
        for obj in objects:
            if obj["kind"] != "ClusterKopfPeering":
                kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_each_shard_has_its_peering_object_and_namespaces(shards: dict[str, list[Obj]]) -> None:
    seen: set[str] = set()
    peerings = set()
    for shard, objects in shards.items():
        config = parse(args_of(objects), {"POD_NAMESPACE": "kube-system"})
        assert config.peering == one(objects, "ClusterKopfPeering")["metadata"]["name"]
        assert set(config.namespaces) == set(SHARDS[shard])
        assert config.key_namespace == "kube-system"  # the shared key namespace
        assert not seen & set(config.namespaces), "shards overlap"
        seen |= set(config.namespaces)
        peerings.add(config.peering)
    assert len(peerings) == len(SHARDS)


def test_shards_share_no_object_and_select_only_their_pods(
        shards: dict[str, list[Obj]]) -> None:
    def key(o: Obj) -> tuple[str, str | None, str]:
        return o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]

    a, b = (shards[s] for s in SHARDS)
    assert not {key(o) for o in a} & {key(o) for o in b}
    for mine, theirs in ((a, b), (b, a)):
        pods = one(mine, "Deployment")["spec"]["template"]["metadata"]["labels"]
        other_pods = one(theirs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        for kind, path in (("Deployment", ("spec", "selector", "matchLabels")),
                           ("PodDisruptionBudget", ("spec", "selector", "matchLabels")),
                           ("Service", ("spec", "selector"))):
            selector: Any = one(mine, kind)
            for part in path:
                selector = selector[part]
            assert matches(selector, pods) and not matches(selector, other_pods), kind


def test_each_shard_account_holds_exactly_the_controllers_grants(
        shards: dict[str, list[Obj]]) -> None:
    for shard, objects in shards.items():
        account = f"sealed-secrets-controller-{shard}"
        assert one(objects, "Deployment")["spec"]["template"]["spec"][
            "serviceAccountName"] == account
        assert granted(objects, account) == REQUIRED
        proxier = next(o for o in objects if o["kind"] == "Role"
                       and o["metadata"]["name"].startswith("sealed-secrets-service-proxier"))
        names = {n for rule in proxier["rules"] for n in rule.get("resourceNames", [])}
        assert names and all(account in n for n in names)  # this shard's Service
        service = one(objects, "Service")["metadata"]["name"]
        assert service == account

"""The decisions behind `sealer keys`, without a cluster: which key a fingerprint prefix names,
what each SealedSecret depends on, when a key may go, how a rotation request is made and
answered (both sides), and that a restore never adds a key twice."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.rotation import RotationRequests, field_selector, pending_request
from sealer import clusterkeys, keyrotation, keys, keysecrets, resealing, retirement, sealedfiles
from sealer.clusterkeys import KeyInfo
from sealer.errors import ClusterError, InputError
from sealer.keyrotation import CONFIG_MAP, DONE_ANNOTATION, REQUEST_ANNOTATION
from sealer.keys import KeyPair
from sealer.kube import Response
from sealer.pins import ClusterPins
from sealer.sealedfiles import Scan, SealedDocument

Handler = Callable[[str, str, Any], Response]


class FakeClient:
    """KubeClient.request answered by ``handler``; every call recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.calls = handler, []  # type: list[tuple[str, str, Any]]

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json") -> Response:
        self.calls.append((method, path, body))
        return self.handler(method, path, body)


def ok(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode())


def key(fp: str, state: str = "active") -> KeyInfo:
    return KeyInfo(fp, state, "s-" + fp[-3:], "2026-01-01T00:00:00Z", "2036-01-01T00:00:00Z", 4096)


def test_a_fingerprint_prefix_names_one_key() -> None:
    found = [key("SHA256:abcdef"), key("SHA256:abcxyz"), key("SHA256:zzz")]
    assert clusterkeys.resolve(found, "SHA256:abcd").fingerprint == "SHA256:abcdef"
    assert clusterkeys.resolve(found, "zz").fingerprint == "SHA256:zzz"
    with pytest.raises(InputError, match="matches 2 keys"):
        clusterkeys.resolve(found, "abc")
    with pytest.raises(InputError, match="holds no key"):
        clusterkeys.resolve(found, "SHA256:q")


def test_what_each_object_depends_on() -> None:
    objects = [
        {"metadata": {"namespace": "a", "name": "unsealed"},
         "status": {"keyFingerprints": ["SHA256:old", "SHA256:new"]}},
        {"metadata": {"namespace": "a", "name": "new", "annotations": {
            "sealer.dev/key-fingerprint": "SHA256:old"}}},
        {"metadata": {"namespace": "a", "name": "failing"}, "status": {"conditions": [
            {"type": "Synced", "status": "False", "reason": "ErrUnsealFailed"}]}},
        {"metadata": {"namespace": "a", "name": "pending"}},
    ]  # fmt: skip
    refs = list(clusterkeys.object_refs(objects))
    assert [r.evidence for r in refs] == ["status", "annotation", "failing", "unknown"]
    assert clusterkeys.usage(refs) == {"SHA256:old": 2, "SHA256:new": 1}
    found = retirement.dependents("SHA256:old", refs, None)
    assert [r.name for r in found.objects] == ["unsealed", "new"]
    assert [r.name for r in found.unknown_objects] == ["pending"] and found.blocking
    assert not retirement.dependents("SHA256:gone", [refs[2]], None).blocking


def test_files_naming_no_key_block_deletion(tmp_path: Path) -> None:
    def doc(name: str, fp: str | None) -> SealedDocument:
        meta: dict[str, Any] = {"name": name, "namespace": "a"}
        if fp:
            meta["annotations"] = {"sealer.dev/key-fingerprint": fp}
        return SealedDocument(tmp_path / f"{name}.yaml", 0, {"kind": "SealedSecret",
                                                            "metadata": meta})

    scan = Scan(files=3, sealed=[doc("x", "SHA256:old"), doc("y", None), doc("z", "SHA256:new")])
    found = retirement.dependents("SHA256:old", [], scan)
    assert [d.name for d in found.files] == ["x"] and [d.name for d in found.unknown_files] == ["y"]
    assert "x.yaml:1: SealedSecret a/x" in "\n".join(found.lines())
    assert not retirement.dependents("SHA256:old", [], Scan(sealed=[doc("z", "SHA256:new")])
                                     ).blocking


def test_rotation_request_and_answer() -> None:
    state: dict[str, Any] = {}
    error: dict[str, str] = {}

    def handler(method: str, path: str, body: Any) -> Response:
        if method == "PATCH":
            if not state:
                return ok({"kind": "Status", "code": 404}, 404)
            state["metadata"]["annotations"].update(body["metadata"]["annotations"])
            return ok(state)
        if method == "POST":
            state.update(body)
            return ok(state, 201)
        annotations = state["metadata"]["annotations"]
        request = annotations[REQUEST_ANNOTATION]
        annotations[DONE_ANNOTATION] = request  # the controller answers at once
        state["data"] = {"request": request, "fingerprint": "SHA256:new", "secret": "k1",
                         "notAfter": "2036-01-01T00:00:00Z", **error}
        return ok(state)

    client = FakeClient(handler)
    done = keyrotation.request_rotation(client, "kube-system", sleep=lambda _: None)  # type: ignore[arg-type]
    assert (done.fingerprint, done.secret) == ("SHA256:new", "k1")
    assert [c[0] for c in client.calls] == ["PATCH", "POST", "GET"]
    assert client.calls[1][1] == "/api/v1/namespaces/kube-system/configmaps"
    error["error"] = "boom"
    with pytest.raises(ClusterError, match="could not rotate the key: boom"):
        keyrotation.request_rotation(client, "kube-system", sleep=lambda _: None)  # type: ignore[arg-type]
    forbidden = FakeClient(lambda m, p, b: ok({}, 403))
    with pytest.raises(ClusterError, match="RBAC must grant patch"):
        keyrotation.request_rotation(forbidden, "kube-system")  # type: ignore[arg-type]
    times = iter(range(100))
    silent = FakeClient(lambda m, p, b: ok({"metadata": {"annotations": {}}}))
    with pytest.raises(ClusterError, match="no controller answered"):
        keyrotation.request_rotation(silent, "ns", timeout=3, clock=lambda: next(times),  # type: ignore[arg-type]
                                     sleep=lambda _: None)


class FakeKeys:
    def __init__(self, pair: KeyPair, fail: bool = False) -> None:
        self.pair, self.fail, self.made = pair, fail, 0

    async def generate(self, seed: str | None = None) -> KeyPair:
        if self.fail:
            raise ClusterError("the API server said no (HTTP 403)")
        self.made += 1
        return self.pair


class FakeCluster:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch_config_map(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        assert (namespace, name) == ("kube-system", CONFIG_MAP)
        self.patches.append(patch)


def config_map(request: str | None, done: str | None = None, ns: str = "kube-system") -> Any:
    annotations = {k: v for k, v in ((REQUEST_ANNOTATION, request), (DONE_ANNOTATION, done)) if v}
    return {"metadata": {"name": CONFIG_MAP, "namespace": ns, "annotations": annotations}}


def test_the_controller_answers_each_request_once(key_pairs: tuple[KeyPair, KeyPair]) -> None:
    assert field_selector("ns") == f"metadata.name={CONFIG_MAP},metadata.namespace=ns"
    assert pending_request(config_map("r1"), "kube-system") == "r1"
    assert pending_request(config_map("r1", "r1"), "kube-system") is None
    assert pending_request(config_map("r1", ns="other"), "kube-system") is None
    fake, cluster = FakeKeys(key_pairs[1]), FakeCluster()
    rotation = RotationRequests(fake, cluster, "kube-system")  # type: ignore[arg-type]

    async def events() -> None:
        await rotation.on_config_map("ADDED", config_map("r1"))
        await rotation.on_config_map("MODIFIED", config_map("r1"))  # seen before our answer
        await rotation.on_config_map("MODIFIED", config_map("r1", "r1"))
        await rotation.on_config_map("DELETED", config_map("r2"))

    asyncio.run(events())
    assert fake.made == 1 and len(cluster.patches) == 1
    (patch,) = cluster.patches
    assert patch["metadata"]["annotations"] == {DONE_ANNOTATION: "r1"}
    assert patch["data"]["fingerprint"] == key_pairs[1].fingerprint
    assert patch["data"]["error"] is None
    failing = RotationRequests(FakeKeys(key_pairs[1], fail=True), cluster, "kube-system")  # type: ignore[arg-type]
    asyncio.run(failing.on_config_map("MODIFIED", config_map("r3")))
    assert cluster.patches[-1]["data"] == {"request": "r3",
                                           "error": "making the new key failed: the API server "
                                           "said no (HTTP 403)"}


def test_restore_never_adds_a_key_twice(key_pairs: tuple[KeyPair, KeyPair]) -> None:
    present = keys.key_secret(key_pairs[0], "kube-system", "sealed-secrets-key", name="k0")
    backup = [keys.key_secret(p, "elsewhere", "sealed-secrets-key", name=f"k{i}")
              for i, p in enumerate(key_pairs)]  # fmt: skip
    created: list[dict[str, Any]] = []

    def handler(method: str, path: str, body: Any) -> Response:
        if method == "GET" and "labelSelector" in path:
            return ok({"items": [present, *created]})
        if method == "GET":
            return ok({}, 404)
        if body["metadata"].get("name") == "k1" and not created:
            return ok({}, 409)  # the name holds some other key: a generated name instead
        created.append({**body, "metadata": {**body["metadata"], "name": "sealed-secrets-keyx"}})
        return ok(created[-1], 201)

    client = FakeClient(handler)
    data = json.dumps({"apiVersion": "v1", "kind": "List", "items": backup}).encode()
    outcomes = keysecrets.restore(client, "kube-system", data, "backup")  # type: ignore[arg-type]
    assert [(o.outcome, o.name) for o in outcomes] == [("already present", "k0"),
                                                       ("restored", "sealed-secrets-keyx")]
    (made,) = created
    assert made["metadata"]["namespace"] == "kube-system"
    assert made["metadata"]["labels"] == {keys.KEY_LABEL: keys.KEY_LABEL_ACTIVE}
    assert base64.b64decode(made["data"]["tls.crt"]) == key_pairs[1].certificate.pem


def test_reseal_writes_only_answers_it_can_trust(tmp_path: Path) -> None:
    """A wrong key, a pin missing or other items in the answer leave that object as it was;
    the file's other objects are re-sealed all the same."""
    def obj(name: str) -> str:
        return (f"---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
                f"  name: {name}\n  namespace: a\nspec:\n  encryptedData:\n    k: AgBold{name}\n")

    path = tmp_path / "sealed.yaml"
    path.write_text("# four objects\n" + "".join(obj(n) for n in ("ok", "wrongkey", "extra",
                                                                   "broken")))

    def rotate(manifest: Any) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        if name == "broken":
            raise ClusterError("the controller cannot decrypt it")
        fp = "SHA256:other" if name == "wrongkey" else "SHA256:new"
        items = {"k": "AgBnew" + name, **({"x": "AgB"} if name == "extra" else {})}
        return {"metadata": {"annotations": {"sealer.dev/key-fingerprint": fp}},
                "spec": {"encryptedData": items}}

    plan = resealing.plan(sealedfiles.scan([tmp_path]), "SHA256:new")
    assert len(plan.stale) == 4
    ticks: list[int] = []
    report = resealing.apply(plan, rotate, progress=ticks.append)
    assert [d.name for d in report.resealed] == ["ok"] and len(ticks) == 4
    reasons = {d.name: why for d, why in report.failed}
    assert "not to the sealing key SHA256:new" in reasons["wrongkey"]
    assert "other items" in reasons["extra"] and "cannot decrypt" in reasons["broken"]
    text = path.read_text()
    assert "AgBnewok" in text and "AgBoldwrongkey" in text and "AgBoldextra" in text
    assert report.summary().endswith("1 re-sealed in 1 files, 3 failed")
    pinned = ClusterPins(tmp_path / ".sealer.yaml", "prod", ("SHA256:pinned",), None)
    again = resealing.apply(resealing.plan(sealedfiles.scan([tmp_path]), "SHA256:new"), rotate,
                            pinned)
    assert not again.resealed  # "ok" is up to date; the others fail as before
    pinned_plan = resealing.plan(sealedfiles.scan([tmp_path]), "SHA256:new")
    pinned_plan.stale = [d for d in pinned_plan.tree.sealed if d.name == "extra"]
    refused = resealing.apply(pinned_plan, lambda m: {**rotate(m), "spec": {"encryptedData": {
        "k": "AgBx"}}}, pinned)
    assert "not pinned for cluster 'prod'" in refused.failed[0][1]

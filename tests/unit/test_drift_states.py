"""sealer.drift.compare: one state per object, from ciphertexts, metadata and status only."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sealer.drift import compare
from sealer.scope import KEY_FINGERPRINT_ANNOTATION as HINT
from sealer.sealedfiles import SealedDocument

OLD, NEW = "SHA256:old", "SHA256:new"


def obj(name: str, ns: str = "a", key: str | None = NEW, **items: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if key:
        meta["annotations"] = {HINT: key}
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": meta,
            "spec": {"encryptedData": items or {"k": "AgA"},
                     "template": {"metadata": {"name": name, "creationTimestamp": None}}}}


def live(o: dict[str, Any], synced: str = "True", generation: int = 1, observed: int = 1,
         **status: Any) -> dict[str, Any]:
    result = copy.deepcopy(o)
    result["metadata"]["generation"] = generation
    result["spec"]["template"]["metadata"].pop("creationTimestamp")  # pruned by the server
    result["status"] = {"observedGeneration": observed, **status,
                        "conditions": [{"type": "Synced", "status": synced,
                                        "reason": "ErrUnsealFailed" if synced != "True" else "",
                                        "message": "no key could decrypt it"}]}
    return result


def doc(o: dict[str, Any], line: int = 1, path: str = "t.yaml") -> SealedDocument:
    return SealedDocument(Path(path), 0, o, line=line)


def states(tree: list[SealedDocument], cluster: list[dict[str, Any]], **kw: Any) -> dict:  # type: ignore[type-arg]
    return {f"{d.namespace}/{d.name}": (d.state, d.details) for d in
            compare(tree, cluster, newest=kw.pop("newest", NEW), **kw)}


def test_every_state() -> None:
    same = obj("same")
    scoped = obj("scoped")
    scoped_live = live(scoped)
    scoped_live["metadata"]["annotations"]["sealedsecrets.bitnami.com/cluster-wide"] = "true"
    template = obj("template")
    template_live = live(template)
    template_live["spec"]["template"]["type"] = "kubernetes.io/tls"
    result = states(
        [doc(same), doc(obj("new")), doc(obj("items", a="1", b="2", c="3")), doc(scoped),
         doc(template), doc(obj("broken")), doc(obj("old", key=OLD)), doc(obj("pending")),
         doc(obj("twice")), doc(obj("twice"), 7, "u.yaml")],
        [live(same), live(obj("manual")), live(obj("items", b="2", c="X", d="4")),
         scoped_live, template_live, live(obj("broken"), synced="False"),
         live(obj("old", key=OLD)), live(obj("pending"), generation=2, observed=1),
         live(obj("twice"))],
    )
    assert result == {
        "a/same": ("in-sync", ()),
        "a/new": ("only-in-git", ("not applied",)),
        "a/manual": ("only-in-cluster", ("applied by hand, or deleted from Git",)),
        "a/items": ("differs", ("items added: a", "items removed: d", "items changed: c")),
        "a/scoped": ("differs", ("scope changed: cluster-wide in the cluster, strict in Git",)),
        "a/template": ("differs", ("template changed",)),
        "a/broken": ("not-synced", ("ErrUnsealFailed: no key could decrypt it",)),
        "a/old": ("stale", ("sealed to SHA256:old, the newest key is SHA256:new",)),
        "a/pending": ("not-synced", ("the controller has seen generation 1, not 2 yet",)),
        "a/twice": ("duplicate", ("also defined at u.yaml:7",)),
    }


def test_key_change_and_unknown_keys() -> None:
    ours = obj("db", key=NEW, k="fresh")
    theirs = live(obj("db", key=OLD, k="AgA"))
    (found,) = compare([doc(ours)], [theirs], newest=NEW)
    assert found.state == "differs" and not found.stale
    assert "key changed: SHA256:old in the cluster, SHA256:new in Git" in found.details
    # kubeseal-made (no annotation): the key the controller reports decides staleness
    plain = obj("k", key=None)
    (found,) = compare([doc(plain)], [live(plain, keyFingerprints=[OLD])], newest=NEW)
    assert (found.state, found.key, found.stale) == ("stale", OLD, True)
    # no certificate to compare with: never stale
    (found,) = compare([doc(plain)], [live(plain, keyFingerprints=[OLD])], newest=None)
    assert found.state == "in-sync"


def test_namespaces_limit_cluster_only_objects() -> None:
    cluster = [live(obj("x", ns="a")), live(obj("y", ns="b"))]
    assert [d.name for d in compare([], cluster, newest=None, namespaces={"a"})] == ["x"]
    assert [d.name for d in compare([], cluster, newest=None, namespaces=None)] == ["x", "y"]


def test_a_missing_namespace_is_the_default_one() -> None:
    tree = [doc(obj("db", ns=""))]
    (found,) = compare(tree, [live(obj("db", ns="dev"))], newest=NEW, default_namespace="dev")
    assert (found.namespace, found.state) == ("dev", "in-sync")


def test_no_status_is_not_synced() -> None:
    o = obj("db")
    bare = copy.deepcopy(o)
    (found,) = compare([doc(o)], [bare], newest=NEW)
    assert found.state == "not-synced" and "no status yet" in found.details[0]

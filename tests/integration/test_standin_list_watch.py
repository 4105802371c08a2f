"""Lists (kind, apiVersion, resourceVersion, selectors, pages) and watches (replay from a
resourceVersion with nothing lost, timeouts, selectors, initial events, 410 Gone)."""

from __future__ import annotations

import threading
import urllib.parse

import kubernetes
import pytest

from tests.support import KubeAPI

SECRETS = "/api/v1/namespaces/default/secrets"
LABELS = {"a": {"app": "web", "tier": "front", "n": "3"}, "b": {"app": "db", "tier": "back",
          "n": "5"}, "c": {"app": "web"}, "d": {}}


@pytest.fixture
def labelled(kube_api: KubeAPI) -> KubeAPI:
    for name, labels in LABELS.items():
        kube_api.http("POST", SECRETS, {"metadata": {"name": name, "labels": labels}})
    return kube_api


def names(api: KubeAPI, path: str, **params: str) -> list[str]:
    result = api.http("GET", f"{path}?{urllib.parse.urlencode(params)}")
    assert result.status == 200, result.body
    return [item["metadata"]["name"] for item in result.json()["items"]]


def test_list_shape(kube_api: KubeAPI) -> None:
    kube_api.http("POST", SECRETS, {"metadata": {"name": "s"}})
    listing = kube_api.http("GET", SECRETS).json()
    assert (listing["kind"], listing["apiVersion"]) == ("SecretList", "v1")
    assert listing["metadata"]["resourceVersion"] == str(kube_api.resource_version)
    crs = kube_api.http("GET", "/apis/bitnami.com/v1alpha1/sealedsecrets").json()
    assert (crs["kind"], crs["apiVersion"]) == ("SealedSecretList", "bitnami.com/v1alpha1")
    assert crs["items"] == []


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", ["a", "c"]),
    ("app==web", ["a", "c"]),
    ("app!=web", ["b", "d"]),
    ("app in (web, db)", ["a", "b", "c"]),
    ("tier notin (front)", ["b", "c", "d"]),
    ("tier", ["a", "b"]),
    ("!tier", ["c", "d"]),
    ("app=web,tier", ["a"]),
    ("app in (web),tier notin (back)", ["a", "c"]),
    ("n>4", ["b"]),
    ("n<4", ["a"]),
    ("", ["a", "b", "c", "d"]),
])
def test_label_selectors(labelled: KubeAPI, selector: str, expected: list[str]) -> None:
    assert names(labelled, SECRETS, labelSelector=selector) == expected


def test_bad_selectors_answer_400(labelled: KubeAPI) -> None:
    for params in ({"labelSelector": "app in (web"}, {"fieldSelector": "metadata.name"}):
        result = labelled.http("GET", f"{SECRETS}?{urllib.parse.urlencode(params)}")
        assert result.status == 400 and result.json()["reason"] == "BadRequest"


def test_field_selectors_across_namespaces(labelled: KubeAPI) -> None:
    labelled.http("POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
    labelled.http("POST", "/api/v1/namespaces/other/secrets", {"metadata": {"name": "a"}})
    assert names(labelled, "/api/v1/secrets", fieldSelector="metadata.name=a") == ["a", "a"]
    assert names(labelled, "/api/v1/secrets",
                 fieldSelector="metadata.name=a,metadata.namespace=other") == ["a"]
    assert names(labelled, SECRETS, fieldSelector="metadata.name!=a") == ["b", "c", "d"]
    assert names(labelled, "/api/v1/secrets", fieldSelector="metadata.namespace==other",
                 labelSelector="!app") == ["a"]


def test_pages_with_limit_and_continue(labelled: KubeAPI) -> None:
    first = labelled.http("GET", f"{SECRETS}?limit=3").json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b", "c"]
    assert first["metadata"]["remainingItemCount"] == 1
    token = urllib.parse.quote(first["metadata"]["continue"])
    second = labelled.http("GET", f"{SECRETS}?limit=3&continue={token}").json()
    assert [i["metadata"]["name"] for i in second["items"]] == ["d"]
    assert "continue" not in second["metadata"]


def test_watch_replays_from_a_list_version(kube_api: KubeAPI) -> None:
    kube_api.http("POST", SECRETS, {"metadata": {"name": "before"}})
    rv = kube_api.http("GET", SECRETS).json()["metadata"]["resourceVersion"]
    kube_api.http("POST", SECRETS, {"metadata": {"name": "after"}})
    kube_api.patch("secrets", "before", {"metadata": {"labels": {"x": "1"}}}, "default")
    kube_api.delete("secrets", "after", "default")
    result = kube_api.http("GET", f"{SECRETS}?watch=true&resourceVersion={rv}&timeoutSeconds=0.3")
    assert result.status == 200
    assert result.headers["Content-Type"].startswith("application/json")
    events = result.lines()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]
    assert all(e["object"]["kind"] == "Secret" for e in events)


def test_watch_without_version_starts_with_the_current_state(labelled: KubeAPI) -> None:
    events = labelled.http("GET", f"{SECRETS}?watch=1&timeoutSeconds=0.2").lines()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"), ("ADDED", "d")]


def test_watch_with_initial_events_ends_them_with_a_bookmark(labelled: KubeAPI) -> None:
    events = labelled.http("GET", f"{SECRETS}?watch=true&sendInitialEvents=true"
                                  "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
                                  "&labelSelector=app%3Dweb&timeoutSeconds=0.2").lines()
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    bookmark = events[-1]["object"]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert bookmark["resourceVersion"] == str(labelled.resource_version)


def test_watch_selectors_turn_transitions_into_added_and_deleted(kube_api: KubeAPI) -> None:
    kube_api.http("POST", SECRETS, {"metadata": {"name": "s"}})
    rv = kube_api.resource_version
    kube_api.patch("secrets", "s", {"metadata": {"labels": {"app": "web"}}}, "default")
    kube_api.patch("secrets", "s", {"data": {"k": "dg=="}}, "default")
    kube_api.patch("secrets", "s", {"metadata": {"labels": None}}, "default")
    kube_api.http("POST", SECRETS, {"metadata": {"name": "t", "labels": {"app": "db"}}})
    events = kube_api.http("GET", f"{SECRETS}?watch=true&resourceVersion={rv}"
                                  "&labelSelector=app%3Dweb&timeoutSeconds=0.2").lines()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    by_name = kube_api.http("GET", f"{SECRETS}/t?watch=true&resourceVersion={rv}"
                                   "&timeoutSeconds=0.2").lines()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in by_name] == [("ADDED", "t")]


def test_watch_timeout_closes_the_stream(kube_api: KubeAPI) -> None:
    result = kube_api.http("GET", f"{SECRETS}?watch=true&timeoutSeconds=1")
    assert result.status == 200 and result.lines() == []
    assert kube_api.open_watches == 0


def test_too_old_version_answers_410_gone() -> None:
    with KubeAPI.start(watch_log_limit=5) as api:
        for index in range(10):
            api.http("POST", SECRETS, {"metadata": {"name": f"s{index}"}})
        [error] = api.http("GET", f"{SECRETS}?watch=true&resourceVersion=2").lines()
        assert error["type"] == "ERROR"
        assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")
        recent = api.resource_version - 2
        events = api.http("GET", f"{SECRETS}?watch=true&resourceVersion={recent}"
                                 "&timeoutSeconds=0.2").lines()
        assert [e["object"]["metadata"]["name"] for e in events] == ["s8", "s9"]


def test_list_then_watch_loses_nothing_under_concurrent_writes(
        kube_api: KubeAPI, kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    total = 60
    started = threading.Event()

    def writer() -> None:
        started.set()
        for index in range(total):
            kube_api.http("POST", SECRETS, {"metadata": {"name": f"w{index:03d}"}})

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait()
    listing = core.list_namespaced_secret("default")
    seen = [item.metadata.name for item in listing.items]
    stream = kubernetes.watch.Watch()
    for event in stream.stream(core.list_namespaced_secret, "default",
                               resource_version=listing.metadata.resource_version,
                               timeout_seconds=10):
        assert event["type"] == "ADDED"
        seen.append(event["object"].metadata.name)
        if len(seen) >= total:
            stream.stop()
    thread.join()
    assert sorted(seen) == [f"w{index:03d}" for index in range(total)]

"""Thousands of requests stay cheap: kmock's history is bounded and reaction matching takes
the O(1) fast path. Latency is printed, never asserted."""

from __future__ import annotations

import http.client
import time

from tests.support import KubeAPI

SECRETS = "/api/v1/namespaces/default/secrets"


def test_three_thousand_requests_keep_history_bounded_and_matching_fast() -> None:
    with KubeAPI.start(history_limit=500, request_log_limit=1000) as api:
        emulator = api.emulator
        emulator["get /custom"] << {"served": "by a kmock reaction"}
        (emulator["get"][SECRETS + "/teapot"]) << 418
        api.create({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "x", "namespace": "default"}})
        conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
        latencies: list[float] = []
        try:
            for index in range(3000):
                path = "/custom" if index % 100 == 0 else f"{SECRETS}/x"
                started = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                latencies.append(time.perf_counter() - started)
                assert response.status == 200, body
            conn.request("GET", SECRETS + "/teapot")
            teapot = conn.getresponse()
            teapot.read()
            assert teapot.status == 418
        finally:
            conn.close()
        for start in range(0, len(latencies), 500):
            chunk = latencies[start:start + 500]
            print(f"requests {start:4d}-{start + len(chunk):4d}: "
                  f"mean {1000 * sum(chunk) / len(chunk):.2f} ms")
        stats = api.stats()
        print(stats)
        assert stats["requests_total"] == 3001
        assert stats["kmock_history"] <= 500
        assert stats["request_log"] == 1000
        # Two reactions checked per request, except the 30 answered by the first one:
        assert stats["fast_matches"] == 2 * 3001 - 30 and stats["slow_matches"] == 0
        assert api.count(verb="get", resource="secrets") == 2970 + 1


def test_history_dependent_reactions_still_work_through_kmock() -> None:
    with KubeAPI.start() as api:
        api.emulator["get /once"][:1] << b"first"  # a slice needs the history: kmock's path
        first = api.http("GET", "/once")
        second = api.http("GET", "/once")
        assert (first.status, first.body) == (200, b"first")
        assert second.status == 404
        assert api.stats()["slow_matches"] >= 1

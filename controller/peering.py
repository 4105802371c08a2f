"""High availability: several replicas, exactly one acting, with kopf's peering.

With ``--peering NAME`` every replica keeps its entry (priority, lifetime, last seen) in the
status of the ``ClusterKopfPeering`` object ``NAME`` (``kopf.dev/v1``, cluster-scoped, so one
object serves whatever ``--namespace`` set the controller has). kopf pauses the watch streams of
every replica that sees a live peer of higher or equal priority; the one with the highest
priority acts. A replica that exits removes its entry and the next one resumes at once; one that
dies silently is taken for dead ``--peering-lifetime`` after its last keep-alive.

What kopf pauses are the watch streams, not startup handlers nor our own tasks: every replica
loads the keys at start, keeps them current by re-reading the key Secrets
(``key_refresh_interval``; the Secret watch is paused on passive replicas) and serves the HTTP
API. Keys are never made twice (see :mod:`controller.keyring`): that needs no leader.

The default priority makes the longest-running replica the one that acts: a new replica (a
rolling update, a rescheduled pod) never pre-empts a working one. Equal priorities would pause
everyone (kopf's rule), so the start time is taken to the microsecond, plus a random tie-breaker.
"""

from __future__ import annotations

import logging
import secrets
import time

import kopf

from controller.cluster import ApiError, Cluster
from controller.config import Config

log = logging.getLogger(__name__)
PEERING_GROUP_VERSION, PEERING_PLURAL = "kopf.dev/v1", "clusterkopfpeerings"


def auto_priority(now_ns: int | None = None) -> int:
    """Older is higher: minus the start time in microseconds, 3 random decimal digits below."""
    micros = (time.time_ns() if now_ns is None else now_ns) // 1000
    return -(micros * 1000 + secrets.randbelow(1000))


def configure(settings: kopf.OperatorSettings, config: Config, priority: int) -> None:
    """kopf's peering settings: standalone without ``--peering``, else mandatory cluster-wide
    peering (mandatory: without the peering object a replica stays paused, never acts alone)."""
    peering = settings.peering
    if not config.peering:
        peering.standalone, peering.mandatory = True, False
        return
    peering.standalone = False
    peering.mandatory = True
    peering.clusterwide = True  # also for --namespace: one object, whatever the namespaces
    peering.name = config.peering
    peering.priority = priority
    peering.lifetime = config.peering_lifetime
    peering.stealth = True  # no log line per keep-alive


async def check_peering_object(cluster: Cluster, name: str) -> bool:
    """Whether the peering object exists; if not, say why this replica will not act."""
    try:
        found = await cluster.get_peering(name)
    except ApiError as exc:
        log.warning("cannot read ClusterKopfPeering %s: %s", name, exc)
        return False
    if found is None:
        log.error(
            "ClusterKopfPeering %s does not exist: this replica serves the HTTP API but unseals "
            "nothing until it is created (see deploy/peering.yaml)",
            name,
        )
        return False
    return True

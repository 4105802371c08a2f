"""The kopf handlers: thin, each hands its event to the :class:`~controller.runtime.Runtime` in
``memo.runtime``. Registered on an explicit registry (:func:`registry`), so several operators can
run in one process (tests restart the controller that way).

Only ``@kopf.on.event`` watchers are used for objects, never ``on.create``/``on.update``: kopf
therefore writes nothing to SealedSecrets or Secrets (no ``last-handled-configuration``
annotation, no finalizer, no ``status.kopf``), and works with upstream's CRD, whose status schema
would prune kopf's fields.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from controller import peering
from controller.cluster import SS_GROUP, SS_PLURAL, SS_VERSION, connection_info
from controller.rotation import CONFIG_MAP, field_selector
from controller.runtime import Runtime

log = logging.getLogger(__name__)
STARTUP_RETRY_DELAY = 5.0


def configure(settings: kopf.OperatorSettings, runtime: Runtime) -> None:
    """kopf settings: no kopf-made Events, peering only with ``--peering``, bookkeeping (if any)
    in status only."""
    config = runtime.config
    settings.posting.enabled = False  # we post upstream's Events ourselves
    peering.configure(settings, config, runtime.peering_priority)
    # Inert today (nothing uses kopf's progress or diff-base), but should anyone add an
    # on.create/on.update handler, its bookkeeping stays out of metadata and spec.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = NoDiffs(field="status.kopf.last-handled-configuration")
    settings.persistence.finalizer = "sealer.dev/finalizer"  # never added: no handler needs one
    # The key rotation request: one ConfigMap of the key namespace, filtered by the API server.
    settings.watching.field_selectors["v1", "configmaps"] = field_selector(config.key_namespace)
    if config.label_selector:
        settings.watching.label_selectors[SS_GROUP, SS_PLURAL] = config.label_selector.text
    settings.watching.connect_timeout = 30
    settings.watching.server_timeout = 600
    settings.networking.error_backoffs = (1, 1, 2, 3, 5, 8, 13, 21)
    if not config.all_namespaces:
        # Serving given namespaces, kopf would list and watch every Namespace (and the CRDs) to
        # learn which of them exist; without the right to, it retries each 403 for a minute
        # before it uses the names as given. Use them as given at once (a namespace made later
        # is watched all along); the CRDs are checked once, before kopf's one discovery scan.
        settings.scanning.disabled = True


async def require_served(runtime: Runtime) -> None:
    """Without kopf's CRD watch (``--namespace``), the resources it is to watch must be served
    before its discovery scan: until then, fail the startup (kopf retries it)."""
    wanted = [(f"{SS_GROUP}/{SS_VERSION}", SS_PLURAL)]
    if runtime.config.peering:
        wanted.append((peering.PEERING_GROUP_VERSION, peering.PEERING_PLURAL))
    for group_version, plural in wanted:
        if plural not in await runtime.cluster.served_resources(group_version):
            message = f"{group_version} {plural} is not served (is its CRD installed?): waiting"
            log.warning("%s", message)
            raise kopf.TemporaryError(message, delay=STARTUP_RETRY_DELAY)


class NoDiffs(kopf.StatusDiffBaseStorage):
    """kopf builds the "essence" of every body it sees (a deep copy: Secrets' data included) to
    diff it for on.update handlers. We have none, so it builds nothing (about 15% of kopf's
    work per event, measured). An on.create/on.update handler would need the parent class back."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    configure(settings, runtime)
    if not runtime.config.all_namespaces:
        await require_served(runtime)
    await runtime.start()
    if runtime.config.peering:
        await peering.check_peering_object(runtime.cluster, runtime.config.peering)
    log.info(
        "sealing keys loaded: %d (newest %s)",
        len(runtime.ring),
        runtime.ring.newest.fingerprint if runtime.ring.newest else "none",
    )


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    await runtime.stop()


def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
    runtime: Runtime = memo.runtime
    return connection_info(runtime.cluster.configuration)


async def sealed_secret_event(  # async: kopf would run a plain function in a thread
    type: str | None,  # noqa: A002 - kopf's kwarg name
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    memo.runtime.on_sealed_secret(type, dict(body))


async def secret_event(
    type: str | None,  # noqa: A002 - kopf's kwarg name
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    await memo.runtime.on_secret(type, dict(body))


async def config_map_event(
    type: str | None,  # noqa: A002 - kopf's kwarg name
    body: kopf.Body,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    await memo.runtime.rotation.on_config_map(type, dict(body))


def registry() -> kopf.OperatorRegistry:
    """A fresh registry holding the controller's handlers."""
    reg = kopf.OperatorRegistry()
    kopf.on.startup(registry=reg, backoff=STARTUP_RETRY_DELAY)(startup)  # API down: retried
    kopf.on.cleanup(registry=reg)(cleanup)
    kopf.on.login(registry=reg)(login)
    kopf.on.event(SS_GROUP, SS_VERSION, SS_PLURAL, registry=reg)(sealed_secret_event)
    kopf.on.event("", "v1", "secrets", registry=reg)(secret_event)
    kopf.on.event("", "v1", "configmaps", field="metadata.name", value=CONFIG_MAP, registry=reg)(
        config_map_event
    )
    return reg

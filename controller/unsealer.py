"""One reconciliation of one SealedSecret: read, decide (``controller.reconcile``), decrypt in the
pool, write, report. Raises ``kopf.TemporaryError`` for what may heal by itself or by a change
elsewhere (retried forever, with backoff) and ``kopf.PermanentError`` for input only an edit of the
SealedSecret can fix (which re-queues it anyway).

Messages in status, events, logs and exceptions name objects, items and causes, never a value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from controller import digest, events, reconcile
from controller.cluster import ApiError, Cluster
from controller.config import Config
from controller.events import EventRecorder
from controller.keyring import ClusterKeys
from controller.metrics import Metrics
from controller.pool import UnsealPool
from sealer.errors import DecryptionError, ManifestError, SealerError
from sealer.sealedsecret import SealedSecret, Unsealed, unseal

log = logging.getLogger(__name__)
Key = tuple[str, str]
Obj = dict[str, Any]
CONFLICT_RETRY_DELAY = 0.2
QUIET_CONFLICTS = 3  # write conflicts in a row retried at once and not reported
MAX_KNOWN_KEYS = 8  # of status.keyFingerprints tried first


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def inputs_digest(body: Mapping[str, Any]) -> str:
    """Changes whenever something that decides the Secret changes (not on status updates)."""
    meta = body.get("metadata") or {}
    decisive = [meta.get("uid"), meta.get("annotations") or {}, body.get("spec")]
    return hashlib.sha256(digest.canonical(decisive)).hexdigest()


@dataclass
class Counters:
    """What the controller did since it started (tests read these; so can an HTTP endpoint)."""

    reconciles: int = 0
    decryptions: int = 0  # SealedSecrets decrypted (one per unseal of a whole object)
    items_decrypted: int = 0
    in_sync: int = 0  # found matching their keyed hash: no decryption needed
    writes: int = 0  # Secrets created or replaced
    failures: int = 0


class Unsealer:
    def __init__(
        self,
        config: Config,
        cluster: Cluster,
        keys: ClusterKeys,
        pool: UnsealPool,
        metrics: Metrics,
        recorder: EventRecorder,
        bodies: Mapping[Key, Obj],
        now: Callable[[], str] = _utcnow,
    ) -> None:
        self.config, self.cluster, self.keys, self.pool = config, cluster, keys, pool
        self.metrics, self.recorder, self.bodies, self.now = metrics, recorder, bodies, now
        self.counters = Counters()
        self.written: dict[Key, str] = {}  # resourceVersion of our last write of each Secret
        self.failing: set[Key] = set()
        self.seen: dict[Key, str] = {}  # inputs_digest of the last body handled
        self._key_of: dict[Key, str] = {}
        self._key_use: Counter[str] = Counter()

    def needs_sync(self, key: Key, body: Mapping[str, Any]) -> bool:
        return self.seen.get(key) != inputs_digest(body)

    def forget(self, key: Key) -> None:
        """The SealedSecret is gone; Kubernetes garbage-collects its Secret (owner reference)."""
        for table in (self.written, self.seen):
            table.pop(key, None)
        self.failing.discard(key)
        self._use_keys(key, ())
        self.metrics.forget(*key)
        self.recorder.forget(*key)

    async def sync(self, key: Key, attempt: int = 0) -> str:
        """Reconcile one SealedSecret; ``attempt`` counts the failures in a row before this one."""
        body = self.bodies.get(key)
        if body is None:
            self.forget(key)
            return "gone"
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            return "deleting"
        self.seen[key] = inputs_digest(body)
        self.counters.reconciles += 1
        self.metrics.unseal_requests.inc()
        try:
            sealed = SealedSecret.from_manifest(body)
            problem = reconcile.key_secret_problem(sealed, self.keys.namespace, self.keys.prefix)
            if problem is not None:
                raise ManifestError(problem, where=sealed.where)
        except ManifestError as exc:
            await self._fail(body, events.ERR_UNSEAL_FAILED, f"Failed to unseal: {exc}", "unseal")
            raise kopf.PermanentError(str(exc)) from None
        # Never handled by a controller (no status): its Secret is most likely still to be made,
        # so create it without reading first (one request less per new object); if it exists
        # after all, the create is refused and we read it then. Not when status is off (every
        # object would look new: a restart would decrypt them all), nor on a retry.
        fresh = self.config.update_status and not attempt and not body.get("status")
        live = None if fresh else await self._read_owned(key, body, sealed)
        inputs = reconcile.inputs(body, sealed)
        if live is not None and reconcile.in_sync(live, sealed, inputs, self.keys.hmac_key):
            self.counters.in_sync += 1
            await self._succeed(body, None, posted=False)
            return "in-sync"
        unsealed = await self._unseal(body, sealed, live)
        newest = self.keys.ring.newest
        fp = min(unsealed.keys) if unsealed.keys else (newest.fingerprint if newest else None)
        hmac_key = self.keys.hmac_key(fp) if fp else None
        write = reconcile.plan(live, unsealed.secret, sealed, inputs, hmac_key, fp)
        if write is not None and not await self._write(key, body, write, unsealed, attempt, fresh):
            live = await self._read_owned(key, body, sealed)  # it existed: decide on it
            write = reconcile.plan(live, unsealed.secret, sealed, inputs, hmac_key, fp)
            if write is not None:
                await self._write(key, body, write, unsealed, attempt)
        await self._succeed(body, unsealed.keys, posted=True)
        return "written" if write is not None else "unchanged"

    async def _read_owned(self, key: Key, body: Obj, sealed: SealedSecret) -> Obj | None:
        """The Secret as it is (None: there is none), refused unless it is ours to write."""
        try:
            live = await self.cluster.get_secret(*key)
        except ApiError as exc:
            message = f"reading Secret {key[0]}/{key[1]}: {exc}"
            await self._fail(body, events.ERR_UPDATE_FAILED, message, "fetch")
            raise kopf.TemporaryError(message, delay=exc.retry_after) from None
        owner = reconcile.ownership(live, sealed.uid, reconcile.skips_owner_reference(sealed))
        if owner is reconcile.Ownership.FOREIGN:
            message = reconcile.unmanaged_message(key[1])
            await self._fail(body, events.ERR_UPDATE_FAILED, message, "unmanaged")
            raise kopf.TemporaryError(message, delay=None)
        return live

    async def _unseal(
        self, body: Obj, sealed: SealedSecret, live: Mapping[str, Any] | None
    ) -> Unsealed:
        ring, accept_v1 = self.keys.ring, self.config.accept_v1_data
        known = known_keys(self._key_of.get(_key(body)), body, live)
        started = time.perf_counter()
        try:
            unsealed = await self.pool.run(
                lambda: unseal(sealed, ring, known=known, accept_v1_data=accept_v1)
            )
        except DecryptionError as exc:
            await self._fail(body, events.ERR_UNSEAL_FAILED, f"Failed to unseal: {exc}", "unseal")
            raise kopf.TemporaryError(str(exc), delay=None) from None
        except SealerError as exc:  # a template that cannot render, refused v1 data
            await self._fail(body, events.ERR_UNSEAL_FAILED, f"Failed to unseal: {exc}", "unseal")
            raise kopf.PermanentError(str(exc)) from None
        finally:
            self.metrics.unseal_duration.observe(time.perf_counter() - started)
        self.counters.decryptions += 1
        self.counters.items_decrypted += len(sealed.encrypted_data)
        self.metrics.items_decrypted.inc(len(sealed.encrypted_data))
        self.metrics.private_key_operations.inc(unsealed.tries)
        return unsealed

    async def _write(
        self,
        key: Key,
        body: Obj,
        write: reconcile.Write,
        unsealed: Unsealed,
        attempt: int,
        unread: bool = False,
    ) -> bool:
        """Create or replace the Secret; False (nothing written) when ``unread``, the Secret
        not read first, and a create finds one there."""
        try:
            if write.create:
                result = await self.cluster.create_secret(key[0], write.secret)
            else:
                result = await self.cluster.replace_secret(key[0], key[1], write.secret)
        except ApiError as exc:
            if unread and write.create and exc.conflict:
                return False
            immutable = exc.immutable
            if immutable:
                message = reconcile.immutable_message(*key)
            else:
                message = reconcile.redact(str(exc), unsealed.secret)
            if exc.conflict and attempt < QUIET_CONFLICTS:
                # Someone wrote the Secret between our read and write: look again at once,
                # without alarming anyone, unless it keeps happening.
                self.metrics.unseal_errors.labels("update", key[0]).inc()
                raise kopf.TemporaryError(message, delay=CONFLICT_RETRY_DELAY) from None
            await self._fail(body, events.ERR_UPDATE_FAILED, message, "update")
            if immutable:  # only deleting the Secret helps; the Secret watch sees that
                raise kopf.PermanentError(message) from None
            raise kopf.TemporaryError(message, delay=exc.retry_after) from None
        self.written[key] = str((result.get("metadata") or {}).get("resourceVersion") or "")
        self.counters.writes += 1
        log.info("%s Secret %s/%s", "created" if write.create else "updated", *key)
        return True

    async def _fail(self, body: Obj, reason: str, message: str, metric: str) -> None:
        key = _key(body)
        self.counters.failures += 1
        self.failing.add(key)
        self.metrics.unseal_errors.labels(metric, key[0]).inc()
        log.warning("SealedSecret %s/%s: %s: %s", *key, reason, message)
        await self.recorder.record(body, events.WARNING, reason, message)
        await self._status(body, False, message, reason, None)

    async def _succeed(self, body: Obj, used: Iterable[str] | None, posted: bool) -> None:
        key = _key(body)
        self.failing.discard(key)
        if used is not None:
            self._use_keys(key, used)
        if posted:
            await self.recorder.record(
                body, events.NORMAL, events.UNSEALED, events.UNSEALED_MESSAGE
            )
        await self._status(body, True, "", "", used)

    async def _status(
        self, body: Obj, ok: bool, message: str, reason: str, used: Iterable[str] | None
    ) -> None:
        key = _key(body)
        meta = body.get("metadata") or {}
        self.metrics.observe_condition(*key, "True" if ok else "False", meta.get("labels"))
        if not self.config.update_status:
            return
        patch = reconcile.status(
            body.get("status"), meta.get("generation"), ok, message, self.now(), reason, used
        )
        if patch is None:
            return
        try:
            await self.cluster.patch_sealed_secret_status(*key, patch)
        except ApiError as exc:
            if exc.not_found:
                return  # deleted meanwhile: its DELETED event follows
            log.error("could not update status of SealedSecret %s/%s: %s", *key, exc)
            self.metrics.unseal_errors.labels("status", key[0]).inc()
            # Retried (the Secret, once written, is then found in sync: no decryption), or a
            # status left stale after a transient fault would never converge.
            raise kopf.TemporaryError(
                f"updating the status: {exc}", delay=exc.retry_after
            ) from None

    def _use_keys(self, key: Key, used: Iterable[str]) -> None:
        old, new = self._key_of.pop(key, None), min(used, default=None)
        if old:
            self._key_use[old] -= 1
        if new:
            self._key_of[key] = new
            self._key_use[new] += 1
        if old != new:  # only the two keys whose counts moved
            for fp in filter(None, (old, new)):
                self.metrics.observe_key_usage(fp, self._key_use[fp])


def known_keys(
    remembered: str | None, body: Mapping[str, Any], live: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """Keys that opened this SealedSecret before, to try first (after its key-fingerprint
    annotation): the one we remember, the one its Secret's hash names, those its status lists
    (written by us; a wrong one only costs a decryption attempt). What makes an object sealed by
    kubeseal, which has no annotation, cost one private-key operation per item after its first
    unseal, even after a restart or with its Secret deleted."""
    stored = ((live or {}).get("metadata") or {}).get("annotations") or {}
    status = body.get("status")
    listed = status.get("keyFingerprints") if isinstance(status, Mapping) else None
    found = [remembered, digest.fingerprint_of(stored.get(digest.HASH_ANNOTATION))]
    if isinstance(listed, list):
        found += listed[:MAX_KNOWN_KEYS]
    return tuple(dict.fromkeys(fp for fp in found if isinstance(fp, str) and fp))


def _key(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")

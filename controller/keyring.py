"""The controller's sealing keys as they are in the cluster.

:class:`ClusterKeys` holds one parsed key per key Secret of the key namespace (labelled
``sealedsecrets.bitnami.com/sealed-secrets-key=active``, or the legacy Secret named exactly after
the prefix) and the :class:`~sealer.keys.KeyRing` built from them, rebuilt whenever a key Secret
appears, changes, is relabelled or goes. Each private key is parsed and validated once (about
0.3 s for RSA-4096), off the event loop, and again only if its Secret's key material changes.

:class:`KeyManager` does the I/O: the initial load, writing new keys as upstream does
(``kubernetes.io/tls``, PKCS#1 ``tls.key``, named ``<prefix><5 characters>``), and renewal on
schedule.

Several controllers may share one key namespace (replicas of one deployment, or shards with their
own ``--namespace`` sets), and they may all decide at the same moment that a key is due (no key
at all, or the same newest key reaching ``--key-renew-period``). A new key's name is therefore not
random but derived from the newest key it succeeds (:func:`successor_name`): everyone racing to
succeed the same key creates the same name, the API server lets exactly one create win, and the
others (HTTP 409) load the winner's key instead of adding their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from controller import digest
from controller.cluster import ApiError, Cluster
from controller.config import Config
from sealer import keys
from sealer.errors import SealerError
from sealer.keys import KEY_LABEL, KEY_LABEL_ACTIVE, KeyPair, KeyRing

log = logging.getLogger(__name__)
T = TypeVar("T")
Offload = Callable[[Callable[[], T]], Awaitable[T]]
Clock = Callable[[], dt.datetime]
RETRY_AFTER_FAILED_RENEWAL = 30.0
# The alphabet of the API server's generateName suffixes (no vowels: no words by chance).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def successor_name(prefix: str, newest_fingerprint: str | None) -> str:
    """The name of the key Secret that succeeds the key ``newest_fingerprint`` (``None``: the
    first key): ``<prefix>`` and 5 characters, the shape of upstream's ``generateName``."""
    seed = hashlib.sha256(f"sealer-key-successor\0{newest_fingerprint or ''}".encode()).digest()
    n = int.from_bytes(seed[:8], "big")
    suffix = ""
    for _ in range(5):
        n, digit = divmod(n, len(_NAME_ALPHABET))
        suffix += _NAME_ALPHABET[digit]
    return prefix + suffix


def material_digest(secret: Mapping[str, Any]) -> str:
    """Identifies a key Secret's key material, to skip re-parsing an unchanged one."""
    data = secret.get("data") or {}
    raw = f"{data.get('tls.key', '')}\0{data.get('tls.crt', '')}".encode()
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class KeySource:
    """One key Secret, parsed."""

    secret_name: str
    digest: str
    pair: KeyPair
    hmac_key: bytes = field(repr=False)
    retired: bool = False  # annotated sealer.dev/key-state: retired (read on every event)


def load_source(secret: Mapping[str, Any], order_by: str = "CertNotBefore") -> KeySource:
    """Parse and check a key Secret (CPU-heavy: call it off the event loop)."""
    pair = keys.key_pair_from_secret(secret)
    if order_by == "CertNotBefore":  # upstream's default --key-order-priority
        pair = dataclasses.replace(pair, created=pair.certificate.not_before)
    name = str((secret.get("metadata") or {}).get("name") or "")
    return KeySource(name, material_digest(secret), pair, digest.derive_key(pair.private_key))


class ClusterKeys:
    """The key Secrets we know of and the ring they make; readable from any coroutine."""

    def __init__(self, namespace: str, prefix: str, order_by: str = "CertNotBefore") -> None:
        self.namespace, self.prefix, self.order_by = namespace, prefix, order_by
        self._sources: dict[str, KeySource] = {}
        self._hmac: dict[str, bytes] = {}
        self._listeners: list[Callable[[KeyRing], None]] = []
        self.ring = KeyRing()

    def is_key_secret(self, secret: Mapping[str, Any]) -> bool:
        meta = secret.get("metadata") or {}
        if meta.get("namespace") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        return labels.get(KEY_LABEL) == KEY_LABEL_ACTIVE or meta.get("name") == self.prefix

    def tracks(self, secret_name: str) -> bool:
        return secret_name in self._sources

    def reusable(self, secret: Mapping[str, Any]) -> KeySource | None:
        """The already-parsed source of ``secret`` if its key material did not change."""
        name = (secret.get("metadata") or {}).get("name")
        known = self._sources.get(str(name))
        return known if known and known.digest == material_digest(secret) else None

    def subscribe(self, listener: Callable[[KeyRing], None]) -> None:
        self._listeners.append(listener)

    def put(self, source: KeySource) -> bool:
        if self._sources.get(source.secret_name) == source:
            return False
        self._sources[source.secret_name] = source
        self._rebuild()
        return True

    def discard(self, secret_name: str) -> bool:
        if self._sources.pop(secret_name, None) is None:
            return False
        self._rebuild()
        return True

    def replace(self, sources: Iterable[KeySource]) -> bool:
        """Exactly these key Secrets; returns whether anything changed."""
        new = {s.secret_name: s for s in sources}
        if new == self._sources:
            return False
        self._sources = new
        self._rebuild()
        return True

    def sources(self) -> list[KeySource]:
        return list(self._sources.values())

    def hmac_key(self, fingerprint: str) -> bytes | None:
        return self._hmac.get(fingerprint)

    def is_stale(self, now: dt.datetime, period: dt.timedelta, cutoff: dt.datetime | None) -> bool:
        """No key, or the newest is due for renewal or older than the cutoff."""
        newest = self.ring.newest
        if newest is None:
            return True
        if period > dt.timedelta(0) and now - newest.created >= period:
            return True
        return cutoff is not None and newest.created < cutoff

    def renewal_due(self, period: dt.timedelta) -> dt.datetime | None:
        newest = self.ring.newest
        if newest is None or period <= dt.timedelta(0):
            return None
        return newest.created + period

    def _rebuild(self) -> None:
        by_fp: dict[str, KeySource] = {}
        for source in self._sources.values():
            by_fp.setdefault(source.pair.fingerprint, source)
        retired = frozenset(s.pair.fingerprint for s in self._sources.values() if s.retired)
        self.ring = KeyRing(tuple(s.pair for s in by_fp.values()), retired)
        self._hmac = {fp: s.hmac_key for fp, s in by_fp.items()}
        for listener in list(self._listeners):
            listener(self.ring)


class KeyManager:
    """Loads, writes, renews and hot-reloads the key Secrets of ``config.key_namespace``."""

    def __init__(
        self,
        config: Config,
        cluster: Cluster,
        offload: Offload[Any],
        clock: Clock = _now,
    ) -> None:
        self.config, self.cluster, self.offload, self.clock = config, cluster, offload, clock
        self.keys = ClusterKeys(config.key_namespace, config.key_prefix, config.key_order_priority)
        self.generated = 0
        self._wake = asyncio.Event()
        self.keys.subscribe(lambda _ring: self._wake.set())

    async def _parse(self, secret: Mapping[str, Any]) -> KeySource | None:
        source = await self._parse_material(secret)
        retired = keys.is_retired(secret)
        if source is None or source.retired == retired:
            return source
        return dataclasses.replace(source, retired=retired)

    async def _parse_material(self, secret: Mapping[str, Any]) -> KeySource | None:
        if (known := self.keys.reusable(secret)) is not None:
            return known
        name = (secret.get("metadata") or {}).get("name")
        order_by = self.config.key_order_priority
        try:
            source: KeySource = await self.offload(lambda: load_source(secret, order_by))
            return source
        except SealerError as exc:  # never carries key material
            log.error("ignoring key Secret %s/%s: %s", self.keys.namespace, name, exc)
            return None

    async def load(self) -> bool:
        """Every active key Secret plus the legacy one named after the prefix (at start, and
        with peering every ``key_refresh_interval``: a paused replica gets no Secret events).
        Returns whether the ring changed."""
        ns = self.config.key_namespace
        found = await self.cluster.list_secrets(ns, f"{KEY_LABEL}={KEY_LABEL_ACTIVE}")
        names = {(s.get("metadata") or {}).get("name") for s in found}
        if self.config.key_prefix not in names:
            try:
                legacy = await self.cluster.get_secret(ns, self.config.key_prefix)
            except ApiError as exc:
                if exc.status != 403:
                    raise
                legacy = None
            if legacy is not None:
                found.append(legacy)
        parsed = await asyncio.gather(*(self._parse(s) for s in found))
        known = {s.secret_name: s.digest for s in self.keys.sources()}
        sources = [s for s in parsed if s is not None]
        for s in sources:
            if known.get(s.secret_name) != s.digest:
                log.info("registered private key %s (%s)", s.secret_name, s.pair.fingerprint)
        for name in sorted(set(known) - {s.secret_name for s in sources}):
            log.info("key Secret %s/%s gone or inactive: dropped", ns, name)
        return self.keys.replace(sources)

    async def ensure_fresh(self, at_start: bool = False) -> KeyPair | None:
        """Generate a key if there is none or the newest is due; at start, as upstream, also if
        the newest is older than ``--key-cutoff-time``."""
        cfg = self.config
        cutoff = cfg.key_cutoff_time if at_start else None
        if self.keys.is_stale(self.clock(), cfg.key_renew_period, cutoff):
            return await self.generate()
        return None

    async def generate(self, seed: str | None = None) -> KeyPair:
        """A new RSA key and self-signed certificate, stored as upstream's ``writeKey`` does,
        under the :func:`successor_name` of the newest key: if another controller got there
        first, its key is loaded and returned instead. With ``seed`` (a rotation request), the
        name derives from it instead: whoever made the key for that request, it is returned."""
        cfg = self.config
        newest = self.keys.ring.newest
        succeeded = (
            f"request:{seed}" if seed is not None else newest.fingerprint if newest else None
        )
        name = successor_name(cfg.key_prefix, succeeded)

        # A successor starts after its predecessor, even within the same second (certificate
        # times are whole seconds): a tie would leave the ring's order, the sealing key, open.
        start = self.clock().replace(microsecond=0)
        if newest is not None and start <= newest.created:
            start = newest.created.replace(microsecond=0) + dt.timedelta(seconds=1)

        def make() -> tuple[KeyPair, bytes]:
            key, cert = keys.generate(cfg.key_size, cfg.key_ttl, cfg.my_cn, now=start)
            pair = KeyPair(key, keys.certificate_from_x509(cert))
            return pair, digest.derive_key(key)

        made: tuple[KeyPair, bytes] = await self.offload(make)
        pair, hmac_key = made
        body = keys.key_secret(pair, cfg.key_namespace, cfg.key_prefix, name=name)
        meta = body["metadata"]
        meta["labels"] = {**{k: v for k, v in cfg.private_key_labels.items()}, **meta["labels"]}
        if cfg.private_key_annotations:
            meta["annotations"] = dict(cfg.private_key_annotations)
        try:
            created = await self.cluster.create_secret(cfg.key_namespace, body)
        except ApiError as exc:
            if not exc.conflict:
                raise
            if seed is not None and (ours := await self._load(name)) is not None:
                return ours  # made for this request already (another replica, or before a crash)
            if (theirs := await self._adopt(name, newest)) is not None:
                return theirs
            # The name is taken by something that does not succeed our newest key (a key made
            # inactive, say): fall back to upstream's random name.
            del meta["name"]
            meta["generateName"] = cfg.key_prefix
            created = await self.cluster.create_secret(cfg.key_namespace, body)
        name = str(created.get("metadata", {}).get("name", ""))
        when = pair.certificate.not_before
        if cfg.key_order_priority != "CertNotBefore":
            when = keys._parse_time(created.get("metadata", {}).get("creationTimestamp")) or when
        pair = dataclasses.replace(pair, name=name, created=when)
        self.keys.put(KeySource(name, material_digest(created), pair, hmac_key))
        self.generated += 1
        log.info("new key written: %s/%s (%s)", cfg.key_namespace, name, pair.fingerprint)
        return pair

    async def _load(self, name: str) -> KeyPair | None:
        """The key Secret ``name``, loaded into the ring (None if it is not a key Secret)."""
        secret = await self.cluster.get_secret(self.config.key_namespace, name)
        if secret is None or not self.keys.is_key_secret(secret):
            return None
        source = await self._parse(secret)
        if source is None:
            return None
        self.keys.put(source)
        return source.pair

    async def _adopt(self, name: str, newest: KeyPair | None) -> KeyPair | None:
        """The key another controller stored as ``name``, if it is a key Secret that succeeds
        ``newest`` (it becomes the sealing key: newer, not retired)."""
        secret = await self.cluster.get_secret(self.config.key_namespace, name)
        if secret is None or not self.keys.is_key_secret(secret):
            return None
        source = await self._parse(secret)
        if source is None:
            return None
        self.keys.put(source)  # a key Secret of the namespace: known from now on in any case
        sealing = self.keys.ring.newest
        if sealing is None or sealing.fingerprint != source.pair.fingerprint:
            return None
        if newest is not None and newest.fingerprint == sealing.fingerprint:
            return None
        log.info(
            "new key %s/%s was made by another controller: using it (%s)",
            self.config.key_namespace,
            name,
            source.pair.fingerprint,
        )
        return source.pair

    async def on_secret(self, event_type: str | None, secret: Mapping[str, Any]) -> bool:
        """A watch event for a Secret of the key namespace; returns whether the ring changed."""
        name = str((secret.get("metadata") or {}).get("name") or "")
        if event_type == "DELETED" or not self.keys.is_key_secret(secret):
            if self.keys.discard(name):
                log.info("key Secret %s/%s gone or inactive: dropped", self.keys.namespace, name)
                return True
            return False
        source = await self._parse(secret)
        if source is None:
            return self.keys.discard(name)
        if self.keys.put(source):
            log.info("registered private key %s (%s)", name, source.pair.fingerprint)
            return True
        return False

    async def renew_forever(self) -> None:
        """Generate a key whenever the ring is empty or the newest key is due; never returns."""
        cfg = self.config
        while True:
            self._wake.clear()
            delay: float | None = None
            try:
                await self.ensure_fresh()
                due = self.keys.renewal_due(cfg.key_renew_period)
                if due is not None:
                    delay = max((due - self.clock()).total_seconds(), 0.0)
            except (SealerError, OSError) as exc:
                delay = RETRY_AFTER_FAILED_RENEWAL
                log.error("key renewal failed, retrying in %.0f s: %s", delay, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

"""Several controllers on one key namespace never make a key twice: a new key Secret's name is
derived from the key it succeeds, so of everyone racing to succeed the same key exactly one
create wins and the others (409) take the winner's key (controller/keyring.py)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from controller.cluster import ApiError
from controller.config import Config
from controller.keyring import _NAME_ALPHABET, KeyManager, successor_name
from sealer import keys
from sealer.keys import KEY_LABEL, KEY_STATE_ANNOTATION, KEY_STATE_RETIRED, KeyPair
from tests.integration.controller_fixtures import key_secret

T = TypeVar("T")
Obj = dict[str, Any]
NS, PREFIX = "kube-system", "sealed-secrets-key"


class SharedNamespace:
    """The key namespace as the API server keeps it: a name is created once (else 409)."""

    def __init__(self) -> None:
        self.secrets: dict[str, Obj] = {}
        self.conflicts = 0
        self.serial = 0

    def add(self, body: Obj) -> Obj:
        body = copy.deepcopy(body)
        meta = body["metadata"]
        if "name" not in meta:
            self.serial += 1
            meta["name"] = meta.pop("generateName") + f"rnd{self.serial:02d}"
        if meta["name"] in self.secrets:
            self.conflicts += 1
            raise ApiError(409, "AlreadyExists", f'secrets "{meta["name"]}" already exists')
        meta.update(namespace=NS, creationTimestamp="2030-01-01T00:00:00Z")
        self.secrets[meta["name"]] = body
        return copy.deepcopy(body)

    async def create_secret(self, namespace: str, body: Obj) -> Obj:
        await asyncio.sleep(0)  # let a racing controller run in between
        return self.add(body)

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        found = self.secrets.get(name)
        return copy.deepcopy(found) if found else None

    async def list_secrets(self, namespace: str, label_selector: str = "") -> list[Obj]:
        key, _, value = label_selector.partition("=")
        return [copy.deepcopy(s) for s in self.secrets.values()
                if (s["metadata"].get("labels") or {}).get(key) == value]


def manager(shared: SharedNamespace, **config: Any) -> KeyManager:
    async def inline(fn: Callable[[], T]) -> T:
        await asyncio.sleep(0)
        return fn()

    options = {"key_namespace": NS, "key_size": 1024, **config}
    return KeyManager(Config(**options), shared, inline)  # type: ignore[arg-type]


def aged(pair: KeyPair, days: int) -> KeyPair:
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    cert = keys.certificate_from_x509(keys.self_sign(pair.private_key, now=then))
    return KeyPair(pair.private_key, cert, created=cert.not_before)


def test_successor_names_look_like_generate_name() -> None:
    first = successor_name(PREFIX, None)
    assert first == successor_name(PREFIX, None)  # every controller computes the same
    assert first.startswith(PREFIX) and len(first) == len(PREFIX) + 5
    assert set(first[len(PREFIX):]) <= set(_NAME_ALPHABET)
    names = {successor_name(PREFIX, f"SHA256:{i}") for i in range(200)}
    assert len(names) == 200 and first not in names
    assert successor_name("other-", None).startswith("other-")


async def test_two_controllers_on_an_empty_namespace_make_one_key() -> None:
    shared = SharedNamespace()
    a, b = manager(shared), manager(shared)
    await asyncio.gather(a.load(), b.load())
    made = await asyncio.gather(a.ensure_fresh(at_start=True), b.ensure_fresh(at_start=True))
    (stored,) = shared.secrets.values()
    assert stored["metadata"]["name"] == successor_name(PREFIX, None)
    assert shared.conflicts == 1
    assert sorted([a.generated, b.generated]) == [0, 1]
    fingerprint = keys.key_pair_from_secret(stored).fingerprint
    assert [p.fingerprint for p in made if p] == [fingerprint, fingerprint]
    assert a.keys.ring.fingerprints == b.keys.ring.fingerprints == (fingerprint,)


async def test_a_renewal_due_everywhere_at_once_makes_one_key(
        key_pairs: tuple[KeyPair, ...]) -> None:
    shared = SharedNamespace()
    old = aged(key_pairs[0], 40)
    shared.add(key_secret(old, "sealed-secrets-keyold01"))
    period = {"key_renew_period": dt.timedelta(days=30)}
    controllers = [manager(shared, **period) for _ in range(3)]
    await asyncio.gather(*(c.load() for c in controllers))
    await asyncio.gather(*(c.ensure_fresh() for c in controllers))
    assert len(shared.secrets) == 2 and shared.conflicts == 2
    assert sum(c.generated for c in controllers) == 1
    newest = {c.keys.ring.newest.fingerprint for c in controllers if c.keys.ring.newest}
    assert len(newest) == 1 and old.fingerprint not in newest


async def test_a_lagging_controller_takes_the_key_it_missed(
        key_pairs: tuple[KeyPair, ...]) -> None:
    """A replica that has not seen the renewal yet tries to make the same successor: 409, and it
    loads the one that exists instead of adding a second."""
    shared = SharedNamespace()
    old = aged(key_pairs[0], 40)
    shared.add(key_secret(old, "sealed-secrets-keyold01"))
    period = {"key_renew_period": dt.timedelta(days=30)}
    ahead, behind = manager(shared, **period), manager(shared, **period)
    await asyncio.gather(ahead.load(), behind.load())
    renewed = await ahead.ensure_fresh()
    assert renewed is not None and behind.keys.ring.newest.fingerprint == old.fingerprint
    taken = await behind.ensure_fresh()
    assert taken is not None and taken.fingerprint == renewed.fingerprint
    assert behind.generated == 0 and len(shared.secrets) == 2
    assert behind.keys.ring.newest.fingerprint == renewed.fingerprint


async def test_a_name_held_by_a_key_that_does_not_succeed_falls_back_to_a_random_one(
        key_pairs: tuple[KeyPair, ...]) -> None:
    """The successor name is taken by a key made inactive (relabelled) or retired: that key is
    no successor, so a key with upstream's random name is made instead; never a loop."""
    for change in ("relabelled", "retired"):
        shared = SharedNamespace()
        old = aged(key_pairs[0], 40)
        shared.add(key_secret(old, "sealed-secrets-keyold01"))
        taken = key_secret(key_pairs[1], successor_name(PREFIX, old.fingerprint))
        if change == "relabelled":
            taken["metadata"]["labels"][KEY_LABEL] = "compromised"
        else:
            taken["metadata"]["annotations"] = {KEY_STATE_ANNOTATION: KEY_STATE_RETIRED}
        shared.add(taken)
        km = manager(shared, key_renew_period=dt.timedelta(days=30))
        await km.load()
        made = await km.ensure_fresh()
        assert made is not None and km.generated == 1, change
        assert made.name.startswith(PREFIX + "rnd"), change
        newest = km.keys.ring.newest
        assert newest is not None and newest.fingerprint == made.fingerprint
        assert made.fingerprint not in (old.fingerprint, key_pairs[1].fingerprint)


async def test_other_errors_are_not_taken_for_a_race() -> None:
    shared = SharedNamespace()
    km = manager(shared)

    async def refuse(namespace: str, body: Obj) -> Obj:
        raise ApiError(403, "Forbidden", "secrets is forbidden")

    shared.create_secret = refuse  # type: ignore[method-assign]
    try:
        await km.generate()
    except ApiError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("a 403 must surface")
    assert km.keys.ring.newest is None and km.generated == 0


def test_key_pair_dataclass_is_unchanged_by_naming(key_pairs: tuple[KeyPair, ...]) -> None:
    # successor_name only reads the fingerprint: the key itself is never part of the name
    pair = key_pairs[0]
    renamed = dataclasses.replace(pair, name="anything")
    assert successor_name(PREFIX, pair.fingerprint) == successor_name(PREFIX, renamed.fingerprint)

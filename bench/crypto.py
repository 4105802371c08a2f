"""Seal and unseal rates against the machine's RSA-4096 ceiling, for 1 to 24 keys.

Compares our key selection (the key-fingerprint hint, or the key that opened the object last
time) with upstream's "try every key" in the same run, and one core with every core.
Run: ``.venv/bin/python bench/crypto.py [--seconds S]``; writes bench/results/crypto.json.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from bench._common import key_pairs, rate, table, write  # noqa: E402
from sealer import crypto  # noqa: E402
from sealer.keys import KeyRing  # noqa: E402
from sealer.scope import Scope  # noqa: E402

KEY_COUNTS = (1, 6, 12, 24)
BATCH = 32
LABEL = Scope.STRICT.label("bench", "secret")


def unseal_hinted(ring: KeyRing, hint: str, items: list[bytes]) -> int:
    """Ours: the fingerprint annotation (or the last key that worked) is tried first."""
    for blob in items:
        ring.unseal(blob, LABEL, hint)
    return len(items)


def unseal_any_order(ring: KeyRing, items: list[bytes]) -> int:
    """Upstream: Go iterates a map, a random order each time; (n+1)/2 tries per item expected."""
    order = [p.private_key for p in ring.pairs]
    for blob in items:
        random.shuffle(order)
        crypto.unseal(order, blob, LABEL)
    return len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    secs = args.seconds
    cores = os.cpu_count() or 1
    pairs = key_pairs(max(KEY_COUNTS))
    target = pairs[-1]
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), LABEL)
    wrapped = [target.certificate.public_key.encrypt(os.urandom(32), oaep) for _ in range(BATCH)]

    def raw_batch() -> int:
        for w in wrapped:
            target.private_key.decrypt(w, oaep)
        return BATCH

    def parallel(fn_batch: object) -> float:
        with ThreadPoolExecutor(cores) as pool:
            return rate(lambda: sum(pool.map(lambda _: fn_batch(), range(cores))), secs)  # type: ignore[operator]

    ceiling_1 = rate(raw_batch, secs)
    ceiling_n = parallel(raw_batch)
    items = [
        crypto.seal(target.certificate.public_key, os.urandom(24), LABEL) for _ in range(BATCH)
    ]

    def seal_batch() -> int:
        for _ in range(BATCH):
            crypto.seal(target.certificate.public_key, b"p" * 24, LABEL)
        return BATCH

    def public_batch() -> int:
        for _ in range(BATCH):
            target.certificate.public_key.encrypt(b"k" * 32, oaep)
        return BATCH

    public_1 = rate(public_batch, secs)
    figures: dict[str, object] = {
        "rsa4096_encrypt_per_s_1core": public_1,
        "rsa4096_decrypt_per_s_1core": ceiling_1,
        f"rsa4096_decrypt_per_s_{cores}cores": ceiling_n,
        "seal_items_per_s_1core": (seal_1 := rate(seal_batch, secs)),
        "unseal": {},
    }
    rows = [("keys", "ours items/s", "x ceiling", "try-every-key items/s", "x ceiling")]
    for n in KEY_COUNTS:
        # The right key is the oldest of n: worst case for a newest-first order without a hint.
        ring = KeyRing(tuple(pairs[-n:]))
        r_ours = rate(functools.partial(unseal_hinted, ring, target.fingerprint, items), secs)
        r_up = rate(functools.partial(unseal_any_order, ring, items), secs)
        figures["unseal"][n] = {"ours": r_ours, "try_every_key": r_up}  # type: ignore[index]
        rows.append(
            (
                str(n),
                f"{r_ours:.0f}",
                f"{r_ours / ceiling_1:.2f}",
                f"{r_up:.0f}",
                f"{r_up / ceiling_1:.2f}",
            )
        )
    par = parallel(
        functools.partial(unseal_hinted, KeyRing(tuple(pairs)), target.fingerprint, items)
    )
    figures[f"unseal_24keys_items_per_s_{cores}cores"] = par
    one24 = figures["unseal"][24]["ours"]  # type: ignore[index]
    one1 = figures["unseal"][1]["ours"]  # type: ignore[index]
    figures["ratios"] = {
        "24keys_vs_1key": one24 / one1,
        f"{cores}cores_vs_1core": par / one24,
        f"{cores}cores_vs_{cores}core_ceiling": par / ceiling_n,
        "seal_vs_public_key_ceiling": seal_1 / public_1,
    }
    print(
        f"RSA-4096 OAEP decrypt ceiling: {ceiling_1:.0f}/s on 1 core, {ceiling_n:.0f}/s on {cores}"
    )
    print(
        f"seal: {figures['seal_items_per_s_1core']:.0f} items/s on 1 core; RSA-4096 OAEP encrypt"
        f" ceiling {public_1:.0f}/s"
    )
    print(table(rows))
    print(
        f"24 keys, {cores} threads: {par:.0f} items/s = {par / one24:.2f}x one core, "
        f"{par / ceiling_n:.2f}x the {cores}-core ceiling; 24 keys vs 1 key: {one24 / one1:.2f}x"
    )
    print(f"wrote {write('crypto', figures)}")


if __name__ == "__main__":
    main()

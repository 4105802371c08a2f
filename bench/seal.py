"""Sealing throughput: values per second against the RSA-4096 public-key ceiling.

Seals a 100-item Secret through the same code path as ``sealer seal`` (certificate parsed once
per run) and compares it with 100 bare RSA-4096 OAEP encryptions.
Run: ``.venv/bin/python bench/seal.py [-n ITEMS] [--seconds S]``; writes bench/results/seal.json.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from bench._common import key_pairs, rate, write  # noqa: E402
from sealer import keys  # noqa: E402
from sealer.manifests import seal_secret  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--items", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    pem = key_pairs(1)[0].certificate.pem
    start = time.perf_counter()
    cert = keys.load_certificate(pem)  # once per run, as the CLI does
    load_ms = (time.perf_counter() - start) * 1000
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "bench", "namespace": "bench"},
        "data": {f"k{i}": base64.b64encode(os.urandom(32)).decode() for i in range(args.items)},
    }
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"bench/bench")

    def public_ops() -> int:
        for _ in range(args.items):
            cert.public_key.encrypt(b"k" * 32, oaep)
        return args.items

    def seal() -> int:
        seal_secret(secret, cert)
        return args.items

    ceiling = rate(public_ops, args.seconds)
    sealed = rate(seal, args.seconds)
    figures = {
        "items_per_secret": args.items,
        "certificate_load_ms": load_ms,
        "rsa4096_public_ops_per_s": ceiling,
        "seal_values_per_s": sealed,
        "seal_cost_vs_public_ops": ceiling / sealed,
    }
    print(f"certificate parsed once: {load_ms:.2f} ms")
    print(
        f"RSA-4096 OAEP encrypt: {ceiling:.0f}/s; sealing {args.items}-item Secrets: "
        f"{sealed:.0f} values/s; a Secret costs {ceiling / sealed:.2f}x its {args.items} "
        "public-key operations"
    )
    print(f"wrote {write('seal', figures)}")


if __name__ == "__main__":
    main()

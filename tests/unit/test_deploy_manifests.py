"""deploy/ as the real kubectl kustomize renders it: valid for Kubernetes, least-privilege RBAC
that covers exactly what the controller calls, hardened and highly available, upstream-compatible
names. The Dockerfile is checked for its structure only: there is no Docker engine here."""

from __future__ import annotations

import os
import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from controller import config as controller_config
from tests.deploy_support import (
    CONTROLLER_ACCOUNT,
    DEPLOY,
    NEEDS,
    ROOT,
    ROTATION_CONFIG_MAP,
    granted,
    grants,
    kustomize,
    rendered,
    required_permissions,
)

# The oldest and the newest Kubernetes whose schemas kubernetes-validate bundles.
K8S_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "Service", "Deployment",
              "PodDisruptionBudget"}
CLUSTER_SCOPED = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
NAME = "sealed-secrets-controller"


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return rendered()


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects
                if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def crd_versions(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> (the CRD, the version's entry), for every CRD rendered."""
    found = {}
    for crd in (o for o in objects if o["kind"] == "CustomResourceDefinition"):
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            found[api_version, crd["spec"]["names"]["kind"]] = {"crd": crd, "version": version}
    return found


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = pod_spec(objects)["containers"]
    return dict(found)


# What gets installed


def test_everything_is_installed_in_one_namespace(objects: list[dict[str, Any]]) -> None:
    kinds = Counter(o["kind"] for o in objects)
    assert kinds == Counter({"CustomResourceDefinition": 2, "ServiceAccount": 1, "ClusterRole": 1,
                             "ClusterRoleBinding": 1, "Role": 2, "RoleBinding": 2, "Service": 1,
                             "Deployment": 1, "PodDisruptionBudget": 1, "ClusterKopfPeering": 1})
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] in NAMESPACED} == {
        "kube-system"}
    assert all("namespace" not in o["metadata"] for o in objects if o["kind"] in CLUSTER_SCOPED)
    # kustomize cannot know ClusterKopfPeering is cluster-scoped and gives it the namespace too;
    # the API server drops it (a cluster-scoped object has none). Its CRD says so:
    peering_crd = one(objects, "CustomResourceDefinition", "clusterkopfpeerings.kopf.dev")
    assert peering_crd["spec"]["scope"] == "Cluster"


def test_kustomization_lists_every_file_of_deploy() -> None:
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    present = sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.yaml")
                     if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_uninstall_by_label_keeps_the_crds(objects: list[dict[str, Any]]) -> None:
    """docs/install.md: `kubectl delete -k deploy/ -l app.kubernetes.io/name=...` removes the
    controller and keeps the CRDs (deleting one deletes every object of its kind)."""
    labelled = [o for o in objects
                if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == NAME]
    assert [o for o in objects if o not in labelled] == [
        o for o in objects if o["kind"] == "CustomResourceDefinition"]


def test_crd_copy_is_identical() -> None:
    """kustomize refuses files outside deploy/ (symlinks too): deploy/ holds a copy."""
    assert (DEPLOY / "crds" / "sealedsecret.yaml").read_bytes() == \
        (ROOT / "crds" / "sealedsecret.yaml").read_bytes()


# Valid for Kubernetes


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_is_valid_for_kubernetes(objects: list[dict[str, Any]], version: str) -> None:
    custom = crd_versions(objects)
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in custom:
            continue  # below, against its own CRD
        kubernetes_validate.validate(obj, version, strict=True)
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, version, strict=True)


def test_custom_objects_are_valid_for_their_crds(objects: list[dict[str, Any]]) -> None:
    custom = crd_versions(objects)
    checked = 0
    for obj in objects:
        found = custom.get((obj["apiVersion"], obj["kind"]))
        if found is None:
            continue
        assert found["version"]["served"] and found["version"]["storage"]
        jsonschema.validate(obj, found["version"]["schema"]["openAPIV3Schema"])
        if found["crd"]["spec"]["scope"] == "Cluster":
            assert "namespace" not in obj["metadata"] or obj["kind"] == "ClusterKopfPeering"
        checked += 1
    assert checked == 1  # the ClusterKopfPeering


def test_crd_schema_accepts_what_sealer_writes() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "sealedsecret.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    sealed = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
              "metadata": {"name": "x", "namespace": "y"},
              "spec": {"encryptedData": {"a": "AgB="},
                       "template": {"metadata": {"name": "x", "labels": {"a": "b"}},
                                    "type": "Opaque", "immutable": True}},
              "status": {"observedGeneration": 1, "keyFingerprints": ["SHA256:x"],
                         "conditions": [{"type": "Synced", "status": "True"}]}}
    jsonschema.validate(sealed, schema)


# RBAC


def test_rbac_has_no_wildcards(objects: list[dict[str, Any]]) -> None:
    rules = [r for o in objects if o["kind"] in ("ClusterRole", "Role") for r in o["rules"]]
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in item for item in rule.get(field, [])), rule
        assert "nonResourceURLs" not in rule


def test_controller_is_granted_exactly_what_it_calls(objects: list[dict[str, Any]]) -> None:
    assert granted(objects) == required_permissions()


def test_each_permission_is_granted_where_it_is_needed(objects: list[dict[str, Any]]) -> None:
    """Cluster-wide needs through the ClusterRoleBinding; the rest only by a RoleBinding in the
    controller's namespace and, where the calls name one object, for that object only."""
    found = grants(objects)
    cluster = {p for g in found if g.namespace is None for p in g.permissions()}
    assert cluster == required_permissions("cluster")
    own = [g for g in found if g.namespace is not None]
    assert {g.namespace for g in own} == {"kube-system"}
    assert {p for g in own for p in g.permissions()} == required_permissions("own")
    for need in (n for n in NEEDS if n.scope == "own"):
        rules = [g.rule for g in own if (need.group, need.resource, need.verbs[0])
                 in g.permissions()]
        assert rules and all(sorted(r.get("resourceNames", [])) == sorted(need.names)
                             for r in rules)
    assert [n.names for n in NEEDS if n.names] == [(ROTATION_CONFIG_MAP,)]


def test_every_binding_refers_to_a_rendered_role(objects: list[dict[str, Any]]) -> None:
    roles = {(o["kind"], o["metadata"]["name"]) for o in objects
             if o["kind"] in ("ClusterRole", "Role")}
    bindings = [o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings} == roles
    accounts = [s for b in bindings for s in b["subjects"] if s["kind"] == "ServiceAccount"]
    assert accounts and all(s == {"kind": "ServiceAccount", "name": CONTROLLER_ACCOUNT,
                                  "namespace": "kube-system"} for s in accounts)


# upstream's controller.jsonnet (kubectl-applied controller.yaml): binding -> role. A binding's
# roleRef is immutable, so applying deploy/ over an upstream install must not change one.
UPSTREAM_BINDINGS = {
    ("ClusterRoleBinding", "sealed-secrets-controller"): ("ClusterRole", "secrets-unsealer"),
    ("RoleBinding", "sealed-secrets-controller"): ("Role", "sealed-secrets-key-admin"),
    ("RoleBinding", "sealed-secrets-service-proxier"): ("Role", "sealed-secrets-service-proxier"),
}


def test_applying_over_upstream_changes_no_role_ref(objects: list[dict[str, Any]]) -> None:
    ours = {(o["kind"], o["metadata"]["name"]): (o["roleRef"]["kind"], o["roleRef"]["name"])
            for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")}
    for binding, role in ours.items():
        assert UPSTREAM_BINDINGS.get(binding, role) == role, binding
    assert one(objects, "Deployment", NAME)["spec"]["selector"] == {"matchLabels": {"name": NAME}}
    assert container(objects)["name"] == NAME  # strategic merge updates upstream's container


def test_clients_may_only_reach_the_controller_service(objects: list[dict[str, Any]]) -> None:
    """As upstream's sealed-secrets-service-proxier: every authenticated user may read the
    controller's Service and call its HTTP API through the service proxy, nothing else."""
    binding = one(objects, "RoleBinding", "sealed-secrets-service-proxier")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                    "name": "system:authenticated"}]
    role = one(objects, "Role", binding["roleRef"]["name"])
    allowed = {(r["resources"][0], v, n) for r in role["rules"] for v in r["verbs"]
               for n in r["resourceNames"]}
    assert all(len(r["resources"]) == 1 and r["apiGroups"] == [""] for r in role["rules"])
    assert {(res, verb) for res, verb, _ in allowed} == {
        ("services", "get"), ("services/proxy", "get"), ("services/proxy", "create")}
    assert all(NAME in name for _, _, name in allowed)
    # the form sealer (sealer/kube.py) and kubeseal use: http:<service>:<port name>
    assert ("services/proxy", "create", f"http:{NAME}:http") in allowed


def test_namespace_can_be_changed_in_an_overlay(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": "sealed-secrets",
        "resources": [os.path.relpath(DEPLOY, tmp_path)]}))  # kustomize: relative paths only
    objects = kustomize(tmp_path)
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] in NAMESPACED} == {
        "sealed-secrets"}
    accounts = [s for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")
                for s in o["subjects"] if s["kind"] == "ServiceAccount"]
    assert {s["namespace"] for s in accounts} == {"sealed-secrets"}
    assert granted(objects) == required_permissions()
    assert {g.namespace for g in grants(objects)} == {None, "sealed-secrets"}
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


# The controller's Deployment


def test_deployment_is_hardened(objects: list[dict[str, Any]]) -> None:
    pod = pod_spec(objects)
    assert pod["serviceAccountName"] == CONTROLLER_ACCOUNT
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 1001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(objects)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in sc and "hostNetwork" not in pod and "hostPID" not in pod
    # a writable /tmp, since the root filesystem is not
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]  # noqa: S108
    (tmp,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
    assert "emptyDir" in tmp
    resources = c["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]
    image = c["image"]
    assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image) and not image.endswith(":latest"), image


def test_probes_use_the_http_port(objects: list[dict[str, Any]]) -> None:
    c = container(objects)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "metrics": 8081}


def test_controller_accepts_its_arguments(objects: list[dict[str, Any]]) -> None:
    """The Deployment's args and env parsed by the controller's own parser: the flags exist and
    mean what deploy/ relies on."""
    c = container(objects)
    ((_, entrypoint),) = [s for s in dockerfile() if s[0] == "ENTRYPOINT"]
    assert c["command"] == yaml.safe_load(entrypoint) == ["sealer-controller"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # kopf's id
    parsed = controller_config.parse(c["args"], env={"POD_NAMESPACE": "kube-system"})
    assert parsed.listen_addr == ":8080" and parsed.listen_metrics_addr == ":8081"
    assert parsed.key_namespace == "kube-system" and parsed.all_namespaces
    assert parsed.peering == one(objects, "ClusterKopfPeering")["metadata"]["name"]


def test_replicas_are_highly_available(objects: list[dict[str, Any]]) -> None:
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    rolling = deployment["spec"]["strategy"]
    assert rolling["type"] == "RollingUpdate" and rolling["rollingUpdate"]["maxUnavailable"] == 0
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # upstream's selector (immutable: applying over an upstream install must keep it)
    assert deployment["spec"]["selector"] == {"matchLabels": {"name": NAME}}


def test_peering_crd_is_the_one_kopf_uses(objects: list[dict[str, Any]]) -> None:
    from kopf._cogs.structs import references

    selector = references.CLUSTER_PEERINGS_K
    plural = selector.plural or selector.any_name
    crd = one(objects, "CustomResourceDefinition", f"{plural}.{selector.group}")
    assert crd["spec"]["group"] == selector.group and crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["plural"] == plural
    (version,) = crd["spec"]["versions"]
    assert version["name"] == selector.version
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True  # kopf's keep-alives
    # kopf patches the object itself when there is no status subresource (the RBAC relies on it)
    assert "subresources" not in version
    assert ("kopf.dev", "clusterkopfpeerings", "patch") in required_permissions()
    peering = one(objects, "ClusterKopfPeering")
    assert peering["apiVersion"] == f"{selector.group}/{selector.version}"


def test_service_ports_are_named_as_upstream(objects: list[dict[str, Any]]) -> None:
    service = one(objects, "Service")
    assert service["metadata"]["name"] == NAME
    ports = service["spec"]["ports"]
    # clients proxy to the Service's first port (sealer/kube.py service_port, as kubeseal)
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("http", 8080, "http"), ("metrics", 8081, "metrics")]
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == {"name": NAME}
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pod_labels["app.kubernetes.io/name"] == NAME


# The image


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def test_dockerfile_runs_the_controller_as_non_root() -> None:
    """No Docker engine here: the image cannot be built, so its structure is checked."""
    steps = dockerfile()
    bases = [args.split()[0] for op, args in steps if op == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", b) for b in bases)
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1].split(":")[0] == "1001"  # numeric: runAsNonRoot can verify it
    ((_, entrypoint),) = [s for s in steps if s[0] == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == ["sealer-controller"]  # exec form: gets SIGTERM
    scripts = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^sealer-controller = "controller\.main:main"$', scripts, re.M)
    assert any(op == "RUN" and "pip install" in args and " ." in f"{args} "
               for op, args in steps)
    exposed = {int(p) for op, args in steps if op == "EXPOSE" for p in args.split()}
    assert exposed == {8080, 8081}
    for op, args in steps:
        if op == "COPY" and not args.startswith("--from"):
            for source in shlex.split(args)[:-1]:
                assert (ROOT / source).exists(), source


def test_dockerignore_keeps_the_context_small_and_clean() -> None:
    lines = (line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines())
    ignored = {line for line in lines if line and not line.startswith("#")}
    assert {".git", ".venv", "tests"} <= ignored
    copied = {source for op, args in dockerfile() if op == "COPY" and not args.startswith("--from")
              for source in shlex.split(args)[:-1]}
    assert not copied & ignored

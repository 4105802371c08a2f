"""The write paths of the emulator: create, replace, patch, the status subresource, deletion
with finalizers, owner-reference garbage collection, and CRD registration.

All methods are synchronous and run on the emulator's loop: one write is atomic with respect
to every other request (no ``await`` inside), which is what keeps list+watch gap-free.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import jsonpatch
import jsonpointer
import kmock

from tests.support.kubeapi_catalog import Catalog, ResourceType, crd_types
from tests.support.kubeapi_objects import (
    SERVER_OWNED_META,
    ApiError,
    fold_string_data,
    immutable_problem,
    merge_patch,
    name_problem,
    now,
    random_suffix,
    secret_problem,
    spec_part,
    strip_directives,
    without_resource_version,
)
from tests.support.kubeapi_watch import Change, WatchHub

Obj = dict[str, Any]
Key = tuple[kmock.resource, str | None, str]
MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"
POLICIES = ("Orphan", "Background", "Foreground")
_EMPTY_DROPPED = ("finalizers", "labels", "annotations", "ownerReferences")


class Writes:
    """Mixed into the emulator; relies on its kmock store (``_objects``), catalog and hub."""

    _objects: kmock.ObjectsArray
    catalog: Catalog
    hub: WatchHub
    gc_enabled: bool
    _rv: int
    _propagation: dict[Key, str]

    # --- the store -------------------------------------------------------------------------

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return (rt.storage, namespace if rt.namespaced else None, name)

    def _current(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        key = self._key(rt, namespace, name)
        if key not in self._objects:
            return None
        stored = self._objects[key]
        return None if stored.deleted else stored.last.raw

    def _stored(self, rt: ResourceType) -> list[Obj]:
        """Every live object of a resource (all namespaces), straight from kmock's store."""
        storage = rt.storage
        return [
            stored.last.raw for (res, _, _), stored in list(self._objects.items())
            if res == storage and not stored.deleted
        ]

    def _commit(self, rt: ResourceType, obj: Obj | None, etype: str, old: Obj | None) -> Obj:
        """Store a new state (or the deletion), stamp a fresh resourceVersion, publish it."""
        self._rv += 1
        source = obj if obj is not None else old
        assert source is not None
        meta = source["metadata"]
        key = self._key(rt, meta.get("namespace"), meta["name"])
        if obj is not None:
            obj["metadata"]["resourceVersion"] = str(self._rv)
            if key in self._objects:
                self._objects[key].history.append(obj)
            else:
                self._objects[key] = obj
            event_obj = obj
        else:
            assert old is not None
            event_obj = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
            self._objects[key].delete()
        self.hub.publish(Change(self._rv, rt.storage, etype, event_obj, old))
        return event_obj

    # --- create ----------------------------------------------------------------------------

    def _create(self, rt: ResourceType, namespace: str | None, body: Any, dry: bool) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        new = copy.deepcopy(body)
        meta = new["metadata"] = dict(new.get("metadata") or {})
        if rt.namespaced:
            if namespace is None:
                raise ApiError(405, f"create {rt.qualified} needs a namespace in the URL")
            if meta.get("namespace") not in (None, namespace):
                raise ApiError(400, "the namespace of the provided object does not match "
                                    "the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        name: str = meta.get("name") or ""
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError.invalid(rt, "", "metadata.name", "name or generateName is required")
            for _ in range(32):
                name = f"{prefix}{random_suffix()}"
                if self._current(rt, namespace, name) is None:
                    break
            meta["name"] = name
        if problem := name_problem(rt, name):
            raise ApiError.invalid(rt, name, "metadata.name", problem)
        if self._current(rt, namespace, name) is not None:
            raise ApiError.already_exists(rt, name)
        for field in SERVER_OWNED_META:
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.tracks_generation:
            meta["generation"] = 1
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if rt.has_status:
            new.pop("status", None)
        fold_string_data(rt, new)
        _normalise(new)
        if invalid := secret_problem(rt, new, None):
            raise ApiError.invalid(rt, name, *invalid)
        self._server_side(rt, new)
        if dry:
            return new
        stored = self._commit(rt, new, "ADDED", None)
        if (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._register_crd(stored)
        if self.gc_enabled and self._owners_gone(stored):
            # The garbage collector deletes a dependent none of whose owners exists (an owner
            # deleted before its dependent was written): at once here, shortly in a cluster.
            self._delete(rt, namespace, name, {"propagationPolicy": "Background"}, dry=False)
        return stored

    def _server_side(self, rt: ResourceType, new: Obj) -> None:
        """What controllers inside a real API server write: CRD and namespace status."""
        if (rt.group, rt.plural) == ("", "namespaces"):
            new["status"] = {"phase": "Terminating" if new["metadata"].get(
                "deletionTimestamp") else "Active"}
        elif (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            try:
                types = crd_types(new)
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError.invalid(rt, new["metadata"]["name"], "spec", str(exc)) from exc
            expected = f"{types[0].plural}.{types[0].group}"
            if new["metadata"]["name"] != expected:
                raise ApiError.invalid(rt, new["metadata"]["name"], "metadata.name",
                                       f"must be spec.names.plural+\".\"+spec.group: {expected!r}")
            status = dict(new.get("status") or {})
            status["acceptedNames"] = dict(new["spec"]["names"])
            status["storedVersions"] = [types[0].storage_version]
            if not status.get("conditions"):  # kept as they are on later updates
                stamp = now()
                status["conditions"] = [
                    {"type": t, "status": "True", "reason": r, "message": m,
                     "lastTransitionTime": stamp}
                    for t, r, m in [("NamesAccepted", "NoConflicts", "no conflicts found"),
                                    ("Established", "InitialNamesAccepted",
                                     "the initial names have been accepted")]
                ]
            new["status"] = status

    def _register_crd(self, crd: Obj) -> None:
        types = crd_types(crd)
        self.catalog.remove_group_plural(types[0].group, types[0].plural)
        for rt in types:
            self.catalog.add(rt)

    # --- update, patch, status -------------------------------------------------------------

    def _replace(self, rt: ResourceType, namespace: str | None, name: str,
                 subresource: str | None, body: Any, dry: bool) -> Obj:
        current = self._current(rt, namespace, name)
        if current is None:
            raise ApiError.not_found(rt, name)
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(400, f"the name of the object ({meta.get('name')}) does not match "
                                f"the name on the URL ({name})")
        if rt.namespaced and meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "the namespace of the provided object does not match "
                                "the namespace sent on the request")
        wanted = meta.get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rt, name)
        return self._update(rt, current, body, subresource, dry)

    def _patch(self, rt: ResourceType, namespace: str | None, name: str,
               subresource: str | None, content_type: str, patch: Any, dry: bool) -> Obj:
        current = self._current(rt, namespace, name)
        if current is None:
            raise ApiError.not_found(rt, name)
        if content_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise ApiError(400, "a JSON patch must be a JSON array of operations")
            try:
                patched = jsonpatch.apply_patch(current, patch, in_place=False)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiError(422, f"the server rejected our request due to an error in our "
                                    f"request: {exc}", reason="Invalid") from exc
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                raise ApiError(422, f"the server rejected our request due to an error in our "
                                    f"request: {exc}", reason="Invalid") from exc
        elif content_type in MERGE_TYPES:
            if not isinstance(patch, dict):
                raise ApiError(400, "a merge patch must be a JSON object")
            if content_type != MERGE_TYPES[0]:
                patch = strip_directives(patch)
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rt, name)
            patched = merge_patch(current, patch)
        elif content_type == "application/apply-patch+yaml":
            raise ApiError(415, "server-side apply is not supported by the API stand-in")
        else:
            raise ApiError(415, f"the body of the request was in an unknown format - accepted "
                                f"media types include: {JSON_PATCH}, {', '.join(MERGE_TYPES)}")
        return self._update(rt, current, patched, subresource, dry)

    def _update(self, rt: ResourceType, current: Obj, candidate: Any,
                subresource: str | None, dry: bool) -> Obj:
        if not isinstance(candidate, dict):
            raise ApiError(400, "the resulting object must be a JSON object")
        name = current["metadata"]["name"]
        if subresource == "status":
            new = copy.deepcopy(current)
            if candidate.get("status") is not None:
                new["status"] = copy.deepcopy(candidate["status"])
            else:
                new.pop("status", None)
        else:
            new = copy.deepcopy(candidate)
            if rt.has_status:
                new.pop("status", None)
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
            old_meta = current["metadata"]
            meta = new["metadata"] = dict(new.get("metadata") or {})
            for field in ("name", "namespace", *SERVER_OWNED_META):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
            fold_string_data(rt, new)
            if problem := immutable_problem(rt, current, new) or secret_problem(
                    rt, new, current):
                raise ApiError.invalid(rt, name, *problem)
            if old_meta.get("deletionTimestamp") and not set(
                    meta.get("finalizers") or ()) <= set(old_meta.get("finalizers") or ()):
                raise ApiError.invalid(rt, name, "metadata.finalizers",
                                       "no new finalizers can be added if the object is "
                                       "being deleted")
            if rt.tracks_generation and spec_part(rt, new) != spec_part(rt, current):
                meta["generation"] = int(old_meta.get("generation") or 0) + 1
            self._server_side(rt, new)
        _normalise(new)
        if without_resource_version(new) == without_resource_version(current):
            return current  # a no-op: no new resourceVersion, no event (as the API server)
        if dry:
            return new
        stored = self._commit(rt, new, "MODIFIED", current)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get(
                "finalizers"):
            self._finish_deletion(rt, stored)
        elif rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io":
            self._register_crd(stored)
        return stored

    # --- delete ----------------------------------------------------------------------------

    def _delete(self, rt: ResourceType, namespace: str | None, name: str,
                options: Obj, dry: bool) -> Obj:
        current = self._current(rt, namespace, name)
        if current is None:
            raise ApiError.not_found(rt, name)
        meta = current["metadata"]
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") not in (None, meta["uid"]):
            raise ApiError.conflict(rt, name, f"Precondition failed: UID in precondition: "
                                              f"{preconditions['uid']}, UID in object meta: "
                                              f"{meta['uid']}")
        if preconditions.get("resourceVersion") not in (None, meta["resourceVersion"]):
            raise ApiError.conflict(rt, name)
        policy = options.get("propagationPolicy") or (
            "Orphan" if options.get("orphanDependents") else "Background")
        if policy not in POLICIES:
            raise ApiError(400, f"propagationPolicy must be one of {', '.join(POLICIES)}")
        if meta.get("deletionTimestamp"):
            return current
        if meta.get("finalizers"):
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if rt.tracks_generation:
                new["metadata"]["generation"] = int(meta.get("generation") or 0) + 1
            self._server_side(rt, new)
            if dry:
                return new
            self._propagation[self._key(rt, namespace, name)] = policy
            return self._commit(rt, new, "MODIFIED", current)
        if dry:
            return current
        return self._finish_deletion(rt, current, policy)

    def _finish_deletion(self, rt: ResourceType, current: Obj, policy: str | None = None) -> Obj:
        meta = current["metadata"]
        key = self._key(rt, meta.get("namespace"), meta["name"])
        policy = policy or self._propagation.pop(key, "Background")
        self._propagation.pop(key, None)
        gone = self._commit(rt, None, "DELETED", current)
        if (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._drop_crd(current)
        elif (rt.group, rt.plural) == ("", "namespaces"):
            self._empty_namespace(meta["name"])
        if self.gc_enabled:
            self._collect_dependents(meta["uid"], policy)
        return gone

    def _drop_crd(self, crd: Obj) -> None:
        try:
            types = crd_types(crd)
        except (ValueError, KeyError, TypeError):
            return
        for obj in self._stored(types[0]):
            self._commit(types[0], None, "DELETED", obj)
        self.catalog.remove_group_plural(types[0].group, types[0].plural)

    def _empty_namespace(self, namespace: str) -> None:
        for rt in self.catalog:
            if not rt.namespaced or rt.storage.version != rt.version:
                continue  # each stored resource once, through its storage version
            for obj in self._stored(rt):
                if obj["metadata"].get("namespace") == namespace:
                    self._delete(rt, namespace, obj["metadata"]["name"], {}, dry=False)

    def _owners_gone(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        refs = meta.get("ownerReferences") or []
        if not refs:
            return False
        for ref in refs:
            # Looked up by kind and name (a scan of every object made each create O(n)).
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            kinds = [rt for rt in self.catalog if (rt.group, rt.kind) == (group, ref.get("kind"))]
            if not kinds:  # not served: found only by its uid
                if any(not stored.deleted and stored.last.raw["metadata"].get("uid") == ref.get(
                        "uid") for stored in self._objects.values()):  # fmt: skip
                    return False
                continue
            for rt in kinds:
                owner = self._current(rt, meta.get("namespace") if rt.namespaced else None,
                                      str(ref.get("name") or ""))  # fmt: skip
                if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
                    return False
        return True

    def _collect_dependents(self, owner_uid: str, policy: str) -> None:
        """The garbage collector: dependents of a gone owner are deleted, or orphaned."""
        for (res, namespace, name), stored in list(self._objects.items()):
            if stored.deleted:
                continue
            obj = stored.last.raw
            refs = (obj.get("metadata") or {}).get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            rt = self.catalog.lookup(res.group or "", res.version or "", res.plural or "")
            if rt is None or self._current(rt, namespace, name) is None:
                continue
            remaining = [ref for ref in refs if ref.get("uid") != owner_uid]
            if policy == "Orphan" or remaining:
                candidate = copy.deepcopy(obj)
                candidate["metadata"]["ownerReferences"] = remaining
                self._update(rt, obj, candidate, None, dry=False)
            else:
                self._delete(rt, namespace, name, {"propagationPolicy": "Background"}, dry=False)


def _normalise(obj: Obj) -> None:
    """Empty finalizers/labels/annotations/ownerReferences are omitted, as the server does."""
    meta = obj.get("metadata") or {}
    for field in _EMPTY_DROPPED:
        if field in meta and not meta[field]:
            del meta[field]

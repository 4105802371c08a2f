"""What the API server accepts in a Secret, and the checks a SealedSecret's template must pass,
applied before any decryption so hostile input costs no private-key work and cannot grow memory.

- Item names are ``IsConfigMapKey``: ``[-._a-zA-Z0-9]+``, at most 253 characters, not ``.`` or
  ``..`` and not starting with ``..``.
- The values of a Secret total at most 1 MiB (``core.MaxSecretSize``). A sealed item's plaintext
  size is known from its length alone, so an oversized object is refused without decrypting it,
  and ``spec.template.data`` cannot expand a small object into a huge one.
- At most :data:`MAX_ITEMS` items: with 2048-bit keys or larger, an object with more could not be
  stored by an API server with default limits (etcd's 1.5 MiB per request), while each item costs
  one RSA private-key operation to unseal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sealer.errors import ManifestError

MAX_SECRET_BYTES = 1024 * 1024
MAX_ITEMS = 5000
_ITEM_NAME = re.compile(r"[-._a-zA-Z0-9]+")
# spec.template.data values are Go templates upstream; we render the plain-reference subset.
_TEMPLATE_REF = re.compile(
    r"\{\{-?\s*(?:\.([A-Za-z_][A-Za-z0-9_]*)|index\s+\.\s+\"([^\"]+)\")\s*-?\}\}"
)


def check_item_name(item: str, where: str) -> None:
    if (
        not item
        or len(item) > 253
        or not _ITEM_NAME.fullmatch(item)
        or item in (".", "..")
        or item.startswith("..")
    ):
        raise ManifestError(
            "is not a valid Secret key (letters, digits, '-', '_', '.'; not '.', '..' or "
            "starting with '..')",
            where=where,
        )


def check_text(value: Any, where: str) -> str:
    """A string that can be written as UTF-8 (not a lone surrogate from a ``\\ud800`` escape)."""
    if not isinstance(value, str):
        raise ManifestError("must be a string", where=where)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError("is not valid Unicode text", where=where) from None
    return value


def check_size(total: int, where: str) -> None:
    if total > MAX_SECRET_BYTES:
        raise ManifestError(
            f"would make a Secret of {total} bytes; the API server accepts at most "
            f"{MAX_SECRET_BYTES} (1 MiB)",
            where=where,
        )


def check_string_map(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ManifestError("must be a mapping", where=where)
    for key, text in value.items():
        check_text(key, where)
        check_text(text, f"{where}.{key}")


def check_template(template: Any, where: str, items: int) -> None:
    """The shape of ``spec.template`` (``where`` names it); ``items`` counts encryptedData."""
    if not isinstance(template, Mapping):
        raise ManifestError("must be a mapping", where=where)
    meta = template.get("metadata")
    if meta is not None and not isinstance(meta, Mapping):
        raise ManifestError("must be a mapping", where=f"{where}.metadata")
    for part in ("labels", "annotations"):
        check_string_map((meta or {}).get(part), f"{where}.metadata.{part}")
    if template.get("type") is not None:
        check_text(template["type"], f"{where}.type")
    if template.get("immutable") is not None and not isinstance(template["immutable"], bool):
        raise ManifestError("must be true or false", where=f"{where}.immutable")
    data = template.get("data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ManifestError("must be a mapping", where=f"{where}.data")
    for item, text in data.items():
        check_text(item, f"{where}.data")
        check_item_name(item, f"{where}.data.{item}")
        check_text(text, f"{where}.data.{item}")
    if items + len(data) > MAX_ITEMS:
        raise ManifestError(
            f"has {items + len(data)} items; at most {MAX_ITEMS} are accepted",
            where=where.replace("spec.template", "spec.encryptedData"),
        )


def render_template(
    text: str, data: Mapping[str, bytes], where: str, budget: int = MAX_SECRET_BYTES
) -> bytes:
    """Render ``{{ .item }}`` / ``{{ index . "item" }}``; other Go template syntax is refused.

    The size is computed before anything is built: more than ``budget`` bytes is refused.
    """
    if "{{" in _TEMPLATE_REF.sub("", text):
        raise ManifestError("uses template syntax sealer does not support", where=where)
    size, pos = 0, 0
    for match in _TEMPLATE_REF.finditer(text):
        key = match.group(1) or match.group(2)
        if key not in data:
            raise ManifestError(f"refers to unknown item {key!r}", where=where)
        size += len(text[pos : match.start()].encode()) + len(data[key])
        pos = match.end()
    size += len(text[pos:].encode())
    if size > budget:
        check_size(MAX_SECRET_BYTES - budget + size, where)

    def ref(match: re.Match[str]) -> str:
        return data[match.group(1) or match.group(2)].decode("utf-8", errors="surrogateescape")

    rendered = _TEMPLATE_REF.sub(ref, text)
    return rendered.encode("utf-8", errors="surrogateescape")

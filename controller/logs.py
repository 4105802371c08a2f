"""Logging as upstream offers it: ``--log-format text|json`` and ``--log-level``.

kopf's own loggers are held at INFO or above whatever the level: at DEBUG kopf may print bodies.
Nothing of ours logs a value or key material (messages name objects, items and fingerprints).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``msg`` and any ``extra``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    logging.getLogger("kopf").setLevel(max(root.level, logging.INFO))
    # "Handler 'secret_event' succeeded" for every Secret change in the cluster: not news.
    logging.getLogger("kopf.objects").setLevel(max(root.level, logging.WARNING))
    for noisy in ("urllib3", "aiohttp.access", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))

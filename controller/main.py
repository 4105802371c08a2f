"""``sealer-controller``: parse flags and environment, set up logging, run the operator."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

import sealer
from controller import logs
from controller.config import ConfigError, parse
from controller.operator import serve
from controller.runtime import Runtime
from sealer.errors import SealerError

log = logging.getLogger("controller")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args:
        print(f"controller version: {sealer.__version__}")
        return 0
    try:
        config = parse(args)
    except ConfigError as exc:
        print(f"sealer-controller: error: {exc}", file=sys.stderr)
        return 2
    logs.setup(config.log_format, config.log_level)
    log.info("starting sealer controller %s", sealer.__version__)
    try:
        runtime = Runtime(config)
        asyncio.run(serve(runtime))
    except SealerError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

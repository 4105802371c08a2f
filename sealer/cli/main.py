"""The ``sealer`` command group; every error becomes one line and an exit code here."""

from __future__ import annotations

import os
from typing import Any

import click

import sealer
from sealer.cli.cluster import cert, reencrypt, validate
from sealer.cli.drift import diff
from sealer.cli.guard import guard
from sealer.cli.keys import keys
from sealer.cli.offline import keygen, unseal
from sealer.cli.reseal import reseal
from sealer.cli.review import show
from sealer.cli.seal import seal
from sealer.errors import SealerError


class SealerGroup(click.Group):
    """Maps every error to one line and an exit code: failures 1, misuse 2 (click's own)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except SealerError as exc:  # our messages name the object and field, never a value
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            name = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"cannot access{name}: {exc.strerror or exc}") from None
        except Exception as exc:
            if os.environ.get("SEALER_DEBUG"):
                raise
            # A bug: its message could quote input, so only the type is shown.
            raise click.ClickException(
                f"internal error ({type(exc).__name__}); SEALER_DEBUG=1 shows the traceback"
            ) from None


@click.group(
    cls=SealerGroup,
    context_settings={"auto_envvar_prefix": "SEALER", "help_option_names": ["-h", "--help"]},
)
@click.version_option(sealer.__version__, prog_name="sealer")
def cli() -> None:
    """Seal Kubernetes Secrets so they are safe to keep in Git.

    Compatible with Bitnami Sealed Secrets. Shell completion:
    eval "$(_SEALER_COMPLETE=bash_source sealer)" (zsh_source, fish_source likewise).
    """


for command in (seal, unseal, keygen, cert, validate, reencrypt, keys, reseal, show, guard, diff):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="sealer")
